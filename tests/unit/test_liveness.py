"""Node states from leases, heartbeats, published views and fencing (DESIGN §2 safety
invariant, S14; H5: etcd arbitrates heartbeat silence)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wolfpack.model.config import ClusterConfig, Group, Node
from wolfpack.model.plan import ActionKind
from wolfpack.model.snapshot import GroupStatus, NodeStatus, Snapshot
from wolfpack.model.states import NodeState
from wolfpack.model.views import PublishedView, Silence
from wolfpack.node.liveness import (
    Evidence,
    NodeAdmin,
    coordinator_may_be_replaced,
    node_statuses,
)
from wolfpack.policy import plan

CFG = ClusterConfig(nodes={f"n{i}": Node(f"n{i}", i) for i in (1, 2, 3)})
LEASES = {"n1": 101, "n2": 102, "n3": 103}
UP = NodeStatus(NodeState.UP, since=10.0, lease=102)


def up(node: str) -> NodeStatus:
    return NodeStatus(NodeState.UP, since=10.0, lease=LEASES[node])


GONE = Silence(revision=10, elapsed_s=1.0)  # our view without the peer: past the grace


def decide(
    leased: set[str],
    heard: set[str],
    previous: dict[str, NodeStatus] | None = None,
    admin: dict[str, NodeAdmin] | None = None,
    fenced: set[str] | None = None,
) -> dict[str, NodeStatus]:
    """Etcd has nothing from the silent peers since our view without them (past the grace)."""
    silence = {n: GONE for n in LEASES if n not in heard}
    evidence = Evidence(
        {n: LEASES[n] for n in leased},
        frozenset(heard),
        frozenset(fenced or ()),
        silence=silence,
        grace_s=0.5,
    )
    return node_statuses(CFG, previous or {}, admin or {}, evidence, "n1", 100.0)


def test_leased_and_heard_is_up_and_keeps_its_since() -> None:
    out = decide({"n1", "n2", "n3"}, {"n1", "n2", "n3"}, {"n2": UP})
    assert out["n2"] == NodeStatus(NodeState.UP, since=10.0, lease=102)
    assert out["n3"].state is NodeState.UP and out["n3"].since == 100.0


def test_silent_node_that_was_up_is_down_and_not_fenced() -> None:
    out = decide({"n1", "n2", "n3"}, {"n1", "n3"}, {"n2": UP})
    assert out["n2"].state is NodeState.DOWN and not out["n2"].fenced


def test_lease_gone_means_down_and_fenced() -> None:
    out = decide({"n1", "n3"}, {"n1", "n3"}, {"n2": UP})
    assert out["n2"].state is NodeState.DOWN and out["n2"].fenced


def test_confirmed_fence_counts_even_before_the_lease_is_gone() -> None:
    out = decide({"n1", "n2", "n3"}, {"n1", "n3"}, {"n2": UP}, fenced={"n2"})
    assert out["n2"] == NodeStatus(
        NodeState.DOWN,
        since=100.0,
        fenced=True,
        down_by="fence",
        fenced_at=100.0,
        fenced_by="fence agent",
    )


def test_new_lease_not_yet_heard_is_joining_not_down() -> None:
    out = decide({"n1", "n2"}, {"n1"}, {"n2": NodeStatus(NodeState.DOWN, fenced=True)})
    assert out["n2"].state is NodeState.JOINING


def test_unfenced_down_node_stays_down_until_fenced_or_heard() -> None:
    down = NodeStatus(NodeState.DOWN, since=50.0, lease=102)
    out = decide({"n1", "n2", "n3"}, {"n1", "n3"}, {"n2": down})
    assert out["n2"] == down


def test_observer_that_hears_nobody_blames_itself_not_the_others() -> None:
    """One node with broken heartbeat cables must not fence every other node."""
    out = decide({"n1", "n2", "n3"}, {"n1"}, {"n2": up("n2"), "n3": up("n3")})
    assert out["n2"].state is NodeState.UP and out["n3"].state is NodeState.UP


def test_paused_and_draining_come_from_the_administrator() -> None:
    admin = {"n2": NodeAdmin(paused=True), "n3": NodeAdmin(paused=True, draining=True)}
    out = decide({"n1", "n2", "n3"}, {"n1", "n2", "n3"}, admin=admin)
    assert out["n2"].state is NodeState.PAUSED and not out["n2"].draining
    assert out["n3"].state is NodeState.PAUSED and out["n3"].draining


def test_maintenance_is_paused_and_stays_marked_while_down() -> None:
    """Issue 13: a node in maintenance is Paused; its daemon restarting (lease revoked) makes
    it Down, still in maintenance, so the policy neither fences it nor fails it over."""
    admin = {"n2": NodeAdmin(paused=True, maintenance=True), "n3": NodeAdmin(paused=True)}
    out = decide({"n1", "n2", "n3"}, {"n1", "n2", "n3"}, admin=admin)
    assert out["n2"].state is NodeState.PAUSED and out["n2"].maintenance
    assert not out["n3"].maintenance
    down = decide({"n1", "n3"}, {"n1", "n3"}, {"n2": up("n2")}, admin=admin)
    assert down["n2"].state is NodeState.DOWN and down["n2"].maintenance


def test_a_just_started_observer_does_not_take_silence_as_death() -> None:
    """After a full cluster restart the new coordinator has heard nobody yet: a node that
    was Up keeps its state on its lease until the observer has listened a full timeout."""
    evidence = Evidence(LEASES, frozenset({"n1", "n3"}), silence_counts=False)
    out = node_statuses(CFG, {"n2": UP}, {}, evidence, "n1", 100.0)
    assert out["n2"].state is NodeState.UP


def test_a_restarted_node_on_a_new_lease_joins_instead_of_being_fenced() -> None:
    """Its previous incarnation was Up and went silent; the new one is not that node."""
    old = NodeStatus(NodeState.UP, since=10.0, lease=99)
    out = decide({"n1", "n2", "n3"}, {"n1", "n3"}, {"n2": old})
    assert out["n2"].state is NodeState.JOINING and out["n2"].lease == 102


# -- H5: etcd, the quorum, arbitrates heartbeat silence ---------------------------------------


def view(revision: int, *heard: str) -> PublishedView:
    return PublishedView(frozenset(heard), epoch=1, revision=revision)


def judge(
    nodes: tuple[str, ...],
    heard: set[str],
    views: dict[str, PublishedView],
    silence: dict[str, Silence],
    observer: str = "n1",
) -> dict[str, NodeStatus]:
    cfg = ClusterConfig(nodes={n: Node(n, i) for i, n in enumerate(nodes, start=1)})
    previous = {n: up(n) for n in nodes}
    evidence = Evidence(
        {n: LEASES[n] for n in nodes},
        frozenset(heard | {observer}),
        views=views,
        silence=silence,
        grace_s=0.5,
    )
    return node_statuses(cfg, previous, {}, evidence, observer, 100.0)


CASES = {
    # name: (nodes, heard by n1, published views, n1's silence marks, n2's expected state)
    "a: 2 nodes, heartbeats cut both ways, n2 answers in etcd": (
        ("n1", "n2"),
        set(),
        {"n1": view(10), "n2": view(12)},
        {"n2": Silence(10, 5.0)},
        NodeState.UP,
    ),
    "b: 3 nodes, n1 and n2 cannot hear each other, n3 hears both": (
        ("n1", "n2", "n3"),
        {"n3"},
        {"n1": view(10, "n3"), "n2": view(8, "n3"), "n3": view(9, "n1", "n2")},
        {"n2": Silence(10, 5.0)},
        NodeState.UP,
    ),
    "c: powered off: silent, nothing in etcd since, past the grace": (
        ("n1", "n2", "n3"),
        {"n3"},
        {"n1": view(10, "n3"), "n2": view(5, "n1", "n3"), "n3": view(11, "n1")},
        {"n2": Silence(10, 0.6)},
        NodeState.DOWN,
    ),
    "c': powered off, within the grace: not judged yet": (
        ("n1", "n2", "n3"),
        {"n3"},
        {"n1": view(10, "n3"), "n2": view(5, "n1", "n3"), "n3": view(11, "n1")},
        {"n2": Silence(10, 0.3)},
        NodeState.UP,
    ),
    "powered off, but n3 has not said yet that it lost it: wait": (
        ("n1", "n2", "n3"),
        {"n3"},
        {"n1": view(10, "n3"), "n2": view(5, "n1", "n3"), "n3": view(4, "n1", "n2")},
        {"n2": Silence(10, 3.0)},
        NodeState.UP,
    ),
    "our view without it is not in etcd yet: wait": (
        ("n1", "n2"),
        set(),
        {"n1": view(4, "n2"), "n2": view(5, "n1")},
        {},
        NodeState.UP,
    ),
    "powered off in a 2-node cluster": (
        ("n1", "n2"),
        set(),
        {"n1": view(10), "n2": view(5, "n1")},
        {"n2": Silence(10, 0.5)},
        NodeState.DOWN,
    ),
    "the observer hears nobody: its own cables are suspect, leases count": (
        ("n1", "n2", "n3"),
        set(),
        {"n1": view(10), "n2": view(5, "n1", "n3"), "n3": view(6, "n1", "n2")},
        {"n2": Silence(10, 3.0), "n3": Silence(10, 3.0)},
        NodeState.UP,  # the observer hears nobody: deaf, only leases count
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_h5_silence_is_judged_by_etcd(case: str) -> None:
    """H5: a peer silent on every heartbeat path is Down only when etcd agrees it is gone:
    it wrote nothing since our view without it (past the grace), and no node we hear says
    it hears it."""
    nodes, heard, views, silence, expected = CASES[case]
    assert judge(nodes, heard, views, silence)["n2"].state is expected


def test_h5_two_node_heartbeat_cut_fences_nobody_and_fails_nothing_over() -> None:
    """H5 (a): 2 nodes, heartbeats cut both ways, both leased and answering in etcd: the
    coordinator keeps its peer Up, the plan fences nothing and moves nothing; and the peer
    may not end the coordinator's election either."""
    nodes = ("n1", "n2")
    views = {"n1": view(11), "n2": view(12)}  # each wrote after the other lost it
    statuses = judge(nodes, set(), views, {"n2": Silence(10, 5.0)})
    cfg = ClusterConfig(
        nodes={n: Node(n, i) for i, n in enumerate(nodes, start=1)},
        groups={"G": Group("G", preferred_owners=("n2", "n1"))},
    )
    decided = plan(Snapshot(cfg, statuses, {"G": GroupStatus(owner="n2")}), 100.0)
    assert not [a for a in decided.actions if a.kind is ActionKind.FENCE_NODE]
    assert not [a for a in decided.actions if a.kind is ActionKind.PLACE_GROUP]
    leases = {n: LEASES[n] for n in nodes}
    n2_silence = {"n1": Silence(9, 5.0)}  # n2's own view without n1, at revision 9
    assert not coordinator_may_be_replaced("n1", leases, views, n2_silence, 0.5, True)


