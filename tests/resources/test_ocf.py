"""OCF Resource Agent against Debian's real resource-agents (Dummy, IPaddr2) and small fake
OCF agents in a temporary OCF_ROOT."""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import OCF, builtin_types
from wolfpack.model.config import ClusterConfig, PropertyKind, PropertyValue, Resource
from wolfpack.model.validation import config_errors
from wolfpack.resources import AgentError, AgentResult, agent_class, create_agent
from wolfpack.resources.ocf import (
    OcfAgent,
    installed_agents,
    instance_name,
    parse_duration,
    parse_metadata,
    resource_type_from_metadata,
    schema_from_metadata,
)

from . import MAX_WAIT, Recorder, alive, running_with, wait_until

RTYPE = builtin_types()[OCF]
OCF_ROOT = Path("/usr/lib/ocf")
HEARTBEAT = OCF_ROOT / "resource.d" / "heartbeat"

pytestmark = pytest.mark.skipif(
    not (HEARTBEAT / "Dummy").exists(), reason="Debian's resource-agents is not installed"
)

#: A fake OCF agent. Parameters: state (file), hang (actions that sleep), <action>_rc (exit
#: code), daemon (start leaves a sleeper running), envfile (dump the environment per action),
#: bad_metadata (meta-data prints no XML).
FAKE = """#!/bin/sh
action="$1"
[ -n "$OCF_RESKEY_envfile" ] && env > "$OCF_RESKEY_envfile.$action"
if [ "$action" = meta-data ]; then
[ -n "$OCF_RESKEY_bad_metadata" ] && { echo "usage: Fake start|stop"; exit 0; }
cat <<'XML'
<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Fake" version="1.0">
<version>1.1</version>
<shortdesc lang="en">A fake agent</shortdesc>
<parameters>
<parameter name="state" required="1" unique="1">
<shortdesc lang="en">State file</shortdesc><content type="string"/>
</parameter>
</parameters>
<actions>
<action name="start" @START@ />
<action name="stop" timeout="5s" />
<action name="monitor" timeout="1s" interval="10s" depth="0" />
<action name="meta-data" timeout="5s" />
</actions>
</resource-agent>
XML
exit 0
fi
case " $OCF_RESKEY_hang " in *" $action "*) "$OCF_ROOT/sleeper" 60 ;; esac
eval "rc=\\${OCF_RESKEY_${action}_rc:-}"
if [ -n "$rc" ]; then
    echo "ocf-exit-reason:$action broken on purpose" >&2
    exit "$rc"
fi
case "$action" in
start)
    touch "$OCF_RESKEY_state"
    [ -n "$OCF_RESKEY_daemon" ] && "$OCF_ROOT/sleeper" 60 >/dev/null 2>&1 &
    exit 0 ;;
stop) rm -f "$OCF_RESKEY_state"; exit 0 ;;
monitor) [ -f "$OCF_RESKEY_state" ] && exit 0; exit 7 ;;
*) exit 3 ;;
esac
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.run_dir = tmp_path / "run"
        self.agents: list[OcfAgent] = []
        self.fake_root = tmp_path / "ocf"

    def fake(self, start_timeout: str | None = "1s") -> str:
        """Install the fake agent as wpt:Fake in a temporary OCF_ROOT; returns that root."""
        agent = self.fake_root / "resource.d" / "wpt" / "Fake"
        agent.parent.mkdir(parents=True, exist_ok=True)
        attr = f'timeout="{start_timeout}"' if start_timeout else ""
        agent.write_text(FAKE.replace("@START@", attr))
        agent.chmod(0o755)
        sleeper = self.fake_root / "sleeper"
        if not sleeper.exists():
            sleeper.symlink_to("/bin/sleep")
        return str(self.fake_root)

    def agent(
        self, pending_timeout_s: int = 30, name: str = "res", **props: PropertyValue
    ) -> tuple[OcfAgent, Recorder]:
        return self.agent_of(props, pending_timeout_s, name)

    def agent_of(
        self, props: dict[str, PropertyValue], pending_timeout_s: int = 30, name: str = "res"
    ) -> tuple[OcfAgent, Recorder]:
        rec = Recorder(self.run_dir)
        res = Resource(name, OCF, "g", pending_timeout_s=pending_timeout_s, properties=props)
        agent = OcfAgent(res, RTYPE, rec.ctx)
        self.agents.append(agent)
        return agent, rec

    def sleepers(self) -> list[int]:
        return running_with(str(self.fake_root / "sleeper"))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        for agent in harness.agents:
            with contextlib.suppress(AgentError):  # tests of broken agents
                agent.stop(timeout_s=5)
        assert wait_until(lambda: not harness.sleepers()), "a fake agent's process outlived"


# -- Dummy -----------------------------------------------------------------------------------------
def test_dummy_life_cycle(h: Harness) -> None:
    state = h.tmp_path / "dummy.state"
    agent, rec = h.agent(agent="heartbeat:Dummy", parameters=[f"state={state}"])
    agent.validate()
    assert not agent.looks_alive() and not agent.is_alive()  # monitor 7: cleanly stopped
    assert agent.monitor() is AgentResult.NOT_RUNNING
    assert not agent.adopt()

    agent.start(timeout_s=30)
    assert state.exists()  # the parameter reached the agent
    assert agent.monitor() is AgentResult.OK
    assert agent.looks_alive() and agent.is_alive() and agent.adopt()
    assert agent.pids() == []  # Dummy leaves nothing running

    agent.stop(timeout_s=30)
    assert not state.exists()
    assert agent.monitor() is AgentResult.NOT_RUNNING
    assert not agent.looks_alive()
    agent.stop(timeout_s=30)  # stopping a stopped resource is fine
    assert "agent_online" in rec.names() and "agent_offline" in rec.names()
    assert "--- " in (h.run_dir / "resources" / "res" / "ocf.log").read_text()


def test_dummy_validate_all_refuses_an_unwritable_state(h: Harness) -> None:
    agent, _ = h.agent(agent="heartbeat:Dummy", parameters=["state=/nonexistent/dir/x.state"])
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED  # OCF 2, invalid parameters
    msg = str(err.value)
    assert "'res' on node1" in msg and "property parameters" in msg
    assert "validate-all exited with code 2" in msg and "not writable" in msg


def test_environment_and_parameters_reach_the_agent(h: Harness) -> None:
    root = h.fake()
    envfile = h.tmp_path / "env"
    agent, _ = h.agent(
        name="My Res",
        agent="wpt:Fake",
        ocf_root=root,
        parameters=[f"state={h.tmp_path / 's'}", f"envfile={envfile}", "odd= a=b c "],
    )
    agent.start(timeout_s=30)
    agent.is_alive()
    lines = Path(f"{envfile}.start").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["OCF_ROOT"] == root
    assert env["OCF_RESOURCE_INSTANCE"] == instance_name("My Res")
    assert env["OCF_RESOURCE_TYPE"] == "Fake" and env["OCF_RESOURCE_PROVIDER"] == "wpt"
    assert (env["OCF_RA_VERSION_MAJOR"], env["OCF_RA_VERSION_MINOR"]) == ("1", "1")
    assert env["OCF_RESKEY_odd"] == " a=b c "
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "1000"  # the meta-data's start timeout
    monitor = dict(
        line.split("=", 1) for line in Path(f"{envfile}.monitor").read_text().splitlines()
    )
    assert monitor["OCF_CHECK_LEVEL"] == "10"  # IsAlive: the deeper monitor
    assert monitor["OCF_RESKEY_CRM_meta_interval"] == str(RTYPE.is_alive_ms)
    assert "WOLFPACK" not in " ".join(env) and "PYTEST_CURRENT_TEST" not in env


def test_unreadable_metadata_falls_back_to_the_pending_timeout(h: Harness) -> None:
    envfile = h.tmp_path / "env"
    agent, rec = h.agent(
        pending_timeout_s=7,
        agent="wpt:Fake",
        ocf_root=h.fake(),
        parameters=[f"state={h.tmp_path / 's'}", f"envfile={envfile}", "bad_metadata=1"],
    )
    agent.start(timeout_s=30)
    assert agent.looks_alive()
    assert "OCF_RESKEY_CRM_meta_timeout=7000" in Path(f"{envfile}.start").read_text()
    (why,) = [f["why"] for e, f in rec.events if e == "agent_metadata_unreadable"]
    assert "well-formed" in str(why)
    assert not (h.run_dir / "resources" / "res" / "meta-data.xml").exists()


def test_instance_names_are_safe_for_agents_that_do_not_quote() -> None:
    assert instance_name("web-1.ip_v4") == "web-1.ip_v4"
    spaced = instance_name("Cluster IP")
    assert re.fullmatch(r"Cluster_IP-[0-9a-f]{6}", spaced)
    assert spaced == instance_name("Cluster IP") != instance_name("Cluster_IP")
    assert re.fullmatch(r"rm_-rf-[0-9a-f]{6}", instance_name("$(rm -rf)*"))
    assert re.fullmatch(r"resource-[0-9a-f]{6}", instance_name("$()*"))
    assert instance_name("-x") != "-x"  # would read as an option


# -- meta-data -------------------------------------------------------------------------------------
def _meta(agent: str) -> str:
    return subprocess.run(
        [str(HEARTBEAT / agent), "meta-data"],
        env={"OCF_ROOT": str(OCF_ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=MAX_WAIT,
        check=True,
    ).stdout


def test_metadata_of_dummy() -> None:
    meta = parse_metadata(_meta("Dummy"))
    assert meta.name == "Dummy" and meta.shortdesc == "Example stateless resource agent"
    state = meta.parameter("state")
    assert state is not None and state.unique and not state.required
    assert state.default == "/run/resource-agents/Dummy-RESOURCE_ID.state"
    assert state.shortdesc == "State file" and state.content_type == "string"
    assert meta.timeout_s("start") == 20.0 and meta.timeout_s("meta-data") == 5.0
    assert meta.supports("validate-all") and not meta.supports("promote")
    monitor = next(a for a in meta.actions if a.name == "monitor")
    assert (monitor.interval_s, monitor.depth) == (10.0, 0)


def test_metadata_of_ipaddr2_and_its_schema() -> None:
    meta = parse_metadata(_meta("IPaddr2"))
    ip = meta.parameter("ip")
    assert ip is not None and ip.required and ip.unique
    schema = {spec.name: spec for spec in schema_from_metadata(meta)}
    assert schema["ip"].required and schema["ip"].default is None
    assert schema["ip"].kind is PropertyKind.STRING
    assert not schema["nic"].required and schema["nic"].default is None  # empty default
    assert (schema["arp_count"].kind, schema["arp_count"].default) == (PropertyKind.INT, 5)
    assert (schema["lvs_support"].kind, schema["lvs_support"].default) == (
        PropertyKind.BOOL,
        False,
    )
    assert schema["preferred_lft"].default == "forever"
    assert schema["cidr_netmask"].description


def test_parse_metadata_refuses_what_is_not_ocf() -> None:
    with pytest.raises(ValueError, match="well-formed"):
        parse_metadata("usage: agent start|stop")
    with pytest.raises(ValueError, match="resource-agent"):
        parse_metadata("<html/>")
    select = parse_metadata(
        '<resource-agent name="S"><parameters><parameter name="mode">'
        '<content type="select" default="b"><option value="a"/><option value="b"/></content>'
        "</parameter></parameters></resource-agent>"
    )
    (spec,) = schema_from_metadata(select)
    assert spec.choices == ("a", "b") and spec.default == "b"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20s", 20.0), ("20", 20.0), ("500ms", 0.5), ("2min", 120.0), ("1h", 3600.0), ("x", None)],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_installed_agents(h: Harness) -> None:
    agents = installed_agents(OCF_ROOT)
    assert "heartbeat:Dummy" in agents and "heartbeat:IPaddr2" in agents
    assert not any(":." in a for a in agents)  # .ocf-shellfuncs and friends
    assert installed_agents(h.fake()) == ["wpt:Fake"]
    assert installed_agents(h.tmp_path / "none") == []


# -- errors ----------------------------------------------------------------------------------------
def test_unknown_agent_is_not_installed(h: Harness) -> None:
    agent, _ = h.agent(agent="heartbeat:NoSuchAgent")
    for call in (agent.validate, lambda: agent.start(5)):
        with pytest.raises(AgentError) as err:
            call()
        assert err.value.code is AgentResult.ERR_INSTALLED
        msg = str(err.value)
        assert "node1" in msg and "'heartbeat:NoSuchAgent'" in msg and "property agent" in msg
    assert not agent.looks_alive()


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"agent": "Dummy"}, "agent"),
        ({"agent": "heartbeat:../x"}, "agent"),
        ({"agent": "heartbeat:Dummy", "parameters": ["novalue"]}, "parameters"),
        ({"agent": "heartbeat:Dummy", "parameters": ["bad-name=1"]}, "parameters"),
        ({"agent": "heartbeat:Dummy", "netns": "wpt-nonexistent-ocf"}, "netns"),
    ],
)
def test_bad_properties_are_named(h: Harness, props: dict[str, PropertyValue], prop: str) -> None:
    agent, _ = h.agent_of(props)
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert f"property {prop}:" in str(err.value) and "node1" in str(err.value)


@pytest.mark.parametrize(
    ("rc", "code"),
    [
        (1, AgentResult.ERR_GENERIC),
        (2, AgentResult.ERR_CONFIGURED),
        (3, AgentResult.ERR_ARGS),
        (4, AgentResult.ERR_PERM),
        (5, AgentResult.ERR_INSTALLED),
        (6, AgentResult.ERR_CONFIGURED),
        (7, AgentResult.ERR_GENERIC),  # a start that says "not running" failed
    ],
)
def test_start_exit_codes(h: Harness, rc: int, code: AgentResult) -> None:
    state = h.tmp_path / "s"
    agent, rec = h.agent(
        agent="wpt:Fake", ocf_root=h.fake(), parameters=[f"state={state}", f"start_rc={rc}"]
    )
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=10)
    assert err.value.code is code
    assert f"start exited with code {rc}" in str(err.value)
    assert "start broken on purpose" in str(err.value)  # the ocf-exit-reason
    assert "agent_offline" not in rec.names() and "agent_start_failed" in rec.names()
    assert "wpt/Fake stop" in (h.run_dir / "resources" / "res" / "ocf.log").read_text()


def test_stop_not_running_is_success_and_failures_are_errors(h: Harness) -> None:
    params = [f"state={h.tmp_path / 's'}"]
    ok, _ = h.agent(agent="wpt:Fake", ocf_root=h.fake(), parameters=[*params, "stop_rc=7"])
    ok.stop(timeout_s=10)
    bad, _ = h.agent(agent="wpt:Fake", ocf_root=h.fake(), parameters=[*params, "stop_rc=1"])
    with pytest.raises(AgentError) as err:
        bad.stop(timeout_s=10)
    assert err.value.code is AgentResult.ERR_GENERIC and "stop exited with code 1" in str(err.value)


def test_failed_monitor_is_not_alive_and_logged(h: Harness) -> None:
    agent, rec = h.agent(
        agent="wpt:Fake",
        ocf_root=h.fake(),
        parameters=[f"state={h.tmp_path / 's'}", "monitor_rc=1"],
    )
    assert not agent.looks_alive() and not agent.is_alive() and not agent.adopt()
    assert agent.monitor() is AgentResult.ERR_GENERIC
    logged = [f for e, f in rec.events if e == "agent_monitor_failed"]
    assert logged and "monitor broken on purpose" in str(logged[0]["why"])


# -- timeouts and leftovers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("advised", "pending", "caller", "bound"),
    [("1s", 30, 30.0, "1"), (None, 1, 30.0, "1"), ("20s", 30, 0.5, "0.5")],
    ids=["meta-data timeout", "pending timeout", "caller's timeout"],
)
def test_hanging_start_is_bounded_and_killed(
    h: Harness, advised: str | None, pending: int, caller: float, bound: str
) -> None:
    agent, _ = h.agent(
        pending_timeout_s=pending,
        agent="wpt:Fake",
        ocf_root=h.fake(advised),
        parameters=[f"state={h.tmp_path / 's'}", "hang=start"],
    )
    began = time.monotonic()
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=caller)
    assert time.monotonic() - began < float(bound) + 3
    assert err.value.code is AgentResult.ERR_GENERIC
    assert f"start did not finish within {bound} s" in str(err.value)
    assert h.sleepers() == []  # its process group was killed
    assert not running_with(str(h.fake_root / "resource.d"))


def test_hanging_monitor_is_not_alive(h: Harness) -> None:
    agent, rec = h.agent(
        agent="wpt:Fake",
        ocf_root=h.fake(),
        parameters=[f"state={h.tmp_path / 's'}", "hang=monitor"],
    )
    began = time.monotonic()
    assert not agent.looks_alive()
    assert time.monotonic() - began < 3  # the meta-data's 1 s monitor timeout
    assert h.sleepers() == []
    assert "did not finish within 1 s" in str(rec.events[-1][1]["why"])


def test_what_start_leaves_running_is_recorded_and_stopped(h: Harness) -> None:
    agent, rec = h.agent(
        agent="wpt:Fake", ocf_root=h.fake(), parameters=[f"state={h.tmp_path / 's'}", "daemon=1"]
    )
    agent.start(timeout_s=10)
    pids = agent.pids()
    assert pids and pids == h.sleepers() and set(pids) <= rec.registered
    agent.stop(timeout_s=10)
    assert wait_until(lambda: not any(alive(p) for p in pids))
    assert agent.pids() == [] and not rec.registered


# -- IPaddr2 in a network namespace of our own -----------------------------------------------------
def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=MAX_WAIT)


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace ``wpt-<6hex>-ocf`` with ``eth0`` (one end of a veth pair, both ends
    inside) holding 198.51.100.11/24; deleted afterwards, whatever happened."""
    name = f"wpt-{secrets.token_hex(3)}-ocf"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        for args in (
            ("link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"),
            ("link", "set", "lo", "up"),
            ("link", "set", "eth0", "up"),
            ("link", "set", "eth0peer", "up"),
            ("addr", "add", "198.51.100.11/24", "dev", "eth0"),
        ):
            step = _ip("-n", name, *args)
            assert step.returncode == 0, f"ip -n {name} {' '.join(args)}: {step.stderr}"
        yield name
    finally:
        _ip("netns", "delete", name)


