"""Carrying out the coordinator's plan: every write guarded by the election token.

The coordinator only writes *decisions* (owners, wanted states, restart grants, fencing
results, request outcomes); the resource managers on the nodes do the starting and stopping
and write what they observe. Writes are idempotent, because the same plan may be made again
on the next tick before its effects are seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from wolfpack.errors import FenceError, StoreError, WolfpackError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig
from wolfpack.model.plan import Action, ActionKind, Code, Plan
from wolfpack.model.snapshot import (
    GroupStatus,
    IntentKind,
    NodeStatus,
    ResourceStatus,
    Snapshot,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.node.fence_check import FenceBasis, FenceOutcome, basis_changed
from wolfpack.node.fencing import FenceAgent, FenceKind
from wolfpack.node.state_io import update_doc
from wolfpack.store import Compare, Delete, KeySpace, Put, Store

Log = Callable[..., None]

_KIND_OF = {
    Code.PLACE_INITIAL: TransitionKind.PLACE,
    Code.ONLINE_REQUESTED: TransitionKind.PLACE,
    Code.FAILOVER_NODE_DOWN: TransitionKind.FAILOVER,
    Code.FAILOVER_RESOURCE_FAILED: TransitionKind.FAILOVER,
    Code.FAILBACK: TransitionKind.FAILBACK,
    Code.MOVE_REQUESTED: TransitionKind.MOVE,
    Code.MOVE_ROLLBACK: TransitionKind.ROLLBACK,
    Code.DRAIN_NODE: TransitionKind.DRAIN,
}
_COUNTED = {Code.FAILOVER_NODE_DOWN, Code.FAILOVER_RESOURCE_FAILED}
_HISTORY = 64  # failover and restart times kept per object
FENCE_BACKOFF_FIRST_S = 1.0  # after a failed fence, wait this long, doubling, up to ...
FENCE_BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class Guard:
    """Writes succeed only while ``key`` (the election key) has create revision ``token``."""

    key: str
    token: int

    def compare(self) -> Compare:
        return Compare(self.key, "create", "==", self.token)


class Executor:
    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        fencer: FenceAgent | None,
        change_config: Callable[[Callable[[ClusterConfig], ClusterConfig]], object],
        *,
        log: Log = lambda event, **fields: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.keys, self.fencer = store, keys, fencer
        self.change_config = change_config
        self.log = log
        self._waiting_for_lease: set[str] = set()
        self.clock = clock
        #: node -> (failed attempts in a row, no new attempt before this monotonic time)
        self._fence_backoff: dict[str, tuple[int, float]] = {}

    # -- node states ----------------------------------------------------------------------
    def write_node_statuses(
        self, guard: Guard, before: Mapping[str, NodeStatus], after: Mapping[str, NodeStatus]
    ) -> None:
        puts = [
            Put(self.keys.state("nodes", n), _json(st))
            for n, st in after.items()
            if before.get(n) != st
        ]
        for name, st in after.items():
            if before.get(name) is not None and before[name].state is not st.state:
                self.log("node_state", node=name, state=str(st.state), fenced=st.fenced)
        if puts:
            self._guarded(guard, puts)

    def _guarded(self, guard: Guard, ops: Sequence[Put | Delete]) -> None:
        if not self.store.txn([guard.compare()], ops).succeeded:
            raise StoreError(f"{guard.key} changed: this node is no longer the coordinator")

    # -- the plan -------------------------------------------------------------------------
    def apply(
        self,
        guard: Guard,
        snap: Snapshot,
        decided: Plan,
        now: float,
        node_leases: Mapping[str, int],
    ) -> set[str]:
        """Carry out ``decided``; returns the nodes fenced in this call."""
        fenced: set[str] = set()
        intents = {i.id: i for i in snap.intents}
        for action in decided.actions:
            if action.kind is ActionKind.FENCE_NODE:
                if self.fence(action.subject, node_leases.get(action.subject, 0)):
                    fenced.add(action.subject)
                continue
            try:
                self._apply_one(guard, snap, action, now, intents)
            except WolfpackError as exc:
                if action.intent is None:
                    raise
                self._outcome(guard, action.intent, "failed", str(exc), type(exc).__name__)
                continue
            if action.intent is not None:
                status = "rejected" if action.kind is ActionKind.REJECT_INTENT else "accepted"
                self._outcome(
                    guard, action.intent, status, action.reason.message, action.reason.code
                )
        return fenced

    def fence(self, node: str, lease: int, basis: FenceBasis | None = None) -> FenceOutcome:
        """Fence ``node`` (on ``lease``; 0: none known) if ``basis``, what the plan saw,
        still holds in etcd right now (M2; without one, only the lease is checked).

        A power fence revokes the lease once the agent confirmed, so the node's groups fail
        over at once. An io fence (``fence_scsi``, ``fence_mpath``) only cuts the node off
        from its disks: its processes and addresses still run, so the lease is kept and its
        groups wait for it to expire (H6)."""
        if self.fencer is None:
            if node not in self._waiting_for_lease:
                self._waiting_for_lease.add(node)
                self.log(
                    "fence_unavailable",
                    node=node,
                    detail="no fence agent configured: waiting for its lease to expire",
                )
            return FenceOutcome.NOT_DONE
        failures, not_before = self._fence_backoff.get(node, (0, 0.0))
        if self.clock() < not_before:
            return FenceOutcome.NOT_DONE  # a failing fence device is not hammered on every tick
        why = _basis_changed(self.store, self.keys, node, lease, basis)
        if why is not None:
            self.log("fence_skipped", node=node, reason=why)
            return FenceOutcome.NOT_DONE
        try:
            self.fencer.fence(node)
        except FenceError as exc:
            delay = min(FENCE_BACKOFF_MAX_S, FENCE_BACKOFF_FIRST_S * 2**failures)
            self._fence_backoff[node] = (failures + 1, self.clock() + delay)
            self.log("fence_failed", node=node, error=str(exc), retry_in_s=delay)
            return FenceOutcome.NOT_DONE
        self._fence_backoff.pop(node, None)
        self._waiting_for_lease.discard(node)
        if self.fencer.kind is FenceKind.IO:
            self.log(
                "fenced_io",
                node=node,
                lease=lease,
                detail="cut off from storage; its groups wait for its lease to expire",
            )
            return FenceOutcome.CUT_OFF
        if lease:
            try:
                self.store.lease_revoke(lease)
            except StoreError as exc:
                self.log("lease_revoke_failed", node=node, error=str(exc))
        self.log("fenced", node=node, lease_revoked=lease)
        return FenceOutcome.POWERED_OFF

    def _apply_one(
        self,
        guard: Guard,
        snap: Snapshot,
        action: Action,
        now: float,
        intents: Mapping[str, object],
    ) -> None:
        kind = action.kind
        intent = intents.get(action.intent or "")
        intent_kind = getattr(intent, "kind", None)
        group = action.subject
        if kind is ActionKind.PLACE_GROUP:
            assert action.node is not None
            counted = action.reason.code in _COUNTED
            transition = Transition(
                _KIND_OF.get(action.reason.code, TransitionKind.PLACE),
                action.node,
                action.source,
                now,
            )

            def place(st: GroupStatus | None) -> GroupStatus:
                st = st or GroupStatus()
                failovers = (*st.failovers, now)[-_HISTORY:] if counted else st.failovers
                return replace(
                    st,
                    owner=action.node,
                    transition=transition,
                    failovers=failovers,
                    wanted=Wanted.ONLINE if action.online else st.wanted,
                    failed_over_limit=False,
                )

            self._group(guard, group, place)
            if intent_kind is IntentKind.ONLINE_GROUP:
                self._resources_wanted(guard, snap, group, None, Wanted.ONLINE)
        elif kind is ActionKind.START_GROUP:
            self._group(
                guard,
                group,
                lambda st: replace(
                    st or GroupStatus(), wanted=Wanted.ONLINE, failed_over_limit=False
                ),
            )
            everything = intent_kind is IntentKind.ONLINE_GROUP  # every resource of the group
            names = None if everything else {n for step in action.steps for n in step}
            self._resources_wanted(guard, snap, group, names, Wanted.ONLINE)
        elif kind is ActionKind.STOP_GROUP:
            if intent_kind is IntentKind.OFFLINE_GROUP:
                self._group(
                    guard, group, lambda st: replace(st or GroupStatus(), wanted=Wanted.OFFLINE)
                )
            elif intent_kind is IntentKind.OFFLINE_RESOURCE:
                names = {n for step in action.steps for n in step}
                self._resources_wanted(guard, snap, group, names, Wanted.OFFLINE)
        elif kind is ActionKind.RESTART_RESOURCES:
            for name in (n for step in action.steps for n in step):
                self._resource(guard, name, lambda st: _grant_restart(st, now))
        elif kind is ActionKind.FAIL_RESOURCES:
            for name in (n for step in action.steps for n in step):
                self._resource(
                    guard,
                    name,
                    lambda st: replace(
                        st or ResourceStatus(),
                        state=ResourceState.FAILED,
                        node=action.node,
                        since=now,
                    ),
                )
        elif kind is ActionKind.GROUP_FAILED:
            self._group(
                guard,
                group,
                lambda st: replace(st or GroupStatus(), failed_over_limit=True, transition=None),
            )
        elif kind is ActionKind.COMPLETE_TRANSITION:
            self._group(guard, group, lambda st: replace(st or GroupStatus(), transition=None))
        elif kind is ActionKind.CHANGE_GROUP:
            resource = action.steps[0][0]
            target = action.target
            assert target is not None

            def move(cfg: ClusterConfig) -> ClusterConfig:
                res = replace(cfg.resources[resource], group=target)
                return replace(cfg, resources={**cfg.resources, resource: res})

            self.change_config(move)

    def _group(
        self, guard: Guard, name: str, change: Callable[[GroupStatus | None], GroupStatus]
    ) -> None:
        update_doc(
            self.store,
            self.keys.state("groups", name),
            GroupStatus,
            change,
            extra_compares=[guard.compare()],
        )

    def _resource(
        self,
        guard: Guard,
        name: str,
        change: Callable[[ResourceStatus | None], ResourceStatus | None],
    ) -> None:
        update_doc(
            self.store,
            self.keys.state("resources", name),
            ResourceStatus,
            change,
            extra_compares=[guard.compare()],
        )

    def _resources_wanted(
        self, guard: Guard, snap: Snapshot, group: str, names: set[str] | None, wanted: Wanted
    ) -> None:
        for res in snap.config.group_resources(group):
            if names is None or res.name in names:
                self._resource(
                    guard, res.name, lambda st: replace(st or ResourceStatus(), wanted=wanted)
                )

    def _outcome(self, guard: Guard, intent_id: str, status: str, message: str, code: str) -> None:
        body = json.dumps(
            {"id": intent_id, "status": status, "code": str(code), "message": message}
        )
        self._guarded(
            guard,
            [
                Put(self.keys.outcome(intent_id), body.encode()),
                Delete(self.keys.intent(intent_id)),
            ],
        )
        self.log("intent_" + status, intent=intent_id, code=str(code), message=message)


def _grant_restart(st: ResourceStatus | None, now: float) -> ResourceStatus | None:
    """Grant once per failure: a restart time newer than the failure is the grant."""
    if st is None or st.state is not ResourceState.FAILED:
        return None
    if st.restart_granted:
        return None
    return replace(st, restarts=(*st.restarts, now)[-_HISTORY:])


def _json(status: NodeStatus) -> bytes:
    return json.dumps(codec.dump(status)).encode()


def _basis_changed(
    store: Store, keys: KeySpace, node: str, lease: int, basis: FenceBasis | None
) -> str | None:
    """Why the fence must not run now (None: it may). Without the plan's full basis, at
    least the target must still be on the lease it was judged on."""
    if basis is not None:
        return basis_changed(store, basis)
    if lease:
        kv = store.get(keys.node_lease(node))
        if kv is None or kv.lease != lease:
            return "it is no longer on the lease it was judged on"
    return None
