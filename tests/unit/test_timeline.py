"""The failover timeline (issue 12 item 1): assembled from the statuses the cluster already
writes (resource trails, how the old owner went Down and was fenced, the decision record),
pure and exact. S30/S39: failover and move are what it times."""

from __future__ import annotations

import json
from dataclasses import replace

from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig, Group, Node, Resource
from wolfpack.model.plan import Action, ActionKind, Code, Plan, Reason
from wolfpack.model.snapshot import (
    TRAIL,
    GroupStatus,
    Mark,
    NodeStatus,
    ResourceStatus,
    Snapshot,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.model.timeline import (
    KEEP,
    Ending,
    History,
    Phase,
    Timeline,
    assemble,
    current,
    document,
    finished,
    history_document,
    milestones,
    segments,
)
from wolfpack.model.views import Silence
from wolfpack.node.liveness import Evidence, node_statuses
from wolfpack.policy.writes import apply_plan

S = ResourceState
CFG = ClusterConfig(
    nodes={f"n{i}": Node(f"n{i}", i) for i in (1, 2, 3)},
    groups={"Web": Group("Web", preferred_owners=("n1", "n2"))},
    resources={
        "ip": Resource("ip", "IP Address", "Web"),
        "app": Resource("app", "Generic Application", "Web", dependencies=(("ip",),)),
    },
)
T0 = 1_000.0  # the decision


def trail(*marks: tuple[ResourceState, str, float]) -> tuple[Mark, ...]:
    return tuple(Mark(*m) for m in marks)


def snap(
    transition: Transition,
    trails: dict[str, tuple[Mark, ...]],
    nodes: dict[str, NodeStatus] | None = None,
) -> Snapshot:
    return Snapshot(
        config=CFG,
        nodes=nodes or {n: NodeStatus(NodeState.UP) for n in CFG.nodes},
        groups={"Web": GroupStatus(owner=transition.target, transition=transition)},
        resources={
            name: ResourceStatus(S.ONLINE, transition.target, trail=marks)
            for name, marks in trails.items()
        },
    )


POWER_OFF = Transition(
    TransitionKind.FAILOVER, "n2", "n1", T0, code=str(Code.FAILOVER_NODE_DOWN), why="n1 down"
)
N1_DOWN = NodeStatus(
    NodeState.DOWN,
    since=T0 - 0.3,
    fenced=True,
    down_by="heartbeats",
    last_heard={"private": T0 - 1.0, "public": T0 - 0.98},
    fence_started=T0 - 0.2,
    fenced_at=T0 - 0.1,
    fenced_by="fence agent",
)


def power_off_snapshot() -> Snapshot:
    return snap(
        POWER_OFF,
        {
            # the previous transition's marks (n1 took it from n2): not this one's
            "ip": trail((S.OFFLINE, "n2", T0 - 90), (S.ONLINE_PENDING, "n2", T0 + 0.05)),
            "app": trail((S.ONLINE_PENDING, "n2", T0 + 0.1), (S.ONLINE, "n2", T0 + 0.6)),
        },
        nodes={"n1": N1_DOWN, "n2": NodeStatus(NodeState.UP), "n3": NodeStatus(NodeState.UP)},
    )


def phases(tl: Timeline) -> list[tuple[str, str, str]]:
    return [(str(e.phase), e.node, e.resource) for e in tl.events]


def test_power_off_timeline_has_every_phase_in_order_on_the_right_nodes() -> None:
    tl = assemble(power_off_snapshot(), "Web", POWER_OFF, Ending.COMPLETE, T0 + 0.7)
    assert phases(tl) == [
        ("last-heard", "n1", ""),
        ("last-heard", "n1", ""),
        ("detected", "n1", ""),
        ("fencing", "n1", ""),
        ("fenced", "n1", ""),
        ("decided", "", ""),
        ("starting", "n2", "ip"),
        ("starting", "n2", "app"),
        ("online", "n2", "app"),
        ("complete", "n2", ""),
    ]
    times = [e.at for e in tl.events]
    assert times == sorted(times)
    assert tl.events[0].detail == "on private" and tl.events[1].detail == "on public"
    assert "silent on every heartbeat path" in tl.events[2].detail
    assert tl.events[4].detail == "the fence agent confirmed"
    assert "FAILOVER_NODE_DOWN" in tl.events[5].detail


def test_phase_durations_run_between_consecutive_milestones() -> None:
    tl = assemble(power_off_snapshot(), "Web", POWER_OFF, Ending.COMPLETE, T0 + 0.7)
    assert milestones(tl) == [
        ("detected", T0 - 0.3),
        ("fenced", T0 - 0.1),
        ("decided", T0),
        ("starting", T0 + 0.05),  # the first start
        ("online", T0 + 0.6),  # the last resource online
    ]
    assert segments(milestones(tl)) == {
        "detected_to_fenced": 0.2,
        "fenced_to_decided": 0.1,
        "decided_to_starting": 0.05,
        "starting_to_online": 0.55,
    }
    doc = document(tl)
    assert doc["phases_ms"] == {
        "detected_to_fenced": 200,
        "fenced_to_decided": 100,
        "decided_to_starting": 50,
        "starting_to_online": 550,
    }
    assert doc["milestones"] == {
        "detected": T0 - 0.3,
        "fenced": T0 - 0.1,
        "decided": T0,
        "starting": T0 + 0.05,
        "online": T0 + 0.6,
    }
    assert doc["duration_ms"] == 1700  # from the first heartbeat missed to complete
    assert [e["offset_ms"] for e in doc["events"]][:3] == [0, 20, 700]
    assert [e["step_ms"] for e in doc["events"]][:3] == [0, 20, 680]
    assert doc["ending"] == "complete" and doc["source"] == "n1" and doc["target"] == "n2"


def test_move_timeline_runs_from_the_request_through_offline_on_the_old_node() -> None:
    move = Transition(
        TransitionKind.MOVE, "n2", "n1", T0, code=str(Code.MOVE_REQUESTED), requested=T0 - 0.05
    )
    tl = assemble(
        snap(
            move,
            {
                "app": trail(
                    (S.OFFLINE_PENDING, "n1", T0 + 0.01),
                    (S.OFFLINE, "n1", T0 + 0.05),
                    (S.ONLINE_PENDING, "n2", T0 + 0.2),
                    (S.ONLINE, "n2", T0 + 0.5),
                ),
                "ip": trail(
                    (S.OFFLINE_PENDING, "n1", T0 + 0.06),
                    (S.OFFLINE, "n1", T0 + 0.1),
                    (S.ONLINE_PENDING, "n2", T0 + 0.12),
                    (S.ONLINE, "n2", T0 + 0.15),
                ),
            },
        ),
        "Web",
        move,
    )
    assert phases(tl) == [
        ("requested", "", ""),
        ("decided", "", ""),
        ("stopping", "n1", "app"),
        ("offline", "n1", "app"),
        ("stopping", "n1", "ip"),
        ("offline", "n1", "ip"),
        ("starting", "n2", "ip"),
        ("online", "n2", "ip"),
        ("starting", "n2", "app"),
        ("online", "n2", "app"),
    ]
    assert tl.ending is Ending.IN_PROGRESS  # not finished: no "complete"
    assert segments(milestones(tl)) == {
        "requested_to_decided": 0.05,
        "decided_to_offline": 0.1,  # the last resource offline on the old node
        "offline_to_starting": 0.02,
        "starting_to_online": 0.38,
    }


def test_resource_failure_is_the_detection_of_its_failover() -> None:
    failover = Transition(
        TransitionKind.FAILOVER, "n2", "n1", T0, code=str(Code.FAILOVER_RESOURCE_FAILED)
    )
    tl = assemble(
        snap(
            failover,
            {
                "app": trail((S.FAILED, "n1", T0 - 0.02), (S.ONLINE_PENDING, "n2", T0 + 0.2)),
                "ip": trail((S.OFFLINE_PENDING, "n1", T0 + 0.01), (S.OFFLINE, "n1", T0 + 0.03)),
            },
        ),
        "Web",
        failover,
    )
    assert phases(tl)[:2] == [("detected", "n1", "app"), ("decided", "", "")]
    assert tl.events[0].detail == "failed on n1"
    # the same Failed mark before a move is history, not this move's detection
    move = replace(failover, kind=TransitionKind.MOVE, code=str(Code.MOVE_REQUESTED))
    moved = assemble(
        snap(move, {"app": trail((S.FAILED, "n1", T0 - 0.02), (S.ONLINE_PENDING, "n2", T0))}),
        "Web",
        move,
    )
    assert Phase.DETECTED not in {e.phase for e in moved.events}


def test_old_owner_that_went_down_after_the_decision_is_no_detection_of_it() -> None:
    """A node that went Down later (its own failure, after a move from it) is another story."""
    later = replace(N1_DOWN, since=T0 + 30)
    tl = assemble(
        snap(POWER_OFF, {}, nodes={"n1": later, "n2": NodeStatus(NodeState.UP)}), "Web", POWER_OFF
    )
    assert [e.phase for e in tl.events] == [Phase.DECIDED]


def test_marks_long_before_the_decision_are_left_out() -> None:
    tl = assemble(
        snap(POWER_OFF, {"app": trail((S.ONLINE_PENDING, "n2", T0 - 3600))}), "Web", POWER_OFF
    )
    assert [e.phase for e in tl.events] == [Phase.DECIDED]


def test_a_path_silent_long_before_is_named_not_timed() -> None:
    node = replace(N1_DOWN, last_heard={"private": T0 - 4000, "public": T0 - 1.0})
    tl = assemble(snap(POWER_OFF, {}, nodes={"n1": node}), "Web", POWER_OFF)
    heard = [e.detail for e in tl.events if e.phase is Phase.LAST_HEARD]
    assert heard == ["on public"]
    detected = next(e for e in tl.events if e.phase is Phase.DETECTED)
    assert "private silent long before" in detected.detail


# -- the trail the nodes write ------------------------------------------------------------


def test_leaving_online_starts_a_new_trail_and_a_repeat_adds_nothing() -> None:
    st = ResourceStatus(S.ONLINE, "n1", trail=trail((S.ONLINE, "n1", 1.0)))
    assert st.marked(S.OFFLINE_PENDING, "n1", 2.0) == trail((S.OFFLINE_PENDING, "n1", 2.0))
    # a new owner claims it from a status still Online on a dead node: a new trail too
    assert st.marked(S.ONLINE_PENDING, "n2", 3.0) == trail((S.ONLINE_PENDING, "n2", 3.0))
    pending = ResourceStatus(S.OFFLINE_PENDING, "n1", trail=trail((S.OFFLINE_PENDING, "n1", 2.0)))
    assert pending.marked(S.OFFLINE, "n1", 2.5) == trail(
        (S.OFFLINE_PENDING, "n1", 2.0), (S.OFFLINE, "n1", 2.5)
    )
    assert pending.marked(S.OFFLINE_PENDING, "n1", 9.0) == pending.trail


def test_a_trail_is_bounded() -> None:
    st = ResourceStatus(S.FAILED, "n1")
    for i in range(3 * TRAIL):
        state = S.FAILED if i % 2 else S.ONLINE_PENDING
        st = replace(st, state=state, trail=st.marked(state, "n1", float(i)))
    assert len(st.trail) == TRAIL
    assert st.trail[-1].at == float(3 * TRAIL - 1)


def test_trail_and_history_survive_the_codec() -> None:
    st = ResourceStatus(S.ONLINE, "n2", trail=trail((S.ONLINE_PENDING, "n2", 1.5)))
    data = json.loads(json.dumps(codec.dump(st)))
    assert data["trail"] == [["OnlinePending", "n2", 1.5]]
    assert codec.parse(ResourceStatus, data) == st
    tl = assemble(power_off_snapshot(), "Web", POWER_OFF, Ending.COMPLETE, T0 + 1)
    kept = History((tl,))
    assert codec.parse(History, json.loads(json.dumps(codec.dump(kept)))) == kept


# -- what the coordinator keeps -----------------------------------------------------------


def reason(code: Code) -> Reason:
    return Reason(code, "")


def test_finished_transitions_are_those_the_plan_ends() -> None:
    base = power_off_snapshot()
    other = Transition(TransitionKind.MOVE, "n3", "n2", T0 + 5)
    two = replace(
        base,
        config=replace(CFG, groups={**CFG.groups, "Sql": Group("Sql"), "Idle": Group("Idle")}),
        groups={**base.groups, "Sql": GroupStatus(owner="n3", transition=other)},
    )
    decided = Plan(
        (
            Action(ActionKind.COMPLETE_TRANSITION, "Web", reason(Code.TRANSITION_COMPLETE)),
            Action(ActionKind.PLACE_GROUP, "Sql", reason(Code.MOVE_ROLLBACK), node="n2"),
            Action(ActionKind.PLACE_GROUP, "Idle", reason(Code.PLACE_INITIAL), node="n1"),
            Action(ActionKind.FENCE_NODE, "n1", reason(Code.FENCE_NODE), node="n1"),
        )
    )
    done = {t.group: t for t in finished(two, decided, T0 + 9)}
    assert set(done) == {"Web", "Sql"}  # Idle had no transition to end
    assert done["Web"].ending is Ending.COMPLETE and done["Web"].ended == T0 + 9
    assert done["Sql"].ending is Ending.SUPERSEDED
    assert done["Sql"].events[-1].phase is Phase.ABANDONED
    forecast = Plan((replace(decided.actions[0], forecast=True),))
    assert finished(two, forecast, T0 + 9) == []


def test_the_kept_history_is_bounded_and_a_rewrite_replaces() -> None:
    tl = assemble(power_off_snapshot(), "Web", POWER_OFF, Ending.COMPLETE, T0 + 1)
    history = History()
    for i in range(KEEP + 5):
        history = history.kept(replace(tl, decided=float(i)))
    assert len(history.timelines) == KEEP
    assert history.timelines[0].decided == 5.0 and history.timelines[-1].decided == KEEP + 4
    again = history.kept(replace(tl, decided=float(KEEP + 4), ended=99.0))
    assert len(again.timelines) == KEEP and again.timelines[-1].ended == 99.0


def test_history_document_has_the_one_under_way_and_the_kept_newest_first() -> None:
    s = power_off_snapshot()
    older = assemble(s, "Web", replace(POWER_OFF, started=1.0), Ending.COMPLETE, 2.0)
    newer = assemble(s, "Web", replace(POWER_OFF, started=5.0), Ending.COMPLETE, 6.0)
    doc = history_document(s, "Web", (older, newer))
    assert doc["current"]["ending"] == "in-progress"
    assert [t["decided"] for t in doc["timelines"]] == [5.0, 1.0]
    idle = replace(s, groups={"Web": GroupStatus(owner="n2")})
    assert current(idle, "Web") is None
    assert history_document(idle, "Web", ())["current"] is None


def test_the_decision_records_its_reason_and_request_time() -> None:
    """writes._place puts the decision record in the group's transition."""
    move = Action(
        ActionKind.PLACE_GROUP,
        "Web",
        Reason(Code.MOVE_REQUESTED, "move from n1 to n2 as requested"),
        node="n2",
        source="n1",
        transition=TransitionKind.MOVE,
        requested=T0 - 0.5,
    )
    after = apply_plan(power_off_snapshot(), Plan((move,)), T0)
    t = after.group("Web").transition
    assert t is not None
    assert (t.code, t.why, t.requested, t.started) == (
        "MOVE_REQUESTED",
        "move from n1 to n2 as requested",
        T0 - 0.5,
        T0,
    )


# -- how the coordinator found the old owner Down -------------------------------------------

LEASES = {"n1": 101, "n2": 102, "n3": 103}
GONE = Silence(revision=10, elapsed_s=1.0)


def tick(
    previous: dict[str, NodeStatus],
    leased: set[str],
    now: float,
    fences: dict[str, tuple[float, float]] | None = None,
) -> dict[str, NodeStatus]:
    heard = {"n1", "n3"}
    evidence = Evidence(
        {n: LEASES[n] for n in leased},
        frozenset(heard),
        silence={"n2": GONE},
        grace_s=0.5,
        last_heard={"n2": {"private": now - 0.9, "public": now - 0.8}},
        fences=fences or {},
    )
    return node_statuses(CFG, previous, {}, evidence, "n1", now)


def test_a_node_found_down_keeps_how_and_when_then_its_fence() -> None:
    up = {n: NodeStatus(NodeState.UP, since=1.0, lease=LEASES[n]) for n in LEASES}
    down = tick(up, set(LEASES), 100.0)
    n2 = down["n2"]
    assert (n2.state, n2.fenced, n2.down_by) == (NodeState.DOWN, False, "heartbeats")
    assert n2.last_heard == {"private": 99.1, "public": 99.2}
    # the next tick changes nothing (nothing to write): the facts stay as first found
    assert tick(down, set(LEASES), 100.5)["n2"] == n2
    # fenced by the coordinator's agent, lease revoked: when and how are kept
    fenced = tick(down, {"n1", "n3"}, 101.0, fences={"n2": (100.6, 100.7)})["n2"]
    assert fenced.fenced and (fenced.fence_started, fenced.fenced_at) == (100.6, 100.7)
    assert fenced.fenced_by == "fence agent" and fenced.down_by == "heartbeats"
    assert fenced.last_heard == n2.last_heard and fenced.since == 100.0
    again = tick({**down, "n2": fenced}, {"n1", "n3"}, 200.0, fences={"n2": (100.6, 100.7)})
    assert again["n2"] == fenced
    # back: a new incarnation, the facts of the old one cleared
    back = tick({**down, "n2": fenced}, set(LEASES), 300.0)["n2"]
    assert (back.down_by, back.last_heard, back.fenced_at) == ("", {}, 0.0)


def test_a_lease_that_expires_is_the_detection_and_the_fence() -> None:
    up = {n: NodeStatus(NodeState.UP, since=1.0, lease=LEASES[n]) for n in LEASES}
    gone = tick(up, {"n1", "n3"}, 50.0, fences={"n2": (1.0, 2.0)})["n2"]  # an old fence
    assert (gone.down_by, gone.fenced_by, gone.fenced_at, gone.fence_started) == (
        "lease",
        "lease",
        50.0,
        0.0,
    )
