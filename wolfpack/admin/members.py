"""etcd's voters kept odd, and removals checked, for whoever holds root credentials
(a daemon's promotion loop, ``wolfpack node evict``): :mod:`wolfpack.policy.voters` applied
to what :mod:`wolfpack.store.etcd_members` reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from wolfpack.errors import RejectedError, StoreError, StoreUnavailable
from wolfpack.policy.voters import Member, Promotion, Removal, make_room, promotions, removal
from wolfpack.store import etcd_members
from wolfpack.store.etcd import CAUGHT_UP_ENTRIES, EtcdStore
from wolfpack.store.etcd_members import EtcdMember
from wolfpack.store.etcd_tls import EtcdCredentials

#: how long a membership change waits for etcd to find the voters connected (it wants 5 s)
SETTLE_S = 15.0
T = TypeVar("T")


def health(listed: Sequence[EtcdMember], credentials: EtcdCredentials | None) -> list[Member]:
    """The members as the policy sees them: healthy when it answers on its client URLs
    and, for a learner, is within ``CAUGHT_UP_ENTRIES`` raft entries of the furthest voter."""
    status = etcd_members.probe(listed, credentials)
    head = max((status[m.id][1] for m in listed if not m.learner), default=0)
    out = []
    for m in listed:
        up, index = status[m.id]
        caught_up = not m.learner or index >= head - CAUGHT_UP_ENTRIES
        out.append(Member(m.id, m.label, m.learner, up and caught_up))
    return out


def _hoping(listed: Sequence[EtcdMember]) -> list[Member]:
    """The members as the policy would see them if every one were healthy: whether a
    decision needs the members probed at all."""
    return [Member(m.id, m.label, m.learner, True) for m in listed]


def promote_ready(store: EtcdStore) -> tuple[Promotion, list[str]]:
    """Promote the learners the policy picks; the decision and the names promoted (a
    learner etcd still finds behind is left for the next round). The members are probed
    only when the policy would promote someone if every learner had caught up: the daemons
    of every member node ask every few seconds, a probe is a TLS connection to each member,
    and most of the time nobody is to be promoted (every member votes, or 5 voters and a
    learner that stays one)."""
    listed = etcd_members.members(store)
    hoped = promotions(_hoping(listed))
    if not hoped.members:
        return hoped, []
    decision = promotions(health(listed, store.credentials))
    done = []
    for m in decision.members:
        try:
            etcd_members.promote(store, m.id)
        except StoreError:
            break  # not in sync after all: the voters stay odd, try again later
        done.append(m.name)
    return decision, done


def add_learner(store: EtcdStore, peer_url: str) -> tuple[EtcdMember, list[EtcdMember]]:
    """Add a learner at ``peer_url`` (what a join does), promoting the learner that waits
    first if there is one (etcd 3.4 holds one learner); RejectedError with the policy's
    reason when it cannot make room. A re-run join finds its member already there."""
    listed = etcd_members.members(store)
    existing = next((m for m in listed if peer_url in m.peer_urls), None)
    if existing is None:
        room = make_room(_hoping(listed))  # room, or full, whatever the learner's progress
        if room.members:  # a learner to promote first: only if it has caught up
            room = make_room(health(listed, store.credentials))
        if room.reason in ("LEARNER_BEHIND", "VOTERS_FULL"):
            raise RejectedError(room.reason, room.detail)
        for m in room.members:
            etcd_members.promote(store, m.id)
    return _settled(lambda: etcd_members.add_learner(store, peer_url))


def remove(store: EtcdStore, member: EtcdMember) -> bool:
    """Remove ``member`` (False: it was gone already), once etcd finds the rest settled;
    returns once the rest have a leader again."""
    removed = _settled(lambda: etcd_members.remove(store, member.id))
    _until_led(store)
    return removed


def _until_led(store: EtcdStore) -> None:
    """Wait (up to :data:`SETTLE_S`) until a linearizable read answers. The member removed
    may have been the leader: it steps down once the removal is applied, and the rest
    elect a new one an election timeout later. A write sent meanwhile times out (and may
    or may not be applied), so the eviction's next writes wait for it."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        try:
            store.get(LEADER_PROBE_KEY)  # linearizable: answered only with a leader
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


#: any key: a read of it needs a leader, what it holds does not matter
LEADER_PROBE_KEY = "/wolfpack-leader-probe"


def _settled(call: Callable[[], T]) -> T:
    """``call``, again while etcd says "unhealthy cluster": it changes the membership only
    when the voters have been connected for 5 s, so a voter promoted or restarted a moment
    ago makes it refuse for a while."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        try:
            return call()
        except StoreError as exc:
            if "unhealthy cluster" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def check_removal(store: EtcdStore, name: str) -> tuple[Removal, EtcdMember | None]:
    """May ``name``'s member go? RejectedError (the policy's reason code) if not."""
    listed = etcd_members.members(store)
    decision = removal(health(listed, store.credentials), name)
    if not decision.allowed:
        raise RejectedError(decision.reason, decision.detail)
    return decision, next((m for m in listed if m.label == name), None)
