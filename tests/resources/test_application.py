"""Generic Application agent against real processes."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import GENERIC_APPLICATION, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.resources import Agent, AgentError, AgentResult, create_agent

from . import (
    MAX_WAIT,
    Recorder,
    alive,
    free_port,
    running_in_group,
    running_with,
    start_time,
    wait_until,
)

RTYPE = builtin_types()[GENERIC_APPLICATION]
PY = sys.executable
REPO = Path(__file__).resolve().parents[2]

SERVER = """
import http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Quiet).serve_forever()
"""
PROBE = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)"
IGNORE_TERM = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
"""


def cmd(*argv: object) -> str:
    return shlex.join(str(a) for a in argv)


class Harness:
    """Agents for resources named ``app`` on node1, with one recorder per agent instance."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.agents: list[Agent] = []

    def agent(self, **props: PropertyValue) -> tuple[Agent, Recorder]:
        rec = Recorder(self.run_dir)
        agent = create_agent(
            Resource("app", GENERIC_APPLICATION, "g", properties=props), RTYPE, rec.ctx
        )
        self.agents.append(agent)
        return agent, rec


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "run")
    try:
        yield harness
    finally:
        for agent in harness.agents:  # leave nothing running, whatever the test did
            agent.stop(timeout_s=5)


def test_start_waits_for_the_check_then_stop_leaves_nothing(h: Harness) -> None:
    port = free_port()
    agent, rec = h.agent(
        command=cmd(PY, "-c", SERVER, port),
        check_command=cmd(PY, "-c", PROBE, f"http://127.0.0.1:{port}/"),
    )
    agent.validate()
    agent.start(timeout_s=MAX_WAIT)
    # start returned only once the server answers
    out = subprocess.run([PY, "-c", PROBE, f"http://127.0.0.1:{port}/"], timeout=MAX_WAIT)
    assert out.returncode == 0
    assert agent.looks_alive() and agent.is_alive()
    pid = agent.pids()[0]
    assert rec.registered == {pid}
    assert running_in_group(pid) == [pid]
    assert (h.run_dir / "resources" / "app" / "pid.json").exists()

    agent.stop(timeout_s=MAX_WAIT)
    assert running_in_group(pid) == []
    assert rec.registered == set()
    assert not agent.looks_alive() and not agent.is_alive()
    assert not (h.run_dir / "resources" / "app" / "pid.json").exists()
    assert rec.failures == []  # a requested stop is not a failure
    agent.stop(timeout_s=MAX_WAIT)  # stopping a stopped resource is fine


def test_start_of_a_running_resource_changes_nothing(h: Harness) -> None:
    agent, _ = h.agent(command="sleep 60")
    agent.start(timeout_s=MAX_WAIT)
    pid = agent.pids()[0]
    agent.start(timeout_s=MAX_WAIT)
    assert agent.pids() == [pid]


def test_sigkill_is_reported_as_failure_within_a_second(h: Harness) -> None:
    agent, rec = h.agent(command="sleep 60")
    agent.start(timeout_s=MAX_WAIT)
    pid = agent.pids()[0]
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert rec.failed.wait(MAX_WAIT)
    [(name, why, noticed_at)] = rec.failures
    assert (name, why) == ("app", "killed by signal SIGKILL")
    assert noticed_at - killed_at < 1.0, f"noticed after {noticed_at - killed_at:.3f} s"
    assert not agent.looks_alive() and not agent.is_alive()
    agent.stop(timeout_s=MAX_WAIT)  # the manager's Terminate after a failure
    assert rec.registered == set()


def test_an_exit_reports_its_code(h: Harness) -> None:
    agent, rec = h.agent(command=cmd(PY, "-c", "import time, sys; time.sleep(0.6); sys.exit(7)"))
    agent.start(timeout_s=MAX_WAIT)
    assert rec.failed.wait(MAX_WAIT)
    assert rec.failures[0][:2] == ("app", "exited with code 7")


def test_stop_kills_the_whole_process_group(h: Harness) -> None:
    agent, _ = h.agent(command=cmd("sh", "-c", "sleep 60 & sleep 60 & wait"))
    agent.start(timeout_s=MAX_WAIT)
    pid = agent.pids()[0]
    assert wait_until(lambda: len(running_in_group(pid)) == 3)
    assert sorted(agent.pids()) == running_in_group(pid)
    agent.stop(timeout_s=MAX_WAIT)
    assert running_in_group(pid) == []


def test_stop_escalates_to_sigkill_after_the_stop_timeout(h: Harness, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    agent, rec = h.agent(
        command=cmd(PY, "-c", IGNORE_TERM, ready),
        check_command=cmd("test", "-f", ready),
        stop_timeout_s=1,
    )
    agent.start(timeout_s=MAX_WAIT)
    pid = agent.pids()[0]
    began = time.monotonic()
    agent.stop(timeout_s=MAX_WAIT)
    took = time.monotonic() - began
    assert 1.0 <= took < 3.0
    assert running_in_group(pid) == []
    assert "agent_killed" in rec.names()


def test_a_command_that_exits_at_once_fails_the_start_and_leaves_nothing(h: Harness) -> None:
    marker = uuid.uuid4().hex
    agent, rec = h.agent(command=cmd("sh", "-c", f"echo boom-{marker} >&2; sleep 0.05; exit 3"))
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_GENERIC
    assert "exited with code 3" in str(err.value)
    assert f"boom-{marker}" in str(err.value)  # what it said, for the administrator
    assert running_with(marker) == []
    assert rec.registered == set()
    assert agent.pids() == [] and not agent.looks_alive()
    assert not (h.run_dir / "resources" / "app" / "pid.json").exists()
    assert rec.failures == []  # a failed start is reported by the exception only


def test_a_check_that_never_answers_fails_the_start_and_leaves_nothing(h: Harness) -> None:
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 997}"
    agent, rec = h.agent(command=f"sleep {marker}", check_command="false")
    began = time.monotonic()
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=1)
    assert time.monotonic() - began < 3
    assert err.value.code is AgentResult.ERR_GENERIC
    assert "check_command" in str(err.value)
    assert running_with(f"sleep {marker}") == []
    assert rec.registered == set()


def test_a_missing_program_is_not_installed(h: Harness) -> None:
    agent, _ = h.agent(command="/nonexistent/wolfpack-test-program --flag")
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert "property command" in str(err.value) and "node1" in str(err.value)
    agent, _ = h.agent(command="sleep 60", check_command="no-such-wolfpack-checker")
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert "property check_command" in str(err.value)


def test_a_wrong_user_is_a_configuration_error_naming_user_and_node(h: Harness) -> None:
    agent, rec = h.agent(command="sleep 60", user="wolfpack-no-such-user")
    for call in (agent.validate, lambda: agent.start(timeout_s=MAX_WAIT)):
        with pytest.raises(AgentError) as err:
            call()
        assert err.value.code is AgentResult.ERR_CONFIGURED
        message = str(err.value)
        assert "'wolfpack-no-such-user'" in message and "node1" in message
        assert "property user" in message
    assert rec.registered == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run programs as another account")
def test_runs_as_the_given_account(h: Harness) -> None:
    agent, _ = h.agent(command="sleep 60", user="nobody")
    agent.start(timeout_s=MAX_WAIT)
    status = Path(f"/proc/{agent.pids()[0]}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split(":", 1)[1].split() for line in status}
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True).stdout)
    assert fields["Uid"] == [str(nobody)] * 4
    assert "0" not in fields["Groups"]  # root's groups are not inherited


def test_environment_and_directory_are_applied(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WOLFPACK_TEST_LEAK", "daemon-only")
    agent, _ = h.agent(
        command="sleep 60", directory=str(tmp_path), environment=["GREETING=hello world", "E="]
    )
    agent.start(timeout_s=MAX_WAIT)
    pid = agent.pids()[0]
    assert os.readlink(f"/proc/{pid}/cwd") == str(tmp_path)
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"GREETING=hello world" in environ and b"E=" in environ
    assert b"WOLFPACK_RESOURCE=app" in environ and b"WOLFPACK_NODE=node1" in environ
    assert not any(e.startswith(b"WOLFPACK_TEST_LEAK=") for e in environ)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"directory": "/nonexistent/wolfpack-dir"}, "directory"),
        ({"environment": ["1BAD=x"]}, "environment"),
        ({"environment": ["NOEQUALS"]}, "environment"),
        ({"command": "sleep 'unclosed"}, "command"),
    ],
)
def test_bad_properties_name_the_property(
    h: Harness, props: dict[str, PropertyValue], prop: str
) -> None:
    agent, _ = h.agent(**{"command": "sleep 60", **props})
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert f"property {prop}:" in str(err.value)


# -- adopt -----------------------------------------------------------------------------------
OLD_DAEMON = """
import sys
from pathlib import Path
from wolfpack.model.builtin_types import GENERIC_APPLICATION, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import AgentContext, create_agent

