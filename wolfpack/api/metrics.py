"""Cluster gauges for ``/metrics``, computed at scrape time from the cached cluster read:
nodes by state, groups by state, failovers per group within its failover period's
history. Request counts and latency are in :mod:`wolfpack.api.middleware`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from wolfpack.admin.nouns import derived_state
from wolfpack.api.cache import ClusterCache
from wolfpack.errors import WolfpackError
from wolfpack.model.states import GroupState, NodeState


class ClusterCollector(Collector):
    def __init__(self, cache: ClusterCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            built = self.cache.current()
        except WolfpackError:
            return
        snap = built.snapshot
        nodes = Counter(str(snap.node(n).state) for n in snap.config.nodes)
        by_node = GaugeMetricFamily("wolfpack_nodes", "Configured nodes by state", labels=["state"])
        for state in NodeState:
            by_node.add_metric([str(state)], nodes.get(str(state), 0))
        yield by_node
        up = GaugeMetricFamily("wolfpack_nodes_up", "Nodes that are Up")
        up.add_metric([], nodes.get(str(NodeState.UP), 0))
        yield up
        groups = Counter(str(derived_state(snap, g)) for g in snap.config.groups)
        by_group = GaugeMetricFamily("wolfpack_groups", "Groups by state", labels=["state"])
        for gstate in GroupState:
            by_group.add_metric([str(gstate)], groups.get(str(gstate), 0))
        yield by_group
        failovers = GaugeMetricFamily(
            "wolfpack_group_failovers",
            "Failovers of each group still in its recorded history (failover threshold)",
            labels=["group"],
        )
        for name in sorted(snap.config.groups):
            failovers.add_metric([name], len(snap.group(name).failovers))
        yield failovers
        coordinator = GaugeMetricFamily(
            "wolfpack_coordinator", "1 for the node that is coordinator", labels=["node"]
        )
        if built.view.coordinator:
            coordinator.add_metric([built.view.coordinator], 1)
        yield coordinator
        revision = GaugeMetricFamily("wolfpack_store_revision", "Store revision of the read")
        revision.add_metric([], built.revision)
        yield revision
