"""This daemon's own health, read by its API at scrape time (``/metrics``, ``/readyz``).

:class:`CheckTimes` records how long each resource's health checks take (the resource
manager's monitor thread writes, the API thread reads). :func:`node_health` reads the
lease, heartbeats and watchdog of a running :class:`~wolfpack.node.daemon.Daemon` into an
immutable :class:`~wolfpack.model.health.NodeHealth`; it never touches etcd, so it answers
even when the cluster database does not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from wolfpack.model.health import Histogram, NodeHealth, PathHealth

if TYPE_CHECKING:
    from wolfpack.node.daemon import Daemon

T = TypeVar("T")


class CheckTimes:
    """Latency of health checks by (resource, check); thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hist: dict[tuple[str, str], Histogram] = {}

    def timed(self, resource: str, check: str, run: Callable[[], T]) -> T:
        """Run one check and record its duration (also when it raises)."""
        start = self._clock()
        try:
            return run()
        finally:
            self.observe(resource, check, self._clock() - start)

    def observe(self, resource: str, check: str, seconds: float) -> None:
        with self._lock:
            self._hist.setdefault((resource, check), Histogram()).observe(seconds)

    def copy(self) -> dict[tuple[str, str], Histogram]:
        with self._lock:
            return {key: h.copy() for key, h in self._hist.items()}


def node_health(d: Daemon) -> NodeHealth:
    """What the daemon ``d`` knows about itself now (any thread; no etcd request)."""
    from wolfpack.node.daemon import VITAL_THREADS, dead_threads  # the daemon imports us

    lease, membership, watchdog = d.lease, d.membership, d.watchdog
    paths: list[PathHealth] = []
    counters: dict[str, int] = {}
    if membership is not None:
        view = membership.view()
        counters = dict(view.counters)
        for peer, pv in sorted(view.peers.items()):
            for network, path in sorted(pv.paths.items()):
                paths.append(PathHealth(peer, network, path.up, path.lost))
    vital = {*VITAL_THREADS, f"membership-{d.settings.node}"}
    return NodeHealth(
        node=d.settings.node,
        lease_valid=lease is not None and lease.valid(),
        lease_remaining_s=max(0.0, lease.remaining()) if lease is not None else 0.0,
        fencing_grace_s=d.round_trips.grace(),
        heartbeats_listening=d._listening(),
        watchdog_running=watchdog is not None and watchdog.alive(),
        watchdog_armed=watchdog is not None and watchdog.armed,
        vital_threads_dead=tuple(sorted(dead_threads(vital, threading.enumerate()))),
        paths=tuple(paths),
        heartbeat_counters=counters,
        checks=d.checks.copy(),
    )
