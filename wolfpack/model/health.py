"""What one node knows only about itself, for ``/metrics`` and the health endpoints.

The cluster database says what every node is (Up, Down, who owns what); whether *this*
daemon still holds a valid lease, hears its peers on each path and has its watchdog armed is
known only inside it. The daemon hands the API a :class:`NodeHealth` (an immutable value,
read at scrape time); the API renders it. Pure data and verdicts, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

#: histogram bucket bounds in seconds (Prometheus ``le``), for requests and health checks
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class Histogram:
    """Observations per bucket (not cumulative; the last slot is above every bound), their
    sum and count. Mutable: the owner guards it with its own lock and hands out copies."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def copy(self) -> Histogram:
        return Histogram(list(self.buckets), self.total, self.count)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus wants them, ending with ``+Inf``."""
        out, running = [], 0
        for bound, n in zip(BUCKETS, self.buckets, strict=False):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


@dataclass(frozen=True)
class PathHealth:
    """One peer as heard on one heartbeat network."""

    peer: str
    network: str
    up: bool
    lost: int  # heartbeats missing from the peer's sequence on this path, since start


@dataclass(frozen=True)
class NodeHealth:
    node: str
    lease_valid: bool  # resources may run here (the lease is held and not near its deadline)
    lease_remaining_s: float  # until the lease could expire, minus the margin (<= 0: fenced)
    heartbeats_listening: bool  # the heartbeat thread runs and has run long enough
    watchdog_running: bool
    watchdog_armed: bool  # the watchdog holds a lease deadline to enforce
    vital_threads_dead: tuple[str, ...] = ()
    #: how long this node, as coordinator, waits for a silent peer to answer in etcd
    fencing_grace_s: float = 0.5
    paths: tuple[PathHealth, ...] = ()
    heartbeat_counters: Mapping[str, int] = field(default_factory=dict)
    #: (resource, check) -> latency of the health checks run here (LooksAlive, IsAlive)
    checks: Mapping[tuple[str, str], Histogram] = field(default_factory=dict)

    def live_problems(self) -> list[str]:
        """Why the daemon is not alive as a whole (empty: it is)."""
        out = [f"thread {name} is not running" for name in self.vital_threads_dead]
        if not self.watchdog_running:
            out.append("the watchdog process is not running")
        return out

    def ready_problems(self) -> list[str]:
        """Why this node cannot host groups now (empty: it can)."""
        out = self.live_problems()
        if not self.lease_valid:
            out.append("no valid lease: this node has fenced itself or cannot reach etcd")
        if not self.heartbeats_listening:
            out.append("heartbeats are not running yet")
        return out
