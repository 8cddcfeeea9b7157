"""The resource manager: makes this node run exactly what the coordinator placed on it.

It loops: read the cluster, ask :func:`wolfpack.policy.local.next_batch` what to do, run
that batch (independent resources in parallel), report states, repeat. Failures reach it at
once from the agents (a supervised process exiting) or from its monitor (LooksAlive at the
resource's interval, IsAlive at its own); a failed resource is terminated and reported
Failed, and the coordinator decides: restart here, or fail the group over.

Never two owners (H2): a start is claimed first, by one transaction that writes Online
Pending only if this node's liveness key, the group's status and the resource's status are
all exactly as in the read the decision was made from. A stale read, or a start queued
behind others while the cluster moved on, starts nothing. Every other report leaves a status
that names another node in an active state alone: that node's word stands.

A node in maintenance (``wolfpack node maintenance``) is unmanaged: the manager starts,
stops and checks nothing, and ignores failures, until the flag is cleared; what it runs is
still adopted at start, so that monitoring resumes on ``wolfpack node resume``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.model.fsm import ResourceEvent, resource_transition
from wolfpack.model.inheritance import effective_resource
from wolfpack.model.snapshot import NodeAdmin, ResourceStatus, Snapshot
from wolfpack.model.states import ResourceState
from wolfpack.node.health import CheckTimes
from wolfpack.node.leftovers import clean_leftovers
from wolfpack.node.running import Running
from wolfpack.node.selffence import run_stops, stop_layers
from wolfpack.policy.local import LocalAction, LocalKind, held_elsewhere, is_active, next_batch
from wolfpack.resources import (
    Agent,
    AgentContext,
    AgentError,
    AgentResult,
    create_agent,
    error_fields,
)
from wolfpack.store import Compare, Put, mod_revision_is
from wolfpack.store.repository import encode
from wolfpack.store.view import ClusterReader, ClusterView, update_doc

Log = Callable[..., None]
RELEASE_RETRY_S = 0.25  # a start refused as busy elsewhere is tried again after this
#: a start that ends after a self-fence waits this long for a stop_everything under way
STALE_STOP_WAIT_S = 5.0
AgentFactory = Callable[[Resource, ResourceType, AgentContext], Agent]


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
        agents: AgentFactory = create_agent,
        checks: CheckTimes | None = None,
    ) -> None:
        self.reader, self.store, self.keys = reader, reader.store, reader.keys
        self.node, self.lease_valid, self.lease_guard = node, lease_valid, lease_guard
        self.context = replace(context, on_failure=self._on_agent_failure)
        self.wall, self.clock, self.log = wall, clock, log
        self.create_agent = agents
        self.checks = checks or CheckTimes()  # health-check latency, for /metrics
        self.local: dict[str, ResourceState] = {}
        self.running: dict[str, Running] = {}
        self.wake = threading.Event()
        self._failures: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="agent")
        self._busy_since: dict[str, float] = {}  # resource -> first start refused as busy
        self._not_before: dict[str, float] = {}  # resource -> no new start before (clock)
        # Self-fencing: each stop_everything starts a new epoch; an agent created in an
        # earlier one (or while the lease was not valid) is stale and stopped by the monitor.
        self._fence_lock = threading.Lock()
        self._fence_epoch = 0
        self._fence_until: float | None = None  # by self.clock: the last fence's deadline
        self._epochs: dict[str, int] = {}  # resource -> epoch its agent was created in
        self._stopping = threading.Lock()  # one stop_everything (or sweep) at a time
        #: this node is in maintenance (its administrator flag, as last read)
        self.maintenance = False

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

    def stop_everything(self, why: str, *, budget_s: float | None = None) -> None:
        """Self-fencing (or shutdown): stop every resource now, without asking anyone.

        Needs no cluster database (no read, no report): it runs when etcd is unreachable.
        Groups stop in parallel, dependents first within each (:mod:`wolfpack.node.selffence`);
        each stop gets what is left of ``budget_s`` (the time before the lease could expire;
        None: the usual stop timeout). Safe while the manager thread is mid-pass: a start
        under way now is stale (an earlier epoch) and the monitor stops it once it returns.
        """
        with self._fence_lock:
            self._fence_epoch += 1
            self._fence_until = None if budget_s is None else self.clock() + budget_s
        with self._stopping:
            self._stop_these(why, list(self.running), self._fence_until)

    def _stop_these(self, why: str, names: list[str], until: float | None) -> None:
        runs = {n: r for n in names if (r := self.running.get(n)) is not None}
        layers = stop_layers({n: r.agent.resource for n, r in runs.items()})
        left = None if until is None else round(until - self.clock(), 3)
        self.log("stop_everything", why=why, resources=sorted(runs), budget_s=left)
        late = run_stops(layers, self._stop_one, until=until, clock=self.clock)
        for name in names:
            if name not in runs:
                self.local.pop(name, None)
        if late:
            self.log("stop_everything_late", resources=late)

    def _stop_one(self, name: str, timeout_s: float) -> None:
        try:
            self._terminate(name, timeout_s=timeout_s)
        except Exception as exc:  # a stop thread must end; the others go on
            self.log("resource_stop_failed", resource=name, error=repr(exc))
            self.running.pop(name, None)
        self.local.pop(name, None)

    def _stale(self, name: str) -> bool:
        return self._epochs.get(name, 0) != self._fence_epoch

    def _sweep(self, wait_s: float = 0.0) -> None:
        """After a self-fence, stop what a start under way at the fence left running, and
        forget local states such a start wrote after its resource was stopped. ``wait_s``:
        how long to wait for a stop_everything under way to end first (0: skip this turn)."""
        if not self._fence_epoch:
            return
        stale = [n for n in list(self.running) if self._stale(n)]
        if stale and self._stopping.acquire(timeout=max(0.0, wait_s)):
            try:
                why = "started before the self-fence, or without a valid lease"
                self._stop_these(why, stale, self._fence_until)
            finally:
                self._stopping.release()
        for name, state in list(self.local.items()):
            if name not in self.running and self._stale(name) and state in _ACTIVE:
                self.local.pop(name, None)

    # -- failures -------------------------------------------------------------------------
    def _on_agent_failure(self, resource: str, why: str) -> None:
        with self._lock:
            self._failures.append((resource, why))
        self.wake.set()

    def _handle_failures(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if not self.lease_valid():
            return  # self-fencing stops everything; a fenced node reports nothing
        for name, why in failures:
            if self.local.get(name) not in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING):
                continue
            self._fail(name, why)

    def _fail(self, name: str, why: str) -> None:
        """Terminate, then say so: a Failed report always means 'no longer running here'."""
        self.log("resource_failed", resource=name, why=why)
        self._terminate(name)
        if name in self.local:  # a request for what no longer runs here is only confirmed
            self._step(name, ResourceEvent.FAILURE)
        self._report(name, ResourceState.FAILED)

    def _step(self, name: str, event: ResourceEvent) -> ResourceState:
        """Change the local state by the life-cycle table (:mod:`wolfpack.model.fsm`): an
        impossible step raises ``IllegalTransition`` here, where it happens."""
        state = resource_transition(self.local.get(name, ResourceState.OFFLINE), event)
        if state is ResourceState.OFFLINE:
            self.local.pop(name, None)
        else:
            self.local[name] = state
        return state

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
            view = self.reader.read()
            if self._in_maintenance(view):
                return
            self._handle_failures()
            self._release_after_fence(view.snapshot)
            batch = next_batch(view.snapshot, self.node, self.local, lease_ok=self.lease_valid())
            now = self.clock()
            batch = [a for a in batch if not self._backing_off(a, now)]
            if not batch:
                return
            list(self._pool.map(self._do, [view] * len(batch), batch))

    def _in_maintenance(self, view: ClusterView) -> bool:
        """Follow this node's maintenance flag; in maintenance, forget failures (the checks
        after it find what is still broken)."""
        now = view.admin.get(self.node, NodeAdmin()).maintenance
        if now != self.maintenance:
            self.maintenance = now
            self.log("maintenance", node=self.node, on=now, resources=sorted(self.running))
        if now:
            with self._lock:
                self._failures.clear()
        return now

    def _release_after_fence(self, snap: Snapshot) -> None:
        """A self-fence reports nothing (no lease), so a start it cut short leaves its claim
        (OnlinePending, naming this node) behind, and the group could then start nowhere
        else (``held_elsewhere``) for good. Once the lease is valid again, such a status of
        a resource that neither runs nor is under way here is reported Offline. Checked
        between passes, when no start of this node's is under way (chaos seed 1, issue 9)."""
        if not self._fence_epoch or not self.lease_valid():
            return
        for name in sorted(snap.resources):
            st = snap.resource(name)
            if (
                st.node == self.node
                and st.state in _ACTIVE
                and name in snap.config.resources
                and name not in self.running
                and self.local.get(name) not in _ACTIVE
            ):
                self._report(name, ResourceState.OFFLINE)
                self.log("resource_released", resource=name, was=st.state.value,
                         why="left active by a self-fence")  # fmt: skip

    def _do(self, view: ClusterView, action: LocalAction) -> None:
        if action.kind is LocalKind.FAIL:
            self._fail(action.resource, action.reason)
        elif action.kind is LocalKind.STOP:
            self._stop_action(view.snapshot, action)
        else:
            self._start_one(view, action)

    def _stop_action(self, snap: Snapshot, action: LocalAction) -> None:
        res = snap.config.resources.get(action.resource)
        name = action.resource
        if not is_active(self.local.get(name)):
            self._take_failed_offline(name, action.reason)
            return
        # OfflinePending already: an earlier stop was cut short (its report raised, etcd
        # unreachable, say); it goes on from there (stepping again is illegal: issue 9)
        if self.local.get(name) is not ResourceState.OFFLINE_PENDING:
            self._step(name, ResourceEvent.TAKE_OFFLINE)
        if res is not None:
            self._report(name, ResourceState.OFFLINE_PENDING)
        self._terminate(name, timeout_s=res.pending_timeout_s if res is not None else 30.0)
        self._step(name, ResourceEvent.STOPPED)
        if res is not None:  # a resource no longer configured has no status to write
            self._report(name, ResourceState.OFFLINE)
        self.log("resource_stopped", resource=name, why=action.reason)

    def _take_failed_offline(self, name: str, why: str) -> None:
        """Offline for a resource Failed here (WSFC): it was terminated when it failed, and
        whatever of it is still held (a half-started agent) is terminated now, before the
        report. The report changes only our own Failed status: once another node claimed
        the resource, or we reported it again, there is nothing to take offline."""
        self._terminate(name)
        if self.local.get(name) is ResourceState.FAILED:
            self._step(name, ResourceEvent.TAKE_OFFLINE)
        self.local.pop(name, None)
        now = self.wall()

        def change(st: ResourceStatus | None) -> ResourceStatus | None:
            if st is None or st.node != self.node or st.state is not ResourceState.FAILED:
                return None
            return replace(st, state=ResourceState.OFFLINE, since=now, pending_seen=0.0)

        update_doc(
            self.store,
            self.keys.state("resources", name),
            ResourceStatus,
            change,
            extra_compares=[self.lease_guard()],
        )
        self.log("resource_stopped", resource=name, why=why, was="Failed")

    def _start_one(self, view: ClusterView, action: LocalAction) -> None:
        snap = view.snapshot
        res = snap.config.resources[action.resource]
        if not self.lease_valid() or not self._claim_start(view, res):
            return
        self._step(res.name, ResourceEvent.BRING_ONLINE)
        try:
            agent = self._agent(snap, res)
            if not self.lease_valid():  # L3: checked again just before the side effect
                raise WolfpackError("the lease is no longer valid: not starting")
            agent.start(timeout_s=res.pending_timeout_s)
        except WolfpackError as exc:
            self._terminate(res.name)
            if self._wait_for_release(res, exc):
                return
            self.log("resource_start_failed", resource=res.name, **error_fields(exc))
            self._step(res.name, ResourceEvent.FAILURE)
            self._report(res.name, ResourceState.FAILED)
            return
        self._busy_since.pop(res.name, None)
        rtype = snap.config.types[res.type]
        self.running[res.name] = Running.online(agent, res, rtype, self.clock())
        if self._stale(res.name):
            # the node self-fenced while this started: stop it now, from this thread (the
            # monitor may be asleep for up to a second, longer than the lease's margin)
            self._sweep(wait_s=STALE_STOP_WAIT_S)
            return
        self._step(res.name, ResourceEvent.STARTED)
        # A failure requested while this start ran stays requested: the next pass carries
        # it out (the report keeps ``fail_requested``).
        self._report(res.name, ResourceState.ONLINE)
        self.log("resource_online", resource=res.name, why=action.reason)

    def _backing_off(self, action: LocalAction, now: float) -> bool:
        return action.kind is LocalKind.START and self._not_before.get(action.resource, 0) > now

    def _wait_for_release(self, res: Resource, exc: WolfpackError) -> bool:
        """A start refused because the old owner still holds the address or the disk is not
        a failure of this node: back off and try again, up to the pending timeout, instead
        of using up the restart and failover budgets in a burst (issue 8, item 8)."""
        if not (isinstance(exc, AgentError) and exc.code is AgentResult.ERR_BUSY):
            return False
        now = self.clock()
        first = self._busy_since.setdefault(res.name, now)
        if now - first >= res.pending_timeout_s:
            self._busy_since.pop(res.name, None)
            return False  # held for longer than a start may take: a failure after all
        self.log("start_waits_for_release", resource=res.name, **error_fields(exc))
        self._step(res.name, ResourceEvent.TAKE_OFFLINE)
        self._step(res.name, ResourceEvent.STOPPED)
        self._report(res.name, ResourceState.OFFLINE)
        self._not_before[res.name] = now + RELEASE_RETRY_S
        timer = threading.Timer(RELEASE_RETRY_S, self.wake.set)
        timer.daemon = True
        timer.start()
        return True

    def _claim_start(self, view: ClusterView, res: Resource) -> bool:
        """H2: write Online Pending only if nothing the decision rests on has changed since
        ``view`` was read — our liveness key (the lease we decided under), the group's status
        (its owner) and the resource's status (nobody else claimed it)."""
        me = self.keys.node_lease(self.node)
        group_key = self.keys.state("groups", res.group)
        key = self.keys.state("resources", res.name)
        token = view.create_revision(me)
        st = view.snapshot.resource(res.name)
        if token == 0 or held_elsewhere(view.snapshot, self.node, res.name):
            return False
        fresh = st.node != self.node
        now = self.wall()
        claimed = replace(
            st,
            state=ResourceState.ONLINE_PENDING,
            node=self.node,
            since=now,
            trail=st.marked(ResourceState.ONLINE_PENDING, self.node, now),
            restarts=() if fresh else st.restarts,
            failures=0 if fresh else st.failures,
            granted=0 if fresh else st.granted,
            fail_requested=0.0,
            pending_seen=0.0,
        )
        compares = [
            Compare(me, "create", "==", token),
            mod_revision_is(group_key, view.mod_revision(group_key)),
            mod_revision_is(key, view.mod_revision(key)),
        ]
        if self.store.txn(compares, [Put(key, encode(claimed))]).succeeded:
            return True
        self.log("start_refused_stale", resource=res.name, revision=view.snapshot.revision)
        self.wake.set()  # read again and decide again
        return False

    def _agent(self, snap: Snapshot, res: Resource) -> Agent:
        rtype = snap.config.types.get(res.type)
        if rtype is None:
            raise WolfpackError(f"resource type {res.type!r} of {res.name!r} is not installed")
        agent = self.create_agent(effective_resource(snap.config, res), rtype, self.context)
        agent.validate()
        with self._fence_lock:  # see stop_everything: a start begun before a fence is stale
            self._epochs[res.name] = self._fence_epoch if self.lease_valid() else -1
        self.running[res.name] = Running(agent)  # so a half-started one can be terminated
        return agent

    def _terminate(self, name: str, timeout_s: float = 10.0) -> None:
        run = self.running.pop(name, None)
        if run is None:
            return
        try:
            run.agent.stop(timeout_s=min(timeout_s, 30.0))
        except WolfpackError as exc:
            self.log("resource_stop_failed", resource=name, **error_fields(exc))

    def _report(self, name: str, state: ResourceState) -> None:
        """Write the observed ``state`` of a resource of this node, guarded by our lease. A
        status naming another node in an active state is that node's to write (H2)."""
        now = self.wall()

        def change(st: ResourceStatus | None) -> ResourceStatus | None:
            st = st or ResourceStatus()
            if st.node not in (None, self.node) and st.state.active:
                return None
            failed = state is ResourceState.FAILED
            return replace(
                st,
                state=state,
                node=self.node,
                since=now,
                trail=st.marked(state, self.node, now),
                failures=st.failures + 1 if failed else st.failures,
                fail_requested=st.fail_requested if state.active and not failed else 0.0,
                pending_seen=0.0,
            )

        update_doc(
            self.store,
            self.keys.state("resources", name),
            ResourceStatus,
            change,
            extra_compares=[self.lease_guard()],
        )

    # -- monitoring -----------------------------------------------------------------------
    def _monitor(self) -> None:
        pause = 0.05
        while not self._stop.wait(pause):
            self._sweep()
            now = self.clock()
            due = [min(r.next_looks, r.next_is) for r in list(self.running.values())]
            # Sleep until the next check is due (new resources are picked up within 1 s;
            # after a self-fence, what a start under way left running within 50 ms).
            pause = min(1.0, max(0.01, min(due, default=now + 1.0) - now))
            if self._fence_epoch and any(self._stale(n) for n in list(self.running)):
                pause = min(pause, 0.05)
            for name, run in list(self.running.items()):
                if self.maintenance or self.local.get(name) is not ResourceState.ONLINE:
                    continue
                try:
                    if now >= run.next_is:
                        run.schedule(now)
                        ok = self.checks.timed(name, "is_alive", run.agent.is_alive)
                    elif now >= run.next_looks:
                        run.next_looks = now + run.looks_every
                        # WSFC: a failed LooksAlive is confirmed by IsAlive at once.
                        ok = self.checks.timed(
                            name, "looks_alive", run.agent.looks_alive
                        ) or self.checks.timed(name, "is_alive", run.agent.is_alive)
                    else:
                        continue
                except WolfpackError as exc:
                    self.log("resource_check_failed", resource=name, **error_fields(exc))
                    ok = False
                if not ok:
                    self._on_agent_failure(name, "health check failed")

    def _adopt_or_clean(self) -> None:
        """After a daemon restart: re-adopt what we started and still runs; report the rest;
        then end every leftover of before (M7) that no adopted resource owns (not in
        maintenance: nothing is stopped then)."""
        view = self.reader.read()
        snap = view.snapshot
        self.maintenance = view.admin.get(self.node, NodeAdmin()).maintenance
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
                self.running[res.name] = Running.online(agent, res, rtype, self.clock())
                self.local[res.name] = ResourceState.ONLINE
                kept.add(res.name)
                self.log("resource_adopted", resource=res.name)
                continue
            if adopted and not self.maintenance:
                agent.stop(timeout_s=10)
            if st.state is not ResourceState.FAILED and st.state is not ResourceState.OFFLINE:
                self._report(res.name, ResourceState.OFFLINE)
        if not self.maintenance:
            clean_leftovers(snap, kept, self.node, self.context, self.log)


_ACTIVE = (ResourceState.ONLINE, ResourceState.ONLINE_PENDING, ResourceState.OFFLINE_PENDING)
