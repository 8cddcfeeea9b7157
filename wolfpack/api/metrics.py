"""``/metrics``: the cluster, this node and the API in Prometheus text, via prometheus-client.

Counting is plain Python (:class:`RequestStats`, on every request); prometheus-client is
imported at the first scrape only, so a node nobody scrapes does not carry it (about 1 MB
per daemon). Everything else is computed at scrape time: the cluster's objects from the
cached cluster read (:mod:`wolfpack.api.metrics_objects`), this node's lease, heartbeats,
watchdog and health-check latency from what the daemon hands the API (``health``).
Names follow Prometheus' conventions: base units in the name (``_seconds``), ``_total`` on
counters, state sets as 0/1 gauges with a ``state`` label. docs/api.md lists them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from wolfpack import __version__
from wolfpack.api.cache import ClusterCache
from wolfpack.api.metrics_objects import cluster_families, node_families
from wolfpack.errors import WolfpackError
from wolfpack.model.health import Histogram, NodeHealth

HealthSource = Callable[[], NodeHealth]


class RequestStats:
    """Requests by (method, route, status) and latency by (method, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latency.setdefault((method, route), Histogram()).observe(seconds)

    def copy(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], Histogram]]:
        with self._lock:
            return dict(self.requests), {k: h.copy() for k, h in self.latency.items()}


def render(
    cache: ClusterCache, stats: RequestStats, now: float, health: HealthSource | None = None
) -> tuple[bytes, str]:
    """The exposition text and its content type (``now``: this node's wall clock)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(_Collector(cache, stats, now, health))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(
        self, cache: ClusterCache, stats: RequestStats, now: float, health: HealthSource | None
    ) -> None:
        self.cache, self.stats, self.now, self.health = cache, stats, now, health

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily(
            "wolfpack_build_info", "Always 1; the version of wolfpackd", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info
        yield from self._requests()
        if self.health is not None:
            yield from node_families(self.health())
        store_up = GaugeMetricFamily(
            "wolfpack_store_up", "1 if this node's API could read the cluster database"
        )
        try:
            built = self.cache.current()
        except WolfpackError:
            store_up.add_metric([], 0)
            yield store_up
            return
        store_up.add_metric([], 1)
        yield store_up
        yield from cluster_families(built, self.now)

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
            "wolfpack_api_request_duration_seconds",
            "API request latency by method and route",
            labels=["method", "route"],
        )
        for route_labels, h in sorted(latency.items(), key=lambda kv: kv[0]):
            hist.add_metric(list(route_labels), h.cumulative(), h.total)
        yield hist
