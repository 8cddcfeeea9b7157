"""Network and interface states derived from the nodes' reports (WSFC semantics, S41, S14):
the pure function every reader uses (docs/membership.md, "What the states mean")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import pytest

from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig
from wolfpack.model.links import LinkCondition, LinkReport, NodeLinks
from wolfpack.model.networks import (
    NetworkStates,
    changes,
    derive,
    derive_states,
    group_networks,
)
from wolfpack.model.snapshot import NodeStatus, Snapshot
from wolfpack.model.states import InterfaceState, NetworkState, NodeState

NODES = ("node1", "node2", "node3")


def config(role: str = "mixed") -> ClusterConfig:
    return codec.parse_config(
        {
            "nodes": {n: {"id": i} for i, n in enumerate(NODES, 1)},
            "networks": {
                "public": {"subnet": "198.51.100.0/24", "role": role},
                "private": {"subnet": "203.0.113.0/24", "role": "private"},
            },
            "interfaces": {
                **{
                    f"{n}-public": {"node": n, "network": "public", "address": f"198.51.100.1{i}"}
                    for i, n in enumerate(NODES, 1)
                },
                **{
                    f"{n}-private": {"node": n, "network": "private", "address": f"203.0.113.1{i}"}
                    for i, n in enumerate(NODES, 1)
                },
            },
        }
    )


def report(
    network: str,
    heard: Iterable[str] | None = None,
    link: LinkCondition = LinkCondition.UP,
) -> LinkReport:
    return LinkReport(network, "eth0", link, heard=None if heard is None else tuple(heard))


def everyone_hears(nodes: Iterable[str] = NODES, **overrides: LinkReport) -> dict[str, NodeLinks]:
    """Every node hears every other on both networks, except what ``overrides`` says
    (keyword: interface name with ``_`` for ``-``)."""
    nodes = tuple(nodes)
    out: dict[str, NodeLinks] = {}
    for n in nodes:
        others = [o for o in nodes if o != n]
        interfaces = {
            f"{n}-{net}": overrides.get(f"{n}_{net}", report(net, others))
            for net in ("public", "private")
        }
        out[n] = NodeLinks(interfaces)
    return out


def states(
    reports: Mapping[str, NodeLinks], live: Iterable[str] = NODES, role: str = "mixed"
) -> NetworkStates:
    return derive_states(config(role), live, reports)


def interface(s: NetworkStates, name: str) -> InterfaceState:
    return s.interfaces[name].state


def test_everything_heard_everything_up() -> None:
    s = states(everyone_hears())
    assert {v.state for v in s.interfaces.values()} == {InterfaceState.UP}
    assert {v.state for v in s.networks.values()} == {NetworkState.UP}


def test_no_reports_yet_is_no_evidence_against_anyone() -> None:
    s = states({})
    assert {v.state for v in s.interfaces.values()} == {InterfaceState.UP}


def test_a_lost_carrier_fails_that_interface_only_and_partitions_the_network() -> None:
    """node2's public cable is cut: nobody hears it there any more, it hears nobody."""
    reports = everyone_hears(
        node2_public=report("public", [], LinkCondition.NO_CARRIER),
        node1_public=report("public", ["node3"]),
        node3_public=report("public", ["node1"]),
    )
    s = states(reports)
    assert interface(s, "node2-public") is InterfaceState.FAILED
    assert "no carrier on eth0" in s.interfaces["node2-public"].reason
    assert interface(s, "node1-public") is InterfaceState.UP
    assert interface(s, "node3-public") is InterfaceState.UP
    assert s.networks["public"].state is NetworkState.PARTITIONED
    assert s.networks["private"].state is NetworkState.UP


def test_a_dead_switch_port_fails_the_interface_by_heartbeats_alone() -> None:
    """Link up, but nobody hears node3 on the mixed network and it hears nobody."""
    reports = everyone_hears(
        node3_public=report("public", []),
        node1_public=report("public", ["node2"]),
        node2_public=report("public", ["node1"]),
    )
    s = states(reports)
    assert interface(s, "node3-public") is InterfaceState.FAILED
    assert s.interfaces["node3-public"].reason == "talks to no other node on this network"
    assert interface(s, "node1-public") is InterfaceState.UP


def test_one_direction_lost_makes_both_ends_unreachable() -> None:
    """node1 no longer hears node2 (node2 still hears node1): they cannot talk, but each
    still talks to node3."""
    reports = everyone_hears(node1_private=report("private", ["node3"]))
    s = states(reports)
    assert interface(s, "node1-private") is InterfaceState.UNREACHABLE
    assert interface(s, "node2-private") is InterfaceState.UNREACHABLE
    assert "cannot reach node2" in s.interfaces["node1-private"].reason
    assert interface(s, "node3-private") is InterfaceState.UP
    assert s.networks["private"].state is NetworkState.PARTITIONED


