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
