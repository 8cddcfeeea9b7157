"""Tests of the resource agents against real processes (no mocks).

Helpers shared by the test modules: a recording :class:`AgentContext` and independent looks
at ``/proc`` (they do not use the code under test).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wolfpack.resources import AgentContext
from wolfpack.resources.confine import Confinement

#: upper bound of every wait in these tests: nothing may hang
MAX_WAIT = 10.0


@dataclass
class Recorder:
    """What an agent told its node: log events, failures (with their monotonic time), and
    the set of PIDs registered with the watchdog."""

    run_dir: Path
    node: str = "node1"
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    failures: list[tuple[str, str, float]] = field(default_factory=list)
    registered: set[int] = field(default_factory=set)
    failed: threading.Event = field(default_factory=threading.Event)
    may_run: bool = True  # the node's answer to "may I still run resources?"
    confine: Confinement | None = None  # the node's cgroup subtree (None: confinement off)
    log_dir: Path | None = None  # resource_log_dir (None: logs beside the agent's files)

    @property
    def ctx(self) -> AgentContext:
        return AgentContext(
            node=self.node,
            run_dir=self.run_dir,
            log=lambda event, fields: self.events.append((event, fields)),
            on_failure=self._on_failure,
            register_pid=self.registered.add,
            unregister_pid=self.registered.discard,
            may_run=lambda: self.may_run,
            confine=self.confine,
            log_dir=self.log_dir,
        )

    def _on_failure(self, name: str, why: str) -> None:
        self.failures.append((name, why, time.monotonic()))
        self.failed.set()

    def names(self) -> list[str]:
        return [event for event, _ in self.events]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].decode().split()


def running_in_group(pgid: int) -> list[int]:
    """Running (not zombie) processes whose process group or session is ``pgid``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields and fields[0] != "Z" and pgid in (int(fields[2]), int(fields[3])):
                out.append(int(name))
    return sorted(out)


def running_with(marker: str) -> list[int]:
    """Running processes whose command line contains ``marker``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = _stat(int(name))
        if marker.encode() in cmdline and fields and fields[0] != "Z":
            out.append(int(name))
    return out


def start_time(pid: int) -> int:
    fields = _stat(pid)
    assert fields is not None
    return int(fields[19])


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float = MAX_WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
