"""The lifetime counters behind ``wolfpack_group_failovers_total``,
``wolfpack_group_last_failover_duration_seconds`` and ``wolfpack_resource_restarts_total``
(issue 13 item 4): written by the same pure status changes the executor applies."""

from __future__ import annotations

from dataclasses import replace

from wolfpack.model.plan import Action, ActionKind, Code, Reason
from wolfpack.model.snapshot import GroupStatus, ResourceStatus, TransitionKind
from wolfpack.model.states import ResourceState
from wolfpack.policy.writes import HISTORY, GroupWrite, ResourceWrite, writes

WHY = Reason(Code.FAILOVER_NODE_DOWN, "test")


def group_after(action: Action, st: GroupStatus | None, now: float) -> GroupStatus:
    [w] = [w for w in writes(action, now) if isinstance(w, GroupWrite)]
    out = w.change(st)
    assert out is not None
    return out


def failover(node: str) -> Action:
    return Action(
        ActionKind.PLACE_GROUP,
        "Web",
        WHY,
        node=node,
        transition=TransitionKind.FAILOVER,
        counted=True,
    )


def test_failovers_total_outlives_the_trimmed_history() -> None:
    st: GroupStatus | None = None
    for i in range(HISTORY + 6):
        st = group_after(failover(f"node{i % 2 + 1}"), st, 1000.0 + i)
    assert st is not None
    assert len(st.failovers) == HISTORY  # the threshold's history is trimmed ...
    assert st.failovers_total == HISTORY + 6  # ... the counter is not


def test_a_move_is_not_a_failover() -> None:
    move = Action(ActionKind.PLACE_GROUP, "Web", WHY, node="node2", transition=TransitionKind.MOVE)
    st = group_after(move, GroupStatus(failovers_total=2), 1000.0)
    assert st.failovers_total == 2 and st.owner == "node2"


def test_a_completed_failover_records_its_duration() -> None:
    st = group_after(failover("node2"), GroupStatus(owner="node1"), 1000.0)
    done = group_after(Action(ActionKind.COMPLETE_TRANSITION, "Web", WHY), st, 1003.5)
    assert done.transition is None
    assert (done.last_failover_at, done.last_failover_s) == (1003.5, 3.5)
    # the end of a later move keeps the last failover's figures
    assert st.transition is not None
    moved = replace(done, transition=replace(st.transition, kind=TransitionKind.MOVE))
    after = group_after(Action(ActionKind.COMPLETE_TRANSITION, "Web", WHY), moved, 2000.0)
    assert (after.last_failover_at, after.last_failover_s) == (1003.5, 3.5)


def test_each_granted_restart_is_counted_once() -> None:
    grant = Action(ActionKind.RESTART_RESOURCES, "Web", WHY, resources=("app",))
    st = ResourceStatus(state=ResourceState.FAILED, node="node1", failures=1)
    [w] = [w for w in writes(grant, 10.0) if isinstance(w, ResourceWrite)]
    once = w.change(st)
    assert once is not None and once.restarts_total == 1
    assert w.change(once) is None  # the same failure is not granted (or counted) twice
    again = w.change(replace(once, failures=2))
    assert again is not None and again.restarts_total == 2


def test_mark_offline_writes_only_the_lost_nodes_own_status() -> None:
    """``mark-offline``: Offline for a status that still names the lost node in an active
    state; a status another node has claimed since the plan, or one already Offline, is
    left as it is (the write is a no-op, never a lost update)."""
    mark = Action(
        ActionKind.MARK_OFFLINE,
        "Web",
        Reason(Code.OFFLINE_ON_LOST_NODE, "test"),
        node="node2",
        resources=("web-app",),
    )
    [w] = writes(mark, 2000.0)
    assert isinstance(w, ResourceWrite) and w.resource == "web-app"
    failed = ResourceStatus(ResourceState.FAILED, node="node2", failures=3, fail_requested=5.0)
    out = w.change(failed)
    assert out == replace(failed, state=ResourceState.OFFLINE, since=2000.0, fail_requested=0.0)
    assert w.change(ResourceStatus(ResourceState.ONLINE_PENDING, node="node1")) is None
    assert w.change(ResourceStatus(ResourceState.OFFLINE, node="node2")) is None
    assert w.change(None) is None
