"""Which etcd members vote (issue 10): learners promoted so the voters stay odd, at most
five; a removal never takes the last voter or the remaining voters' quorum (S7, S13)."""

from __future__ import annotations

import pytest

from wolfpack.policy.voters import (
    MAX_VOTERS,
    Member,
    make_room,
    promotions,
    quorum,
    removal,
    settled_voters,
)


def members(voters: int, learners: int = 0, *, behind: int = 0, down: int = 0) -> list[Member]:
    """``voters`` voters (the last ``down`` unhealthy), ``learners`` learners (the last
    ``behind`` not caught up)."""
    out = [Member(i, f"v{i}", False, i <= voters - down) for i in range(1, voters + 1)]
    out += [Member(100 + i, f"l{i}", True, i <= learners - behind) for i in range(1, learners + 1)]
    return out


@pytest.mark.parametrize(
    ("voters", "learners", "promoted", "reason"),
    [
        (1, 0, 0, "NO_LEARNER"),
        (1, 1, 0, "WAIT_FOR_ODD"),  # two nodes: one voter, the second waits for a third
        (1, 2, 2, "PROMOTE"),  # a third node (or a witness): both at once, 3 voters
        (3, 1, 0, "WAIT_FOR_ODD"),
        (3, 2, 2, "PROMOTE"),
        (2, 1, 1, "PROMOTE"),  # an evict left an even number: one promotion makes it odd
        (2, 3, 3, "PROMOTE"),
        (1, 6, 4, "PROMOTE"),  # never more than five voters
        (5, 2, 0, "VOTERS_FULL"),
        (4, 2, 1, "PROMOTE"),
    ],
)
def test_promotions_keep_voters_odd(voters: int, learners: int, promoted: int, reason: str) -> None:
    decision = promotions(members(voters, learners))
    assert decision.reason == reason
    assert len(decision.members) == promoted
    assert all(m.learner for m in decision.members)
    total = voters + promoted
    assert total <= MAX_VOTERS
    if promoted:
        assert total % 2 == 1


def test_a_learner_that_has_not_caught_up_is_not_promoted() -> None:
    decision = promotions(members(1, 2, behind=1))
    assert decision.members == ()
    assert decision.reason == "WAIT_FOR_ODD"
    decision = promotions(members(1, 2, behind=2))
    assert (decision.members, decision.reason) == ((), "LEARNER_BEHIND")
    assert "l1" in decision.detail and "l2" in decision.detail


def test_promotions_are_in_name_order() -> None:
    decision = promotions(members(3, 4))
    assert [m.name for m in decision.members] == ["l1", "l2"]


def test_quorum() -> None:
    assert [quorum(n) for n in range(1, 6)] == [1, 2, 2, 3, 3]


def test_the_last_voter_is_never_removed() -> None:
    decision = removal(members(1, 2), "v1")
    assert (decision.allowed, decision.reason) == (False, "LAST_VOTER")
    assert "cluster destroy" in decision.detail


def test_a_removal_that_loses_quorum_is_refused_and_names_who_is_down() -> None:
    decision = removal(members(3, down=1), "v1")  # v3 is down: v2 alone is not 2 of 2
    assert (decision.allowed, decision.reason) == (False, "WOULD_LOSE_QUORUM")
    assert "v3" in decision.detail
    # removing the dead one itself is fine: v1 and v2 remain, both healthy
    assert removal(members(3, down=1), "v3").allowed


@pytest.mark.parametrize(
    ("name", "reason"), [("v2", "VOTER"), ("l1", "LEARNER"), ("ghost", "NOT_A_MEMBER")]
)
def test_allowed_removals(name: str, reason: str) -> None:
    decision = removal(members(3, 1), name)
    assert (decision.allowed, decision.reason) == (True, reason)


def test_make_room_promotes_the_waiting_learner_before_another_joins() -> None:
    """etcd 3.4 holds one learner: a third node's join first promotes the second's."""
    decision = make_room(members(1, 1))
    assert decision.reason == "MAKE_ROOM"
    assert [m.name for m in decision.members] == ["l1"]
    assert make_room(members(3)).reason == "NO_LEARNER"
    behind = make_room(members(1, 1, behind=1))
    assert (behind.members, behind.reason) == ((), "LEARNER_BEHIND")
    assert "evict" in behind.detail
    assert make_room(members(5, 1)).reason == "VOTERS_FULL"


def test_no_membership_change_without_the_current_quorum() -> None:
    """Two voters, one down: etcd cannot commit the removal of either (1 of 2)."""
    decision = removal(members(2, down=1), "v2")
    assert (decision.allowed, decision.reason) == (False, "NO_QUORUM")
    assert "v2" in decision.detail


@pytest.mark.parametrize("count", range(0, 9))
def test_settled_voters_is_what_promotions_reach(count: int) -> None:
    """settled_voters (the lab's expectation, issue 10) agrees with promoting learners
    until promotions says no more: the members joined one by one as learners, caught up."""
    group = members(1, count - 1) if count else []
    while (step := promotions(group)).members:
        chosen = {m.id for m in step.members}
        group = [Member(m.id, m.name, m.learner and m.id not in chosen, m.healthy) for m in group]
    assert sum(not m.learner for m in group) == settled_voters(count)
