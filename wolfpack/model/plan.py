"""The output of the policy: actions and deliberate non-actions, each with a reason.

Reason codes are stable identifiers (tests and tools match on them); messages are for people
and may change freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wolfpack.model.snapshot import TransitionKind
from wolfpack.model.states import Wanted


class Code(StrEnum):
    # placement of a group
    PLACE_INITIAL = "PLACE_INITIAL"
    FAILOVER_NODE_DOWN = "FAILOVER_NODE_DOWN"
    FAILOVER_RESOURCE_FAILED = "FAILOVER_RESOURCE_FAILED"
    FAILBACK = "FAILBACK"
    MOVE_REQUESTED = "MOVE_REQUESTED"
    MOVE_ROLLBACK = "MOVE_ROLLBACK"
    DRAIN_NODE = "DRAIN_NODE"
    # start and stop
    ONLINE_REQUESTED = "ONLINE_REQUESTED"
    OFFLINE_REQUESTED = "OFFLINE_REQUESTED"
    START_WANTED = "START_WANTED"
    RESTART_RESOURCE = "RESTART_RESOURCE"
    PENDING_TIMEOUT = "PENDING_TIMEOUT"
    INITIATE_FAILURE = "INITIATE_FAILURE"
    CHANGE_GROUP = "CHANGE_GROUP"
    TRANSITION_COMPLETE = "TRANSITION_COMPLETE"
    PENDING_SEEN = "PENDING_SEEN"  # the coordinator starts timing a pending state
    AWAITING_TERMINATION = "AWAITING_TERMINATION"  # a failure was requested; the owner confirms
    ACTIVE_ELSEWHERE = "ACTIVE_ELSEWHERE"  # stop a resource on a node that no longer owns it
    #: a resource wanted offline is still reported by a node that runs nothing (down and
    #: fenced, or evicted): the coordinator records it Offline
    OFFLINE_ON_LOST_NODE = "OFFLINE_ON_LOST_NODE"
    # safety
    FENCE_NODE = "FENCE_NODE"
    AWAITING_FENCE = "AWAITING_FENCE"
    # failure limits
    FAILOVER_THRESHOLD_EXCEEDED = "FAILOVER_THRESHOLD_EXCEEDED"
    RESTART_THRESHOLD_EXCEEDED = "RESTART_THRESHOLD_EXCEEDED"
    RESTART_DISABLED = "RESTART_DISABLED"
    NO_ELIGIBLE_NODE = "NO_ELIGIBLE_NODE"
    AWAITING_PREFERRED_NODE = "AWAITING_PREFERRED_NODE"  # initial placement waits for a joiner
    OWNER_JOINING = "OWNER_JOINING"  # the owner rejoins; nothing starts there until it is Up
    DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
    OWNER_IN_MAINTENANCE = "OWNER_IN_MAINTENANCE"  # unmanaged: nothing is done to the group
    # failback not done, and why
    FAILBACK_PREVENTED = "FAILBACK_PREVENTED"
    FAILBACK_OUTSIDE_WINDOW = "FAILBACK_OUTSIDE_WINDOW"
    FAILBACK_AWAITING_STABILITY = "FAILBACK_AWAITING_STABILITY"
    # refusals of administrator requests
    UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
    TARGET_NOT_ELIGIBLE = "TARGET_NOT_ELIGIBLE"
    NOT_POSSIBLE_OWNER = "NOT_POSSIBLE_OWNER"
    ALREADY_OWNER = "ALREADY_OWNER"
    RESOURCE_HAS_DEPENDENCIES = "RESOURCE_HAS_DEPENDENCIES"
    SAME_GROUP = "SAME_GROUP"
    NOT_ONLINE = "NOT_ONLINE"
    INTENT_DEFERRED = "INTENT_DEFERRED"  # the group already has an action; next plan


@dataclass(frozen=True)
class Reason:
    code: Code
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ActionKind(StrEnum):
    """What the coordinator's executor does with an action, and writes nothing else.

    Every action names what it writes; the executor reads no reason code and no request (the
    reason is explanation only). ``forecast`` actions say what a node will do by itself (its
    own plan, :mod:`wolfpack.policy.local`): the executor writes nothing for them.
    """

    FENCE_NODE = "fence-node"  # fence ``node`` (power it off) before its groups start elsewhere
    #: ``group`` gets owner ``node`` (from ``source``) and ``transition``; ``counted`` adds a
    #: failover time; ``group_wanted`` and ``resources_wanted`` (if set) are recorded; a
    #: failover limit is cleared
    PLACE_GROUP = "place-group"
    #: record ``group_wanted``/``resources_wanted`` (a failover limit is cleared); the owner
    #: brings ``steps`` online by itself
    START_GROUP = "start-group"
    STOP_GROUP = "stop-group"  # record ``group_wanted``/``resources_wanted``; ``steps`` stop
    RESTART_RESOURCES = "restart-resources"  # grant a restart of ``resources`` for their failure
    #: ask ``node`` to fail ``resources`` (Initiate Failure, pending timeout): a request the
    #: owner carries out and confirms with its own Failed report
    FAIL_RESOURCES = "fail-resources"
    #: record, by the coordinator's clock, when it first saw ``resources`` pending on ``node``
    STAMP_PENDING = "stamp-pending"
    GROUP_FAILED = "group-failed"  # failover threshold exceeded: stop and stay offline
    #: the resource in ``resources`` moves from group ``subject`` to group ``target``; ``node``
    #: is where it runs now (if the target group is owned elsewhere it is stopped there)
    CHANGE_GROUP = "change-group"
    COMPLETE_TRANSITION = "complete-transition"  # the group is online at its new owner
    #: ``resources`` are recorded Offline on ``node``, which runs nothing (down and fenced, or
    #: no longer a cluster node); only while they still say ``node``
    MARK_OFFLINE = "mark-offline"
    REJECT_INTENT = "reject-intent"  # the request ``intent`` is refused


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    subject: str  # the group (node for fencing, resource for change-group)
    reason: Reason
    node: str | None = None  # where it happens / new owner
    source: str | None = None  # previous owner for a placement
    target: str | None = None  # new group for change-group
    #: Ordered steps; the names within one step may run in parallel. For PLACE_GROUP these
    #: are the online steps on ``node`` (the old owner stops them in reverse order first).
    steps: tuple[tuple[str, ...], ...] = ()
    intent: str | None = None  # id of the request this carries out or refuses
    requested: float = 0.0  # when that request was made (the failover timeline shows it)
    online: bool = True  # for PLACE_GROUP: bring the group online at the new owner
    # -- what the executor writes (see ActionKind) ---------------------------------------
    transition: TransitionKind | None = None  # PLACE_GROUP: the transition recorded
    counted: bool = False  # PLACE_GROUP: a failover, counted against the threshold
    group_wanted: Wanted | None = None  # the group's persistent state to record
    resources_wanted: Wanted | None = None  # the persistent state of ``resources`` to record
    resources: tuple[str, ...] = ()  # the resources the action writes about
    forecast: bool = False  # nothing to write: the nodes do it by their own plan


@dataclass(frozen=True)
class Note:
    """A deliberate non-action, so ``wolfpack plan --explain`` can say why nothing happens."""

    subject: str
    reason: Reason


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    notes: tuple[Note, ...] = ()

    def for_subject(self, subject: str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.subject == subject)

    def owners(self) -> dict[str, str]:
        """Group -> new owner for every placement in this plan."""
        return {
            a.subject: a.node
            for a in self.actions
            if a.kind is ActionKind.PLACE_GROUP and a.node is not None
        }
