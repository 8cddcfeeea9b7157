"""wolfpackd's log: one JSON object per line, with a level journald understands.

Levels come from the event name (:func:`severity`), so the hundred places that log need no
change and a new ``*_failed`` event is an error without anyone remembering to say so.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: events that are errors whatever their name says (see :func:`severity`)
ERROR_EVENTS = frozenset(
    {"lease_lost", "disk_claim_lost", "membership_thread_stuck", "watchdog_daemon_gone",
     "heartbeat_paths_refused"}
)  # fmt: skip
#: events an operator should look at: something was refused, killed, forgiven or fenced
WARNING_EVENTS = frozenset(
    {"fencing_disabled", "fenced", "coordinator_fenced", "coordinator_deposed", "disk_busy",
     "disk_not_ours", "ip_not_ours", "disk_claim_unknown", "disk_adopt_rejected",
     "agent_adopt_rejected", "agent_adopt_unchecked", "agent_killed", "agent_kill_orphans",
     "agent_leftovers_killed", "agent_stop_forgiven", "agent_stale_postmaster_pid",
     "agent_exited", "start_refused_stale", "start_waits_for_release", "stop_everything",
     "watchdog_bad_line", "watchdog_signal_ignored", "resources_left_running"}
)  # fmt: skip
#: level name -> syslog priority (sd-daemon(3) line prefix ``<N>``)
PRIORITIES = {"error": 3, "warning": 4, "info": 6}


def severity(event: str, level: object = None) -> str:
    """The level of a log line: ``error``, ``warning`` or ``info``. An explicit ``level``
    field wins; else failures (``*_failed``, ``*_crash``, ``*_error``) and the events in
    :data:`ERROR_EVENTS` are errors, those in :data:`WARNING_EVENTS` warnings."""
    if isinstance(level, str):
        named = {"err": "error", "warn": "warning"}.get(level, level)
        if named in PRIORITIES:
            return named
    if event in ERROR_EVENTS or event.endswith(("_failed", "_crash", "_crashed", "_error")):
        return "error"
    return "warning" if event in WARNING_EVENTS else "info"


def is_journal(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is systemd's journal stream (``JOURNAL_STREAM`` names its
    device and inode, systemd.exec(5)): only then do lines get the ``<N>`` prefix."""
    env = os.environ if environ is None else environ
    try:
        dev, ino = (int(x) for x in env.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class JsonLog:
    """One JSON object per line with a timestamp, the node, an event name (reason codes
    go in fields) and its ``level`` (:func:`severity`), to stderr: journald or the
    supervisor keeps it. On the journal each line starts with its syslog priority
    (``<3>`` error, ``<4>`` warning, ``<6>`` info), so ``journalctl -p err`` finds errors.
    With ``path``, the same lines (without the prefix) also go to that file, which the
    node's API serves as its part of the cluster log: rotated here at ``max_bytes`` (one
    old file kept), or with ``max_bytes=None`` by logrotate: a file moved away is noticed
    and reopened at the next line."""

    def __init__(
        self,
        node: str,
        stream: Any = sys.stderr,
        *,
        path: Path | None = None,
        max_bytes: int | None = 5 << 20,
        priority_prefix: bool | None = None,
    ) -> None:
        self.node, self.stream = node, stream
        self.path, self.max_bytes = path, max_bytes
        self.prefix = is_journal(stream) if priority_prefix is None else priority_prefix
        self._lock = threading.Lock()
        self._file: Any = None

    def __call__(self, event: str, **fields: object) -> None:
        level = severity(event, fields.pop("level", None))
        line = json.dumps(
            {"ts": round(time.time(), 3), "node": self.node, "event": event, "level": level,
             **fields},
            default=str,
        )  # fmt: skip
        with self._lock:
            prefix = f"<{PRIORITIES[level]}>" if self.prefix else ""
            self.stream.write(prefix + line + "\n")
            self.stream.flush()
            if self.path is not None:
                self._to_file(line)

    def _to_file(self, line: str) -> None:
        path = self.path
        assert path is not None
        try:
            if self._file is not None and self.max_bytes is None and self._moved(path):
                self._file.close()
                self._file = None
            if self._file is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
            self._file.write(line + "\n")
            self._file.flush()
            if self.max_bytes is not None and self._file.tell() > self.max_bytes:
                self._file.close()
                self._file = None
                os.replace(path, path.with_name(path.name + ".1"))
        except OSError:
            self._file = None  # the log file is a convenience; stderr has every line

    def _moved(self, path: Path) -> bool:
        """logrotate renamed (or removed) the file we write to."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return True
        own = os.fstat(self._file.fileno())
        return (st.st_dev, st.st_ino) != (own.st_dev, own.st_ino)
