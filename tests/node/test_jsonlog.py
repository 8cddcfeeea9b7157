"""The daemon's log lines carry a level journald understands (issue 13 item 3): the
``<N>`` sd-daemon prefix on the journal, so ``journalctl -p err`` shows errors; the file
copy survives logrotate moving it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from wolfpack.node.daemon import Daemon
from wolfpack.node.jsonlog import JsonLog, is_journal, severity
from wolfpack.node.settings import load_settings
from wolfpack.store import MemoryStore


@pytest.mark.parametrize(
    ("event", "level"),
    [
        ("resource_start_failed", "error"),
        ("fence_failed", "error"),
        ("lease_renew_failed", "error"),
        ("coordinator_crash", "error"),
        ("manager_crash", "error"),
        ("watchdog_crashed", "error"),
        ("coordinator_error", "error"),
        ("lease_lost", "error"),
        ("disk_claim_lost", "error"),
        ("fenced", "warning"),
        ("fencing_disabled", "warning"),
        ("agent_killed", "warning"),
        ("started", "info"),
        ("lease_acquired", "info"),
        ("resource_online", "info"),
    ],
)
def test_severity_of_each_event(event: str, level: str) -> None:
    assert severity(event) == level


def test_an_explicit_level_wins_and_unknown_ones_are_ignored() -> None:
    assert severity("started", "warning") == "warning"
    assert severity("started", "err") == "error"
    assert severity("resource_start_failed", "loud") == "error"


def test_on_the_journal_lines_start_with_their_syslog_priority(tmp_path: Path) -> None:
    """journald reads ``<3>`` as PRIORITY=3 (err), ``<4>`` warning, ``<6>`` info; the JSON
    after it, and the file copy, stay plain JSON with a ``level`` field."""
    out = io.StringIO()
    log = JsonLog("node1", out, path=tmp_path / "wolfpackd.log", priority_prefix=True)
    log("lease_lost", why="x")
    log("fenced", target="node2")
    log("started", pid=1)
    lines = out.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<3>", "<4>", "<6>"]
    assert json.loads(lines[0][3:])["level"] == "error"
    filed = [json.loads(x) for x in (tmp_path / "wolfpackd.log").read_text().splitlines()]
    assert [x["level"] for x in filed] == ["error", "warning", "info"]
    assert [x["event"] for x in filed] == ["lease_lost", "fenced", "started"]


def test_off_the_journal_lines_are_plain_json() -> None:
    out = io.StringIO()
    JsonLog("node1", out, priority_prefix=False)("resource_start_failed")
    line = out.getvalue().strip()
    assert json.loads(line)["level"] == "error" and line.startswith("{")


def test_the_journal_is_recognised_by_its_device_and_inode(tmp_path: Path) -> None:
    """systemd.exec(5): JOURNAL_STREAM=DEV:INODE of the stream it connected; a stream
    inherited elsewhere (a shell redirect) with a stale variable gets no prefix."""
    with open(tmp_path / "stream", "w") as stream:
        st = os.fstat(stream.fileno())
        assert is_journal(stream, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not is_journal(stream, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not is_journal(stream, {})
        assert not is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


def test_after_logrotate_moves_the_file_the_next_line_goes_to_a_new_one(
    tmp_path: Path,
) -> None:
    """With ``max_bytes=None`` (``log_file`` set: logrotate rotates), a moved file is
    noticed and a new one opened; nothing is lost and nothing is rotated here."""
    path = tmp_path / "wolfpackd.log"
    log = JsonLog("node1", io.StringIO(), path=path, max_bytes=None)
    log("before")
    path.rename(tmp_path / "wolfpackd.log.1")  # logrotate without copytruncate
    log("after")
    assert json.loads((tmp_path / "wolfpackd.log.1").read_text())["event"] == "before"
    assert json.loads(path.read_text())["event"] == "after"
    path.unlink()
    log("again")
    assert json.loads(path.read_text())["event"] == "again"


def test_the_daemon_writes_log_file_when_set_else_run_dir(tmp_path: Path) -> None:
    """``log_file`` (the package: /var/log/wolfpack/wolfpackd.log) survives reboots and is
    logrotate's to rotate; unset, the file stays in run_dir, rotated by the daemon."""
    base = {"node": "node1", "fence.agent": "none", "run_dir": str(tmp_path / "run")}
    kept = Daemon(load_settings(None, {**base, "log_file": str(tmp_path / "log/w.log")}),
                  store=MemoryStore())  # fmt: skip
    assert (kept.log.path, kept.log.max_bytes) == (tmp_path / "log/w.log", None)
    default = Daemon(load_settings(None, base), store=MemoryStore())
    assert default.log.path == tmp_path / "run/wolfpackd.log"
    assert default.log.max_bytes == 5 << 20
