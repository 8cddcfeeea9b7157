"""Network Name agent against a real BIND9 named on 127.0.0.1 (a free port).

Every query goes to that named through dnspython with an explicit nameserver and port, never
to the system resolver. Each test uses its own host name, so they share one server.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from wolfpack.lab.bind import BindServer
from wolfpack.model.builtin_types import NETWORK_NAME, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.resources import Agent, AgentError, AgentResult, agent_class
from wolfpack.resources.network_name import NetworkNameAgent, TsigKey, read_key_file

from . import Recorder, alive, free_port, running_with

RTYPE = builtin_types()[NETWORK_NAME]
ADDRESS = "198.51.100.20"
MOVED = "198.51.100.21"


def _bind_dir() -> Path:
    # under /tmp: user bind must traverse every directory above it (tmp_path's are 0700)
    return Path(tempfile.mkdtemp(prefix="wolfpack-bind-test-", dir="/tmp"))


@pytest.fixture(scope="module")
def bind() -> Iterator[BindServer]:
    workdir = _bind_dir()
    server = BindServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class Harness:
    def __init__(self, bind: BindServer, run_dir: Path) -> None:
        self.bind, self.run_dir = bind, run_dir
        self.agents: list[Agent] = []

    def props(
        self, name: str, address: str | None = ADDRESS, **extra: PropertyValue | None
    ) -> dict[str, PropertyValue]:
        """Properties of a name in the test server's zone; None drops a property."""
        props: dict[str, PropertyValue | None] = {
            "name": name,
            "address": address,
            "server": self.bind.address,
            "port": self.bind.port,
            "key_file": str(self.bind.key_file),
            "key_name": self.bind.key_name,
        }
        props.update(extra)
        return {k: v for k, v in props.items() if v is not None}

    def agent(self, props: dict[str, PropertyValue], node: str = "node1") -> tuple[Agent, Recorder]:
        rec = Recorder(self.run_dir / node, node=node)
        resource = Resource(
            "www", NETWORK_NAME, "Web", dependencies=(("web-ip",),), properties=props
        )
        agent = NetworkNameAgent(resource, RTYPE, rec.ctx)
        self.agents.append(agent)
        return agent, rec


