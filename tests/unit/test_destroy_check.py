"""``cluster destroy`` on a node joined without an etcd member (issue 10): the member list
cannot name it, so the cluster's configuration must: a node still configured is refused
(STILL_A_NODE: evict it first), an evicted one may go."""

from __future__ import annotations

import dataclasses

from wolfpack.cli.install import still_in_cluster
from wolfpack.model.config import ClusterConfig, ClusterSettings, Node
from wolfpack.store import KeySpace
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

PREFIX = "/wolfpack/"


def cluster_with(*nodes: str) -> MemoryStore:
    store = MemoryStore()
    db = ClusterDB(store, KeySpace(PREFIX))
    db.initialize(ClusterSettings(name="jean"))

    def add(cfg: ClusterConfig) -> ClusterConfig:
        return dataclasses.replace(cfg, nodes={n: Node(n, i + 1) for i, n in enumerate(nodes)})

    db.update_config(add)
    return store


def test_a_memberless_node_still_configured_is_refused() -> None:
    refusal = still_in_cluster(cluster_with("node1", "node7"), None, "node7", PREFIX)
    assert refusal is not None and refusal.code == "STILL_A_NODE"
    assert "wolfpack node evict node7" in str(refusal)


def test_an_evicted_memberless_node_may_be_destroyed() -> None:
    assert still_in_cluster(cluster_with("node1", "node2"), None, "node7", PREFIX) is None
