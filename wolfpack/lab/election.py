"""Node leases across etcd leader elections (M6): kill the leader of a 3-member etcd (by PID)
again and again while node leases renew against every member, and count self-fences.

Shared by the test (tests/store/test_etcd_election.py, a few kills) and the benchmark
(bench/etcd_election.py, many). The leases run as the daemon runs them: the settings'
defaults, one ``EtcdStore`` per node over every endpoint with the daemon's request timeout.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wolfpack.node.lease import NodeLease, boottime
from wolfpack.node.settings import LeaseSection
from wolfpack.store import EtcdStore, KeySpace
from wolfpack.store.etcd_cluster import EtcdCluster
from wolfpack.store.etcd_process import EtcdProcess

#: the daemon's per-request timeout (wolfpack.node.daemon)
REQUEST_TIMEOUT_S = 1.0


@dataclass
class _Renewals:
    """The deadlines one lease got, in order (each is a successful renewal's send + TTL)."""

    deadlines: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deadline(self, at: float) -> None:
        with self.lock:
            self.deadlines.append(at)

    def on_lost(self, why: str) -> None:
        with self.lock:
            self.lost.append(why)

    def max_gap(self) -> float:
        with self.lock:
            d = list(self.deadlines)
        return max((b - a for a, b in itertools.pairwise(d)), default=0.0)


@dataclass(frozen=True)
class ElectionResult:
    kills: int
    leader_changes: int  # kills after which another member became leader
    lease_losses: int  # self-fences of any lease
    max_renewal_gap_s: float  # longest time between two successful renewals of one lease
    max_election_s: float  # longest time from a kill until a new leader was seen
    settings: dict[str, float]


def run(
    workdir: Path,
    kills: int,
    *,
    leases: int = 3,
    settings: LeaseSection | None = None,
    election_timeout_ms: int = 500,
    heartbeat_interval_ms: int = 50,
    settle_s: float = 1.5,
    progress: bool = False,
) -> ElectionResult:
    """Start a 3-member cluster in ``workdir``, ``leases`` node leases on it, then ``kills``
    times: kill the leader, wait for a new one (at most 10 s), start the killed member
    again, let things settle. Everything is stopped at the end, also on failure."""
    s = settings or LeaseSection()
    keys = KeySpace(f"/election-{int(time.time() * 1000)}/")
    cluster = EtcdCluster(
        workdir,
        election_timeout_ms=election_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
    )
    stores: list[EtcdStore] = []
    nodes: list[tuple[NodeLease, _Renewals]] = []
    changes, longest = 0, 0.0
    try:
        cluster.start()
        for i in range(leases):
            store = EtcdStore(
                cluster.endpoints, timeout=REQUEST_TIMEOUT_S, credentials=cluster.admin
            )
            stores.append(store)
            rec = _Renewals()
            lease = NodeLease(
                store,
                keys,
                f"node{i + 1}",
                {"id": i + 1},
                ttl_s=s.ttl_s,
                renew_every_s=s.renew_every_s,
                margin_s=s.margin_s,
                clock=boottime,
                on_deadline=rec.deadline,
                on_lost=rec.on_lost,
            )
            lease.acquire()
            lease.start()
            nodes.append((lease, rec))
        time.sleep(settle_s)
        for n in range(kills):
            old = _wait_leader(cluster, None, 10.0)
            if old is None:
                raise RuntimeError("the etcd cluster has no leader")
            t0 = time.monotonic()
            old.kill()  # SIGKILL of the PID this process started
            new = _wait_leader(cluster, old, 10.0)
            took = time.monotonic() - t0
            if new is not None:
                changes += 1
                longest = max(longest, took)
            old.start(wait=False)
            old.wait_ready()
            time.sleep(settle_s)
            if progress:
                lost = sum(len(r.lost) for _, r in nodes)
                print(f"kill {n + 1}/{kills}: new leader after {took:.2f} s, lease losses {lost}")
    finally:
        for lease, _ in nodes:
            lease.stop(revoke=True)
        for store in stores:
            store.close()
        cluster.stop()
    return ElectionResult(
        kills=kills,
        leader_changes=changes,
        lease_losses=sum(len(r.lost) for _, r in nodes),
        max_renewal_gap_s=round(max(r.max_gap() for _, r in nodes), 3),
        max_election_s=round(longest, 3),
        settings={
            "ttl_s": s.ttl_s,
            "renew_every_s": s.renew_every_s,
            "margin_s": s.margin_s,
            "election_timeout_ms": election_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
        },
    )


def _wait_leader(
    cluster: EtcdCluster, not_this: EtcdProcess | None, timeout: float
) -> EtcdProcess | None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        leader = cluster.leader()
        if leader is not None and leader is not not_this:
            return leader
        time.sleep(0.02)
    return None
