"""The failover timeline: where the time of a failover or a move went, phase by phase.

Assembled, never recorded step by step on the hot path: it is a pure function of what the
cluster database already holds for other reasons —

- the decision (:class:`~wolfpack.model.snapshot.Transition`: kind, reason code, when the
  coordinator decided, when an administrator asked);
- how the coordinator found the old owner Down, when it last heard it on each heartbeat
  path, and when it was fenced (:class:`~wolfpack.model.snapshot.NodeStatus`, written when
  the node's state changes anyway);
- each resource's trail of states (:class:`~wolfpack.model.snapshot.Mark`), written by the
  nodes with the statuses they report anyway.

The coordinator keeps the last :data:`KEEP` finished timelines of each group
(:class:`History`, beside the cluster root so no daemon reads them on every tick). Times are
the wall clocks of the machines where things happened: phases on different nodes are
compared by wall clock, so the nodes' clocks must be synchronised (NTP).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wolfpack.model.plan import ActionKind, Code, Plan
from wolfpack.model.snapshot import Mark, Snapshot, Transition, TransitionKind
from wolfpack.model.states import NodeState, ResourceState

KEEP = 20  # finished timelines kept per group
LOOKBACK_S = 600.0  # marks older than this before a decision belong to something else
SLACK_S = 2.0  # clock difference tolerated between the coordinator and a node
PATH_WINDOW_S = 60.0  # a path silent longer than this before detection was already down


class Phase(StrEnum):
    REQUESTED = "requested"  # an administrator asked (move, online)
    LAST_HEARD = "last-heard"  # the last heartbeat from the old owner on one path
    DETECTED = "detected"  # the old owner found Down, or a resource failed
    FENCING = "fencing"  # the fence agent was called
    FENCED = "fenced"  # the old owner is known fenced: its resources run nowhere
    DECIDED = "decided"  # the coordinator placed the group on its new owner
    STOPPING = "stopping"  # a resource is being taken offline on the old owner
    OFFLINE = "offline"  # a resource is offline on the old owner
    STARTING = "starting"  # a resource is being brought online on the new owner
    FAILED = "failed"  # a resource failed to start on the new owner
    ONLINE = "online"  # a resource is online on the new owner
    COMPLETE = "complete"  # every resource online: the transition is over
    ABANDONED = "abandoned"  # replaced by another decision, or stopped by the threshold


_RANK = {p: i for i, p in enumerate(Phase)}  # events at the same time, in causal order


class Ending(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETE = "complete"
    SUPERSEDED = "superseded"  # another decision replaced it (a rollback, a new failover)
    FAILED = "failed"  # the failover threshold stopped the group


@dataclass(frozen=True)
class Event:
    phase: Phase
    at: float  # wall clock of the machine it happened on
    node: str = ""
    resource: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Timeline:
    group: str
    kind: TransitionKind
    target: str
    decided: float
    source: str | None = None
    code: str = ""
    why: str = ""
    ending: Ending = Ending.IN_PROGRESS
    ended: float = 0.0
    events: tuple[Event, ...] = ()

    def same_transition(self, other: Timeline) -> bool:
        return (self.kind, self.target, self.source, self.decided) == (
            other.kind,
            other.target,
            other.source,
            other.decided,
        )


@dataclass(frozen=True)
class History:
    """The finished timelines of one group, oldest first."""

    timelines: tuple[Timeline, ...] = ()

    def kept(self, timeline: Timeline) -> History:
        """With ``timeline`` added (replacing an earlier record of the same transition: the
        coordinator may write it twice), the oldest beyond :data:`KEEP` dropped."""
        others = tuple(t for t in self.timelines if not t.same_transition(timeline))
        return History((*others, timeline)[-KEEP:])


def assemble(
    snap: Snapshot,
    group: str,
    transition: Transition,
    ending: Ending = Ending.IN_PROGRESS,
    ended: float = 0.0,
) -> Timeline:
    """The timeline of ``group``'s ``transition`` from what ``snap`` holds."""
    t = transition
    events: list[Event] = []
    if t.requested:
        events.append(Event(Phase.REQUESTED, t.requested, detail=f"{t.kind} requested"))
    events += _old_owner_down(snap, t)
    events.append(Event(Phase.DECIDED, t.started, detail=_decision(t)))
    for res in snap.config.group_resources(group):
        events += _resource_events(res.name, snap.resource(res.name).trail, t)
    if ending is Ending.COMPLETE:
        events.append(Event(Phase.COMPLETE, ended, t.target, detail=f"online on {t.target}"))
    elif ending is not Ending.IN_PROGRESS:
        events.append(Event(Phase.ABANDONED, ended, detail=str(ending)))
    events.sort(key=lambda e: (e.at, _RANK[e.phase], e.resource))
    return Timeline(
        group, t.kind, t.target, t.started, t.source, t.code, t.why, ending, ended, tuple(events)
    )


