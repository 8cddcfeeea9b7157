"""The coordinator: one per cluster, elected through etcd; the impure shell around ``plan()``.

Election: the first node to create ``leases/coordinator`` on its own lease wins; the key's
create revision is the **election token**. Every write the coordinator makes is a transaction
that compares that token, so a deposed coordinator (whose lease expired while it was frozen)
cannot change anything: its writes fail instead of competing with the new one.

Each tick: read one snapshot, derive node states from leases, heartbeats, published views
and fencing (:mod:`wolfpack.node.liveness`), decide with :func:`wolfpack.policy.plan`, carry
out the plan (:mod:`wolfpack.node.execute`). Ticks run on every change in the cluster
database and at least every ``tick_s``.

Only the coordinator fences (H5), and only after a read-only transaction has shown that the
plan's basis still holds: its election token, the target's lease and the target's silence
in etcd (M2). A coordinator that nobody hears is never fenced by a survivor on the
survivor's own view: a survivor may only end its election, in a transaction, once etcd
agrees it is gone (:func:`wolfpack.node.liveness.coordinator_may_be_replaced`); the new
coordinator then fences it like any other node.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from wolfpack.errors import ConflictError, StoreError, WolfpackError
from wolfpack.model import codec, timeline
from wolfpack.model.networks import NetworkStates, changes, derive
from wolfpack.model.plan import ActionKind, Plan
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.views import Silence
from wolfpack.node.execute import Executor, Guard
from wolfpack.node.fence_check import FenceBasis, FenceOutcome
from wolfpack.node.liveness import (
    Evidence,
    Silent,
    coordinator_may_be_replaced,
    node_statuses,
    silence_verdicts,
)
from wolfpack.policy import explain, plan
from wolfpack.store import Compare, Delete, KeyValue, Put, Store, key_absent, mod_revision_is
from wolfpack.store.view import ClusterReader, ClusterView

Log = Callable[..., None]


class Coordinator:
    def __init__(
        self,
        store: Store,
        reader: ClusterReader,
        node: str,
        lease_id: Callable[[], int],
        heard: Callable[[], frozenset[str]],
        executor: Executor,
        lost: Callable[[], frozenset[str]] = frozenset,
        listening: Callable[[], bool] = lambda: True,
        *,
        silence: Callable[[], Mapping[str, Silence]] = dict,
        last_heard: Callable[[], Mapping[str, Mapping[str, float]]] = dict,
        grace: Callable[[], float] = lambda: 0.5,
        tick_s: float = 0.5,
        dump_dir: Path | None = None,
        wall: Callable[[], float] = time.time,
        log: Log = lambda event, **fields: None,
    ) -> None:
        self.store, self.reader, self.node = store, reader, node
        self.keys = reader.keys
        self.lease_id, self.heard, self.lost = lease_id, heard, lost
        self.listening = listening
        self.silence, self.grace = silence, grace
        self.last_heard = last_heard
        self.executor = executor
        self.tick_s, self.dump_dir, self.wall, self.log = tick_s, dump_dir, wall, log
        self.token = 0  # create revision of our election key; 0 = not coordinator
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fenced: set[int] = set()  # leases of nodes we fenced (power)
        self._io_fenced: set[int] = set()  # leases of nodes cut off from storage: wait for them
        #: node -> (fence agent called, confirmed) by the wall clock: for the timeline
        self._fence_times: dict[str, tuple[float, float]] = {}
        self._partitions: dict[str, tuple[Silent, str]] = {}  # last logged silence verdicts
        self._last_plan: list[str] = []
        self._networks: NetworkStates | None = None  # the states last logged
        self.last_snapshot: Snapshot | None = None
        self.dumping: threading.Thread | None = None  # the last snapshot dump's thread

    @property
    def is_coordinator(self) -> bool:
        return self.token != 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="coordinator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.resign()

    def resign(self) -> None:
        if self.token:
            with contextlib.suppress(StoreError):
                self.store.txn(
                    [Compare(self.keys.coordinator, "create", "==", self.token)],
                    [Delete(self.keys.coordinator)],
                )
            self.token = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(self.tick_s)
            self.wake.clear()
            if self._stop.is_set():
                break
            try:
                self._campaign()
                if self.is_coordinator:
                    self.tick()
            except ConflictError:
                self.log("coordinator_deposed")
                self.token = 0
            except WolfpackError as exc:
                self.log("coordinator_error", error=str(exc), type=type(exc).__name__)
            except Exception as exc:  # one catch-all per loop: log and keep running
                self.log("coordinator_crash", error=repr(exc))

    def _campaign(self) -> None:
        lease = self.lease_id()
        if lease == 0:
            self.token = 0
            return
        kv = self._election()
        if kv is not None:
            holder = kv.value.decode()
            mine = holder == self.node and kv.lease == lease
            self.token = kv.create_revision if mine else 0
            if mine or holder not in self.lost() or not self._replace_silent_coordinator(holder):
                return
        result = self.store.txn(
            [key_absent(self.keys.coordinator)],
            [Put(self.keys.coordinator, self.node.encode(), lease=lease)],
        )
        if result.succeeded:
            self.token = result.revision
            self.log("coordinator_elected", token=self.token)

    def _election(self) -> KeyValue | None:
        """The election key, from the watch-kept copy of the root while it is current: every
        node campaigns every tick, and a read of etcd each time was an idle node's most
        frequent request after its lease (issue 12). A copy a little behind costs nothing:
        a campaign on it fails its transaction's compare, and a deposed coordinator's
        writes fail theirs (every one compares the election in etcd)."""
        mirror = self.reader.mirror
        if mirror is not None and mirror.following:
            kvs, _ = mirror.read()
            return kvs.get(self.keys.coordinator)
        return self.store.get(self.keys.coordinator)

    def _replace_silent_coordinator(self, holder: str) -> bool:
        """The coordinator's node is silent on every heartbeat path. Never fence it on our
        own view (H5): end its election only if etcd agrees it is gone, in one transaction
        that compares everything the decision read (the election, its liveness key, and the
        view of every leased node). The new coordinator then fences it under the usual
        check. True if the election key is gone now."""
        view = self.reader.read()
        election = view.coordinator_kv
        if election is None:
            return True
        if election.value.decode() != holder:
            return False
        if not coordinator_may_be_replaced(
            holder, view.node_leases, view.views, self.silence(), self.grace(), self.listening()
        ):
            return False
        compares = [
            Compare(self.keys.coordinator, "create", "==", election.create_revision),
            mod_revision_is(self.keys.node_lease(holder), view.node_revisions.get(holder, 0)),
            *(
                mod_revision_is(self.keys.view(n), view.views[n].revision if n in view.views else 0)
                for n in {*view.node_leases, holder}
            ),
        ]
        if not self.store.txn(compares, [Delete(self.keys.coordinator)]).succeeded:
            return False
        self.log("coordinator_replaced", node=holder, reason="silent, and etcd agrees it is gone")
        return True

    def tick(self) -> Plan:
        view = self.reader.read()
        snap = view.snapshot
        if view.coordinator_token != self.token:
            raise ConflictError(f"{self.keys.coordinator} changed: no longer the coordinator")
        now = self.wall()
        heard = self.heard() | {self.node}
        evidence = Evidence(
            leases=view.node_leases,
            heard=heard,
            fenced=frozenset(n for n, lease in view.node_leases.items() if lease in self._fenced),
            silence_counts=self.listening(),
            views=view.views,
            silence=self.silence(),
            grace_s=self.grace(),
            last_heard=self._last_heard_of(set(view.node_leases) - heard),
            fences=self._fence_times,
        )
        self._report_partitions(evidence)
        nodes = node_statuses(snap.config, snap.nodes, view.admin, evidence, self.node, now)
        guard = Guard(self.keys.coordinator, self.token)
        self.executor.write_node_statuses(guard, snap.nodes, nodes)
        snap = replace(snap, nodes=nodes)
        self._report_networks(snap)
        decided = plan(snap, now)
        lines = explain(decided)
        new_plan = bool(decided.actions) and lines != self._last_plan
        if new_plan:
            self.log(
                "plan",
                actions=[f"{a.kind} {a.subject} {a.node or ''}".strip() for a in decided.actions],
                reasons=[str(a.reason.code) for a in decided.actions],
            )
        self._last_plan = lines
        self.last_snapshot = snap
        if new_plan:  # kept beside the failover, never on its path (the next tick decides)
            self._dump_soon(snap, now)
        fence = [a.subject for a in decided.actions if a.kind is ActionKind.FENCE_NODE]
        self._fence(view, fence)
        self.executor.apply(guard, decided, now, view.kvs)
        self._fenced &= set(view.node_leases.values())  # leases gone need no memory
        self._io_fenced &= set(view.node_leases.values())
        self._keep_timelines(guard, snap, decided, now)
        return decided

    def _last_heard_of(self, silent: set[str]) -> dict[str, Mapping[str, float]]:
        """When each path last heard the leased nodes not heard now (the others are not
        going Down on this tick)."""
        if not silent:
            return {}
        heard = self.last_heard()
        return {n: heard[n] for n in silent if n in heard}

    def _keep_timelines(self, guard: Guard, snap: Snapshot, decided: Plan, now: float) -> None:
        """The transitions this plan ended, kept in the group's history and said in the
        log. After the plan's own writes, so a failover never waits for its record; a
        record that cannot be written is logged, never retried at the cost of a tick."""
        for done in timeline.finished(snap, decided, now):
            points = timeline.milestones(done)
            self.log(
                "timeline",
                group=done.group,
                kind=str(done.kind),
                source=done.source,
                target=done.target,
                ending=str(done.ending),
                phases_ms={k: round(v * 1000) for k, v in timeline.segments(points).items()},
            )
            try:
                self.executor.keep_timeline(guard, done)
            except WolfpackError as exc:
                self.log("timeline_not_kept", group=done.group, error=str(exc))

    def _fence(self, view: ClusterView, nodes: list[str]) -> None:
        """Fence what the plan asks, each only if its basis still holds in etcd (M2). A node
        cut off from storage (an io fence) keeps its lease: its groups wait for it (H6)."""
        for node in nodes:
            lease = view.node_leases.get(node, 0)
            if lease == 0 or lease in self._fenced or lease in self._io_fenced:
                continue
            own = view.views.get(node)
            basis = FenceBasis(
                election_key=self.keys.coordinator,
                token=self.token,
                liveness_key=self.keys.node_lease(node),
                lease=lease,
                view_key=self.keys.view(node),
                view_revision=own.revision if own is not None else 0,
            )
            called = self.wall()
            outcome = self.executor.fence(node, lease, basis)
            if outcome is FenceOutcome.POWERED_OFF:
                self._fenced.add(lease)
                self._fence_times[node] = (called, self.wall())
            elif outcome is FenceOutcome.CUT_OFF:
                self._io_fenced.add(lease)

    def _report_partitions(self, evidence: Evidence) -> None:
        """A peer silent on every heartbeat path but alive by etcd is a network partition of
        the heartbeat paths: said once, never fenced, never failed over."""
        verdicts = {
            n: v
            for n, v in silence_verdicts(evidence, self.node).items()
            if v[0] in (Silent.PUBLISHED, Silent.HEARD_BY_OTHERS)
        }
        if not evidence.silence_counts:
            return
        for node, (verdict, detail) in verdicts.items():
            if self._partitions.get(node, (None, ""))[0] is not verdict:
                self.log("heartbeat_partition", node=node, verdict=str(verdict), detail=detail)
        for node in self._partitions.keys() - verdicts.keys():
            self.log("heartbeat_partition_ended", node=node)
        self._partitions = verdicts

    def _report_networks(self, snap: Snapshot) -> None:
        """Network and interface states that changed, as events in the cluster log (only
        the coordinator says them, so the merged log has each once)."""
        states = derive(snap)
        for event, fields in changes(self._networks, states, snap.config):
            self.log(event, **fields)
        self._networks = states

    def _dump_soon(self, snap: Snapshot, now: float) -> None:
        """:meth:`_dump` in a thread of its own: a failover's fence and its next tick (the
        placement) do not wait for a YAML file (the snapshot is immutable)."""
        if self.dump_dir is None:
            return
        self.dumping = threading.Thread(target=self._dump, args=(snap, now), name="dump")
        self.dumping.daemon = True
        self.dumping.start()

    def _dump(self, snap: Snapshot, now: float) -> None:
        """Keep the snapshot behind each new decision: any incident becomes a scenario."""
        if self.dump_dir is None:
            return
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        path = self.dump_dir / f"snapshot-{int(now * 1000)}.yaml"
        doc = {
            "description": "dumped by the coordinator",
            "covers": [],
            "now": now,
            "snapshot": codec.dump(snap),
        }
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where built
        path.write_text(yaml.dump(doc, Dumper=dumper, sort_keys=False))
        for old in sorted(self.dump_dir.glob("snapshot-*.yaml"))[:-50]:
            old.unlink(missing_ok=True)