rtype = builtin_types()[GENERIC_APPLICATION]
res = Resource("app", GENERIC_APPLICATION, "g", properties={"command": sys.argv[2]})
nothing = lambda *args: None
agent = create_agent(res, rtype, AgentContext("node1", Path(sys.argv[1]), *[nothing] * 4))
agent.start(10)
print(agent.pids()[0])
"""


def test_a_new_instance_adopts_what_an_old_daemon_started(h: Harness) -> None:
    # A daemon process starts the program, then dies without stopping it.
    old = subprocess.run(
        [PY, "-c", OLD_DAEMON, h.run_dir, "sleep 60"],
        capture_output=True,
        text=True,
        timeout=MAX_WAIT,
        cwd=REPO,
        check=True,
    )
    pid = int(old.stdout)
    assert alive(pid)
    agent, rec = h.agent(command="sleep 60")
    assert agent.adopt()
    assert agent.pids() == [pid]
    assert agent.looks_alive() and agent.is_alive()
    assert rec.registered == {pid}
    agent.start(timeout_s=MAX_WAIT)  # already running: no second copy
    assert agent.pids() == [pid]
    # Not our child any more, yet its death is noticed at once.
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert rec.failed.wait(MAX_WAIT)
    assert rec.failures[0][2] - killed_at < 1.0
    agent.stop(timeout_s=MAX_WAIT)
    assert rec.registered == set()


# -- recorded before it runs (DESIGN §2: a process the node's watchdog and fence agent cannot
# know of would be a second owner once the group starts elsewhere) ---------------------------
DYING_DAEMON = """
import os, signal, sys
from pathlib import Path
from wolfpack.model.builtin_types import GENERIC_APPLICATION, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import AgentContext, create_agent

