"""What the coordinator decides from: configuration + observed state + history + requests.

One immutable :class:`Snapshot` is read per tick (Patroni's ``Cluster``); the policy never reads
anything else. History that decisions need (failover times, restart times, when a node came
up) is part of the snapshot, never remembered inside a daemon, so any decision can be replayed
from a dumped snapshot. Times are seconds since the epoch (floats).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from wolfpack.model.config import ClusterConfig
from wolfpack.model.links import NodeLinks
from wolfpack.model.states import NodeState, ResourceState, Wanted


@dataclass(frozen=True)
class NodeStatus:
    state: NodeState = NodeState.UP
    since: float = 0.0  # when it entered ``state``; the failback flap guard reads it
    draining: bool = False  # drain: paused, and its groups are being moved away
    #: maintenance: its groups and resources are left as they are (unmanaged), even while
    #: it is down, as Pacemaker's node maintenance; the administrator's flag, copied here
    maintenance: bool = False
    #: For a Down node: fenced by an agent, or its lease has expired. Only then may its
    #: groups start elsewhere (the safety invariant: never two owners).
    fenced: bool = False
    #: The etcd lease the node held when this was written; a new lease is a new incarnation.
    lease: int = 0
    # -- how the coordinator found it Down, for the failover timeline (model/timeline.py);
    # -- set when it goes Down (wall clock of the coordinator), cleared when it is back
    #: "heartbeats" (silent on every path, and etcd agrees) or "lease" (its lease is gone)
    down_by: str = ""
    #: network -> when the coordinator last heard it there (wall clock), as it went Down
    last_heard: Mapping[str, float] = field(default_factory=dict)
    fence_started: float = 0.0  # the fence agent was called (0: no agent fenced it)
    fenced_at: float = 0.0  # known fenced: the agent confirmed, or its lease was gone
    fenced_by: str = ""  # "fence agent" or "lease"


class Mark(NamedTuple):
    """A state a resource entered on ``node`` at ``at`` (that node's wall clock): one step
    of the failover timeline, written with the status it belongs to (no extra write)."""

    state: ResourceState
    node: str
    at: float


TRAIL = 8  # marks kept per resource


@dataclass(frozen=True)
class ResourceStatus:
    state: ResourceState = ResourceState.OFFLINE
    node: str | None = None  # where it is pending, online or failed
    since: float = 0.0  # when it entered ``state``; pending timeouts read it
    restarts: tuple[float, ...] = ()  # restart times on ``node``, for the restart threshold
    wanted: Wanted = Wanted.ONLINE  # an administrator can take one resource offline
    #: Failures the node has reported on ``node`` (each Failed report adds one): a restart
    #: grant names the failure it is for, so no clocks of two machines are ever compared.
    failures: int = 0
    #: The failure number the coordinator granted a restart for (0: none).
    granted: int = 0
    #: Restarts granted over the resource's whole life (never trimmed, never reset by a move):
    #: the Prometheus counter ``wolfpack_resource_restarts_total``.
    restarts_total: int = 0
    #: The coordinator asked the owner to fail it (Initiate Failure, pending timeout), at this
    #: time by the coordinator's clock; 0 when no request is open. A request is not a failure:
    #: only the owner's Failed report, on its live lease, says the resource was terminated.
    fail_requested: float = 0.0
    #: When the coordinator first saw the current pending state, by its own clock (the node's
    #: ``since`` is the node's clock, never compared with the coordinator's). 0: not yet seen.
    pending_seen: float = 0.0
    #: The states it went through since it last left Online (at most :data:`TRAIL`), each
    #: by the clock of the node that wrote it: how the failover timeline learns when it
    #: went offline on the old node and online on the new one.
    trail: tuple[Mark, ...] = ()

    def marked(self, state: ResourceState, node: str, at: float) -> tuple[Mark, ...]:
        """The trail once ``node`` reports ``state``: leaving Online starts a new one (so a
        trail holds one transition, never the ones before), a repeated report adds nothing."""
        if self.trail and self.trail[-1][:2] == (state, node):
            return self.trail
        mark = Mark(state, node, round(at, 3))
        if self.state is ResourceState.ONLINE and state is not ResourceState.ONLINE:
            return (mark,)
        return (*self.trail, mark)[-TRAIL:]

    @property
    def restart_granted(self) -> bool:
        """The coordinator granted a restart for the current failure. Until the owner reports
        the restart (Online Pending), the resource stays Failed with this grant, which is not
        a further failure."""
        return self.state is ResourceState.FAILED and 0 < self.failures == self.granted

    def restarts_before(self, now: float, period_s: float) -> list[float]:
        """Restarts within ``period_s`` before ``now`` granted for earlier failures, the
        ones the restart threshold counts (a grant for the current failure is not one)."""
        earlier = self.restarts[:-1] if self.restart_granted else self.restarts
        return [t for t in earlier if now - t < period_s]


class TransitionKind(StrEnum):
    PLACE = "place"
    FAILOVER = "failover"
    FAILBACK = "failback"
    MOVE = "move"
    DRAIN = "drain"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Transition:
    """A group on its way to a new owner; a failed MOVE is rolled back to ``source`` (S39)."""

    kind: TransitionKind
    target: str
    source: str | None = None
    started: float = 0.0  # when the coordinator decided it (its wall clock)
    code: str = ""  # the decision's reason code (wolfpack.model.plan.Code)
    why: str = ""  # and its message
    requested: float = 0.0  # when an administrator asked for it (a move), else 0


@dataclass(frozen=True)
class GroupStatus:
    owner: str | None = None
    wanted: Wanted = Wanted.ONLINE  # PersistentState: what the administrator last asked for
    failovers: tuple[float, ...] = ()  # failover times, for the failover threshold
    transition: Transition | None = None
    #: The failover threshold was exceeded: the group stays offline until an administrator
    #: brings it online again (which clears this).
    failed_over_limit: bool = False
    #: Failovers over the group's whole life (``failovers`` is trimmed to recent history):
    #: the Prometheus counter ``wolfpack_group_failovers_total``.
    failovers_total: int = 0
    #: The last completed failover: when it completed and how long it took from the
    #: coordinator's decision until every resource was Online on the new owner (0: none yet).
    last_failover_at: float = 0.0
    last_failover_s: float = 0.0


class IntentKind(StrEnum):
    MOVE_GROUP = "move-group"
    ONLINE_GROUP = "online-group"
    OFFLINE_GROUP = "offline-group"
    ONLINE_RESOURCE = "online-resource"
    OFFLINE_RESOURCE = "offline-resource"
    FAIL_RESOURCE = "fail-resource"  # Initiate Failure
    CHANGE_GROUP = "change-group"  # move a resource to another group (S27, S36)

    @property
    def is_group(self) -> bool:
        """A request about a group (its subject names one); the others name a resource."""
        return self in _GROUP_KINDS


_GROUP_KINDS = frozenset({IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.OFFLINE_GROUP})


@dataclass(frozen=True)
class Intent:
    """An administrator's request, carried out (or refused with a reason) by the coordinator."""

    id: str
    kind: IntentKind
    subject: str  # group or resource name
    target: str | None = None  # node for a move, group for change-group
    created: float = 0.0

    def group_in(self, cfg: ClusterConfig) -> str | None:
        """The group this request is about (its subject, or its resource's group), or None
        when that does not exist in ``cfg``."""
        if self.kind.is_group:
            return self.subject if self.subject in cfg.groups else None
        res = cfg.resources.get(self.subject)
        return res.group if res is not None else None


@dataclass(frozen=True)
class NodeAdmin:
    """What an administrator set on a node (survives its restarts)."""

    paused: bool = False
    draining: bool = False
    #: unmanaged (``wolfpack node maintenance``): nothing of it is started, stopped, checked
    #: or failed over, and a daemon stopped or restarted leaves its resources running
    maintenance: bool = False


class OutcomeStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # refused by the policy, with its reason code
    FAILED = "failed"  # accepted, but writing it failed (the error's type is the code)


@dataclass(frozen=True)
class Outcome:
    """The coordinator's answer to a request, kept under ``outcomes/<id>``."""

    id: str
    status: OutcomeStatus
    code: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    config: ClusterConfig = field(default_factory=ClusterConfig)
    nodes: Mapping[str, NodeStatus] = field(default_factory=dict)
    groups: Mapping[str, GroupStatus] = field(default_factory=dict)
    resources: Mapping[str, ResourceStatus] = field(default_factory=dict)
    intents: tuple[Intent, ...] = ()
    revision: int = 0  # store revision the snapshot was read at
    #: each live node's report of its own interfaces (``links/<node>``); network and
    #: interface states are derived from it (:mod:`wolfpack.model.networks`)
    links: Mapping[str, NodeLinks] = field(default_factory=dict)

    def node(self, name: str) -> NodeStatus:
        """Status of a configured node; a node never heard from is Down."""
        return self.nodes.get(name, _NEVER_SEEN)

    def group(self, name: str) -> GroupStatus:
        return self.groups.get(name, _NEW_GROUP)

    def resource(self, name: str) -> ResourceStatus:
        return self.resources.get(name, _NEW_RESOURCE)


_NEVER_SEEN = NodeStatus(state=NodeState.DOWN, fenced=True)
_NEW_GROUP = GroupStatus()
_NEW_RESOURCE = ResourceStatus()
