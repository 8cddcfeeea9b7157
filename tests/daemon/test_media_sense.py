"""Client-network loss on real links (S41, media sense): daemons in network namespaces of
the test's own (:class:`~wolfpack.lab.netcluster.NetnsCluster`, unique prefix, removed even
on failure), a group with a real IP Address on the mixed ``pub`` network, reached by its
address from the admin namespace as a client would.

- the owner's cable cut (the switch-side end of its veth set down: its own end loses
  carrier) and its link set down each fail the IP Address at once and move the group to a
  node whose ``pub`` interface is Up, without fencing anyone;
- a flap shorter than the window moves nothing;
- the private (heartbeat-only) cable cut on the owner moves nothing and fences nobody;
- the network and interface states say what happened.
Timings are measured in bench/lab_client_net.py, not asserted here.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from wolfpack.lab.localcluster import wait_for
from wolfpack.lab.netcluster import NetnsCluster
from wolfpack.lab.netns import FABRIC
from wolfpack.model import codec
from wolfpack.model.builtin_types import IP_ADDRESS
from wolfpack.model.config import ClusterConfig, Resource
from wolfpack.model.networks import derive
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import InterfaceState, NetworkState

pytestmark = [
    pytest.mark.etcd,
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

VIP = "198.51.100.100"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetnsCluster]:
    c = NetnsCluster(tmp_path)
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node3", "node1"))
        ip = codec.parse(
            Resource,
            {
                "name": "Web-ip",
                "type": IP_ADDRESS,
                "group": "Web",
                "properties": {"address": VIP, "prefix_length": 24, "network": "pub"},
            },
        )

        def add(cfg: ClusterConfig) -> ClusterConfig:
            return replace(cfg, resources={**cfg.resources, ip.name: ip})

        c.db.update_config(add)
        wait_for(lambda: online_on(c) == "node3", timeout=30)
        assert holders(c) == ["node3"] and served_by(c) == "node3"
        yield c
    finally:
        c.close()


def online_on(c: NetnsCluster) -> str | None:
    """The node where every resource of Web is Online, by the cluster's word."""
    snap = c.snapshot()
    statuses = [snap.resource(r) for r in ("Web-ip", "Web-app")]
    nodes = {st.node for st in statuses}
    if len(nodes) == 1 and all(st.state.value == "Online" for st in statuses):
        return nodes.pop()
    return None


def holders(c: NetnsCluster) -> list[str]:
    """The nodes whose namespace holds the virtual address (the machine, not the cluster)."""
    out = []
    for node in c.names:
        text = c.lab.ip(node, ["-j", "-4", "addr", "show"], what="list addresses")
        if any(a.get("local") == VIP for link in json.loads(text) for a in link["addr_info"]):
            out.append(node)
    return out


def served_by(c: NetnsCluster) -> str | None:
    """What a client gets from the group's address."""
    try:
        url = f"http://{VIP}:{c.ports['Web']}/"
        with urllib.request.urlopen(url, timeout=0.5) as r:
            return str(r.read().decode().strip())
    except (urllib.error.URLError, OSError):
        return None


def cut_cable(c: NetnsCluster, node: str, network: str) -> None:
    """The switch-side end of the node's veth goes down: the node's own end loses carrier."""
    c.lab.ip(FABRIC, ["link", "set", f"{node}-{network}", "down"], what="cut the cable")


def mend_cable(c: NetnsCluster, node: str, network: str) -> None:
    c.lab.ip(FABRIC, ["link", "set", f"{node}-{network}", "up"], what="mend the cable")


def fenced(c: NetnsCluster) -> list[dict[str, object]]:
    return [
        e
        for n in c.names
        for e in c.log_lines(n)
        if e.get("event") in ("fenced", "fenced_io", "coordinator_fenced", "self_fenced")
    ]


def coordinator_said(c: NetnsCluster, interface: str, state: str) -> bool:
    """The cluster log (merged from every node's) has the interface's state change."""
    return any(
        e.get("event") == "interface_state"
        and e.get("interface") == interface
        and e.get("state") == state
        for n in c.names
        for e in c.log_lines(n)
    )


def failures(c: NetnsCluster, node: str) -> list[str]:
    return [
        str(e.get("why"))
        for e in c.log_lines(node)
        if e.get("event") == "resource_failed" and e.get("resource") == "Web-ip"
    ]


def interface_state(c: NetnsCluster, name: str) -> InterfaceState:
    return derive(c.snapshot()).interfaces[name].state


def network_state(c: NetnsCluster, name: str) -> NetworkState:
    return derive(c.snapshot()).networks[name].state