rtype = builtin_types()[GENERIC_APPLICATION]
res = Resource("app", GENERIC_APPLICATION, "g", properties={"command": sys.argv[2]})
nothing = lambda *args: None
die = lambda pid: os.kill(os.getpid(), signal.SIGKILL)  # dies before the PID is recorded
agent = create_agent(res, rtype, AgentContext("node1", Path(sys.argv[1]), nothing, nothing, die,
                                              nothing))
agent.start(10)
"""
TOUCH_AND_SLEEP = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60)"


def test_a_daemon_that_dies_before_recording_the_pid_leaves_nothing_running(
    h: Harness, tmp_path: Path
) -> None:
    """Found by the chaos suite: the daemon was SIGKILLed between starting a program and
    recording its PID, and the program ran on, unknown to the watchdog and the fence agent,
    while the group started on another node. Now it runs nothing until it is recorded."""
    ran = tmp_path / f"ran-{uuid.uuid4().hex}"
    command = shlex.join([PY, "-c", TOUCH_AND_SLEEP, str(ran)])
    daemon = subprocess.run(
        [PY, "-c", DYING_DAEMON, str(h.run_dir), command], timeout=MAX_WAIT, cwd=REPO
    )
    try:
        assert daemon.returncode == -signal.SIGKILL
        assert wait_until(lambda: not running_with(ran.name), MAX_WAIT), "it runs, unrecorded"
        assert not ran.exists(), "the program ran although its PID was never recorded"
    finally:
        for pid in running_with(ran.name):  # what a failing run left behind
            os.kill(pid, signal.SIGKILL)


def test_a_node_that_may_no_longer_run_resources_starts_nothing(h: Harness, tmp_path: Path) -> None:
    """A daemon that froze between forking and letting the program run finds, once thawed,
    that its lease is no longer valid: the program must not run (another node may own it)."""
    ran = tmp_path / f"ran-{uuid.uuid4().hex}"
    agent, rec = h.agent(command=shlex.join([PY, "-c", TOUCH_AND_SLEEP, str(ran)]))
    rec.may_run = False
    with pytest.raises(AgentError):
        agent.start(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not running_with(ran.name), MAX_WAIT)
    assert not ran.exists() and rec.registered == set()


def _write_pid_file(run_dir: Path, pid: int, start: int, argv: list[str]) -> Path:
    path = run_dir / "resources" / "app" / "pid.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    path.write_text(json.dumps({"pid": pid, "start_time": start, "boot_id": boot, "argv": argv}))
    return path


def test_a_pid_file_of_a_process_that_is_gone_is_rejected_and_removed(h: Harness) -> None:
    gone = subprocess.Popen(["sleep", "0"])
    start = start_time(gone.pid)
    gone.wait()
    path = _write_pid_file(h.run_dir, gone.pid, start, ["sleep", "0"])
    agent, rec = h.agent(command="sleep 0")
    assert not agent.adopt()
    assert not path.exists()
    assert "agent_adopt_rejected" in rec.names()


@pytest.mark.parametrize("reuse", ["another command", "another start time"])
def test_a_reused_pid_is_rejected_and_its_process_left_alone(h: Harness, reuse: str) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        if reuse == "another command":
            path = _write_pid_file(h.run_dir, other.pid, start_time(other.pid), ["myapp"])
        else:
            path = _write_pid_file(h.run_dir, other.pid, start_time(other.pid) - 1, ["sleep", "60"])
        agent, rec = h.agent(command="sleep 60")
        assert not agent.adopt()
        assert not path.exists()
        agent.stop(timeout_s=MAX_WAIT)
        assert alive(other.pid), "a process this agent did not start was touched"
        assert rec.registered == set()
    finally:
        other.kill()
        other.wait()


def test_an_unreadable_pid_file_is_removed(h: Harness) -> None:
    path = h.run_dir / "resources" / "app" / "pid.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    agent, _ = h.agent(command="sleep 60")
    assert not agent.adopt()
    assert not path.exists()
