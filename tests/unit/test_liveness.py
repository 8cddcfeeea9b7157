"""Node states from leases, heartbeats and fencing (DESIGN §2 safety invariant, S14)."""

from __future__ import annotations

from wolfpack.model.config import ClusterConfig, Node
from wolfpack.model.snapshot import NodeStatus
from wolfpack.model.states import NodeState
from wolfpack.node.liveness import Evidence, NodeAdmin, node_statuses

CFG = ClusterConfig(nodes={f"n{i}": Node(f"n{i}", i) for i in (1, 2, 3)})
LEASES = {"n1": 101, "n2": 102, "n3": 103}
UP = NodeStatus(NodeState.UP, since=10.0, lease=102)


def up(node: str) -> NodeStatus:
    return NodeStatus(NodeState.UP, since=10.0, lease=LEASES[node])


def decide(
    leased: set[str],
    heard: set[str],
    previous: dict[str, NodeStatus] | None = None,
    admin: dict[str, NodeAdmin] | None = None,
    fenced: set[str] | None = None,
) -> dict[str, NodeStatus]:
    evidence = Evidence({n: LEASES[n] for n in leased}, frozenset(heard), frozenset(fenced or ()))
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
    assert out["n2"] == NodeStatus(NodeState.DOWN, since=100.0, fenced=True)


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
