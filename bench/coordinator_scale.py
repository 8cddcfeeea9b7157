"""The coordinator at scale on a real etcd: from a node's lease ending to every one of its
groups placed on another node, and what that costs in etcd requests and bytes.

    python bench/coordinator_scale.py --nodes 64 --resources 10000 --runs 5 --json

One private etcd on 127.0.0.1 (TLS and authentication on, as in production). The cluster is
bench/big_cluster.py's: N nodes, R/5 groups of five resources, every group online on its
first preferred owner. The nodes are simulated, each as etcd sees a wolfpackd: a lease
kept alive (one thread renews all of them), its liveness key and its published heartbeat
view (``views/<node>``, hearing every other node) on that lease, its status Up on that
lease. There are no resource managers and no resources: only the coordinator works.

The coordinator is the real one (``wolfpack.node.coordinator.Coordinator`` with the real
``Executor``, ``ClusterReader`` and ``EtcdStore``), elected on the last node's lease, woken
by a watch on the root as wolfpackd's watch thread wakes it, ticking at least every second
(the daemon's default ``tick_s``). As in wolfpackd, that watch keeps the coordinator's copy
of the root current (``wolfpack.store.mirror.RootMirror``: one full read at start, then the
watch's events), which the coordinator reads instead of the whole root. Its ``heard`` is
the simulation's membership: every node not lost (what the UDP heartbeats would say); with
no fence agent it waits for the lease.

Each run revokes one node's lease (the "lease expired" event: its keys go at one revision)
and times, from just before the revoke call, until a watch on the root has seen every group
that node owned get an owner record naming another node. Requests are the coordinator's
Store calls, counted by a proxy around its store (one per call, by method); bytes are the
HTTP bodies of its gateway requests and responses (JSON; TLS and headers not counted),
counted by an observer on its endpoints. Both up to the last placement and until
etcd has been quiet for a second; the idle rate (requests and bytes per second with nothing
happening) is measured before each revoke. Between runs the node comes back on a new lease
and the state is put back as it was, with the coordinator stopped, so every run starts alike.

With ``--small`` (default on) a 3-node, 100-resource cluster runs first for comparison.
Prints a table, writes bench/results/coordinator_scale.json and .png, and with --json
prints the JSON object as the last line. Bounded: every wait has a time limit.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from big_cluster import build

from wolfpack.model.plan import Plan
from wolfpack.model.snapshot import NodeStatus, Snapshot
from wolfpack.model.states import NodeState
from wolfpack.model.views import PublishedView
from wolfpack.node.coordinator import Coordinator
from wolfpack.node.execute import Executor
from wolfpack.store import Delete, KeySpace, Put, Store, Watch, WatchEvent, ensure_schema
from wolfpack.store.config_writes import check_config
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_process import EtcdProcess
from wolfpack.store.mirror import RootMirror
from wolfpack.store.repository import ClusterDB, encode
from wolfpack.store.view import ClusterReader

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "coordinator_scale.json"
PLOT = HERE / "results" / "coordinator_scale.png"
TARGET_S = 1.0  # issue 12: every group of a lost node placed within a second
LEASE_TTL_S = 15  # leases are revoked, never left to expire: the TTL only sets the renewals
RENEW_EVERY_S = 4.0
TICK_S = 1.0  # wolfpackd's default tick
QUIET_S = 1.0  # no write under the root for this long: the coordinator is done
IDLE_S = 3.0  # the idle rate is measured over this long (a few ticks)
WAIT_S = 60.0  # the longest any wait may take
BATCH = 100  # operations per loading transaction (etcd allows 128)


# -- counting ---------------------------------------------------------------------------------


@dataclass
class Counts:
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    http_requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    watch_events: int = 0
    watch_bytes: int = 0  # keys and values of the events its watch delivered

    def copy(self) -> Counts:
        return Counts(
            collections.Counter(self.requests),
            self.http_requests,
            self.bytes_sent,
            self.bytes_received,
            self.watch_events,
            self.watch_bytes,
        )

    def minus(self, before: Counts) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()) - sum(before.requests.values()),
            "by_method": dict(self.requests - before.requests),
            "http_requests": self.http_requests - before.http_requests,
            "bytes_sent": self.bytes_sent - before.bytes_sent,
            "bytes_received": self.bytes_received - before.bytes_received,
            "watch_events": self.watch_events - before.watch_events,
            "watch_bytes": self.watch_bytes - before.watch_bytes,
        }


class CountingStore:
    """A :class:`Store` that counts every call by method and passes it on; the HTTP bodies
    of the wrapped ``EtcdStore``'s requests are counted by an observer on its endpoints."""

    def __init__(self, inner: EtcdStore) -> None:
        self.inner = inner
        self.counts = Counts()
        self._lock = threading.Lock()
        for ep in inner._endpoints:
            ep.observers.append(self._on_exchange)

    def _on_exchange(self, sent: int, received: int) -> None:
        with self._lock:
            self.counts.http_requests += 1
            self.counts.bytes_sent += sent
            self.counts.bytes_received += received

    def _count(self, method: str) -> None:
        with self._lock:
            self.counts.requests[method] += 1

    def snapshot(self) -> Counts:
        with self._lock:
            return self.counts.copy()

    def event_seen(self, size: int) -> None:
        with self._lock:
            self.counts.watch_events += 1
            self.counts.watch_bytes += size

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._count(name)
            return attr(*args, **kwargs)

        return counted


