"""The chaos schedule is a pure function of its seed, bounded, and covers every fault."""

from __future__ import annotations

import pytest

from wolfpack.lab.chaos import IMPAIRING, FaultKind, plan

NODES = ["node1", "node2", "node3"]
GROUPS = ["A", "B", "C"]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert plan(42, NODES, GROUPS) == plan(42, NODES, GROUPS)
    assert plan(42, NODES, GROUPS) != plan(43, NODES, GROUPS)


@pytest.mark.parametrize("seed", range(20))
def test_a_plan_is_bounded_and_has_every_kind_of_fault(seed: int) -> None:
    p = plan(seed, NODES, GROUPS, count=12, ttl_s=3)
    assert len(p.faults) == 12
    assert {f.kind for f in p.faults} == set(FaultKind)
    assert p.fence in ("test", "none")
    for f in p.faults:
        assert 0 < f.after_s <= 1.5
        assert (f.hold_s > 0) == (f.kind in IMPAIRING)
        if f.kind is FaultKind.FREEZE:
            assert f.hold_s > 3, "a freeze must outlast the lease"
        if f.kind is FaultKind.MOVE_GROUP:
            assert f.group in GROUPS and f.node in NODES
        if f.kind in (FaultKind.KILL_NODE, FaultKind.KILL_DAEMON, FaultKind.FREEZE):
            assert (f.node in NODES) != (f.group in GROUPS), "a node, or a group's owner"
    assert str(seed) in p.describe()


def test_a_short_plan_and_bad_arguments() -> None:
    assert len(plan(1, NODES, GROUPS, count=3).faults) == 3
    with pytest.raises(ValueError, match="at least one"):
        plan(1, [], GROUPS)