def _decision(t: Transition) -> str:
    move = f"{t.kind} {t.source or '-'} -> {t.target}"
    return f"{move} ({t.code}: {t.why})" if t.code else move


def _old_owner_down(snap: Snapshot, t: Transition) -> list[Event]:
    """How the old owner was found Down and fenced, if it went Down for this transition."""
    if t.source is None or t.source not in snap.config.nodes:
        return []
    node = snap.node(t.source)
    if node.state is not NodeState.DOWN or not node.down_by or node.since > t.started + SLACK_S:
        return []
    out: list[Event] = []
    before: list[str] = []
    for network, at in sorted(node.last_heard.items()):
        if at >= node.since - PATH_WINDOW_S:
            out.append(Event(Phase.LAST_HEARD, at, t.source, detail=f"on {network}"))
        else:
            before.append(network)
    if node.down_by == "heartbeats":
        how = "silent on every heartbeat path, and etcd agrees"
        if before:
            how += f" ({', '.join(before)} silent long before)"
    elif node.down_by == "fence":
        how = "fenced by the coordinator"
    else:
        how = "its lease expired or was revoked"
    out.append(Event(Phase.DETECTED, node.since, t.source, detail=f"{t.source} down: {how}"))
    if node.fence_started:
        out.append(Event(Phase.FENCING, node.fence_started, t.source, detail="fence agent called"))
    if node.fenced_at:
        by = "the fence agent confirmed" if node.fenced_by == "fence agent" else "lease gone"
        out.append(Event(Phase.FENCED, node.fenced_at, t.source, detail=by))
    return out


_FAILURE_CODES = frozenset({str(Code.FAILOVER_RESOURCE_FAILED), str(Code.MOVE_ROLLBACK)})


def _resource_events(name: str, trail: Sequence[Mark], t: Transition) -> list[Event]:
    """One event per phase a resource went through on the old owner (the last of each) and
    on the new one (the first start, the last of the others)."""
    found: dict[Phase, Event] = {}
    for mark in trail:
        if mark.at < t.started - LOOKBACK_S:
            continue
        phase = _phase_of(mark, t)
        if phase is None or (phase is Phase.STARTING and phase in found):
            continue
        found[phase] = Event(phase, mark.at, mark.node, name, _mark_detail(phase, mark))
    return list(found.values())


def _phase_of(mark: Mark, t: Transition) -> Phase | None:
    if mark.node == t.source:
        if mark.state is ResourceState.FAILED and t.code in _FAILURE_CODES:
            return Phase.DETECTED
        return {
            ResourceState.OFFLINE_PENDING: Phase.STOPPING,
            ResourceState.OFFLINE: Phase.OFFLINE,
        }.get(mark.state)
    if mark.node == t.target:
        return {
            ResourceState.ONLINE_PENDING: Phase.STARTING,
            ResourceState.ONLINE: Phase.ONLINE,
            ResourceState.FAILED: Phase.FAILED,
        }.get(mark.state)
    return None


def _mark_detail(phase: Phase, mark: Mark) -> str:
    return f"failed on {mark.node}" if phase is Phase.DETECTED else str(mark.state)


def current(snap: Snapshot, group: str) -> Timeline | None:
    """The timeline of the transition under way, if any."""
    t = snap.group(group).transition
    return assemble(snap, group, t) if t is not None else None


