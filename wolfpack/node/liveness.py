"""Node states from evidence: etcd leases, heartbeats, published views and fencing (pure).

- A node whose lease key is gone is **Down and fenced**: its lease expired (it stopped its
  resources before that by its own clock, or its watchdog did) or was revoked after a
  confirmed power fence.
- A node with a lease that the coordinator hears on at least one heartbeat path is **Up**
  (**Paused** if an administrator paused it).
- A node with a lease that was Up and is no longer heard on any path is judged by etcd, the
  quorum, not by the coordinator's heartbeats alone (H5; :mod:`wolfpack.node.views`):

  - it stays **Up** while its own published view was written after ours first said we do
    not hear it (it is alive and talks to the quorum: the heartbeat paths are partitioned),
    or while another node we hear says in its view that it hears it (an asymmetric
    partition);
  - it stays as it was while our view without it is younger than the grace, or not
    published yet;
  - otherwise it is **Down, not fenced**: the policy asks for fencing before anything of it
    starts elsewhere.
- A node with a lease never heard yet in this incarnation is **Joining**.

Until the observer has listened for a whole heartbeat timeout (it just started, or it was
stalled), silence is no evidence either: a node that was Up stays Up on its lease alone. If
the coordinator hears none of two or more peers that hold leases, its own heartbeat
networks are the likelier fault; then silence is not evidence and only leases count, so one
node with broken cables cannot fence all the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import NodeAdmin, NodeStatus
from wolfpack.model.states import NodeState
from wolfpack.model.views import PublishedView, Silence

__all__ = ["Evidence", "NodeAdmin", "node_statuses"]


@dataclass(frozen=True)
class Evidence:
    leases: Mapping[str, int]  # node -> the lease its liveness key is on (absent: no key)
    heard: frozenset[str]  # nodes heard on at least one heartbeat path (the observer included)
    fenced: frozenset[str] = frozenset()  # confirmed fenced by an agent, on their current lease
    #: False while the observer has not listened for a full heartbeat timeout yet (it just
    #: started): then not hearing a node says nothing about it.
    silence_counts: bool = True
    #: every node's published view (:mod:`wolfpack.node.views`), with its mod revision
    views: Mapping[str, PublishedView] = field(default_factory=dict)
    #: peers missing from the observer's published view, and since when
    silence: Mapping[str, Silence] = field(default_factory=dict)
    #: how long the observer waits after publishing its view without a peer for a sign
    #: of life from it in etcd
    grace_s: float = 0.5
    #: node -> network -> when the observer last heard it there (wall clock): kept in the
    #: status of a node that goes Down, for the failover timeline
    last_heard: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: node -> (fence agent called, confirmed), wall clock, for fences the observer did
    fences: Mapping[str, tuple[float, float]] = field(default_factory=dict)


class Silent(StrEnum):
    """What etcd says about a peer the observer does not hear on any heartbeat path."""

    PUBLISHED = "publishes in etcd"  # wrote its view after ours lost it: alive, partitioned
    HEARD_BY_OTHERS = "heard by another node"  # asymmetric partition
    WAITING = "waiting for etcd"  # our view without it is not published, or within grace
    GONE = "gone"  # nothing in etcd since the grace: Down


def silence_verdicts(evidence: Evidence, observer: str) -> dict[str, tuple[Silent, str]]:
    """For each leased peer the observer does not hear: the verdict and its detail."""
    out: dict[str, tuple[Silent, str]] = {}
    for name in sorted(set(evidence.leases) - evidence.heard - {observer}):
        mark = evidence.silence.get(name)
        own = evidence.views.get(name)
        if mark is not None and own is not None and own.revision > mark.revision:
            out[name] = (Silent.PUBLISHED, f"wrote its view at revision {own.revision}")
            continue
        hearers = sorted(
            q
            for q in evidence.heard & set(evidence.leases)
            if q not in (observer, name) and name in _heard_by(evidence, q)
        )
        if hearers:
            out[name] = (Silent.HEARD_BY_OTHERS, ", ".join(hearers))
        elif mark is None or mark.elapsed_s < evidence.grace_s:
            out[name] = (Silent.WAITING, "")
        else:
            out[name] = (Silent.GONE, f"silent since revision {mark.revision}")
    return out


def _heard_by(evidence: Evidence, node: str) -> frozenset[str]:
    view = evidence.views.get(node)
    return view.heard if view is not None else frozenset()


def coordinator_may_be_replaced(
    holder: str,
    leases: Mapping[str, int],
    views: Mapping[str, PublishedView],
    silence: Mapping[str, Silence],
    grace_s: float,
    listening: bool,
) -> bool:
    """May a survivor delete the election key of ``holder``, a coordinator it does not hear
    on any heartbeat path? Only if etcd agrees it is gone: our view without it is older than
    the grace and it wrote nothing since, and the view of every other leased node (ours
    included) says it does not hear it either. A coordinator that still talks to etcd
    answers our view; one that another node hears is in an asymmetric partition."""
    mark = silence.get(holder)
    if not listening or mark is None or mark.elapsed_s < grace_s:
        return False
    own = views.get(holder)
    if own is not None and own.revision > mark.revision:
        return False
    for node in set(leases) - {holder}:
        view = views.get(node)
        if view is None or holder in view.heard:
            return False
    return True


def node_statuses(
    cfg: ClusterConfig,
    previous: Mapping[str, NodeStatus],
    admin: Mapping[str, NodeAdmin],
    evidence: Evidence,
    observer: str,
    now: float,
) -> dict[str, NodeStatus]:
    """A node on a different lease than when it was last seen is a new incarnation (it
    restarted): what its previous one did says nothing about it, so it joins afresh."""
    peers_leased = set(evidence.leases) - {observer}
    deaf = len(peers_leased) >= 2 and not (evidence.heard - {observer}) & peers_leased
    silence_is_no_evidence = deaf or not evidence.silence_counts
    verdicts = silence_verdicts(evidence, observer)
    out: dict[str, NodeStatus] = {}
    for name in cfg.nodes:
        before = previous.get(name)
        flags = admin.get(name, NodeAdmin())
        lease = evidence.leases.get(name)
        if lease is None or name in evidence.fenced:
            out[name] = _fenced(before, evidence, name, now, maintenance=flags.maintenance)
            continue
        prior = before if before is not None and before.lease in (0, lease) else None
        paused = flags.paused or flags.draining or flags.maintenance
        up = NodeState.PAUSED if paused else NodeState.UP
        was_down = prior is not None and prior.state is NodeState.DOWN and not prior.fenced
        verdict = verdicts.get(name, (Silent.WAITING, ""))[0]
        if name == observer or name in evidence.heard:
            state = up
        elif silence_is_no_evidence:
            state = up if _was_up(prior) else NodeState.DOWN if was_down else NodeState.JOINING
        elif _was_up(prior) or was_down:
            if verdict in (Silent.PUBLISHED, Silent.HEARD_BY_OTHERS):
                state = up
            elif verdict is Silent.WAITING:
                state = up if _was_up(prior) else NodeState.DOWN
            else:
                state = NodeState.DOWN
        else:
            state = NodeState.JOINING
        draining = flags.draining and state is not NodeState.DOWN
        status = _status(
            prior, state, now, draining=draining, lease=lease, maintenance=flags.maintenance
        )
        if state is NodeState.DOWN:
            status = _found_down(prior, status, evidence.last_heard.get(name, {}))
        out[name] = status
    return out


def _found_down(
    before: NodeStatus | None, status: NodeStatus, heard: Mapping[str, float]
) -> NodeStatus:
    """Down by silence: said, with when each path last heard it, as it goes Down; kept
    as it was after (so a status never changes, and is never written, for it alone)."""
    if before is not None and before.state is NodeState.DOWN:
        return replace(status, down_by=before.down_by, last_heard=before.last_heard)
    return replace(status, down_by="heartbeats", last_heard=dict(heard))


def _fenced(
    before: NodeStatus | None, evidence: Evidence, name: str, now: float, *, maintenance: bool
) -> NodeStatus:
    """Down and fenced: its lease is gone (expired, or revoked after a fence we confirmed).
    The timeline learns how it was found Down (kept from when it went Down unfenced) and
    when and how it was fenced (kept once known)."""
    status = _status(before, NodeState.DOWN, now, fenced=True, maintenance=maintenance)
    was_down = before is not None and before.state is NodeState.DOWN
    if was_down and before is not None and before.fenced:
        return replace(
            status,
            down_by=before.down_by,
            last_heard=before.last_heard,
            fence_started=before.fence_started,
            fenced_at=before.fenced_at,
            fenced_by=before.fenced_by,
        )
    by_agent = name in evidence.fenced
    down_by = "fence" if by_agent else "lease"
    heard: Mapping[str, float] = {}
    if was_down and before is not None:
        down_by, heard = before.down_by or down_by, before.last_heard
    called, confirmed = evidence.fences.get(name, (0.0, 0.0))
    if not (confirmed and confirmed >= status.since - 1.0):  # not a fence of this episode
        called, confirmed = 0.0, now
    return replace(
        status,
        down_by=down_by,
        last_heard=heard,
        fence_started=called,
        fenced_at=confirmed,
        fenced_by="fence agent" if by_agent or called else "lease",
    )


def _status(
    before: NodeStatus | None,
    state: NodeState,
    now: float,
    *,
    fenced: bool = False,
    draining: bool = False,
    lease: int = 0,
    maintenance: bool = False,
) -> NodeStatus:
    since = before.since if before is not None and before.state is state else now
    return NodeStatus(
        state=state,
        since=since,
        draining=draining,
        maintenance=maintenance,
        fenced=fenced,
        lease=lease,
    )


def _was_up(before: NodeStatus | None) -> bool:
    return before is not None and before.state in (NodeState.UP, NodeState.PAUSED)