@pytest.fixture
def h(bind: BindServer, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(bind, tmp_path / "run")
    try:
        yield harness
    finally:
        for agent in harness.agents:
            agent.stop(timeout_s=2)


def error_of(call: object, *args: object) -> AgentError:
    assert callable(call)
    with pytest.raises(AgentError) as info:
        call(*args)
    return info.value


def test_it_is_the_registered_agent_and_runs_nothing(h: Harness) -> None:
    assert agent_class(RTYPE.agent) is NetworkNameAgent
    agent, _ = h.agent(h.props("nothing"))
    assert agent.pids() == []


def test_start_registers_the_name_with_its_ttl(h: Harness, bind: BindServer) -> None:
    agent, rec = h.agent(h.props("www", ttl=42))
    agent.validate()
    assert not agent.looks_alive() and not agent.is_alive()
    agent.start(timeout_s=5)
    answer = bind.resolver().resolve("www.cluster.test.", "A")
    assert [r.to_text() for r in answer] == [ADDRESS]
    assert answer.rrset is not None and answer.rrset.ttl == 42
    assert agent.looks_alive() and agent.is_alive()
    agent.start(timeout_s=5)  # starting a started name does nothing
    assert "agent_online" in rec.names()


def test_a_move_re_registers_and_the_old_owner_is_no_longer_alive(
    h: Harness, bind: BindServer
) -> None:
    first, _ = h.agent(h.props("moving"), "node1")
    second, _ = h.agent(h.props("moving", MOVED), "node2")
    first.start(timeout_s=5)
    assert bind.lookup("moving") == [ADDRESS]
    second.start(timeout_s=5)
    assert bind.lookup("moving") == [MOVED]
    assert second.is_alive()
    assert not first.is_alive()  # the name moved away from node1
    first.stop(timeout_s=5)  # a late stop on the old owner leaves the new registration
    assert bind.lookup("moving") == [MOVED] and second.is_alive()
    second.stop(timeout_s=5)
    assert bind.lookup("moving") == []


def test_a_lost_name_fails_looks_alive_and_start_registers_it_again(
    h: Harness, bind: BindServer
) -> None:
    first, rec = h.agent(h.props("regained"), "node1")
    second, _ = h.agent(h.props("regained", MOVED), "node2")
    first.start(timeout_s=5)
    second.start(timeout_s=5)
    assert first.looks_alive()  # cheap: it has not asked the server yet
    assert not first.is_alive() and not first.looks_alive()
    assert "agent_check_failed" in rec.names()
    first.start(timeout_s=5)  # the manager restarts it here: a real update, not a no-op
    assert bind.lookup("regained") == [ADDRESS] and first.is_alive()
    assert not second.is_alive()


def test_stop_removes_the_record(h: Harness, bind: BindServer) -> None:
    agent, _ = h.agent(h.props("gone"))
    agent.start(timeout_s=5)
    assert bind.lookup("gone") == [ADDRESS]
    agent.stop(timeout_s=5)
    with pytest.raises(dns.resolver.NXDOMAIN):
        bind.resolver().resolve("gone.cluster.test.", "A")
    assert not agent.looks_alive() and not agent.is_alive()
    agent.stop(timeout_s=5)  # stopping a stopped name is fine


def test_adopt_takes_over_a_registration_and_refuses_a_missing_one(
    h: Harness, bind: BindServer
) -> None:
    before, _ = h.agent(h.props("adopted"))
    before.start(timeout_s=5)
    after, rec = h.agent(h.props("adopted"))  # the daemon restarted
    assert not after.looks_alive()
    assert after.adopt() and after.looks_alive() and after.is_alive()
    assert "agent_adopted" in rec.names()
    nobody, _ = h.agent(h.props("never-registered"))
    assert not nobody.adopt() and not nobody.looks_alive()


def test_a_node_that_never_registered_the_name_neither_removes_nor_adopts_it(
    h: Harness, bind: BindServer
) -> None:
    """The virtual address moves with its group, so both nodes register the same address."""
    owner, _ = h.agent(h.props("shared"), "node1")
    owner.start(timeout_s=5)
    other, rec = h.agent(h.props("shared"), "node2")
    assert not other.adopt() and not other.looks_alive()
    assert "agent_adopt_rejected" in rec.names()
    other.stop(timeout_s=5)  # e.g. a cleanup stop on every node: sends nothing
    assert bind.lookup("shared") == [ADDRESS] and owner.is_alive()


def test_a_late_stop_on_the_old_owner_leaves_the_new_owners_registration_of_the_same_address(
    h: Harness, bind: BindServer
) -> None:
    """A failover: the virtual address moves with the group, so the new owner registers the
    same address the old one did. The old owner's stop (late, or the cleanup of a node
    powered on again after a fence) must not delete the new owner's record: it proves the
    registration is its own with a prerequisite the server checks (RFC 2136 §2.4.2)."""
    old, _ = h.agent(h.props("failover"), "node1")
    old.start(timeout_s=5)
    new, _ = h.agent(h.props("failover"), "node2")
    new.start(timeout_s=5)
    assert bind.lookup("failover") == [ADDRESS]
    after_reboot, rec = h.agent(h.props("failover"), "node1")  # its registered.json is left
    after_reboot.stop(timeout_s=5)
    assert bind.lookup("failover") == [ADDRESS] and new.is_alive()
    assert "agent_deregister_skipped" in rec.names()
    old.stop(timeout_s=5)  # the old instance itself, late
    assert bind.lookup("failover") == [ADDRESS] and new.is_alive()
    assert not after_reboot.adopt()  # nor may the old owner take the name back as its own
    new.stop(timeout_s=5)  # the owner's own stop still removes it
    assert bind.lookup("failover") == []


def test_a_stop_that_cannot_reach_the_server_is_logged_not_raised(
    h: Harness, bind: BindServer
) -> None:
    owner, _ = h.agent(h.props("unreachable"))
    owner.start(timeout_s=5)
    later, rec = h.agent(h.props("unreachable", port=free_port()))  # same node, server moved
    began = time.monotonic()
    later.stop(timeout_s=2)
    assert time.monotonic() - began < 2.5
    assert "agent_deregister_failed" in rec.names()
    assert bind.lookup("unreachable") == [ADDRESS]


def test_an_unsigned_update_is_refused_and_changes_nothing(h: Harness, bind: BindServer) -> None:
    owner, _ = h.agent(h.props("guarded"))
    owner.start(timeout_s=5)
    intruder, _ = h.agent(h.props("guarded", MOVED, key_file=None, key_name=None), "node2")
    err = error_of(intruder.start, 5)
    assert err.code is AgentResult.ERR_CONFIGURED
    assert "key_file" in str(err) and "REFUSED" in str(err) and "node2" in str(err)
    assert bind.lookup("guarded") == [ADDRESS] and not intruder.looks_alive()


def test_a_wrongly_signed_update_is_refused_naming_the_key(
    h: Harness, bind: BindServer, tmp_path: Path
) -> None:
    owner, _ = h.agent(h.props("signed"))
    owner.start(timeout_s=5)
    secret = base64.b64encode(os.urandom(32)).decode()
    for key_name in (bind.key_name, "stranger"):  # wrong secret; unknown key
        bad = tmp_path / f"{key_name}.key"
        bad.write_text(
            f'key "{key_name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
        )
        intruder, _ = h.agent(
            h.props("signed", MOVED, key_file=str(bad), key_name=key_name), "node2"
        )
        intruder.validate()  # the file itself is fine
        err = error_of(intruder.start, 5)
        assert err.code is AgentResult.ERR_CONFIGURED, err
        assert f"key {key_name!r}" in str(err) and "key_name" in str(err)
        assert bind.lookup("signed") == [ADDRESS] and not intruder.looks_alive()


def test_server_down_is_a_generic_error_naming_the_server_quickly(h: Harness) -> None:
    port = free_port()  # nothing listens there
    agent, _ = h.agent(h.props("down", port=port))
    began = time.monotonic()
    err = error_of(agent.start, 5)
    assert err.code is AgentResult.ERR_GENERIC
    assert f"127.0.0.1:{port}" in str(err) and "property server" in str(err)
    assert not agent.is_alive() and not agent.adopt()
    agent.stop(timeout_s=1)  # cannot deregister: logged, not raised
    assert time.monotonic() - began < 3


def test_a_silent_server_is_bounded_by_the_timeout(h: Harness) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        agent, _ = h.agent(h.props("silent", port=port))
        began = time.monotonic()
        err = error_of(agent.start, 0.5)
        took = time.monotonic() - began
        assert err.code is AgentResult.ERR_GENERIC and f"127.0.0.1:{port}" in str(err)
        assert "did not answer" in str(err) and took < 2.0


def test_validate_names_the_property_at_fault(h: Harness, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("this is not a key\n")
    cases: list[tuple[dict[str, PropertyValue], str, str]] = [
        (h.props("v", key_file=str(tmp_path / "missing.key")), "key_file", "cannot read"),
        (h.props("v", key_file=str(garbage)), "key_file", "not a BIND key file"),
        (h.props("v", key_name="other"), "key_name", "no key 'other'"),
        (h.props("v", address=None), "address", "depend on an IP Address resource"),
        (h.props("v", key_file=None), "key_file", "no key_file"),
        (h.props("v.elsewhere.example."), "name", "not a name inside zone"),
    ]
    for props, prop, words in cases:
        agent, _ = h.agent(props)
        err = error_of(agent.validate)
        assert err.code is AgentResult.ERR_CONFIGURED, err
        assert f"property {prop}:" in str(err) and words in str(err), err
        assert "'www' on node1" in str(err)


def test_a_zone_the_server_does_not_serve_is_a_configuration_error(h: Harness) -> None:
    agent, _ = h.agent(h.props("elsewhere", zone="other.test"))
    err = error_of(agent.start, 5)
    assert err.code is AgentResult.ERR_CONFIGURED
    assert "property zone:" in str(err) and "other.test" in str(err)


def test_a_name_may_be_given_inside_the_zone(h: Harness, bind: BindServer) -> None:
    agent, _ = h.agent(h.props("full.cluster.test."))
    agent.start(timeout_s=5)
    assert bind.lookup("full") == [ADDRESS]


def test_bind_server_stop_leaves_no_named_it_started() -> None:
    workdir = _bind_dir()
    try:
        server = BindServer(workdir)
        with server:
            pid = server.pid
            assert pid is not None and alive(pid)
            assert server.lookup("ns") == ["127.0.0.1"]
        assert server.pid is None and not alive(pid)
        assert running_with(str(workdir)) == []
        server.stop()  # twice is fine
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("secret", ["ab//cd+/Zm9vYmFy", "//////8=", "Zm9v//8="])
def test_a_key_file_secret_may_hold_comment_marks(tmp_path: Path, secret: str) -> None:
    """base64 has '/' in its alphabet, so about one tsig-keygen key in a hundred holds '//':
    only comments outside quoted strings are comments."""
    path = tmp_path / "k.key"
    path.write_text(
        "# made by tsig-keygen\n/* a block\n comment */\n"
        f'key "k1" {{ // the cluster\'s key\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
    )
    assert read_key_file(path) == [TsigKey("k1", "hmac-sha256", secret)]