# -- the simulated nodes ----------------------------------------------------------------------


class SimulatedNodes:
    """What etcd sees of N wolfpackd: a lease each, kept alive, with the liveness key and
    the published view on it; and what the coordinator's heartbeats would hear."""

    def __init__(self, store: Store, keys: KeySpace, names: Sequence[str]) -> None:
        self.store, self.keys, self.names = store, keys, list(names)
        self.leases: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="keepalive", daemon=True)

    def join(self, name: str) -> int:
        lease = self.store.lease_grant(LEASE_TTL_S)
        view = PublishedView(frozenset(self.names) - {name}, epoch=1)
        liveness = json.dumps({"node": name, "simulated": True}).encode()
        self.store.txn(
            [],
            [
                Put(self.keys.node_lease(name), liveness, lease=lease),
                Put(self.keys.view(name), view.encode(), lease=lease),
            ],
        )
        with self._lock:
            self.leases[name] = lease
        return lease

    def lose(self, name: str) -> None:
        """The node is gone: silent on the heartbeats, its lease ended (as by expiry)."""
        with self._lock:
            lease = self.leases.pop(name)
        self.store.lease_revoke(lease)

    def lease(self, name: str) -> int:
        with self._lock:
            return self.leases.get(name, 0)

    def heard(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self.leases)

    def start(self) -> None:
        for name in self.names:
            self.join(name)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            with self._lock:
                leases = list(self.leases.values())
            for lease in leases:
                self.store.lease_keepalive(lease, timeout=2.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for name in list(self.leases):
            self.lose(name)


# -- the cluster database ---------------------------------------------------------------------


def state_documents(keys: KeySpace, snap: Snapshot) -> dict[str, bytes]:
    """Every status document of ``snap`` by key."""
    docs: dict[str, bytes] = {}
    for name, node in snap.nodes.items():
        docs[keys.state("nodes", name)] = encode(node)
    for name, group in snap.groups.items():
        docs[keys.state("groups", name)] = encode(group)
    for name, res in snap.resources.items():
        docs[keys.state("resources", name)] = encode(res)
    return docs


def write_batched(store: Store, ops: Sequence[Put | Delete]) -> None:
    for i in range(0, len(ops), BATCH):
        store.txn([], list(ops[i : i + BATCH]))


def load(store: Store, keys: KeySpace, snap: Snapshot) -> None:
    """The configuration (validated as ``wolfpack config import`` does) and the state, in
    transactions of at most ``BATCH`` operations: one transaction of ``import_config`` would
    be far beyond etcd's limits at 10,000 resources."""
    check_config(snap.config)
    ensure_schema(store, keys)
    docs = ClusterDB(store, keys)._documents(snap.config)
    docs |= state_documents(keys, snap)
    docs[keys.config_epoch] = b"1"
    write_batched(store, [Put(k, v) for k, v in sorted(docs.items())])


def restore(store: Store, keys: KeySpace, snap: Snapshot) -> int:
    """Put every status back as in ``snap``; returns how many documents changed."""
    wanted = state_documents(keys, snap)
    kvs, _ = store.get_prefix(keys.state_root)
    current = {kv.key: kv.value for kv in kvs}
    ops: list[Put | Delete] = [Put(k, v) for k, v in wanted.items() if current.get(k) != v]
    ops += [Delete(k) for k in current if k not in wanted]
    write_batched(store, ops)
    return len(ops)


# -- one cluster ------------------------------------------------------------------------------


@dataclass
class Sample:
    lost: str
    groups: int
    seconds: float
    detected_s: float  # when the coordinator wrote the node Down (its log), from the revoke
    placed: dict[str, Any]
    quiet: dict[str, Any]
    idle_per_s: dict[str, Any]
    full_reads: int = 0  # coordinator reads that could not use the copy, until quiet


class Bench:
    """One cluster on one etcd (under ``keys.root``) with its simulated nodes and the real
    coordinator; :meth:`failover` is one measured run."""

    def __init__(
        self,
        connect: Callable[[], EtcdStore],
        keys: KeySpace,
        nodes: int,
        res: int,
        profiler: cProfile.Profile | None = None,
    ):
        if nodes < 2:
            raise ValueError("at least two nodes: one to lose, one to coordinate")
        self.keys = keys
        self.steady = build(nodes, res, now=time.time())
        self.names = list(self.steady.config.nodes)
        self.me = self.names[-1]  # the coordinator's node, never lost
        self.admin = connect()  # loading, leases, restoring
        self.observer = connect()  # the watch that times the runs
        self.store = CountingStore(connect())  # the coordinator's
        self.sim = SimulatedNodes(self.admin, keys, self.names)
        self.mirror = RootMirror(self.store, keys.root)  # kept current by the wake watch
        self.tracked = self.mirror.tracking(self.store)  # the coordinator's writes, noted
        self.reader = ClusterReader(self.tracked, keys, mirror=self.mirror)
        self.coordinator: Coordinator | None = None
        self.profiler = profiler  # of every coordinator tick, if given
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._waker = threading.Thread(target=self._wake_loop, name="watch", daemon=True)

    # -- set-up --------------------------------------------------------------------------
    def start(self) -> None:
        load(self.admin, self.keys, self.steady)
        self.sim.start()
        restore(self.admin, self.keys, self._steady_now())
        self._waker.start()
        self._start_coordinator()

    def close(self) -> None:
        self._stop_coordinator()
        self._stop.set()
        self._waker.join(timeout=5)
        self.sim.stop()
        for store in (self.store.inner, self.observer, self.admin):
            store.close()

    def _steady_now(self) -> Snapshot:
        """The steady state with every node Up on its current lease."""
        nodes = {
            n: NodeStatus(NodeState.UP, since=st.since, lease=self.sim.lease(n))
            for n, st in self.steady.nodes.items()
        }
        return Snapshot(self.steady.config, nodes, self.steady.groups, self.steady.resources)

    def _log(self, event: str, **fields: Any) -> None:
        self.events.append((time.perf_counter(), event, fields))

    def _start_coordinator(self) -> None:
        config = ClusterDB(self.tracked, self.keys).update_config
        executor = Executor(self.tracked, self.keys, None, config, log=self._log)
        self.coordinator = Coordinator(
            self.tracked,
            self.reader,
            self.me,
            lambda: self.sim.lease(self.me),
            self.sim.heard,
            executor,
            tick_s=TICK_S,
            log=self._log,
        )
        if self.profiler is not None:
            self.coordinator.tick = _profiled(self.profiler, self.coordinator.tick)  # type: ignore[method-assign]
        self.coordinator.start()
        self.coordinator.wake.set()
        deadline = time.monotonic() + WAIT_S
        while not self.coordinator.is_coordinator:
            if time.monotonic() > deadline:
                raise TimeoutError("the coordinator was not elected")
            time.sleep(0.05)

    def _stop_coordinator(self) -> None:
        if self.coordinator is not None:
            self.coordinator.stop()
            self.coordinator = None

    def _wake_loop(self) -> None:
        """wolfpackd's watch thread: keep the coordinator's copy of the root current and
        wake it on every change under the root."""
        self.mirror.follow(self._stop, self._changed)

    def _changed(self, events: list[WatchEvent]) -> None:
        for event in events:
            self.store.event_seen(len(event.key) + len(event.value))
        if self.coordinator is not None:
            self.coordinator.wake.set()

    # -- a run ---------------------------------------------------------------------------
    def owners(self) -> dict[str, str | None]:
        kvs, _ = self.admin.get_prefix(self.keys.state_prefix("groups"))
        prefix = self.keys.state_prefix("groups")
        return {kv.key[len(prefix) :]: _owner(kv.value) for kv in kvs}

    def failover(self, lost: str) -> Sample:
        """Lose ``lost`` (its lease revoked), time until all its groups have another owner,
        wait for quiet, then bring it back and put the state back as it was."""
        moving = {g for g, owner in self.owners().items() if owner == lost}
        prefix = self.keys.state_prefix("groups")
        with self.observer.watch_prefix(self.keys.root) as watch:
            _quiet(watch, QUIET_S)
            idle_from, t_idle = self.store.snapshot(), time.perf_counter()
            time.sleep(IDLE_S)
            idle = self.store.snapshot().minus(idle_from)
            idle_s = time.perf_counter() - t_idle
            _quiet(watch, QUIET_S)
            before = self.store.snapshot()
            fallbacks = self.mirror.fallbacks
            self.events.clear()
            t0 = time.perf_counter()
            self.sim.lose(lost)
            waiting = set(moving)
            t_placed = t0
            deadline = time.monotonic() + WAIT_S
            while waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(waiting)} groups of {lost} were never placed")
                event = watch.get(timeout=1.0)
                if event is None or not event.key.startswith(prefix) or event.kind != "put":
                    continue
                group = event.key[len(prefix) :]
                if group in waiting and _owner(event.value) not in (None, lost):
                    waiting.discard(group)
                    t_placed = time.perf_counter()
            placed = self.store.snapshot().minus(before)
            _quiet(watch, QUIET_S)
            quiet = self.store.snapshot().minus(before)
            full_reads = self.mirror.fallbacks - fallbacks
        detected = next(
            (t for t, e, f in self.events if e == "node_state" and f.get("node") == lost), t0
        )
        self._stop_coordinator()
        self.sim.join(lost)
        restore(self.admin, self.keys, self._steady_now())
        self._start_coordinator()
        return Sample(
            lost=lost,
            groups=len(moving),
            seconds=t_placed - t0,
            detected_s=detected - t0,
            placed=placed,
            quiet=quiet,
            idle_per_s={k: round(v / idle_s, 1) for k, v in idle.items() if k != "by_method"},
            full_reads=full_reads,
        )


