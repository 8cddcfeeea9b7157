"""A node that runs its own etcd member asks every voting member, not only those it was
configured with (issue 10).

``cluster create`` writes the first node's own member as its only endpoint, and each join
writes the members there were then. Without more, the first node reached etcd only through
its own member: that member down (crashed and being restarted, its disk full, its process
frozen) and the node lost its lease and stopped its groups, although the two other members
still made the quorum. So every :data:`FOLLOW_EVERY_S` the daemon reads the member list and
asks, after the configured endpoints (its own member first: the fastest answer), the client
URLs of every other voter (a learner serves no requests); a configured one whose member was
removed (evicted) is dropped. Only with a managed member (``etcd_member:``): an etcd run by
the administrator may advertise addresses that only its own host can use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from wolfpack.errors import StoreError
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_members import EtcdMember, members

#: how often the member list is read (one small request)
FOLLOW_EVERY_S = 5.0

Log = Callable[..., None]


def endpoints_for(configured: Sequence[str], found: Sequence[EtcdMember]) -> list[str]:
    """The endpoints to ask: the configured ones still some member's, then every other
    voter's client URLs (by member name); the configured ones if that leaves none."""
    known = {u for m in found for u in m.client_urls}
    kept = [u for u in configured if u in known]
    voters = sorted((m for m in found if not m.learner), key=lambda m: m.label)
    more = [u for m in voters for u in m.client_urls if u not in kept]
    wanted = list(dict.fromkeys([*kept, *more]))
    return wanted or list(configured)


def own_voter_url(own: Sequence[str], found: Sequence[EtcdMember]) -> str | None:
    """The first client URL of this node's own member (``own``), if that member votes (a
    learner serves no requests); None otherwise."""
    voting = {u for m in found if not m.learner for u in m.client_urls}
    return next((u for u in own if u in voting), None)


def follow(
    stores: Sequence[EtcdStore],
    configured: Sequence[str],
    stop: threading.Event,
    log: Log,
    every_s: float = FOLLOW_EVERY_S,
    own: Sequence[str] = (),
    on_preferred: Callable[[], None] = lambda: None,
) -> None:
    """Keep ``stores`` asking the voters until ``stop`` (a thread's whole life); logs
    ``etcd_endpoints`` on each change. A failed read changes nothing. With ``own`` (the
    client URLs of this node's own member): once that member votes and answers, each store
    asks it first again (``etcd_endpoint_preferred``), whichever member answered last: a
    node that joined while its member was a learner otherwise kept asking another node's
    member, and when that node died, the view and fencing writes of a failover waited out
    the request timeout (2.8 s measured, the first failover after a lab came up).
    ``on_preferred`` is called then: a watch opened earlier is still on the other member."""
    while True:
        try:
            found = members(stores[0])
        except StoreError:
            found = None  # etcd unreachable for now: the stores keep what they had
        if found is not None:
            wanted = endpoints_for(configured, found)
            changed = [store.set_endpoints(wanted) for store in stores]
            if any(changed):
                log("etcd_endpoints", endpoints=wanted)
            home = own_voter_url(own, found)
            if home is not None and any([store.prefer(home) for store in stores]):
                log("etcd_endpoint_preferred", endpoint=home)
                on_preferred()
        if stop.wait(every_s):
            return
