"""Node states from evidence: etcd leases, heartbeats and fencing (pure).

- A node whose lease key is gone is **Down and fenced**: its lease expired (it stopped its
  resources before that by its own clock, or its watchdog did) or was revoked after a
  confirmed fence.
- A node with a lease that the coordinator hears on at least one heartbeat path is **Up**
  (**Paused** if an administrator paused it).
- A node with a lease that was Up and is no longer heard on any path is **Down, not fenced**:
  the policy asks for fencing before anything of it starts elsewhere.
- A node with a lease never heard yet in this incarnation is **Joining**.

Until the observer has listened for a whole heartbeat timeout (it just started), silence is no
evidence either: a node that was Up stays Up on its lease alone. If the coordinator hears
none of two or more peers that hold leases, its own heartbeat
networks are the likelier fault; then silence is not evidence and only leases count, so one
node with broken cables cannot fence all the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import NodeStatus
from wolfpack.model.states import NodeState


@dataclass(frozen=True)
class NodeAdmin:
    """What an administrator set on a node (survives its restarts)."""

    paused: bool = False
    draining: bool = False


@dataclass(frozen=True)
class Evidence:
    leases: Mapping[str, int]  # node -> the lease its liveness key is on (absent: no key)
    heard: frozenset[str]  # nodes heard on at least one heartbeat path (the observer included)
    fenced: frozenset[str] = frozenset()  # confirmed fenced by an agent, on their current lease
    #: False while the observer has not listened for a full heartbeat timeout yet (it just
    #: started): then not hearing a node says nothing about it.
    silence_counts: bool = True


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
    out: dict[str, NodeStatus] = {}
    for name in cfg.nodes:
        before = previous.get(name)
        flags = admin.get(name, NodeAdmin())
        lease = evidence.leases.get(name)
        if lease is None or name in evidence.fenced:
            out[name] = _status(before, NodeState.DOWN, now, fenced=True)
            continue
        prior = before if before is not None and before.lease in (0, lease) else None
        if (
            name == observer
            or name in evidence.heard
            or (silence_is_no_evidence and _was_up(prior))
        ):
            state = NodeState.PAUSED if flags.paused or flags.draining else NodeState.UP
        elif (_was_up(prior) and not silence_is_no_evidence) or (
            prior is not None and prior.state is NodeState.DOWN and not prior.fenced
        ):
            state = NodeState.DOWN
        else:
            state = NodeState.JOINING
        draining = flags.draining and state is not NodeState.DOWN
        out[name] = _status(prior, state, now, draining=draining, lease=lease)
    return out


def _status(
    before: NodeStatus | None,
    state: NodeState,
    now: float,
    *,
    fenced: bool = False,
    draining: bool = False,
    lease: int = 0,
) -> NodeStatus:
    since = before.since if before is not None and before.state is state else now
    return NodeStatus(state=state, since=since, draining=draining, fenced=fenced, lease=lease)


def _was_up(before: NodeStatus | None) -> bool:
    return before is not None and before.state in (NodeState.UP, NodeState.PAUSED)
