"""PidRegistry against real processes. Only processes this test started are ever signalled."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.node.pidregistry import PidEntry, PidRegistry, proc_stat

from .procs import WAIT, Spawner, group_members, running, until


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    s = Spawner()
    try:
        yield s
    finally:
        s.cleanup()


def test_add_remove_entries(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    assert reg.entries() == []
    p = spawn("exec sleep 100")
    st = proc_stat(p.pid)
    assert st is not None
    entry = reg.add(p.pid, "resource")
    assert entry == PidEntry(p.pid, st.starttime, "resource")
    assert (tmp_path / "pids" / str(p.pid)).read_text() == f"{st.starttime} resource\n"
    assert reg.entries() == [entry]
    assert reg.alive() == [entry]
    reg.add(os.getpid(), "daemon")
    assert {(e.pid, e.label) for e in reg.entries()} == {
        (p.pid, "resource"),
        (os.getpid(), "daemon"),
    }
    reg.remove(p.pid)
    reg.remove(p.pid)  # forgetting twice is fine
    assert [e.pid for e in reg.entries()] == [os.getpid()]


def test_add_refuses_bad_labels_and_missing_processes(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    with pytest.raises(ValueError):
        reg.add(os.getpid(), "two words")
    with pytest.raises(ValueError):
        reg.add(os.getpid(), "")
    p = subprocess.Popen(["true"])
    p.wait(timeout=WAIT)  # reaped: the PID is free
    with pytest.raises(ProcessLookupError):
        reg.add(p.pid, "resource")
    assert reg.entries() == []


def test_kill_all_kills_the_whole_process_group(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    p = spawn("sleep 100 & sleep 100")
    assert until(lambda: len(group_members(p.pid)) == 3)  # sh and both sleeps
    group = group_members(p.pid)
    reg.add(p.pid, "resource")
    assert reg.kill_all() == [p.pid]
    assert reg.wait_gone(WAIT)
    assert not any(running(pid) for pid in group)
    assert reg.alive() == []


def test_process_groups_false_signals_only_the_recorded_pid(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    p = spawn("sleep 100 & sleep 100")
    assert until(lambda: len(group_members(p.pid)) == 3)
    children = [pid for pid in group_members(p.pid) if pid != p.pid]
    reg.add(p.pid, "resource")
    assert reg.kill_all(process_groups=False) == [p.pid]
    assert until(lambda: not running(p.pid))
    time.sleep(0.1)
    assert all(running(pid) for pid in children)


def test_stale_entries_are_never_touched(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    bystander = spawn("exec sleep 100")  # stands for a process that reused a recorded PID
    st = proc_stat(bystander.pid)
    assert st is not None
    reg.dir.mkdir(parents=True)
    (reg.dir / str(bystander.pid)).write_text(f"{st.starttime - 1} resource\n")
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=WAIT)
    (reg.dir / str(gone.pid)).write_text("12345 resource\n")
    (reg.dir / "garbage").write_text("not a pid")
    (reg.dir / "77").write_text("not an entry")

    assert [e.pid for e in reg.entries()] == sorted([bystander.pid, gone.pid])
    assert reg.alive() == []
    assert reg.kill_all() == []
    assert reg.running() == []
    assert reg.wait_gone(0.1)
    time.sleep(0.1)
    assert running(bystander.pid)
    assert {e.pid for e in reg.prune()} == {bystander.pid, gone.pid}
    assert reg.entries() == []
    assert running(bystander.pid)


def test_members_of_a_group_whose_leader_exited_are_killed(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    p = spawn("sleep 100 & echo $!", stdout=subprocess.PIPE)
    reg.add(p.pid, "resource")
    assert p.stdout is not None
    child = int(p.stdout.readline())
    child_stat = proc_stat(child)
    assert child_stat is not None
    spawn.strays.append((child, child_stat.starttime))
    p.wait(timeout=WAIT)  # leader reaped; its group lives on in the child
    assert proc_stat(p.pid) is None
    assert reg.running() == [child]
    assert reg.kill_all() == [p.pid]
    assert reg.wait_gone(WAIT)
    assert not running(child)


def test_labels_select_what_is_killed(tmp_path: Path, spawn: Spawner) -> None:
    reg = PidRegistry(tmp_path)
    res = spawn("exec sleep 100")
    daemon = spawn("exec sleep 100")
    reg.add(res.pid, "resource")
    reg.add(daemon.pid, "daemon")
    assert reg.kill_all(labels={"resource"}) == [res.pid]
    assert reg.wait_gone(WAIT, labels={"resource"})
    assert not reg.wait_gone(0.05)
    assert reg.running() == [daemon.pid]
    assert [e.pid for e in reg.alive()] == [daemon.pid]


def test_never_signals_the_caller(tmp_path: Path) -> None:
    reg = PidRegistry(tmp_path)
    reg.add(os.getpid(), "daemon")
    assert reg.kill_all(0) == []  # signal 0: a probe, nothing is sent
    assert reg.running() == []