def test_a_cut_client_cable_fails_the_group_over_at_once(cluster: NetnsCluster) -> None:
    cut_cable(cluster, "node3", "pub")
    wait_for(lambda: served_by(cluster) == "node1", timeout=20)
    assert holders(cluster) == ["node1"]
    snap = cluster.snapshot()
    assert snap.group("Web").owner == "node1" and len(snap.group("Web").failovers) == 1
    assert snap.node("node3").state.value == "Up" and not snap.node("node3").fenced
    # failed by media sense, not by a health check a minute later
    assert any("media sense" in why and "no carrier" in why for why in failures(cluster, "node3"))
    assert interface_state(cluster, "node3-pub") is InterfaceState.FAILED
    assert interface_state(cluster, "node1-pub") is InterfaceState.UP
    assert network_state(cluster, "pub") is NetworkState.PARTITIONED
    assert fenced(cluster) == []  # a client network lost never fences the node
    mend_cable(cluster, "node3", "pub")
    wait_for(lambda: interface_state(cluster, "node3-pub") is InterfaceState.UP, timeout=20)
    wait_for(lambda: network_state(cluster, "pub") is NetworkState.UP, timeout=20)
    assert cluster.snapshot().group("Web").owner == "node1"  # failback is prevented


def test_the_owners_link_set_down_fails_the_group_over(cluster: NetnsCluster) -> None:
    cluster.cut("node3", "pub")  # ip link set pub down, on node3
    wait_for(lambda: served_by(cluster) == "node1", timeout=20)
    assert any("set down" in why for why in failures(cluster, "node3"))
    assert cluster.snapshot().node("node3").state.value == "Up"
    assert fenced(cluster) == []
    cluster.mend("node3", "pub")


def test_the_group_goes_to_a_node_whose_client_link_is_up(cluster: NetnsCluster) -> None:
    """node1, next in Web's list, has lost its own client cable: Web goes to node2."""
    cut_cable(cluster, "node1", "pub")
    wait_for(lambda: interface_state(cluster, "node1-pub") is InterfaceState.FAILED, timeout=20)
    cut_cable(cluster, "node3", "pub")
    wait_for(lambda: served_by(cluster) == "node2", timeout=20)
    assert holders(cluster) == ["node2"]
    assert cluster.snapshot().group("Web").failovers[1:] == ()  # one failover, no detour
    assert fenced(cluster) == []


def test_a_flap_shorter_than_the_window_moves_nothing(cluster: NetnsCluster) -> None:
    window = 0.125 * 4  # the heartbeat miss window (the daemons' defaults)
    cut_cable(cluster, "node3", "pub")
    time.sleep(window * 0.4)
    mend_cable(cluster, "node3", "pub")
    time.sleep(3)
    snap = cluster.snapshot()
    assert snap.group("Web").owner == "node3" and snap.group("Web").failovers == ()
    assert failures(cluster, "node3") == []
    assert holders(cluster) == ["node3"] and served_by(cluster) == "node3"
    lost = [e for n in cluster.names for e in cluster.log_lines(n)
            if e.get("event") == "interface_link_lost"]  # fmt: skip
    assert lost == []


def test_the_private_cable_cut_moves_nothing_and_fences_nobody(cluster: NetnsCluster) -> None:
    cut_cable(cluster, "node3", "priv")
    wait_for(lambda: interface_state(cluster, "node3-priv") is InterfaceState.FAILED, timeout=20)
    time.sleep(3)
    snap = cluster.snapshot()
    assert snap.group("Web").owner == "node3" and snap.group("Web").failovers == ()
    assert snap.node("node3").state.value == "Up"
    assert served_by(cluster) == "node3"
    assert fenced(cluster) == []
    assert network_state(cluster, "priv") is NetworkState.PARTITIONED
    assert interface_state(cluster, "node3-pub") is InterfaceState.UP
    wait_for(lambda: coordinator_said(cluster, "node3-priv", "Failed"), timeout=10)
    mend_cable(cluster, "node3", "priv")


def test_the_coordinators_private_cable_cut_leaves_it_following_the_database(
    cluster: NetnsCluster,
) -> None:
    """The coordinator's watch of the cluster database runs over its private cable first.
    Cut, that stream goes silent without an error; the coordinator must notice it is dead
    and follow the database over the public path, or it decides on a stale copy: here it
    would never see a move it did not write itself."""
    coordinator = cluster.coordinator()
    assert coordinator is not None
    target = next(n for n in ("node1", "node2") if n != coordinator)
    cut_cable(cluster, coordinator, "priv")
    itf = f"{coordinator}-priv"
    wait_for(lambda: interface_state(cluster, itf) is InterfaceState.FAILED, timeout=20)
    cluster.db.add_intent(IntentKind.MOVE_GROUP, "Web", target)
    wait_for(lambda: served_by(cluster) == target, timeout=20)
    assert holders(cluster) == [target]
    assert cluster.coordinator() == coordinator  # nobody fenced it or took over
    assert fenced(cluster) == []
    wait_for(lambda: coordinator_said(cluster, itf, "Failed"), timeout=10)
    mend_cable(cluster, coordinator, "priv")
