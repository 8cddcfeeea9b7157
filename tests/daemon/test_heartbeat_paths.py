"""Cut cables in network namespaces: one heartbeat path lost is no failover (S14, S41); a
node cut off on every path is a node failure, fenced before its group starts elsewhere."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.lab.localcluster import wait_for
from wolfpack.lab.netcluster import NetnsCluster
from wolfpack.lab.probe_app import overlaps

pytestmark = [
    pytest.mark.etcd,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetnsCluster]:
    c = NetnsCluster(tmp_path)
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node3", "node1"))
        wait_for(lambda: c.answer("Web") == "node3", timeout=30)
        yield c
    finally:
        c.close()


def membership_events(c: NetnsCluster, node: str) -> list[dict[str, object]]:
    return [e for e in c.log_lines(node) if e.get("event") == "membership"]


def test_one_cut_heartbeat_cable_is_reported_not_failed_over(cluster: NetnsCluster) -> None:
    cluster.cut("node3", "priv")
    time.sleep(3)  # six times the 0.5 s it takes to declare a silent node down
    snap = cluster.snapshot()
    assert snap.node("node3").state.value == "Up"
    assert snap.group("Web").owner == "node3" and snap.group("Web").failovers == ()
    assert cluster.answer("Web") == "node3"
    seen = membership_events(cluster, "node1")
    assert seen and seen[-1]["networks"] == {"priv": "Partitioned", "pub": "Up"}
    assert "node3" in seen[-1]["peers_up"]  # type: ignore[operator]
    cluster.mend("node3", "priv")
    wait_for(
        lambda: membership_events(cluster, "node1")[-1]["networks"] == {"priv": "Up", "pub": "Up"},
        timeout=10,
    )


def test_a_node_cut_off_on_every_path_is_fenced_and_its_group_moves(
    cluster: NetnsCluster,
) -> None:
    cluster.cut("node3", "priv")
    cluster.cut("node3", "pub")
    wait_for(lambda: cluster.answer("Web") == "node1", timeout=30)
    snap = cluster.snapshot()
    assert snap.node("node3").state.value == "Down" and snap.node("node3").fenced
    assert overlaps(cluster.runs("Web")) == []


def sever(c: NetnsCluster, one: str, other: str) -> None:
    """Cut every heartbeat path between two nodes, both ways, and nothing else: blackhole
    routes to each other's addresses in their own namespaces. Both still reach etcd."""
    for src, dst in ((one, other), (other, one)):
        for net in c.networks:
            address = f"{c.address(dst, net)}/32"
            c.lab.ip(src, ["route", "add", "blackhole", address], what=f"sever {src}->{dst}")


def fenced_events(c: NetnsCluster) -> list[dict[str, object]]:
    return [
        e
        for n in c.names
        for e in c.log_lines(n)
        if e.get("event") in ("fenced", "fenced_io", "coordinator_fenced", "coordinator_replaced")
    ]


def partition_reported(c: NetnsCluster) -> bool:
    return any(e.get("event") == "heartbeat_partition" for n in c.names for e in c.log_lines(n))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[NetnsCluster]:
    c = NetnsCluster(tmp_path, nodes=2)
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node2", "node1"))
        wait_for(lambda: c.answer("Web") == "node2", timeout=30)
        yield c
    finally:
        c.close()


def test_h5_two_nodes_cut_apart_while_both_reach_etcd_fence_nobody(pair: NetnsCluster) -> None:
    """H5 (a): 2 nodes, every heartbeat path between them cut both ways, etcd reachable by
    both. Before, each fenced the other (a total outage from one cable). Now the partition
    is reported, nobody is fenced and nothing fails over."""
    sever(pair, "node1", "node2")
    time.sleep(4)  # eight detection timeouts and several graces
    assert fenced_events(pair) == []
    snap = pair.snapshot()
    assert [snap.node(n).state.value for n in pair.names] == ["Up", "Up"]
    assert snap.group("Web").owner == "node2" and snap.group("Web").failovers == ()
    assert pair.answer("Web") == "node2"
    assert all(pair.daemons[n].poll() is None for n in pair.names)
    assert partition_reported(pair)


def test_h5_three_nodes_one_pair_cut_apart_fence_nobody(cluster: NetnsCluster) -> None:
    """H5 (b): node1 and node2 cannot hear each other, node3 hears both: before, node1 and
    node2 fenced each other and the cluster lost its quorum; now nobody is fenced."""
    sever(cluster, "node1", "node2")
    time.sleep(4)  # eight detection timeouts and several graces
    assert fenced_events(cluster) == []
    snap = cluster.snapshot()
    assert all(snap.node(n).state.value == "Up" for n in cluster.names)
    assert snap.group("Web").owner == "node3" and snap.group("Web").failovers == ()
    assert all(cluster.daemons[n].poll() is None for n in cluster.names)
    lost = [e for e in cluster.log_lines("node1") if e.get("event") == "peer_down"]
    assert [e["peer"] for e in lost] == ["node2"]  # the cut was real
    if cluster.coordinator() in ("node1", "node2"):  # node3 hears everyone: nothing to say
        assert partition_reported(cluster)
