"""IP Address agent against real network namespaces (a bridge, two nodes and a client).

Every test builds its own lab with a unique ``wpt-<hex>-`` prefix and destroys it in a
``finally``; only documentation addresses (198.51.100.0/24, 203.0.113.0/24) are used.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from wolfpack.errors import WolfpackError
from wolfpack.lab.netns import Lab, LabError
from wolfpack.lab.power import netns_pids
from wolfpack.model.builtin_types import IP_ADDRESS, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.resources import AgentError, AgentResult, arp
from wolfpack.resources.ip import IpAddressAgent

from . import Recorder, wait_until

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

RTYPE = builtin_types()[IP_ADDRESS]
VIP = "198.51.100.100"
HOSTS = {"node1": "198.51.100.11", "node2": "198.51.100.12", "client": "198.51.100.2"}


@pytest.fixture
def lab() -> Iterator[Lab]:
    prefix = f"wpt-{secrets.token_hex(3)}-"
    built = Lab(prefix)
    try:
        built.add_bridge("br-public")
        for host, address in HOSTS.items():
            built.add_host(host)
            built.connect(host, "eth0", "br-public", f"{address}/24")
        yield built
    finally:
        built.destroy()
    assert Lab.existing(prefix) == []


def agent_in(lab: Lab, node: str, tmp_path: Path, **props: PropertyValue) -> IpAddressAgent:
    values: dict[str, PropertyValue] = {"address": VIP, "network": "public", **props}
    rec = Recorder(tmp_path / node, node=node)
    agent = IpAddressAgent(Resource("vip", IP_ADDRESS, "g", properties=values), RTYPE, rec.ctx)
    agent.netns = lab.ns(node)
    return agent


def addresses(lab: Lab, host: str) -> list[str]:
    """The IPv4 addresses on ``host``'s eth0, read with ``ip`` (not the code under test)."""
    out = lab.ip(host, ["-4", "-o", "addr", "show", "dev", "eth0"], what="show addresses")
    return [line.split()[3] for line in out.splitlines()]


def test_vip_moves_between_nodes_and_the_client_follows(lab: Lab, tmp_path: Path) -> None:
    one, two = agent_in(lab, "node1", tmp_path), agent_in(lab, "node2", tmp_path)
    one.validate()
    one.start(timeout_s=10)
    assert f"{VIP}/24" in addresses(lab, "node1")
    assert one.looks_alive() and one.is_alive() and not two.looks_alive()
    assert lab.ping("client", VIP)
    assert lab.neighbour("client", VIP) == lab.mac("node1", "eth0")

    one.stop(timeout_s=10)
    assert f"{VIP}/24" not in addresses(lab, "node1") and not one.looks_alive()
    two.start(timeout_s=10)  # its gratuitous ARP (sent in the background) updates the
    mac = lab.mac("node2", "eth0")  # client's existing entry
    assert wait_until(lambda: lab.neighbour("client", VIP) == mac, timeout=3)
    assert lab.ping("client", VIP)
    assert two.is_alive() and not one.looks_alive()


def test_gratuitous_arp_updates_a_stale_neighbour_entry(lab: Lab, tmp_path: Path) -> None:
    lab.set_neighbour("client", "eth0", VIP, "02:00:00:00:00:99")
    agent_in(lab, "node1", tmp_path).start(timeout_s=10)
    mac = lab.mac("node1", "eth0")
    assert wait_until(lambda: lab.neighbour("client", VIP) == mac, timeout=3)


def test_double_start_is_idempotent(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path)
    agent.start(timeout_s=10)
    agent.start(timeout_s=10)
    assert addresses(lab, "node1").count(f"{VIP}/24") == 1
    assert agent.is_alive()


def test_an_address_owned_elsewhere_is_refused_and_nothing_changes(
    lab: Lab, tmp_path: Path
) -> None:
    agent_in(lab, "node1", tmp_path).start(timeout_s=10)
    assert lab.ping("client", VIP)
    two = agent_in(lab, "node2", tmp_path)
    with pytest.raises(AgentError) as err:
        two.start(timeout_s=10)
    assert err.value.code is AgentResult.ERR_BUSY
    message = str(err.value)
    assert "already in use on the network" in message and "node2" in message
    assert lab.mac("node1", "eth0") in message
    assert f"{VIP}/24" not in addresses(lab, "node2") and not two.looks_alive()
    assert f"{VIP}/24" in addresses(lab, "node1")
    assert lab.neighbour("client", VIP) == lab.mac("node1", "eth0")


def test_stop_of_an_absent_address_is_fine(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path)
    agent.stop(timeout_s=5)
    agent.stop(timeout_s=5)
    assert not agent.looks_alive() and not agent.is_alive() and not agent.adopt()
    assert agent.pids() == []


def test_address_removed_by_hand_is_noticed(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path)
    agent.start(timeout_s=10)
    lab.ip("node1", ["addr", "del", f"{VIP}/24", "dev", "eth0"], what="remove the VIP")
    assert not agent.looks_alive() and not agent.is_alive()
    agent.stop(timeout_s=5)


def test_link_down_fails_is_alive_only(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path)
    agent.start(timeout_s=10)
    lab.set_link("node1", "eth0", up=False)
    assert agent.looks_alive() and not agent.is_alive()
    lab.set_link("node1", "eth0", up=True)
    lab.wait_carrier("node1", "eth0", 5)
    assert agent.is_alive()


