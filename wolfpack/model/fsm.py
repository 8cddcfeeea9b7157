"""Life cycles as tables (h11 style): every legal (state, event) pair is one row, and the
resource manager changes its local states only through them (an impossible step raises).

A missing row is an illegal transition and raises :class:`IllegalTransition`. Group state is
never stored: it is derived from the group's resources, as in MSCS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from wolfpack.errors import IllegalTransition
from wolfpack.model.states import GroupState, NodeState, ResourceState

if TYPE_CHECKING:
    from wolfpack.model.snapshot import Snapshot


class NodeEvent(StrEnum):
    START = "start"  # the daemon starts and begins to join
    JOINED = "joined"  # membership accepted it
    LOST = "lost"  # every heartbeat path silent past the threshold, or its lease expired
    STOP = "stop"  # clean shutdown
    PAUSE = "pause"
    RESUME = "resume"


class ResourceEvent(StrEnum):
    BRING_ONLINE = "bring-online"
    STARTED = "started"
    TAKE_OFFLINE = "take-offline"
    STOPPED = "stopped"
    FAILURE = "failure"  # LooksAlive/IsAlive failed, the process exited, or initiate-failure
    PENDING_TIMEOUT = "pending-timeout"  # no progress within PendingTimeout


_N, _NE = NodeState, NodeEvent
NODE_TRANSITIONS: Mapping[tuple[NodeState, NodeEvent], NodeState] = {
    (_N.DOWN, _NE.START): _N.JOINING,
    (_N.JOINING, _NE.JOINED): _N.UP,
    (_N.JOINING, _NE.LOST): _N.DOWN,
    (_N.JOINING, _NE.STOP): _N.DOWN,
    (_N.UP, _NE.PAUSE): _N.PAUSED,
    (_N.UP, _NE.LOST): _N.DOWN,
    (_N.UP, _NE.STOP): _N.DOWN,
    (_N.PAUSED, _NE.RESUME): _N.UP,
    (_N.PAUSED, _NE.LOST): _N.DOWN,
    (_N.PAUSED, _NE.STOP): _N.DOWN,
}

_R, _RE = ResourceState, ResourceEvent
RESOURCE_TRANSITIONS: Mapping[tuple[ResourceState, ResourceEvent], ResourceState] = {
    (_R.OFFLINE, _RE.BRING_ONLINE): _R.ONLINE_PENDING,
    (_R.ONLINE_PENDING, _RE.STARTED): _R.ONLINE,
    (_R.ONLINE_PENDING, _RE.FAILURE): _R.FAILED,
    (_R.ONLINE_PENDING, _RE.PENDING_TIMEOUT): _R.FAILED,
    (_R.ONLINE_PENDING, _RE.TAKE_OFFLINE): _R.OFFLINE_PENDING,
    (_R.ONLINE, _RE.TAKE_OFFLINE): _R.OFFLINE_PENDING,
    (_R.ONLINE, _RE.FAILURE): _R.FAILED,
    (_R.OFFLINE_PENDING, _RE.STOPPED): _R.OFFLINE,
    (_R.OFFLINE_PENDING, _RE.FAILURE): _R.FAILED,
    (_R.OFFLINE_PENDING, _RE.PENDING_TIMEOUT): _R.FAILED,
    # A failed resource is restarted in place, or terminated (cleaned up) before a move.
    (_R.FAILED, _RE.BRING_ONLINE): _R.ONLINE_PENDING,
    (_R.FAILED, _RE.TAKE_OFFLINE): _R.OFFLINE,
}

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


def _step(machine: str, table: Mapping[tuple[S, E], S], state: S, event: E) -> S:
    try:
        return table[(state, event)]
    except KeyError:
        raise IllegalTransition(machine, str(state), str(event)) from None


def node_transition(state: NodeState, event: NodeEvent) -> NodeState:
    return _step("node", NODE_TRANSITIONS, state, event)


def resource_transition(state: ResourceState, event: ResourceEvent) -> ResourceState:
    return _step("resource", RESOURCE_TRANSITIONS, state, event)


def group_state(resource_states: Iterable[ResourceState]) -> GroupState:
    """MSCS rule: Failed if any failed; else Pending if any pending; Online if all online;
    PartialOnline if some online; Offline if none (or the group is empty)."""
    states = list(resource_states)
    if any(s is ResourceState.FAILED for s in states):
        return GroupState.FAILED
    if any(s.pending for s in states):
        return GroupState.PENDING
    online = sum(1 for s in states if s is ResourceState.ONLINE)
    if states and online == len(states):
        return GroupState.ONLINE
    if online:
        return GroupState.PARTIAL_ONLINE
    return GroupState.OFFLINE


def derived_state(snap: Snapshot, group: str) -> GroupState:
    """A group's state in ``snap``, from its resources' states (:func:`group_state`)."""
    return group_state(snap.resource(r.name).state for r in snap.config.group_resources(group))
