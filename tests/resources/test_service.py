"""Generic Service (S31): a systemd unit where systemd runs, else a supervised command.

The supervised path runs a real program. The systemd path runs against the real systemd only
where systemd is PID 1 (not in this container); its systemctl commands are unit-tested with a
fake runner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from wolfpack.model.builtin_types import GENERIC_SERVICE, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import AgentError, AgentResult, create_agent
from wolfpack.resources.commands import RunResult
from wolfpack.resources.service import SYSTEMD_RUN_DIR, ServiceAgent, systemd_running, unit_name

from . import Recorder, alive, running_in_group, wait_until

RTYPE = builtin_types()[GENERIC_SERVICE]


def service(rec: Recorder, **props: Any) -> ServiceAgent:
    agent = create_agent(Resource("svc", GENERIC_SERVICE, "g", properties=props), RTYPE, rec.ctx)
    assert isinstance(agent, ServiceAgent)
    return agent


# -- without systemd: a supervised command --------------------------------------------------------
@pytest.mark.skipif(systemd_running(), reason="systemd runs here: the supervised path is not used")
def test_without_systemd_the_command_is_supervised(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    agent = service(rec, service="cache", command="sleep 300")
    assert agent.mode == "supervised"
    agent.validate()
    agent.start(timeout_s=10)
    try:
        [pid] = agent.pids()
        assert alive(pid) and running_in_group(pid) == [pid] and pid in rec.registered
        assert agent.looks_alive() and agent.is_alive()
        assert (tmp_path / "resources/svc/pid.json").exists()  # the Generic Application's files
        os.kill(pid, signal.SIGKILL)  # fails unasked: reported at once
        assert rec.failed.wait(10)
        assert rec.failures[0][:2] == ("svc", "killed by signal SIGKILL")
        assert not agent.looks_alive()
    finally:
        agent.stop(timeout_s=10)
    assert wait_until(lambda: not alive(pid)) and agent.pids() == []
    agent.start(timeout_s=10)
    [again] = agent.pids()
    agent.stop(timeout_s=10)
    assert wait_until(lambda: not alive(again)) and not agent.looks_alive()
    assert "service_starting" in rec.names()


@pytest.mark.skipif(systemd_running(), reason="systemd runs here: the supervised path is not used")
def test_without_systemd_a_service_without_command_is_refused(tmp_path: Path) -> None:
    agent = service(Recorder(tmp_path), service="cache")
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert "property command:" in str(err.value) and "systemd does not run" in str(err.value)
    with pytest.raises(AgentError, match="property command"):
        agent.start(timeout_s=5)
    assert agent.pids() == []


# -- with systemd: systemctl, through a fake runner ------------------------------------------------
class FakeSystemctl:
    """Answers systemctl like systemd would for one unit; records every command."""

    def __init__(self, cgroup: str = "/system.slice/web.service") -> None:
        self.calls: list[list[str]] = []
        self.active = False
        self.cgroup = cgroup
        self.start_fails = False

    def __call__(self, argv: Sequence[str], timeout_s: float) -> RunResult:
        argv = list(argv)
        self.calls.append(argv)
        verb = argv[1]
        if verb == "start":
            if self.start_fails:
                return RunResult(1, "Job for web.service failed.", None)
            self.active = True
        elif verb == "stop":
            self.active = False
        elif verb == "is-active":
            return RunResult(0 if self.active else 3, "", None)
        elif verb == "show":
            return RunResult(0, self.cgroup, None)
        return RunResult(0, "", None)


@pytest.fixture
def with_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_run_dir = tmp_path / "run-systemd-system"
    fake_run_dir.mkdir()
    monkeypatch.setattr(ServiceAgent, "systemd_run_dir", fake_run_dir)
    cgroup = tmp_path / "cgroup/system.slice/web.service"
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text("4242\n4243\n")
    return tmp_path / "cgroup"


def test_with_systemd_the_unit_is_driven_by_systemctl(tmp_path: Path, with_systemd: Path) -> None:
    fake = FakeSystemctl()
    rec = Recorder(tmp_path)
    res = Resource("svc", GENERIC_SERVICE, "g", properties={"service": "web"})
    agent = ServiceAgent(res, RTYPE, rec.ctx, runner=fake, cgroup_root=with_systemd)
    assert agent.mode == "systemd"
    assert not agent.adopt()
    agent.start(timeout_s=30)
    unit = ["--", "web.service"]
    assert fake.calls[-3:] == [
        ["systemctl", "start", *unit],
        ["systemctl", "is-active", "--quiet", *unit],
        ["systemctl", "show", "--property=ControlGroup", "--value", *unit],
    ]
    calls = len(fake.calls)
    assert agent.looks_alive() and agent.pids() == [4242, 4243]
    assert len(fake.calls) == calls  # LooksAlive read the cgroup, spawned nothing
    assert agent.is_alive() and fake.calls[-1] == ["systemctl", "is-active", "--quiet", *unit]
    (with_systemd / "system.slice/web.service/cgroup.procs").write_text("")
    assert not agent.looks_alive()  # every process of the unit is gone
    agent.stop(timeout_s=30)
    assert ["systemctl", "stop", *unit] in fake.calls and not agent.is_alive()
    fake.active = True  # after a daemon restart: the running unit is adopted
    assert agent.adopt()


def test_with_systemd_a_failed_start_says_what_systemctl_said(
    tmp_path: Path, with_systemd: Path
) -> None:
    fake = FakeSystemctl()
    fake.start_fails = True
    res = Resource("svc", GENERIC_SERVICE, "g", properties={"service": "web.service"})
    agent = ServiceAgent(res, RTYPE, Recorder(tmp_path).ctx, runner=fake)
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=30)
    assert err.value.code is AgentResult.ERR_GENERIC
    assert "systemctl start web.service: Job for web.service failed." in str(err.value)
    assert "'svc' on node1" in str(err.value)


@pytest.mark.parametrize("bad", ["two words", "-x", "a;b", "../etc"])
def test_with_systemd_a_bad_unit_name_is_refused(
    tmp_path: Path, with_systemd: Path, bad: str
) -> None:
    fake = FakeSystemctl()
    res = Resource("svc", GENERIC_SERVICE, "g", properties={"service": bad})
    agent = ServiceAgent(res, RTYPE, Recorder(tmp_path).ctx, runner=fake)
    with pytest.raises(AgentError, match=r"property service: .* is not a systemd unit name"):
        agent.validate()
    assert fake.calls == []


def test_unit_names() -> None:
    assert unit_name("nginx") == "nginx.service"
    assert unit_name("getty@tty1.service") == "getty@tty1.service"
    assert unit_name("backup.timer") == "backup.timer"
    assert unit_name("a b") is None


# -- with the real systemd ---------------------------------------------------------------------
@pytest.mark.skipif(
    not systemd_running(), reason=f"systemd is not PID 1 on this machine ({SYSTEMD_RUN_DIR} absent)"
)
def test_with_the_real_systemd_a_transient_unit_starts_and_stops(tmp_path: Path) -> None:
    name = f"wolfpack-test-{uuid.uuid4().hex[:12]}.service"
    unit_file = SYSTEMD_RUN_DIR / name
    unit_file.write_text("[Service]\nExecStart=/bin/sleep 300\n")
    try:
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        agent = service(Recorder(tmp_path), service=name)
        agent.validate()
        agent.start(timeout_s=30)
        assert agent.is_alive() and agent.looks_alive() and agent.pids()
        agent.stop(timeout_s=30)
        active = subprocess.run(["systemctl", "is-active", name], capture_output=True, text=True)
        assert active.stdout.strip() != "active" and not agent.is_alive()
    finally:
        subprocess.run(["systemctl", "stop", name], check=False, capture_output=True)
        unit_file.unlink(missing_ok=True)
        subprocess.run(["systemctl", "daemon-reload"], check=False)