def test_start_on_a_link_that_is_down_fails_and_adds_nothing(lab: Lab, tmp_path: Path) -> None:
    lab.set_link("node1", "eth0", up=False)
    agent = agent_in(lab, "node1", tmp_path)
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=10)
    assert err.value.code is AgentResult.ERR_GENERIC and "eth0" in str(err.value)
    assert f"{VIP}/24" not in addresses(lab, "node1")


def test_adopt_finds_the_address_a_previous_instance_added(lab: Lab, tmp_path: Path) -> None:
    agent_in(lab, "node1", tmp_path).start(timeout_s=10)
    assert agent_in(lab, "node1", tmp_path).adopt()
    assert not agent_in(lab, "node2", tmp_path).adopt()


def test_no_interface_on_the_subnet_names_the_node(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path, address="203.0.113.50")
    for call in (agent.validate, lambda: agent.start(timeout_s=5)):
        with pytest.raises(AgentError) as err:
            call()
        assert err.value.code is AgentResult.ERR_CONFIGURED
        assert "node1" in str(err.value) and "203.0.113.0/24" in str(err.value)
    assert all(not a.startswith("203.0.113.") for a in addresses(lab, "node1"))


def test_a_node_address_is_not_taken_over_nor_removed(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path, address=HOSTS["node1"])
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=5)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "outside the cluster" in str(err.value)
    agent.stop(timeout_s=5)
    assert f"{HOSTS['node1']}/24" in addresses(lab, "node1") and not agent.looks_alive()


def test_address_on_another_interface_is_refused(lab: Lab, tmp_path: Path) -> None:
    lab.add_bridge("br-private")
    lab.connect("node1", "eth1", "br-private", "203.0.113.11/24")
    lab.add_address("node1", "eth1", f"{VIP}/32")
    with pytest.raises(AgentError) as err:
        agent_in(lab, "node1", tmp_path).start(timeout_s=5)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "eth1" in str(err.value)
    assert f"{VIP}/24" not in addresses(lab, "node1")


@pytest.mark.parametrize(
    ("props", "prop"),
    [({"address": "not-an-ip"}, "address"), ({"prefix_length": 33}, "prefix_length")],
)
def test_bad_properties_name_the_property(
    lab: Lab, tmp_path: Path, props: dict[str, PropertyValue], prop: str
) -> None:
    with pytest.raises(AgentError) as err:
        agent_in(lab, "node1", tmp_path, **props).validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED and f"property {prop}" in str(err.value)


def test_a_missing_namespace_is_an_error_and_is_not_created(lab: Lab, tmp_path: Path) -> None:
    agent = agent_in(lab, "node1", tmp_path)
    agent.netns = lab.ns("nowhere")
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=5)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "nowhere" in str(err.value)
    assert not agent.looks_alive()
    assert lab.ns("nowhere") not in Lab.existing(lab.prefix)


def test_lab_destroy_removes_exactly_its_namespaces(tmp_path: Path) -> None:
    prefix = f"wpt-{secrets.token_hex(3)}-"
    lab = Lab(prefix)
    try:
        lab.add_bridge("br0")
        lab.add_host("a")
        lab.connect("a", "eth0", "br0", "203.0.113.5/24")
        assert lab.link_up("a", "eth0")
        assert sorted(lab.namespaces) == [f"{prefix}a", f"{prefix}fabric"]
        with pytest.raises(LabError) as err:
            lab.connect("a", "eth1", "br-missing")
        assert "br-missing" in str(err.value) and isinstance(err.value, WolfpackError)
        with pytest.raises(LabError) as err:
            lab.run("a", ["false"])
        assert f"{prefix}a" in str(err.value)
    finally:
        lab.destroy()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert prefix not in listed.stdout
    lab.destroy()  # twice is harmless


def test_the_in_process_probe_finds_the_owner_and_nothing_else(lab: Lab, tmp_path: Path) -> None:
    """The duplicate-address probe without arping (issue 12): the owner's MAC for a used
    address, None for a free one, and the agent's start used it (no arping fallback)."""
    rec = Recorder(tmp_path / "node1", node="node1")
    props: dict[str, PropertyValue] = {"address": VIP, "network": "public"}
    one = IpAddressAgent(Resource("vip", IP_ADDRESS, "g", properties=props), RTYPE, rec.ctx)
    one.netns = lab.ns("node1")
    one.start(timeout_s=10)
    assert "ip_added" in [e for e, _ in rec.events]
    assert "ip_probe_with_arping" not in [e for e, _ in rec.events]

    mine = lab.mac("node2", "eth0")
    ns = lab.ns("node2")
    found = arp.probe(
        "eth0", mine, IPv4Address(VIP), count=3, interval_s=0.03, wait_s=1.0, netns=ns
    )
    assert found == lab.mac("node1", "eth0")
    free = IPv4Address("198.51.100.101")
    assert arp.probe("eth0", mine, free, count=3, interval_s=0.03, wait_s=0.2, netns=ns) is None
    with pytest.raises(OSError, match="no-such-if"):
        arp.probe("no-such-if", mine, free, count=1, interval_s=0.03, wait_s=0.1, netns=ns)


def test_stop_waits_for_the_announcement_of_its_start(lab: Lab, tmp_path: Path) -> None:
    """The gratuitous ARPs go out in the background (issue 12), but never for an address
    that is gone: a stop right after the start returns only once they are done."""
    agent = agent_in(lab, "node1", tmp_path)
    agent.start(timeout_s=10)
    agent.stop(timeout_s=10)
    assert f"{VIP}/24" not in addresses(lab, "node1")
    assert [p for p in netns_pids(lab.ns("node1")) if VIP in _cmdline(p)] == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