def _profiled(profiler: cProfile.Profile, tick: Callable[[], Plan]) -> Callable[[], Plan]:
    """``tick`` profiled (on the coordinator's thread, while it runs)."""

    def run() -> Plan:
        profiler.enable()
        try:
            return tick()
        finally:
            profiler.disable()

    return run


def _owner(value: bytes) -> str | None:
    owner = json.loads(value).get("owner")
    return str(owner) if owner else None


def _quiet(watch: Watch, seconds: float) -> None:
    """Wait until no event came for ``seconds`` (at most ``WAIT_S``)."""
    deadline = time.monotonic() + WAIT_S
    while watch.get(timeout=seconds) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"etcd was never quiet for {seconds} s")


# -- measuring --------------------------------------------------------------------------------


def measure(
    connect: Callable[[], EtcdStore],
    keys: KeySpace,
    nodes: int,
    resources: int,
    runs: int,
    profiler: cProfile.Profile | None = None,
) -> dict[str, Any]:
    """``runs`` failovers of a cluster of ``nodes`` and ``resources`` under ``keys.root``,
    each losing another node (never the coordinator's); ``profiler``: of its ticks."""
    bench = Bench(connect, keys, nodes, resources, profiler)
    try:
        bench.start()
        samples = [bench.failover(bench.names[i % (nodes - 1)]) for i in range(runs)]
    finally:
        bench.close()
    seconds = [s.seconds for s in samples]
    mean = _mean_counts([s.placed for s in samples])
    return {
        "nodes": nodes,
        "groups": len(bench.steady.config.groups),
        "resources": len(bench.steady.config.resources),
        "runs": runs,
        "p50_s": round(benchlib.percentile(seconds, 50), 3),
        "p99_s": round(benchlib.percentile(seconds, 99), 3),
        "max_s": round(max(seconds), 3),
        "detected_p50_s": round(benchlib.percentile([s.detected_s for s in samples], 50), 3),
        "groups_moved": [s.groups for s in samples],
        "requests_per_failover": mean["requests"],
        "bytes_per_failover": mean["bytes_sent"] + mean["bytes_received"],
        "per_failover_until_placed": mean,
        "per_failover_until_quiet": _mean_counts([s.quiet for s in samples]),
        "idle_per_s": samples[0].idle_per_s,
        "samples": [
            {
                "lost": s.lost,
                "groups_moved": s.groups,
                "seconds": round(s.seconds, 3),
                "detected_s": round(s.detected_s, 3),
                "requests": s.placed["requests"],
                "bytes": s.placed["bytes_sent"] + s.placed["bytes_received"],
                "by_method": s.placed["by_method"],
                "coordinator_full_reads": s.full_reads,
            }
            for s in samples
        ],
    }