def test_h5_three_node_asymmetric_partition_fences_nobody() -> None:
    """H5 (b): n1 (coordinator) and n2 cannot hear each other, n3 hears both: n1 keeps n2
    Up (n3 hears it) and n2 may not end n1's election (n3 hears n1)."""
    nodes = ("n1", "n2", "n3")
    views = {"n1": view(10, "n3"), "n2": view(9, "n3"), "n3": view(7, "n1", "n2")}
    statuses = judge(nodes, {"n3"}, views, {"n2": Silence(10, 5.0)})
    assert statuses["n2"].state is NodeState.UP
    leases = {n: LEASES[n] for n in nodes}
    n2_silence = {"n1": Silence(9, 5.0)}
    assert not coordinator_may_be_replaced("n1", leases, views, n2_silence, 0.5, True)


REPLACE_CASES = {
    # name: (views, n2's silence mark for n1, listening, may replace)
    "powered off: nothing from it since, every other view agrees": (
        {"n1": view(5, "n2", "n3"), "n2": view(10, "n3"), "n3": view(11, "n2")},
        Silence(10, 0.5),
        True,
        True,
    ),
    "it answered our view: alive in etcd": (
        {"n1": view(12, "n2", "n3"), "n2": view(10, "n3"), "n3": view(11, "n2")},
        Silence(10, 5.0),
        True,
        False,
    ),
    "within the grace": (
        {"n1": view(5, "n2", "n3"), "n2": view(10, "n3"), "n3": view(11, "n2")},
        Silence(10, 0.2),
        True,
        False,
    ),
    "n3 has no view yet": (
        {"n1": view(5, "n2", "n3"), "n2": view(10, "n3")},
        Silence(10, 5.0),
        True,
        False,
    ),
    "n2 just stalled: not listening": (
        {"n1": view(5, "n2", "n3"), "n2": view(10, "n3"), "n3": view(11, "n2")},
        Silence(10, 5.0),
        False,
        False,
    ),
}


