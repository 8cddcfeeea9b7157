"""What each action writes to the cluster's status documents, as pure changes.

The executor applies these changes to etcd (each one a guarded read-modify-write); the
scenario runner applies the very same changes to the snapshot to show what every node does
next. So the plan is a contract with one reading: the executor interprets nothing, and the
nodes' order and the policy's order are checked together.

Fencing, request outcomes and the configuration change of CHANGE_GROUP are not status
documents; the executor does those itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from wolfpack.model.plan import Action, ActionKind, Plan
from wolfpack.model.snapshot import (
    GroupStatus,
    ResourceStatus,
    Snapshot,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import ResourceState, Wanted

HISTORY = 64  # failover and restart times kept per object

GroupChange = Callable[[GroupStatus | None], GroupStatus | None]
ResourceChange = Callable[[ResourceStatus | None], ResourceStatus | None]


@dataclass(frozen=True)
class GroupWrite:
    group: str
    change: GroupChange  # None from it: leave the document as it is


@dataclass(frozen=True)
class ResourceWrite:
    resource: str
    change: ResourceChange


Write = GroupWrite | ResourceWrite


def writes(action: Action, now: float) -> list[Write]:
    """The status changes ``action`` stands for (none for a forecast)."""
    if action.forecast:
        return []
    make = _WRITERS.get(action.kind)
    return make(action, now) if make is not None else []


def apply_plan(snap: Snapshot, decided: Plan, now: float) -> Snapshot:
    """``snap`` as it reads once every write of ``decided`` is done (for the scenarios)."""
    groups = dict(snap.groups)
    resources = dict(snap.resources)
    for action in decided.actions:
        for w in writes(action, now):
            if isinstance(w, GroupWrite):
                new_group = w.change(groups.get(w.group))
                if new_group is not None:
                    groups[w.group] = new_group
            else:
                new_res = w.change(resources.get(w.resource))
                if new_res is not None:
                    resources[w.resource] = new_res
    return replace(snap, groups=groups, resources=resources)


def _place(action: Action, now: float) -> list[Write]:
    assert action.node is not None
    node = action.node
    transition = Transition(
        action.transition or TransitionKind.PLACE,
        node,
        action.source,
        now,
        code=str(action.reason.code),
        why=action.reason.message,
        requested=action.requested,
    )

    def place(st: GroupStatus | None) -> GroupStatus:
        st = st or GroupStatus()
        failovers = (*st.failovers, now)[-HISTORY:] if action.counted else st.failovers
        return replace(
            st,
            owner=node,
            transition=transition,
            failovers=failovers,
            failovers_total=st.failovers_total + 1 if action.counted else st.failovers_total,
            wanted=action.group_wanted or st.wanted,
            failed_over_limit=False,
        )

    return [GroupWrite(action.subject, place), *_resources_wanted(action)]


def _record_wanted(action: Action, now: float) -> list[Write]:
    """START_GROUP / STOP_GROUP: the persistent states an administrator asked for. Bringing
    a group online clears a failover limit."""
    wanted = action.group_wanted
    out: list[Write] = []
    if wanted is not None:

        def record(st: GroupStatus | None) -> GroupStatus:
            st = st or GroupStatus()
            limit = st.failed_over_limit and wanted is not Wanted.ONLINE
            return replace(st, wanted=wanted, failed_over_limit=limit)

        out.append(GroupWrite(action.subject, record))
    return out + _resources_wanted(action)


def _resources_wanted(action: Action) -> list[Write]:
    wanted = action.resources_wanted
    if wanted is None:
        return []

    def record(st: ResourceStatus | None) -> ResourceStatus:
        return replace(st or ResourceStatus(), wanted=wanted)

    return [ResourceWrite(name, record) for name in action.resources]


def _grant_restarts(action: Action, now: float) -> list[Write]:
    """Once per failure: the grant names the failure it is for, and its time (by the
    coordinator's clock) joins the restart history the threshold counts."""

    def grant(st: ResourceStatus | None) -> ResourceStatus | None:
        if st is None or st.state is not ResourceState.FAILED or st.restart_granted:
            return None
        return replace(
            st,
            granted=st.failures,
            restarts=(*st.restarts, now)[-HISTORY:],
            restarts_total=st.restarts_total + 1,
        )

    return [ResourceWrite(name, grant) for name in action.resources]


def _request_failures(action: Action, now: float) -> list[Write]:
    """H1: a request to the owner, which terminates the resource and reports Failed."""

    def ask(st: ResourceStatus | None) -> ResourceStatus | None:
        if st is None or st.node != action.node or st.fail_requested:
            return None
        if st.state not in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING):
            return None
        return replace(st, fail_requested=now)

    return [ResourceWrite(name, ask) for name in action.resources]


def _stamp_pending(action: Action, now: float) -> list[Write]:
    """M1: a pending timeout runs from here, by the coordinator's clock."""

    def stamp(st: ResourceStatus | None) -> ResourceStatus | None:
        if st is None or st.node != action.node or not st.state.pending or st.pending_seen:
            return None
        return replace(st, pending_seen=now)

    return [ResourceWrite(name, stamp) for name in action.resources]


def _group_failed(action: Action, now: float) -> list[Write]:
    def failed(st: GroupStatus | None) -> GroupStatus:
        return replace(st or GroupStatus(), failed_over_limit=True, transition=None)

    return [GroupWrite(action.subject, failed)]


def _complete_transition(action: Action, now: float) -> list[Write]:
    """The group is Online where its transition took it; a failover's duration (both ends
    by a coordinator's clock) is kept for the metrics."""

    def complete(st: GroupStatus | None) -> GroupStatus:
        st = st or GroupStatus()
        done = st.transition
        if done is None or done.kind is not TransitionKind.FAILOVER:
            return replace(st, transition=None)
        took = max(0.0, now - done.started)
        return replace(st, transition=None, last_failover_at=now, last_failover_s=took)

    return [GroupWrite(action.subject, complete)]


def _mark_offline(action: Action, now: float) -> list[Write]:
    """A resource still reported by a node that runs nothing is Offline; a status that has
    moved on since the plan (another node claimed it, the node reported again) is left."""

    def mark(st: ResourceStatus | None) -> ResourceStatus | None:
        if st is None or st.node != action.node or not st.state.active:
            return None
        return replace(
            st, state=ResourceState.OFFLINE, since=now, fail_requested=0.0, pending_seen=0.0
        )

    return [ResourceWrite(name, mark) for name in action.resources]


_WRITERS: dict[ActionKind, Callable[[Action, float], list[Write]]] = {
    ActionKind.PLACE_GROUP: _place,
    ActionKind.START_GROUP: _record_wanted,
    ActionKind.STOP_GROUP: _record_wanted,
    ActionKind.RESTART_RESOURCES: _grant_restarts,
    ActionKind.FAIL_RESOURCES: _request_failures,
    ActionKind.STAMP_PENDING: _stamp_pending,
    ActionKind.GROUP_FAILED: _group_failed,
    ActionKind.COMPLETE_TRANSITION: _complete_transition,
    ActionKind.MARK_OFFLINE: _mark_offline,
}
