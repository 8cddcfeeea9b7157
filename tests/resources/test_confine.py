"""Confinement (review C2, L10): every resource's processes in a cgroup v2 of their own, so
that what a program daemonises out of its process group (``setsid``, a double fork) is
killed at stop too. Real cgroups under a subtree unique to the test (its run directory),
removed at teardown; only processes the test caused are signalled, by PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import GENERIC_APPLICATION, GENERIC_SCRIPT, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import create_agent
from wolfpack.resources.confine import Cgroup, Confinement, cgroup2_mount, own_cgroup, safe_name
from wolfpack.resources.holdings import CGROUP, Holdings

from . import MAX_WAIT, Recorder, alive, start_time, wait_until

#: double-forks: the first child calls setsid() (a session and group of its own) and forks
#: the grandchild, which lives on; every process appends its PID to argv[1]
DAEMONISER = """
import os, sys, time
path = sys.argv[1]
def note():
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\\n")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        note()
        time.sleep(300)
    os._exit(0)
note()
if len(sys.argv) > 2:  # "exit": a script's start, which returns once it has daemonised
    sys.exit(0)
time.sleep(300)
"""


class Pids:
    """The PIDs a daemoniser wrote, with their start times, so teardown kills exactly them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[int, int] = {}

    def read(self) -> list[int]:
        with contextlib.suppress(OSError):
            for line in self.path.read_text().split():
                pid = int(line)
                if pid not in self.seen and alive(pid):
                    self.seen[pid] = start_time(pid)
        return sorted(self.seen)

    def running(self) -> list[int]:
        return [p for p, st in self.seen.items() if alive(p) and start_time(p) == st]

    def kill_left(self) -> None:
        for pid in self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pids(tmp_path: Path) -> Iterator[Pids]:
    p = Pids(tmp_path / "pids")
    try:
        yield p
    finally:
        p.kill_left()


def daemoniser(tmp_path: Path) -> Path:
    path = tmp_path / "daemoniser.py"
    path.write_text(DAEMONISER)
    return path


def test_discovery_finds_the_cgroup2_mount_and_our_cgroup() -> None:
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy")
    assert (mount / "cgroup.procs").exists()
    own = own_cgroup()
    assert own is not None and own.startswith("/")
    assert safe_name("app") == "app" and "/" not in safe_name("a/b c")
    assert safe_name("a/b c") != safe_name("a_b c")


def test_the_node_name_is_in_the_subtree_and_two_run_dirs_differ(
    confine: Confinement, tmp_path: Path
) -> None:
    assert confine.root is not None and confine.root.name.startswith("wolfpack-node1-")
    other = Confinement.for_node("node1", tmp_path / "other-run")
    try:
        assert other.root is not None and other.root != confine.root
    finally:
        other.remove_root()


def test_application_stop_kills_what_it_daemonised(
    confine: Confinement, pids: Pids, tmp_path: Path
) -> None:
    """C2: a Generic Application whose program double-forks and setsid()s a child: after
    the agent's stop nothing of it runs (the old code killed only the process group)."""
    rec = Recorder(tmp_path / "run", confine=confine)
    command = f"{sys.executable} {daemoniser(tmp_path)} {pids.path}"
    res = Resource("app", GENERIC_APPLICATION, "g", properties={"command": command})
    agent = create_agent(res, builtin_types()[GENERIC_APPLICATION], rec.ctx)
    agent.start(timeout_s=MAX_WAIT)
    assert wait_until(lambda: len(pids.read()) == 2)
    main, escaped = pids.read()[0], pids.read()[1]
    assert os.getsid(escaped) != os.getsid(main)  # it did leave the session
    group = confine.cgroup("app")
    assert group is not None and set(pids.read()) <= set(group.pids())
    held = Holdings(tmp_path / "run").entries((CGROUP,))
    assert [(h.resource, h.fields["path"]) for h in held] == [("app", str(group.path))]

    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not pids.running()), f"still running: {pids.running()}"
    assert not group.path.exists()
    assert Holdings(tmp_path / "run").entries() == []
    assert "agent_cgroup_killed" in rec.names()


