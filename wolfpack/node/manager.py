"""The resource manager: makes this node run exactly what the coordinator placed on it.

It loops: read the cluster, ask :func:`wolfpack.node.reconcile.next_batch` what to do, run
that batch (independent resources in parallel), report states, repeat. Failures reach it at
once from the agents (a supervised process exiting) or from its monitor (LooksAlive at the
resource's interval, IsAlive at its own); a failed resource is terminated and reported
Failed, and the coordinator decides: restart here, or fail the group over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.model.config import Resource
from wolfpack.model.inheritance import effective_resource
from wolfpack.model.snapshot import ResourceStatus, Snapshot
from wolfpack.model.states import ResourceState
from wolfpack.node.reconcile import LocalAction, LocalKind, next_batch
from wolfpack.node.state_io import ClusterReader, update_doc
from wolfpack.resources import Agent, AgentContext, create_agent, error_fields
from wolfpack.resources.holdings import CGROUP, Holdings
from wolfpack.store import Compare

Log = Callable[..., None]


@dataclass
class _Running:
    agent: Agent
    looks_every: float = float("inf")
    is_every: float = float("inf")
    next_looks: float = float("inf")
    next_is: float = float("inf")

    def schedule(self, now: float) -> None:
        self.next_looks, self.next_is = now + self.looks_every, now + self.is_every


class ResourceManager:
    def __init__(
        self,
        reader: ClusterReader,
        node: str,
        lease_valid: Callable[[], bool],
        lease_guard: Callable[[], Compare],
        context: AgentContext,
        *,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        log: Log = lambda event, **fields: None,
    ) -> None:
        self.reader, self.store, self.keys = reader, reader.store, reader.keys
        self.node, self.lease_valid, self.lease_guard = node, lease_valid, lease_guard
        self.context = replace(context, on_failure=self._on_agent_failure)
        self.wall, self.clock, self.log = wall, clock, log
        self.local: dict[str, ResourceState] = {}
        self.running: dict[str, _Running] = {}
        self.wake = threading.Event()
        self._failures: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="agent")

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._adopt_or_clean()
        for target, name in ((self._run, "manager"), (self._monitor, "monitor")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self._pool.shutdown(wait=True)

    def stop_everything(self, why: str) -> None:
        """Self-fencing: stop every resource now, without asking anyone."""
        names = list(self.running)
        self.log("stop_everything", why=why, resources=names)
        for name in names:
            self._terminate(name)
            self.local.pop(name, None)

    # -- failures -------------------------------------------------------------------------
    def _on_agent_failure(self, resource: str, why: str) -> None:
        with self._lock:
            self._failures.append((resource, why))
        self.wake.set()

    def _handle_failures(self, snap: Snapshot) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if not self.lease_valid():
            return  # self-fencing stops everything; a fenced node reports nothing
        # A resource the coordinator marked failed (pending timeout, initiate failure)
        # while it runs here is terminated like any other failure.
        for name in list(self.running):
            if _is_marked(snap, name, self.node) and self.local.get(name) is ResourceState.ONLINE:
                failures.append((name, "marked failed by the coordinator"))
        for name, why in failures:
            if self.local.get(name) not in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING):
                continue
            self.log("resource_failed", resource=name, why=why)
            self._terminate(name)
            self.local[name] = ResourceState.FAILED
            self._report(name, ResourceState.FAILED, keep_since=_is_marked(snap, name, self.node))

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(5.0)  # changes wake it at once; this is only a safety net
            self.wake.clear()
            try:
                self._reconcile()
            except StoreError as exc:
                self.log("manager_store_error", error=str(exc))
                self._stop.wait(0.2)
            except Exception as exc:  # one catch-all per loop: log and keep running
                self.log("manager_crash", error=repr(exc))
                self._stop.wait(0.2)

    def _reconcile(self) -> None:
        for _ in range(100):  # bounded: each pass changes something or ends the loop
            if self._stop.is_set():
                return
            snap = self.reader.read().snapshot
            self._handle_failures(snap)
            batch = next_batch(snap, self.node, self.local, lease_ok=self.lease_valid())
            if not batch:
                return
            list(self._pool.map(self._do, [snap] * len(batch), batch))

    def _do(self, snap: Snapshot, action: LocalAction) -> None:
        res = snap.config.resources[action.resource]
        if action.kind is LocalKind.STOP:
            self.local[res.name] = ResourceState.OFFLINE_PENDING
            self._report(res.name, ResourceState.OFFLINE_PENDING)
            self._terminate(res.name, timeout_s=res.pending_timeout_s)
            self.local.pop(res.name, None)
            self._report(res.name, ResourceState.OFFLINE)
            self.log("resource_stopped", resource=res.name, why=action.reason)
            return
        if not self.lease_valid():
            return
        fresh_node = snap.resource(res.name).node != self.node
        self.local[res.name] = ResourceState.ONLINE_PENDING
        pending_at = self._report(res.name, ResourceState.ONLINE_PENDING, reset_restarts=fresh_node)
        try:
            agent = self._agent(snap, res)
            agent.start(timeout_s=res.pending_timeout_s)
        except WolfpackError as exc:
            self.log("resource_start_failed", resource=res.name, **error_fields(exc))
            self._terminate(res.name)
            self.local[res.name] = ResourceState.FAILED
            self._report(res.name, ResourceState.FAILED)
            return
        rtype = snap.config.types[res.type]
        run = _Running(
            agent,
            _interval(res.looks_alive_ms, rtype.looks_alive_ms),
            _interval(res.is_alive_ms, rtype.is_alive_ms),
        )
        run.schedule(self.clock())
        self.running[res.name] = run
        self.local[res.name] = ResourceState.ONLINE
        # A Failed mark the coordinator wrote while this start ran (Initiate Failure or a
        # pending timeout) stays: the next pass terminates it as a failure. Overwritten,
        # the failure would be lost while its restart grant still counted (S30).
        self._report(res.name, ResourceState.ONLINE, unless_marked_since=pending_at)
        self.log("resource_online", resource=res.name, why=action.reason)

    def _agent(self, snap: Snapshot, res: Resource) -> Agent:
        rtype = snap.config.types.get(res.type)
        if rtype is None:
            raise WolfpackError(f"resource type {res.type!r} of {res.name!r} is not installed")
        agent = create_agent(effective_resource(snap.config, res), rtype, self.context)
        agent.validate()
        self.running[res.name] = _Running(agent)  # so a half-started one can be terminated
        return agent

    def _terminate(self, name: str, timeout_s: float = 10.0) -> None:
        run = self.running.pop(name, None)
        if run is None:
            return
        try:
            run.agent.stop(timeout_s=min(timeout_s, 30.0))
        except WolfpackError as exc:
            self.log("resource_stop_failed", resource=name, **error_fields(exc))

    def _report(
        self,
        name: str,
        state: ResourceState,
        *,
        keep_since: bool = False,
        reset_restarts: bool = False,
        unless_marked_since: float | None = None,
    ) -> float:
        """Write the observed ``state``; returns the time written as ``since``. With
        ``unless_marked_since``, a Failed mark here from that time on is left as it is."""
        now = self.wall()

        def change(st: ResourceStatus | None) -> ResourceStatus | None:
            st = st or ResourceStatus()
            if (
                unless_marked_since is not None
                and st.state is ResourceState.FAILED
                and st.node == self.node
                and st.since >= unless_marked_since
            ):
                return None
            return replace(
                st,
                state=state,
                node=self.node,
                since=st.since if keep_since else now,
                restarts=() if reset_restarts else st.restarts,
            )

        update_doc(
            self.store,
            self.keys.state("resources", name),
            ResourceStatus,
            change,
            extra_compares=[self.lease_guard()],
        )
        return now

    # -- monitoring -----------------------------------------------------------------------
    def _monitor(self) -> None:
        pause = 0.05
        while not self._stop.wait(pause):
            now = self.clock()
            due = [min(r.next_looks, r.next_is) for r in list(self.running.values())]
            # Sleep until the next check is due (new resources are picked up within 1 s).
            pause = min(1.0, max(0.01, min(due, default=now + 1.0) - now))
            for name, run in list(self.running.items()):
                if self.local.get(name) is not ResourceState.ONLINE:
                    continue
                try:
                    if now >= run.next_is:
                        run.schedule(now)
                        ok = run.agent.is_alive()
                    elif now >= run.next_looks:
                        run.next_looks = now + run.looks_every
                        # WSFC: a failed LooksAlive is confirmed by IsAlive at once.
                        ok = run.agent.looks_alive() or run.agent.is_alive()
                    else:
                        continue
                except WolfpackError as exc:
                    self.log("resource_check_failed", resource=name, **error_fields(exc))
                    ok = False
                if not ok:
                    self._on_agent_failure(name, "health check failed")

    def _adopt_or_clean(self) -> None:
        """After a daemon restart: re-adopt what we started and still runs; report the rest;
        then end every leftover of before (M7) that no adopted resource owns."""
        snap = self.reader.read().snapshot
        kept: set[str] = set()
        for res in snap.config.resources.values():
            st = snap.resource(res.name)
            rtype = snap.config.types.get(res.type)
            if st.node != self.node or rtype is None:
                continue
            try:
                agent = create_agent(effective_resource(snap.config, res), rtype, self.context)
                adopted = agent.adopt()
            except WolfpackError:
                adopted = False
            if adopted and st.state is ResourceState.ONLINE:
                run = _Running(
                    agent,
                    _interval(res.looks_alive_ms, rtype.looks_alive_ms),
                    _interval(res.is_alive_ms, rtype.is_alive_ms),
                )
                run.schedule(self.clock())
                self.running[res.name] = run
                self.local[res.name] = ResourceState.ONLINE
                kept.add(res.name)
                self.log("resource_adopted", resource=res.name)
                continue
            if adopted:
                agent.stop(timeout_s=10)
            if st.state is not ResourceState.FAILED and st.state is not ResourceState.OFFLINE:
                self._report(res.name, ResourceState.OFFLINE)
        self._clean_leftovers(snap, kept)

    def _clean_leftovers(self, snap: Snapshot, kept: set[str]) -> None:
        """M7: a cgroup, ``:wp`` address or mount left by an earlier daemon whose resource
        is not adopted here (its status names another node, it is no longer configured, it
        is not Online here, or it could not be adopted) is killed, removed or unmounted, in
        that order (processes keep mounts busy), and logged as ``leftover_cleaned``."""
        held = Holdings(self.context.run_dir)
        confine = self.context.confine
        if confine is not None:  # a cgroup of our subtree nobody recorded is ours anyway
            known = {h.fields.get("path") for h in held.entries((CGROUP,))}
            known |= {str(g.path) for r in kept if (g := confine.cgroup(r)) is not None}
            for group in confine.cgroups():
                if str(group.path) not in known:
                    ok = group.kill_and_remove()
                    self.log(
                        "leftover_cleaned" if ok else "leftover_clean_failed",
                        what=f"cgroup {group.path}",
                        kind=CGROUP,
                        why="an unrecorded cgroup of this node's subtree",
                    )
        for holding in held.entries():
            if holding.resource in kept:
                continue
            why = _leftover_why(snap, holding.resource, self.node)
            failure = held.release(holding)
            self.log(
                "leftover_cleaned" if failure is None else "leftover_clean_failed",
                what=holding.describe(),
                kind=holding.kind,
                resource=holding.resource,
                why=why,
                **({"error": failure} if failure else {}),
            )


def _leftover_why(snap: Snapshot, name: str, node: str) -> str:
    if name not in snap.config.resources:
        return "the resource is no longer configured"
    st = snap.resource(name)
    if st.node != node:
        return f"its status names {st.node}" if st.node else "its status names no node"
    if st.state is not ResourceState.ONLINE:
        return f"it is {st.state} here, not Online"
    return "it is Online here but could not be adopted"


def _interval(own_ms: int | None, type_ms: int) -> float:
    return (own_ms if own_ms is not None else type_ms) / 1000.0


def _is_marked(snap: Snapshot, name: str, node: str) -> bool:
    st = snap.resource(name)
    return st.state is ResourceState.FAILED and st.node == node