def test_two_nodes_that_cannot_talk_are_both_failed_and_the_network_is_down() -> None:
    two = ("node1", "node2")
    reports = everyone_hears(
        two, node1_private=report("private", []), node2_private=report("private", [])
    )
    s = states(reports, live=two)
    assert interface(s, "node1-private") is InterfaceState.FAILED
    assert interface(s, "node2-private") is InterfaceState.FAILED
    assert s.networks["private"].state is NetworkState.DOWN
    assert interface(s, "node3-private") is InterfaceState.UNAVAILABLE


def test_a_down_node_is_unavailable_not_a_partition() -> None:
    """A node failure is not a network failure: the survivors' networks stay Up."""
    live = ("node1", "node3")
    reports = everyone_hears(
        live,
        node1_public=report("public", ["node3"]),
        node3_public=report("public", ["node1"]),
    )
    s = states(reports, live=live)
    assert interface(s, "node2-public") is InterfaceState.UNAVAILABLE
    assert s.networks["public"].state is NetworkState.UP
    none = states({}, live=())
    assert none.networks["public"].state is NetworkState.UNAVAILABLE


def test_public_networks_go_by_their_links_only() -> None:
    """No heartbeats on a public network: an empty heard set is no evidence."""
    reports = everyone_hears(
        node1_public=report("public"),
        node2_public=report("public", link=LinkCondition.ADMIN_DOWN),
        node3_public=report("public"),
    )
    s = states(reports, role="public")
    assert interface(s, "node1-public") is InterfaceState.UP
    assert interface(s, "node2-public") is InterfaceState.FAILED
    assert "link set down" in s.interfaces["node2-public"].reason
    every = everyone_hears(
        **{f"{n}_public": report("public", link=LinkCondition.NO_CARRIER) for n in NODES}
    )
    assert states(every, role="public").networks["public"].state is NetworkState.DOWN


@pytest.mark.parametrize("state", [NodeState.DOWN, NodeState.JOINING])
def test_derive_reads_node_states_from_the_snapshot(state: NodeState) -> None:
    snap = Snapshot(
        config=config(),
        nodes={
            "node1": NodeStatus(NodeState.UP),
            "node2": NodeStatus(NodeState.PAUSED),
            "node3": NodeStatus(state),
        },
        links=everyone_hears(("node1", "node2")),
    )
    s = derive(snap)
    assert interface(s, "node2-public") is InterfaceState.UP  # paused is still a member
    assert interface(s, "node3-public") is InterfaceState.UNAVAILABLE
    assert derive(snap) is s  # one derivation per snapshot


def test_group_networks_are_those_of_its_ip_addresses() -> None:
    cfg = codec.parse_config(
        {
            "nodes": {"node1": {"id": 1}},
            "networks": {"public": {"subnet": "198.51.100.0/24"}},
            "groups": {"Web": {}, "Batch": {}},
            "resources": {
                "web-ip": {
                    "type": "IP Address",
                    "group": "Web",
                    "properties": {"address": "198.51.100.80", "network": "public"},
                },
                "job": {
                    "type": "Generic Application",
                    "group": "Batch",
                    "properties": {"command": "/bin/true"},
                },
            },
        }
    )
    cfg = replace(cfg, types=builtin_types())
    assert group_networks(cfg, "Web") == {"public"}
    assert group_networks(cfg, "Batch") == frozenset()


def test_changes_name_every_state_that_moved() -> None:
    cfg = config()
    before = derive_states(cfg, NODES, everyone_hears())
    after = derive_states(
        cfg,
        NODES,
        everyone_hears(
            node2_public=report("public", [], LinkCondition.NO_CARRIER),
            node1_public=report("public", ["node3"]),
            node3_public=report("public", ["node1"]),
        ),
    )
    events = changes(before, after, cfg)
    assert ("network_state", "public", "Partitioned", "Up") in {
        (e, f.get("network"), f["state"], f["was"]) for e, f in events if e == "network_state"
    }
    moved = [f for e, f in events if e == "interface_state"]
    assert [(f["interface"], f["state"], f["was"]) for f in moved] == [
        ("node2-public", "Failed", "Up")
    ]
    assert changes(after, after, cfg) == []
    first = changes(None, after, cfg)
    assert len([e for e, _ in first if e == "interface_state"]) == len(cfg.interfaces)
