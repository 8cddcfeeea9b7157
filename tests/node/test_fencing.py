"""Fence agents against real programs and processes. Only processes this test started are
ever signalled."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.errors import FenceError, WolfpackError
from wolfpack.node.fencing import (
    ExternalFenceAgent,
    FenceAgent,
    LocalTestFenceAgent,
    parse_stdin,
)
from wolfpack.node.pidregistry import PidRegistry, proc_stat

from .procs import Spawner, running, until


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    s = Spawner()
    try:
        yield s
    finally:
        s.cleanup()


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- ExternalFenceAgent ----------------------------------------------------------------------


def test_external_agent_gets_options_on_stdin(tmp_path: Path) -> None:
    seen = tmp_path / "stdin"
    agent_path = script(tmp_path / "fence_ok", f'cat > "{seen}"\necho "$#" > "{seen}.argc"\n')
    agent = ExternalFenceAgent(
        agent_path, {"ipaddr": "192.0.2.10", "login": "admin", "passwd": "s3cret"}, 5
    )
    agent.fence("node2")
    lines = seen.read_text().splitlines()
    assert lines[:2] == ["action=off", "plug=node2"]
    assert {"ipaddr=192.0.2.10", "login=admin", "passwd=s3cret"} <= set(lines)
    assert (tmp_path / "stdin.argc").read_text().strip() == "0"  # options only on stdin

    agent.unfence("node2")
    assert seen.read_text().splitlines()[:2] == ["action=on", "plug=node2"]


def test_external_agent_host_map_names_the_plug(tmp_path: Path) -> None:
    seen = tmp_path / "stdin"
    agent_path = script(tmp_path / "fence_ok", f'cat > "{seen}"\n')
    ExternalFenceAgent(agent_path, {}, 5, host_map={"node2": "7"}).fence("node2")
    lines = seen.read_text().splitlines()
    assert "plug=7" in lines
    assert "nodename=node2" in lines


def test_external_agent_failure_carries_its_stderr(tmp_path: Path) -> None:
    body = "cat >/dev/null\necho 'Unable to connect to 192.0.2.10' >&2\nexit 1\n"
    agent_path = script(tmp_path / "fence_bad", body)
    agent = ExternalFenceAgent(agent_path, {"passwd": "s3cret"}, 5)
    with pytest.raises(FenceError) as info:
        agent.fence("node2")
    message = str(info.value)
    assert "Unable to connect to 192.0.2.10" in message
    assert "exit status 1" in message
    assert "plug=node2" in message
    assert "s3cret" not in message
    assert isinstance(info.value, WolfpackError)


def test_external_agent_missing_program(tmp_path: Path) -> None:
    agent = ExternalFenceAgent(tmp_path / "fence_nothing", {}, 5)
    with pytest.raises(FenceError, match="cannot run it"):
        agent.fence("node2")


def test_hanging_agent_times_out_and_is_killed(tmp_path: Path, spawn: Spawner) -> None:
    pids = tmp_path / "pids"
    agent_path = script(
        tmp_path / "fence_hang",
        f'cat >/dev/null\nsleep 100 &\necho "$$ $!" > "{pids}.tmp"\nmv "{pids}.tmp" "{pids}"\n'
        "wait\n",
    )
    agent = ExternalFenceAgent(agent_path, {}, 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(FenceError, match=r"not confirmed within 0.5 s"):
            agent.fence("node2")
        assert time.monotonic() - started < 0.5 + 3.0
        shell, child = (int(x) for x in pids.read_text().split())
        assert until(lambda: not running(shell) and not running(child))
    finally:
        if pids.exists():  # if the agent was not killed, kill what it started (ours)
            for pid in (int(x) for x in pids.read_text().split()):
                st = proc_stat(pid)
                if st is not None and st.running:
                    spawn.strays.append((pid, st.starttime))


def test_external_agent_refuses_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set by Wolfpack"):
        ExternalFenceAgent("/bin/true", {"plug": "x"})
    with pytest.raises(ValueError, match="single line"):
        ExternalFenceAgent("/bin/true", {"passwd": "a\nb"})
    with pytest.raises(ValueError):
        ExternalFenceAgent("/bin/true", {"a=b": "c"})
    with pytest.raises(ValueError):
        ExternalFenceAgent("/bin/true", {}, 0)


def test_parse_stdin_follows_fence_agents() -> None:
    text = "# comment\n\naction=off\n plug=node2 \npasswd=a=b\nssl\n"
    assert parse_stdin(text) == {"action": "off", "plug": "node2", "passwd": "a=b", "ssl": "1"}


# -- LocalTestFenceAgent ---------------------------------------------------------------------


def start_node(run_root: Path, node: str, spawn: Spawner) -> list[int]:
    """A fake node: a 'daemon' and a resource process group, recorded in its registry."""
    reg = PidRegistry(run_root / node)
    daemon = spawn("exec sleep 100")
    resource = spawn("sleep 100 & sleep 100")
    reg.add(daemon.pid, "daemon")
    reg.add(resource.pid, "resource")
    assert until(lambda: len(reg.running()) == 4)  # daemon, sh, two sleeps
    return reg.running()


def test_local_agent_kills_only_the_fenced_node(tmp_path: Path, spawn: Spawner) -> None:
    node1 = start_node(tmp_path, "node1", spawn)
    node2 = start_node(tmp_path, "node2", spawn)
    agent: FenceAgent = LocalTestFenceAgent(tmp_path)
    agent.fence("node2")
    assert not any(running(pid) for pid in node2)
    assert all(running(pid) for pid in node1)
    agent.fence("node2")  # fencing an off node again is confirmed at once
    agent.unfence("node2")


def test_local_agent_refuses_unknown_nodes(tmp_path: Path) -> None:
    agent = LocalTestFenceAgent(tmp_path)
    with pytest.raises(FenceError, match="no run directory"):
        agent.fence("node9")
    with pytest.raises(FenceError, match="not a node name"):
        agent.fence("../etc")


def test_local_agent_as_a_program_through_external_agent(tmp_path: Path, spawn: Spawner) -> None:
    run_root = tmp_path / "run"
    node1 = start_node(run_root, "node1", spawn)
    node2 = start_node(run_root, "node2", spawn)
    program = [sys.executable, "-m", "wolfpack.node.fencing", "test"]
    agent = ExternalFenceAgent(program, {"run_root": str(run_root)}, 10)
    agent.fence("node2")
    agent.unfence("node2")
    with pytest.raises(FenceError, match="no run directory"):
        agent.fence("node9")
    assert not any(running(pid) for pid in node2)
    assert all(running(pid) for pid in node1)


def test_local_agent_program_status_and_bad_input(tmp_path: Path, spawn: Spawner) -> None:
    start_node(tmp_path, "node1", spawn)
    cmd = [sys.executable, "-m", "wolfpack.node.fencing", "test", "--run-root", str(tmp_path)]

    def run(stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=10)

    assert run("action=status\nplug=node1\n").returncode == 0  # on
    assert run("action=monitor\n").returncode == 0
    bad = run("action=dance\nplug=node1\n")
    assert bad.returncode == 1
    assert "unsupported action" in bad.stderr
    assert run("action=off\n").returncode == 1  # no plug
    assert run("action=off\nplug=node1\n").returncode == 0
    assert run("action=status\nplug=node1\n").returncode == 2  # off