def finished(snap: Snapshot, decided: Plan, now: float) -> list[Timeline]:
    """The transitions ``decided`` ends (completes, replaces, or stops at the threshold),
    each as its final timeline: what the coordinator keeps once the plan is written."""
    endings = {
        ActionKind.COMPLETE_TRANSITION: Ending.COMPLETE,
        ActionKind.PLACE_GROUP: Ending.SUPERSEDED,
        ActionKind.GROUP_FAILED: Ending.FAILED,
    }
    out: dict[str, Timeline] = {}
    for action in decided.actions:
        ending = endings.get(action.kind)
        if ending is None or action.forecast or action.subject in out:
            continue
        t = snap.group(action.subject).transition
        if t is not None and action.subject in snap.config.groups:
            out[action.subject] = assemble(snap, action.subject, t, ending, now)
    return list(out.values())


# -- where the time went ------------------------------------------------------------------

#: The milestones of a transition, in causal order: each phase's duration runs from the
#: milestone before it (those a transition has; a move has no detection, a failover after a
#: power-off no offline).
MILESTONES = (
    Phase.REQUESTED,
    Phase.DETECTED,
    Phase.FENCED,
    Phase.DECIDED,
    Phase.OFFLINE,
    Phase.STARTING,
    Phase.ONLINE,
)


def milestones(timeline: Timeline) -> list[tuple[str, float]]:
    """(milestone, when) in :data:`MILESTONES` order: the first detection, fence and start,
    the last resource offline and online."""
    by: dict[Phase, list[float]] = {}
    for e in timeline.events:
        by.setdefault(e.phase, []).append(e.at)
    out: list[tuple[str, float]] = []
    for phase in MILESTONES:
        times = by.get(phase)
        if times:
            last = phase in (Phase.OFFLINE, Phase.ONLINE)
            out.append((str(phase), max(times) if last else min(times)))
    return out


def segments(points: Iterable[tuple[str, float]]) -> dict[str, float]:
    """``{"a_to_b": seconds}`` between consecutive points. A negative value is the clock
    difference between two machines, or a client answered before its node said Online."""
    out: dict[str, float] = {}
    prev: tuple[str, float] | None = None
    for name, at in points:
        if prev is not None:
            out[f"{prev[0]}_to_{name}"] = round(at - prev[1], 3)
        prev = (name, at)
    return out


def document(timeline: Timeline) -> dict[str, Any]:
    """Plain data for the CLI, the API and the web UI: every event with its time from the
    start and from the event before, and the phases' durations (milliseconds)."""
    events = timeline.events
    points = milestones(timeline)
    start = events[0].at if events else timeline.decided
    end = timeline.ended or (events[-1].at if events else start)
    rows = []
    prev = start
    for e in events:
        rows.append(
            {
                "phase": str(e.phase),
                "at": round(e.at, 3),
                "offset_ms": _ms(e.at - start),
                "step_ms": _ms(e.at - prev),
                "node": e.node,
                "resource": e.resource,
                "detail": e.detail,
            }
        )
        prev = e.at
    return {
        "group": timeline.group,
        "kind": str(timeline.kind),
        "source": timeline.source,
        "target": timeline.target,
        "code": timeline.code,
        "why": timeline.why,
        "ending": str(timeline.ending),
        "started": round(start, 3),
        "decided": round(timeline.decided, 3),
        "ended": round(timeline.ended, 3) or None,
        "duration_ms": _ms(end - start),
        "milestones": {name: round(at, 3) for name, at in points},
        "phases_ms": {k: _ms(v) for k, v in segments(points).items()},
        "events": rows,
    }


def history_document(snap: Snapshot, group: str, kept: Sequence[Timeline]) -> dict[str, Any]:
    """``wolfpack group history`` / ``GET /api/v1/groups/{name}/history``: the transition
    under way (or null) and the kept ones, newest first."""
    now = current(snap, group)
    return {
        "group": group,
        "current": document(now) if now is not None else None,
        "timelines": [document(t) for t in reversed(kept)],
    }


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
