"""``/metrics``: the cluster and the API in Prometheus text, via prometheus-client.

Counting is plain Python (:class:`RequestStats`, on every request); prometheus-client is
imported at the first scrape only, so a node nobody scrapes does not carry it (about 1 MB
per daemon). Cluster gauges are computed at scrape time from the cached cluster read:
nodes by state, groups by state, failovers per group still in its history, the
coordinator, the store revision.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from wolfpack.admin.nouns import derived_state
from wolfpack.api.cache import ClusterCache
from wolfpack.errors import WolfpackError
from wolfpack.model.states import GroupState, NodeState

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class Latency:
    """One histogram: observations per bucket (not cumulative), their sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0


class RequestStats:
    """Requests by (method, route, status) and latency by (method, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], Latency] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault((method, route), Latency())
            i = bisect.bisect_left(BUCKETS, seconds)
            if i < len(BUCKETS):
                hist.buckets[i] += 1
            hist.total += seconds
            hist.count += 1

    def copy(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], Latency]]:
        with self._lock:
            return dict(self.requests), {
                k: Latency(list(h.buckets), h.total, h.count) for k, h in self.latency.items()
            }


def render(cache: ClusterCache, stats: RequestStats) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(_Collector(cache, stats))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, cache: ClusterCache, stats: RequestStats) -> None:
        self.cache, self.stats = cache, stats

    def collect(self) -> Iterator[Any]:
        yield from self._requests()
        try:
            built = self.cache.current()
        except WolfpackError:
            return
        yield from _cluster(built)

    def _requests(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        requests, latency = self.stats.copy()
        counter = CounterMetricFamily(
            "wolfpack_api_requests",
            "API requests by method, route and status",
            labels=["method", "route", "status"],
        )
        for labels, n in sorted(requests.items()):
            counter.add_metric(list(labels), n)
        yield counter
        hist = HistogramMetricFamily(
            "wolfpack_api_request_seconds",
            "API request latency by method and route",
            labels=["method", "route"],
        )
        for route_labels, h in sorted(latency.items(), key=lambda kv: kv[0]):
            cumulative, buckets = 0, []
            for bound, count in zip(BUCKETS, h.buckets, strict=True):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", h.count))
            hist.add_metric(list(route_labels), buckets, h.total)
        yield hist


def _cluster(built: Any) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

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