def test_script_stop_kills_what_its_start_daemonised(
    confine: Confinement, pids: Pids, tmp_path: Path
) -> None:
    """C2: a Generic Script whose start leaves a double-forked, setsid() daemon: its stop
    forgets it, yet after the agent's stop nothing of it runs."""
    script = tmp_path / "svc"
    script.write_text(f"""#!/bin/sh
case "$1" in
start) {sys.executable} {daemoniser(tmp_path)} {pids.path} exit ;;
status) [ -s {pids.path} ] && exit 0; exit 3 ;;
stop) rm -f {pids.path} ;;
esac
exit 0
""")
    script.chmod(0o755)
    rec = Recorder(tmp_path / "run", confine=confine)
    res = Resource("svc", GENERIC_SCRIPT, "g", properties={"script": str(script)})
    agent = create_agent(res, builtin_types()[GENERIC_SCRIPT], rec.ctx)
    agent.start(timeout_s=MAX_WAIT)
    assert wait_until(lambda: bool(pids.read()))  # the setsid'd grandchild; start returned
    group = confine.cgroup("svc")
    assert group is not None and set(pids.running()) <= set(group.pids())

    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not pids.running()), f"still running: {pids.running()}"
    assert not group.path.exists()


def test_without_confinement_the_agents_fall_back_to_process_groups(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "run", confine=Confinement(None, "tested without"))
    res = Resource("app", GENERIC_APPLICATION, "g", properties={"command": "sleep 60"})
    agent = create_agent(res, builtin_types()[GENERIC_APPLICATION], rec.ctx)
    agent.start(timeout_s=MAX_WAIT)
    (pid,) = agent.pids()
    assert Holdings(tmp_path / "run").entries() == []
    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not alive(pid))


def test_kill_without_cgroup_kill_freezes_and_kills_each(
    confine: Confinement, pids: Pids, tmp_path: Path
) -> None:
    """The fallback for kernels before 5.14 (no cgroup.kill): freeze, SIGKILL, thaw."""
    group = confine.cgroup("old-kernel")
    assert group is not None
    group.create()
    # in the cgroup before it runs anything, so its children are in too (agents hold theirs
    # at a StartGate; here a preexec_fn does): added after Popen returned, it could fork
    # first on a loaded machine (CI did)
    proc = subprocess.Popen(
        [sys.executable, str(daemoniser(tmp_path)), str(pids.path)],
        start_new_session=True,
        preexec_fn=lambda: group.add(os.getpid()),
    )
    try:
        assert wait_until(lambda: len(pids.read()) == 2)
        assert set(pids.read()) <= set(group.pids())
        group._freeze_and_kill()
        assert group.wait_empty(MAX_WAIT)
        assert not pids.running()
        group.remove()
        assert not group.path.exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_cgroup_outside_the_subtree_is_never_removed_when_not_owned(
    confine: Confinement, tmp_path: Path
) -> None:
    """A systemd unit's cgroup is systemd's: killed, never removed."""
    group = confine.cgroup("unit")
    assert group is not None
    group.create()
    held = Holdings(tmp_path / "run")
    held.add(CGROUP, "unit", path=str(group.path), owned=False)
    (holding,) = held.entries()
    assert held.release(holding) is None
    assert group.path.exists() and held.entries() == []
    group.remove()


def test_a_missing_cgroup_counts_as_empty(tmp_path: Path) -> None:
    held = Holdings(tmp_path / "run")
    held.add(CGROUP, "x", path=str(tmp_path / "gone"))
    (holding,) = held.entries()
    assert held.release(holding) is None and held.entries() == []
    assert Cgroup(tmp_path / "gone").kill(0.1) and Cgroup(tmp_path / "gone").pids() == []
