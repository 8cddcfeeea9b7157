"""The coordinator: one per cluster, elected through etcd; the impure shell around ``plan()``.

Election: the first node to create ``leases/coordinator`` on its own lease wins; the key's
create revision is the **election token**. Every write the coordinator makes is a transaction
that compares that token, so a deposed coordinator (whose lease expired while it was frozen)
cannot change anything: its writes fail instead of competing with the new one.

Each tick: read one snapshot, derive node states from leases, heartbeats and fencing
(:mod:`wolfpack.node.liveness`), decide with :func:`wolfpack.policy.plan`, carry out the
plan (:mod:`wolfpack.node.execute`). Ticks run on every change in the cluster database and at
least every ``tick_s``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import yaml

from wolfpack.errors import ConflictError, StoreError, WolfpackError
from wolfpack.model import codec
from wolfpack.model.plan import Plan
from wolfpack.model.snapshot import NodeStatus, Snapshot
from wolfpack.node.execute import Executor, Guard
from wolfpack.node.liveness import Evidence, node_statuses
from wolfpack.node.state_io import ClusterReader
from wolfpack.policy import explain, plan
from wolfpack.store import Compare, Delete, Put, Store, key_absent

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
        tick_s: float = 0.5,
        dump_dir: Path | None = None,
        wall: Callable[[], float] = time.time,
        log: Log = lambda event, **fields: None,
    ) -> None:
        self.store, self.reader, self.node = store, reader, node
        self.keys = reader.keys
        self.lease_id, self.heard, self.lost = lease_id, heard, lost
        self.listening = listening
        self.executor = executor
        self.tick_s, self.dump_dir, self.wall, self.log = tick_s, dump_dir, wall, log
        self.token = 0  # create revision of our election key; 0 = not coordinator
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fenced: set[int] = set()  # leases of nodes we fenced
        self._last_plan: list[str] = []
        self.last_snapshot: Snapshot | None = None

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
        kv = self.store.get(self.keys.coordinator)
        if kv is not None:
            holder = kv.value.decode()
            mine = holder == self.node and kv.lease == lease
            self.token = kv.create_revision if mine else 0
            if not mine and holder in self.lost():
                alive = self.store.get(self.keys.node_lease(holder))
                if alive is None or alive.lease == kv.lease:  # not restarted meanwhile
                    self._fence_dead_coordinator(holder, kv.lease)
            return
        result = self.store.txn(
            [key_absent(self.keys.coordinator)],
            [Put(self.keys.coordinator, self.node.encode(), lease=lease)],
        )
        if result.succeeded:
            self.token = result.revision
            self.log("coordinator_elected", token=self.token)

    def _fence_dead_coordinator(self, holder: str, lease: int) -> None:
        """The coordinator's node went silent on every heartbeat path: nobody else would fence
        it, and its election key would block a new coordinator until its lease ran out. A
        survivor that still hears another peer fences it and revokes its lease, so the
        election (and the failover of its groups) need not wait for the TTL. Several
        survivors may do so at once: fencing is idempotent. One that hears nobody at all
        suspects its own cables and leaves it to the lease."""
        cfg = self.reader.read().snapshot.config
        others = (self.heard() - {self.node, holder}) & set(cfg.nodes)
        if not others and len(cfg.nodes) > 2:
            return
        if self.executor.fence(holder, lease):
            self._fenced.add(lease)
            self.log("coordinator_fenced", node=holder)
            self.wake.set()

    def tick(self) -> Plan:
        view = self.reader.read()
        snap = view.snapshot
        if view.coordinator_token != self.token:
            raise ConflictError(f"{self.keys.coordinator} changed: no longer the coordinator")
        now = self.wall()
        evidence = Evidence(
            leases=view.node_leases,
            heard=self.heard() | {self.node},
            fenced=frozenset(n for n, lease in view.node_leases.items() if lease in self._fenced),
            silence_counts=self.listening(),
        )
        nodes = node_statuses(snap.config, snap.nodes, view.admin, evidence, self.node, now)
        guard = Guard(self.keys.coordinator, self.token)
        self.executor.write_node_statuses(guard, snap.nodes, nodes)
        snap = replace(snap, nodes=nodes)
        decided = plan(snap, now)
        lines = explain(decided)
        if decided.actions and lines != self._last_plan:
            self.log(
                "plan",
                actions=[f"{a.kind} {a.subject} {a.node or ''}".strip() for a in decided.actions],
                reasons=[str(a.reason.code) for a in decided.actions],
            )
            self._dump(snap, now)
        self._last_plan = lines
        self.last_snapshot = snap
        fenced_now = self.executor.apply(guard, snap, decided, now, view.node_leases)
        self._fenced |= {view.node_leases[n] for n in fenced_now if n in view.node_leases}
        self._fenced &= set(view.node_leases.values())  # leases gone need no memory
        return decided

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
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        for old in sorted(self.dump_dir.glob("snapshot-*.yaml"))[:-50]:
            old.unlink(missing_ok=True)


def status_json(status: NodeStatus) -> bytes:
    return json.dumps(codec.dump(status)).encode()
