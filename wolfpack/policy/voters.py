"""Which etcd members vote (pure): promote caught-up learners so the voters stay odd, and
refuse a removal that would leave no voter or lose quorum (issue 10, DESIGN §2).

A member joins as a learner (it receives the log but does not vote) and is promoted once it
has caught up. Voters are kept odd and at most :data:`MAX_VOTERS`: a second voter adds no
fault tolerance (two of two must agree) but doubles what can break it, so a cluster of two
nodes keeps one voter and one learner until a third node or a witness arrives; then both
learners become voters. etcd 3.4 holds at most one learner at a time, so before a new
member is added the waiting learner, if caught up, is promoted to make room
(:func:`make_room`; the voters are even only until the newcomer catches up). A witness
(``wolfpack witness``) is a voter like any other.

Every decision carries a reason code, as the placement policy's do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: etcd's own advice: more voters make every write slower and add nothing a cluster needs
MAX_VOTERS = 5


@dataclass(frozen=True)
class Member:
    """One etcd member as the membership API and a health probe see it."""

    id: int
    name: str
    learner: bool
    #: reachable and caught up with the leader (a learner that is not cannot be promoted)
    healthy: bool


@dataclass(frozen=True)
class Promotion:
    """The learners to promote now (in this order), and why (or why none)."""

    members: tuple[Member, ...]
    reason: str
    detail: str


@dataclass(frozen=True)
class Removal:
    """Whether a member may be removed, and why."""

    allowed: bool
    reason: str
    detail: str


#: members a cluster holds: the voters and the one learner etcd 3.4 allows; a node that
#: joins later has no member of its own (``VOTERS_FULL``: it uses the voters')
MAX_MEMBERS = MAX_VOTERS + 1


def settled_voters(members: int) -> int:
    """How many of ``members`` caught-up members vote once :func:`promotions` has promoted
    every learner it will: odd, at most :data:`MAX_VOTERS` (the rest stay learners)."""
    capped = min(members, MAX_VOTERS)
    return capped if capped % 2 else max(capped - 1, 0)


def quorum(voters: int) -> int:
    """How many voters must agree for anything to change."""
    return voters // 2 + 1


def promotions(members: Iterable[Member]) -> Promotion:
    """The caught-up learners to promote so that the voters become odd, at most
    :data:`MAX_VOTERS` (by name: the order is stable). Reason codes: ``PROMOTE``,
    ``NO_LEARNER``, ``VOTERS_FULL``, ``LEARNER_BEHIND``, ``WAIT_FOR_ODD``."""
    all_members = sorted(members, key=lambda m: m.name)
    voters = [m for m in all_members if not m.learner]
    learners = [m for m in all_members if m.learner]
    ready = [m for m in learners if m.healthy]
    if not learners:
        return Promotion((), "NO_LEARNER", "every member votes")
    if len(voters) >= MAX_VOTERS:
        return Promotion((), "VOTERS_FULL", f"{len(voters)} voters: the rest stay learners")
    room = min(len(ready), MAX_VOTERS - len(voters))
    count = room if (len(voters) + room) % 2 == 1 else room - 1
    if count > 0:
        chosen = tuple(ready[:count])
        names = ", ".join(m.name for m in chosen)
        return Promotion(chosen, "PROMOTE", f"{names}: {len(voters)} -> {len(voters) + count}")
    if not ready:
        behind = ", ".join(m.name for m in learners)
        return Promotion((), "LEARNER_BEHIND", f"{behind} not caught up yet")
    return Promotion(
        (),
        "WAIT_FOR_ODD",
        f"{len(voters)} voters and {len(ready)} learner(s) ready: one more voter would make "
        "an even number, which survives no more failures; add a node or a witness",
    )


def make_room(members: Iterable[Member]) -> Promotion:
    """Before a member is added: the learner to promote first (etcd 3.4 allows one learner),
    if any. Reason codes: ``NO_LEARNER`` (room already), ``MAKE_ROOM``, ``LEARNER_BEHIND``
    (the waiting learner has not caught up: nobody can join until it has, or is evicted),
    ``VOTERS_FULL`` (it stays a learner; the newcomer cannot be added)."""
    all_members = list(members)
    learners = [m for m in all_members if m.learner]
    if not learners:
        return Promotion((), "NO_LEARNER", "no learner waits")
    voters = sum(1 for m in all_members if not m.learner)
    names = ", ".join(sorted(m.name for m in learners))
    if voters >= MAX_VOTERS:
        return Promotion((), "VOTERS_FULL", f"{voters} voters and learner {names}: no room")
    ready = sorted((m for m in learners if m.healthy), key=lambda m: m.name)
    if not ready:
        return Promotion(
            (),
            "LEARNER_BEHIND",
            f"learner {names} has not caught up (is it running?): start it, or evict it, "
            "before another member joins",
        )
    return Promotion((ready[0],), "MAKE_ROOM", f"{ready[0].name} votes, so one more may join")


def removal(members: Iterable[Member], name: str) -> Removal:
    """May the member ``name`` be removed (``wolfpack node evict``)? Never the last voter;
    never one whose removal leaves fewer healthy voters than the remaining voters' quorum.
    The change itself needs the current voters' quorum (``NO_QUORUM`` otherwise). Reason
    codes: ``NOT_A_MEMBER``, ``LEARNER``, ``LAST_VOTER``, ``NO_QUORUM``,
    ``WOULD_LOSE_QUORUM``, ``VOTER``."""
    all_members = list(members)
    target = next((m for m in all_members if m.name == name), None)
    if target is None:
        return Removal(True, "NOT_A_MEMBER", f"{name} has no etcd member")
    if target.learner:
        return Removal(True, "LEARNER", f"{name} is a learner: no vote is lost")
    rest = [m for m in all_members if not m.learner and m.name != name]
    if not rest:
        return Removal(
            False,
            "LAST_VOTER",
            f"{name} is the last voting etcd member: removing it would end the cluster "
            "database; use 'wolfpack cluster destroy' to remove the whole cluster",
        )
    voters = [m for m in all_members if not m.learner]
    alive = sum(1 for m in voters if m.healthy)
    if alive < quorum(len(voters)):
        down = ", ".join(sorted(m.name for m in voters if not m.healthy))
        return Removal(
            False,
            "NO_QUORUM",
            f"only {alive} of the {len(voters)} voters answer, so etcd cannot commit a "
            f"membership change: bring {down} back first (evict a node while it runs)",
        )
    healthy = sum(1 for m in rest if m.healthy)
    if healthy < quorum(len(rest)):
        down = ", ".join(sorted(m.name for m in rest if not m.healthy))
        return Removal(
            False,
            "WOULD_LOSE_QUORUM",
            f"without {name}, {healthy} of the {len(rest)} remaining voters are healthy and "
            f"{quorum(len(rest))} are needed: bring {down} back first",
        )
    return Removal(True, "VOTER", f"{len(rest)} voters remain, {healthy} healthy")
