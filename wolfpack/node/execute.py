"""Carrying out the coordinator's plan: every write guarded by the election token.

The coordinator only writes *decisions* (owners, wanted states, restart grants, fencing
results, request outcomes); the resource managers on the nodes do the starting and stopping
and write what they observe. Writes are idempotent, because the same plan may be made again
on the next tick before its effects are seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from wolfpack.errors import FenceError, StoreError, WolfpackError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.plan import Action, ActionKind, Plan
from wolfpack.model.snapshot import GroupStatus, NodeStatus, Outcome, OutcomeStatus, ResourceStatus
from wolfpack.model.timeline import History, Timeline
from wolfpack.node.fence_check import FenceBasis, FenceOutcome, basis_changed
from wolfpack.node.fencing import FenceAgent, FenceKind
from wolfpack.policy.writes import GroupWrite, writes
from wolfpack.store import Compare, Delete, KeySpace, KeyValue, Put, Store
from wolfpack.store.repository import encode
from wolfpack.store.view import DocChange, update_doc, update_docs

Log = Callable[..., None]
T = TypeVar("T")

FENCE_BACKOFF_FIRST_S = 1.0  # after a failed fence, wait this long, doubling, up to ...
FENCE_BACKOFF_MAX_S = 30.0


class ConfigChange(Protocol):
    """``ClusterDB.update_config``: a configuration change, with more conditions."""

    def __call__(
        self, change: Callable[[ClusterConfig], ClusterConfig], *, guard: Sequence[Compare]
    ) -> object: ...


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
        change_config: ConfigChange,
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
            Put(self.keys.state("nodes", n), encode(st))
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
        decided: Plan,
        now: float,
        read: Mapping[str, KeyValue] | None = None,
    ) -> None:
        """Write what ``decided`` says. Each action says what to write
        (:class:`~wolfpack.model.plan.ActionKind`); forecasts write nothing, and fencing is
        the coordinator's, before the writes (:meth:`fence`, with the plan's basis: M2).
        ``read``: the read of the root the plan was made from; status documents are written
        from it without reading them again, consecutive ones in one transaction, each
        under a compare of its revision (:func:`~wolfpack.store.view.update_docs`), unless
        this plan wrote them already (then from a fresh read). Writes keep the plan's
        order: a request's action, or a configuration change, first writes what is
        gathered before it."""
        written: set[str] = set()
        gathered: dict[str, DocChange[Any]] = {}
        for action in decided.actions:
            if action.kind is ActionKind.FENCE_NODE:
                continue
            if action.intent is None and action.kind is not ActionKind.CHANGE_GROUP:
                for doc in self._doc_changes(action, now):
                    if doc.key in gathered:
                        self._flush(guard, gathered, read, written)
                    if read is None or doc.key in written:
                        self._flush(guard, gathered, read, written)
                        self._update(guard, doc, read, written)
                    else:
                        gathered[doc.key] = doc
                continue
            self._flush(guard, gathered, read, written)
            try:
                self._write(guard, action, now, read, written)
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
        self._flush(guard, gathered, read, written)

    def _flush(
        self,
        guard: Guard,
        gathered: dict[str, DocChange[Any]],
        read: Mapping[str, KeyValue] | None,
        written: set[str],
    ) -> None:
        """Write the gathered status changes from ``read`` (one transaction per hundred)."""
        if not gathered:
            return
        assert read is not None  # only changes from a read are gathered
        update_docs(self.store, list(gathered.values()), read, extra_compares=[guard.compare()])
        written.update(gathered)
        gathered.clear()

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

    def keep_timeline(self, guard: Guard, done: Timeline) -> None:
        """Add a finished transition's timeline to its group's history (bounded)."""
        update_doc(
            self.store,
            self.keys.history(done.group),
            History,
            lambda kept: (kept or History()).kept(done),
            extra_compares=[guard.compare()],
        )

    def _write(
        self,
        guard: Guard,
        action: Action,
        now: float,
        read: Mapping[str, KeyValue] | None = None,
        written: set[str] | None = None,
    ) -> None:
        """The action's status changes (:mod:`wolfpack.policy.writes`), each guarded."""
        if action.kind is ActionKind.CHANGE_GROUP:
            self._change_group(guard, action)
            return
        done = written if written is not None else set()
        for doc in self._doc_changes(action, now):
            self._update(guard, doc, read, done)

    def _doc_changes(self, action: Action, now: float) -> list[DocChange[Any]]:
        out: list[DocChange[Any]] = []
        for w in writes(action, now):
            if isinstance(w, GroupWrite):
                out.append(DocChange(self.keys.state("groups", w.group), GroupStatus, w.change))
            else:
                key = self.keys.state("resources", w.resource)
                out.append(DocChange(key, ResourceStatus, w.change))
        return out

    def _update(
        self,
        guard: Guard,
        doc: DocChange[Any],
        read: Mapping[str, KeyValue] | None,
        written: set[str],
    ) -> None:
        """One guarded status write, from ``read`` unless this plan wrote it already."""
        fresh = read if doc.key not in written else None
        update_doc(
            self.store, doc.key, doc.cls, doc.change, extra_compares=[guard.compare()], read=fresh
        )
        written.add(doc.key)

    def _change_group(self, guard: Guard, action: Action) -> None:
        """L8: guarded by the election token like every other write of the coordinator."""
        resource, target = action.resources[0], action.target
        assert target is not None

        def move(cfg: ClusterConfig) -> ClusterConfig:
            res = replace(cfg.resources[resource], group=target)
            return replace(cfg, resources={**cfg.resources, resource: res})

        self.change_config(move, guard=[guard.compare()])

    def _outcome(self, guard: Guard, intent_id: str, status: str, message: str, code: str) -> None:
        answer = Outcome(intent_id, OutcomeStatus(status), str(code), message)
        self._guarded(
            guard,
            [
                Put(self.keys.outcome(intent_id), encode(answer)),
                Delete(self.keys.intent(intent_id)),
            ],
        )
        self.log("intent_" + status, intent=intent_id, code=str(code), message=message)


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