def _mean_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in rows[0] if k != "by_method"]
    out: dict[str, Any] = {k: round(sum(r[k] for r in rows) / len(rows)) for k in keys}
    methods: collections.Counter[str] = collections.Counter()
    for r in rows:
        methods.update(r["by_method"])
    out["by_method"] = {m: round(n / len(rows), 1) for m, n in sorted(methods.items())}
    return out


@contextmanager
def private_etcd() -> Iterator[EtcdProcess]:
    """A private etcd on 127.0.0.1 (TLS, authentication), stopped by its PID afterwards."""
    with tempfile.TemporaryDirectory(prefix="wolfpack-coordscale-") as work:
        proc = EtcdProcess(Path(work) / "data")
        try:
            yield proc.start()
        finally:
            proc.stop()


MEASURED_HOW = (
    "seconds: perf_counter from just before the lease_revoke call to the watch event that "
    "gave the last of the lost node's groups an owner other than it (an observer's watch "
    "on the root, its own connection). requests: calls the coordinator made on its Store "
    "(a counting proxy; the wake watch counts once, at start), by method. bytes: HTTP "
    "request and response bodies of those calls (JSON over the gateway, base64 values; "
    "authentication requests included, TLS and HTTP headers not), from an observer "
    "on the coordinator's EtcdStore endpoints; watch_bytes: keys and values of the events "
    "its wake watch delivered. until_placed: up to the last placement; until_quiet: until "
    f"etcd had no write for {QUIET_S} s (idle ticks included; idle_per_s is the rate with "
    f"nothing happening, over {IDLE_S} s before the first run; bytes count once a response "
    "has arrived). coordinator_full_reads: the coordinator's reads that could not use its "
    "copy of the root kept by the watch and read the whole root instead, until quiet. "
    "Means over the runs."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--resources", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    small = "also 3 nodes x 100 resources first, for comparison (default on)"
    ap.add_argument("--small", action=argparse.BooleanOptionalAction, default=True, help=small)
    ap.add_argument("--json", action="store_true", help="print the result as JSON last")
    profile = "cProfile the coordinator's ticks at the largest size into FILE (pstats), top 25"
    ap.add_argument("--profile", type=Path, metavar="FILE", help=profile + " to stderr")
    args = ap.parse_args(argv)
    if not 2 <= args.nodes <= 256 or not 5 <= args.resources <= 50000:
        ap.error("--nodes 2..256, --resources 5..50000")
    if not 1 <= args.runs <= 100:
        ap.error("--runs 1..100")
    configs = [(3, 100)] if args.small and (args.nodes, args.resources) != (3, 100) else []
    configs.append((args.nodes, args.resources))
    started = time.monotonic()
    rows = []
    with private_etcd() as etcd:
        for nodes, resources in configs:
            keys = KeySpace(f"/wolfpack-{nodes}x{resources}/")
            last = (nodes, resources) == configs[-1]
            profiler = cProfile.Profile() if args.profile and last else None
            rows.append(measure(etcd.store, keys, nodes, resources, args.runs, profiler))
            if profiler is not None:
                profiler.dump_stats(args.profile)
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    result = {
        "benchmark": "coordinator: lease of one node ended -> all its groups placed (real etcd)",
        "machine": benchlib.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "target_s": TARGET_S,
        "measured_how": MEASURED_HOW,
        "results": rows,
        "duration_s": round(time.monotonic() - started, 1),
    }
    out = sys.stderr if args.json else sys.stdout
    print(f"{'nodes':>5} {'groups':>6} {'res':>6} {'p50 s':>6} {'p99 s':>6} {'max s':>6} "
          f"{'moved':>6} {'req':>5} {'KiB':>7}", file=out)  # fmt: skip
    for r in rows:
        print(
            f"{r['nodes']:>5} {r['groups']:>6} {r['resources']:>6} {r['p50_s']:>6} "
            f"{r['p99_s']:>6} {r['max_s']:>6} {max(r['groups_moved']):>6} "
            f"{r['requests_per_failover']:>5} {r['bytes_per_failover'] / 1024:>7.1f}",
            file=out,
        )
    if args.profile:  # timings under the profiler are not the benchmark's
        print(json.dumps(result) if args.json else "(profiled: results not written)")
        return 0
    benchlib.report(result, RESULTS, as_json=args.json)
    benchlib.outage_plot(
        {f"{r['nodes']}n_{r['resources']}r": [s["seconds"] for s in r["samples"]] for r in rows},
        PLOT,
        targets={f"{r['nodes']}n_{r['resources']}r_p50_s": TARGET_S for r in rows},
        title="lease ended -> every group of the node placed (real coordinator, etcd)",
        ylabel="seconds to the last placement",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
