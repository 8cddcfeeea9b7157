"""Generic Script agent against real shell scripts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import GENERIC_SCRIPT, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.node.pidregistry import LABEL_RESOURCE, PidRegistry
from wolfpack.resources import Agent, AgentError, AgentResult, create_agent

from . import MAX_WAIT, Recorder, alive, running_with, wait_until

RTYPE = builtin_types()[GENERIC_SCRIPT]

#: An LSB-style script keeping a daemon's PID in the state directory the agent gives it.
DAEMON = """#!/bin/sh
PIDFILE="$WOLFPACK_STATE_DIR/daemon.pid"
case "$1" in
start)
    sleep 60 >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    echo started ;;
stop)
    [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
    rm -f "$PIDFILE" ;;
status)
    [ -f "$PIDFILE" ] || exit 3
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || exit 1 ;;
*)
    exit 2 ;;
esac
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.run_dir = tmp_path / "run"
        self.agents: list[Agent] = []

    def script(self, body: str, name: str = "svc") -> str:
        path = self.tmp_path / name
        path.write_text(body)
        path.chmod(0o755)
        return str(path)

    def agent(self, **props: PropertyValue) -> tuple[Agent, Recorder]:
        rec = Recorder(self.run_dir)
        res = Resource("svc", GENERIC_SCRIPT, "g", properties=props)
        agent = create_agent(res, RTYPE, rec.ctx)
        self.agents.append(agent)
        return agent, rec

    def daemon_pid(self) -> int:
        return int((self.run_dir / "resources" / "svc" / "daemon.pid").read_text())


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        for agent in harness.agents:
            with contextlib.suppress(AgentError):  # tests of broken scripts
                agent.stop(timeout_s=5)


def test_life_cycle(h: Harness) -> None:
    agent, rec = h.agent(script=h.script(DAEMON))
    agent.validate()
    assert not agent.looks_alive()  # status 3: stopped, before the start
    agent.start(timeout_s=MAX_WAIT)
    daemon = h.daemon_pid()
    assert agent.looks_alive() and agent.is_alive()
    assert agent.pids() == [daemon]  # what start left running
    assert rec.registered == {daemon}
    assert "started" in (h.run_dir / "resources" / "svc" / "script.log").read_text()

    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not alive(daemon))
    assert not agent.looks_alive() and not agent.is_alive()
    assert rec.registered == set()
    assert agent.pids() == []
    agent.stop(timeout_s=MAX_WAIT)  # stopping a stopped resource is fine


def test_a_dead_daemon_is_a_failed_status(h: Harness) -> None:
    agent, rec = h.agent(script=h.script(DAEMON))
    agent.start(timeout_s=MAX_WAIT)
    os.kill(h.daemon_pid(), signal.SIGKILL)
    assert wait_until(lambda: not agent.looks_alive())  # status 1: failed
    assert not agent.is_alive()
    assert "agent_status_failed" in rec.names()


def test_a_new_instance_adopts_a_running_script_resource(h: Harness) -> None:
    script = h.script(DAEMON)
    first, _ = h.agent(script=script)
    first.start(timeout_s=MAX_WAIT)
    daemon = h.daemon_pid()
    second, rec = h.agent(script=script)
    assert second.adopt()
    assert second.pids() == [daemon] and rec.registered == {daemon}
    second.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not alive(daemon))
    third, _ = h.agent(script=script)
    assert not third.adopt()


def test_a_start_that_hangs_times_out_and_its_process_group_is_killed(h: Harness) -> None:
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 997}"
    script = h.script(f"""#!/bin/sh
case "$1" in
start) sleep 60 & sleep {marker} ;;
status) exit 3 ;;
esac
exit 0
""")
    agent, rec = h.agent(script=script)
    began = time.monotonic()
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=1)
    assert time.monotonic() - began < 3
    assert err.value.code is AgentResult.ERR_GENERIC
    assert "did not finish within 1 s" in str(err.value)
    assert running_with(f"sleep {marker}") == []
    assert rec.registered == set()


def test_a_status_that_hangs_counts_as_failed(h: Harness) -> None:
    script = h.script('#!/bin/sh\n[ "$1" = status ] && sleep 60\nexit 0\n')
    agent, _ = h.agent(script=script, status_timeout_s=1)
    began = time.monotonic()
    assert not agent.looks_alive()
    assert time.monotonic() - began < 3


def test_a_stop_that_hangs_fails_and_its_process_group_is_killed(h: Harness) -> None:
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 997}"
    script = h.script(f'#!/bin/sh\n[ "$1" = stop ] && sleep {marker}\nexit 0\n')
    agent, _ = h.agent(script=script)
    with pytest.raises(AgentError) as err:
        agent.stop(timeout_s=1)
    assert err.value.code is AgentResult.ERR_GENERIC
    assert running_with(f"sleep {marker}") == []
    h.agents.remove(agent)  # its stop would hang again