def test_ipaddr2_in_a_namespace(h: Harness, netns: str) -> None:
    agent, _ = h.agent(
        agent="heartbeat:IPaddr2",
        netns=netns,
        parameters=["ip=198.51.100.50", "cidr_netmask=24", "nic=eth0"],
    )

    def present() -> bool:
        return "198.51.100.50/24" in _ip("-n", netns, "addr", "show", "dev", "eth0").stdout

    agent.validate()
    assert not agent.looks_alive() and not present()
    agent.start(timeout_s=30)
    assert present()
    assert agent.looks_alive() and agent.is_alive()
    agent.stop(timeout_s=30)
    assert not present()
    assert agent.monitor() is AgentResult.NOT_RUNNING
    assert "198.51.100.50" not in _ip("addr").stdout  # the host never saw it


# -- installed agents as resource types (S26/S31) ------------------------------------------------
def test_every_installed_agent_makes_a_sound_resource_type() -> None:
    agents = [a for a in installed_agents(OCF_ROOT) if a.startswith("heartbeat:")]
    with ThreadPoolExecutor(8) as pool:
        metas = list(pool.map(lambda a: parse_metadata(_meta(a.split(":")[1])), agents))
    types = {t.name: t for t in map(resource_type_from_metadata, agents, metas)}
    assert len(types) == len(agents) > 50
    assert list(config_errors(ClusterConfig(types=types))) == []
    ip = types["ocf:heartbeat:IPaddr2"]
    assert ip.agent == "ocf" and ip.spec("ip") is not None and ip.spec("netns") is not None


def test_a_type_made_from_metadata_runs_its_agent(h: Harness) -> None:
    rtype = resource_type_from_metadata("heartbeat:Dummy", parse_metadata(_meta("Dummy")))
    state = h.tmp_path / "typed.state"
    rec = Recorder(h.run_dir)
    res = Resource("typed", rtype.name, "g", properties={"state": str(state)})
    assert list(config_errors(ClusterConfig(types={rtype.name: rtype}))) == []
    agent = OcfAgent(res, rtype, rec.ctx)
    h.agents.append(agent)
    assert agent.parameters() == {"state": str(state), "fake": "dummy"}  # with the default
    agent.validate()
    agent.start(timeout_s=30)
    assert state.exists() and agent.looks_alive()
    agent.stop(timeout_s=30)
    assert not state.exists() and not agent.looks_alive()


def test_the_registry_gives_the_ocf_agent(tmp_path: Path) -> None:
    assert agent_class("ocf") is OcfAgent
    res = Resource("r", OCF, "g", properties={"agent": "heartbeat:Dummy"})
    assert isinstance(create_agent(res, RTYPE, Recorder(tmp_path).ctx), OcfAgent)
