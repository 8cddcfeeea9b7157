"""fence.kind io (H6): a node unfences itself at start, before anything can run on it; a
failing unfence stops the daemon with a message naming the fence settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd


def recording_agent(path: Path, record: Path, status: int = 0) -> Path:
    """A fence_* program that appends what it read on stdin to ``record``."""
    path.write_text(f'#!/bin/sh\ncat >> "{record}"\necho --- >> "{record}"\nexit {status}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_h6_an_io_fenced_node_unfences_itself_at_start(tmp_path: Path) -> None:
    """H6: with fence.kind io, each daemon sends action=on for itself before it starts
    anything (its watchdog, heartbeats, lease, resources)."""
    record = tmp_path / "calls"
    agent = recording_agent(tmp_path / "fence_scsi", record)
    settings = {"fence": {"agent": str(agent), "kind": "io"}}
    with LocalCluster(tmp_path / "c", nodes=2, daemon_settings=settings) as c:
        c.start_all()
        calls = [block.split("\n") for block in record.read_text().split("---\n") if block]
        assert sorted(lines[:2] for lines in calls) == [
            ["action=on", "plug=node1"],
            ["action=on", "plug=node2"],
        ]
        events = [e["event"] for e in c.log_lines("node1")]
        assert "unfenced" in events
        assert events.index("unfenced") < events.index("watchdog_started")
        assert events.index("unfenced") < events.index("started")


def test_h6_a_failing_unfence_stops_the_start_and_names_the_settings(tmp_path: Path) -> None:
    record = tmp_path / "calls"
    agent = recording_agent(tmp_path / "fence_scsi", record, status=1)
    settings = {"fence": {"agent": str(agent)}}  # fence_scsi: io by default
    with LocalCluster(tmp_path / "c", nodes=1, daemon_settings=settings) as c:
        proc = c.start_node("node1")
        assert wait_for(lambda: proc.poll() is not None, timeout=30)
        assert proc.returncode == 2
        out = (c.workdir / "node1.log").read_text()
        assert "fence.agent" in out and "unfencing node1 at start failed" in out
        assert c.coordinator() is None  # it never started anything
