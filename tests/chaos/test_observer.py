"""The observer against real probe applications: it sees starts, SIGTERM stops and kernel
exits, and reports two owners only when two nodes' runs share a moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wolfpack.lab.localcluster import free_port, wait_for
from wolfpack.lab.observer import ProbeObserver, overlaps, timeline

Spawn = Callable[[str], "subprocess.Popen[bytes]"]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []
    port = free_port()

    def start(node: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "wolfpack.lab.probe_app", "--port", str(port),
             "--node", node, "--record", str(tmp_path / "runs-G.log")]
        )  # fmt: skip
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def test_runs_one_after_another_are_not_two_owners(spawn: Spawn, tmp_path: Path) -> None:
    with ProbeObserver({"G": tmp_path / "runs-G.log"}) as obs:
        first = spawn("node1")
        wait_for(lambda: obs.alive("G"), timeout=10)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=10)
        wait_for(lambda: not obs.alive("G"), timeout=10)
        second = spawn("node2")
        run = wait_for(lambda: obs.alive("G"), timeout=10)[0]
        assert (run.node, run.pid) == ("node2", second.pid)
        assert obs.kill(run)  # through its pidfd
        second.wait(timeout=10)
        wait_for(lambda: not obs.alive("G"), timeout=10)
        runs = obs.runs("G")
    assert [(r.node, r.pid) for r in runs] == [("node1", first.pid), ("node2", second.pid)]
    assert runs[0].stopped and not runs[1].stopped
    assert all(r.watched and r.exited is not None and r.starttime for r in runs)
    assert runs[0].end < runs[1].start
    assert overlaps(runs) == []
    assert "gap +" in timeline(runs)


def test_runs_at_the_same_time_on_two_nodes_are_reported(spawn: Spawn, tmp_path: Path) -> None:
    with ProbeObserver({"G": tmp_path / "runs-G.log"}) as obs:
        spawn("node1")
        wait_for(lambda: obs.alive("G"), timeout=10)
        spawn("node2")
        wait_for(lambda: len(obs.alive("G")) == 2, timeout=10)
        time.sleep(0.1)
        runs = obs.runs("G")
    found = overlaps(runs)
    assert len(found) == 1 and "node1" in found[0] and "node2" in found[0]


def test_the_end_of_a_run_is_when_it_exited_not_its_last_tick(spawn: Spawn, tmp_path: Path) -> None:
    """A process SIGSTOPped (so silent) is still running: its span goes on until it exits."""
    with ProbeObserver({"G": tmp_path / "runs-G.log"}) as obs:
        p = spawn("node1")
        run = wait_for(lambda: obs.alive("G"), timeout=10)[0]
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(0.3)
        spawn("node2")
        wait_for(lambda: len(obs.runs("G")) == 2, timeout=10)
        p.kill()
        p.wait(timeout=10)
        wait_for(lambda: run.exited is not None, timeout=10)
        runs = obs.runs("G")
    assert run.exited is not None and run.exited > run.last + 0.2
    assert len(overlaps(runs)) == 1


def test_two_runs_on_one_node_at_once_are_reported(spawn: Spawn, tmp_path: Path) -> None:
    with ProbeObserver({"G": tmp_path / "runs-G.log"}) as obs:
        spawn("node1")
        spawn("node1")
        wait_for(lambda: len(obs.alive("G")) == 2, timeout=10)
        runs = obs.runs("G")
    found = overlaps(runs)
    assert len(found) == 1 and "twice on node1" in found[0]


def test_readers_on_two_threads_take_every_line_exactly_once(tmp_path: Path) -> None:
    """The observer's thread and a test's thread both poll the record file: no line may be
    read twice or skipped (a doubled offset once cut a start line in half)."""
    record = tmp_path / "runs-G.log"
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    obs = ProbeObserver({"G": record})  # not started: this test is the only poller
    pids = range(10_000_000, 10_000_400)  # beyond pid_max: no pidfd, no real process
    readers = [threading.Thread(target=lambda: [obs.poll() for _ in range(300)]) for _ in "ab"]
    for t in readers:
        t.start()
    for pid in pids:
        os.write(fd, f"{time.monotonic():.4f} node1 {pid} start {pid}\n".encode())
    for t in readers:
        t.join()
    os.close(fd)
    runs = obs.runs("G")
    assert [r.pid for r in runs] == list(pids)
    assert all(r.starttime == r.pid for r in runs)