@pytest.mark.parametrize("case", REPLACE_CASES)
def test_h5_a_silent_coordinator_is_replaced_only_when_etcd_agrees(case: str) -> None:
    """H5: survivors no longer fence a silent coordinator on their own view; they may end
    its election only when every other leased node's view agrees it is silent and it has
    written nothing since."""
    views, mark, listening, expected = REPLACE_CASES[case]
    leases = {n: LEASES[n] for n in ("n1", "n2", "n3")}
    got = coordinator_may_be_replaced("n1", leases, views, {"n1": mark}, 0.5, listening)
    assert got is expected


def test_h5_a_down_node_that_answers_in_etcd_is_up_again() -> None:
    """H5: Down (not fenced yet, say the fence failed) and then it writes its view: it is
    alive and on the quorum side."""
    cfg = ClusterConfig(nodes={n: Node(n, i) for i, n in enumerate(("n1", "n2"), start=1)})
    down = replace(up("n2"), state=NodeState.DOWN)
    evidence = Evidence(
        {"n1": 101, "n2": 102},
        frozenset({"n1"}),
        views={"n2": view(15)},
        silence={"n2": Silence(10, 5.0)},
    )
    out = node_statuses(cfg, {"n2": down}, {}, evidence, "n1", 100.0)
    assert out["n2"].state is NodeState.UP