def test_a_failing_start_is_undone_and_says_why(h: Harness) -> None:
    marker = uuid.uuid4().hex
    script = h.script(f"""#!/bin/sh
case "$1" in
start) echo "no license {marker}" >&2; exit 1 ;;
stop) touch "$WOLFPACK_STATE_DIR/stopped" ;;
status) exit 3 ;;
esac
""")
    agent, _ = h.agent(script=script)
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_GENERIC
    assert "exited with code 1" in str(err.value) and f"no license {marker}" in str(err.value)
    assert (h.run_dir / "resources" / "svc" / "stopped").exists()


def test_a_start_whose_status_never_says_running_fails(h: Harness) -> None:
    script = h.script('#!/bin/sh\n[ "$1" = status ] && exit 3\nexit 0\n')
    agent, _ = h.agent(script=script)
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=0.5)
    assert "status" in str(err.value)


def test_a_non_zero_stop_is_forgiven_when_status_says_stopped(h: Harness) -> None:
    script = h.script('#!/bin/sh\n[ "$1" = stop ] && exit 1\n[ "$1" = status ] && exit 3\n')
    agent, rec = h.agent(script=script)
    agent.stop(timeout_s=MAX_WAIT)
    assert "agent_stop_forgiven" in rec.names()


def test_what_start_left_behind_is_killed_by_stop(h: Harness) -> None:
    # A careless script: its stop forgets the helper its start launched.
    script = h.script("""#!/bin/sh
FLAG="$WOLFPACK_STATE_DIR/up"
case "$1" in
start) sleep 60 >/dev/null 2>&1 & touch "$FLAG" ;;
stop) rm -f "$FLAG" ;;
status) [ -f "$FLAG" ] || exit 3 ;;
esac
""")
    agent, rec = h.agent(script=script)
    agent.start(timeout_s=MAX_WAIT)
    [helper] = agent.pids()
    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not alive(helper))
    assert "agent_leftovers_killed" in rec.names()
    assert rec.registered == set()


@pytest.mark.parametrize("mode", [None, 0o644])
def test_a_missing_or_unexecutable_script_is_not_installed(h: Harness, mode: int | None) -> None:
    path = h.tmp_path / "absent"
    if mode is not None:
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
    agent, _ = h.agent(script=str(path))
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert "property script" in str(err.value) and "node1" in str(err.value)
    assert not agent.looks_alive()


# -- recorded before it runs (DESIGN §2) ---------------------------------------------------
SLOW_START = """#!/bin/sh
case "$1" in
start)
    sleep {service} >/dev/null 2>&1 &
    sleep {action} ;;
*)
    exit 3 ;;
esac
"""
DAEMON_PROCESS = """
import sys
from pathlib import Path
from wolfpack.model.builtin_types import GENERIC_SCRIPT, builtin_types
from wolfpack.model.config import Resource
from wolfpack.node.pidregistry import PidRegistry
from wolfpack.resources import AgentContext, create_agent

run_dir = Path(sys.argv[1])
registry = PidRegistry(run_dir)
res = Resource("svc", GENERIC_SCRIPT, "g", properties={"script": sys.argv[2]})
nothing = lambda *args: None
ctx = AgentContext("node1", run_dir, nothing, nothing, lambda pid: registry.add(pid, "resource"),
                   registry.remove)
create_agent(res, builtin_types()[GENERIC_SCRIPT], ctx).start(60)
"""


def test_what_a_start_action_runs_is_reachable_if_the_daemon_dies_during_it(
    h: Harness,
) -> None:
    """The daemon dies while the start action runs (it has launched its service and not
    returned yet): the node's registry must still reach that service, as the watchdog and
    the fence agent kill through it; before, it was recorded only after the action."""
    tag = uuid.uuid4().int % 10**6  # marks this test's processes
    service_cmd, action_cmd = f"sleep 61.{tag:06}", f"sleep 30.{tag:06}"
    script = h.script(SLOW_START.format(service=service_cmd[6:], action=action_cmd[6:]))
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON_PROCESS, str(h.run_dir), script],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert wait_until(lambda: bool(running_with(service_cmd)), MAX_WAIT)
        service = running_with(service_cmd)
        daemon.kill()  # mid-action: nothing recorded the service itself
        daemon.wait(timeout=MAX_WAIT)
        PidRegistry(h.run_dir).kill_all(signal.SIGKILL, labels=(LABEL_RESOURCE,))
        assert wait_until(lambda: not any(alive(p) for p in service)), "the service runs on"
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for pid in running_with(service_cmd) + running_with(action_cmd):
            os.kill(pid, signal.SIGKILL)


def test_a_node_that_may_no_longer_run_resources_runs_no_start_action(h: Harness) -> None:
    ran = h.tmp_path / "ran"
    agent, rec = h.agent(script=h.script(f'#!/bin/sh\n[ "$1" = start ] && touch {ran}\nexit 0\n'))
    rec.may_run = False
    with pytest.raises(AgentError):
        agent.start(timeout_s=MAX_WAIT)
    assert not ran.exists() and rec.registered == set()
