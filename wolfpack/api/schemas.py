"""The shapes of the API's answers, for the OpenAPI document only.

Routes answer with pre-encoded JSON (:class:`~wolfpack.api.routes.common.JSONBytes`), so these
models validate nothing at run time; they say what a client gets. The configuration objects
and their observed status come from the model's own dataclasses
(:mod:`wolfpack.api.openapi`), so a new field shows up here without anyone writing it twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wolfpack.model.node_facts import NodeFacts


class _Open(BaseModel):
    """Answers may gain fields; clients ignore what they do not know."""

    model_config = ConfigDict(extra="allow")


class ErrorField(BaseModel):
    field: str = Field(description="the bad field, dotted: groups.Web.failover_threshold")
    message: str


class ErrorDetail(BaseModel):
    type: str = Field(description="the error kind: ValidationError, NotFoundError, AuthError...")
    message: str
    fields: list[ErrorField] = Field(description="every bad field (ValidationError), else []")
    code: str | None = Field(
        None, description="a refusal's reason code (RejectedError): TARGET_NOT_ELIGIBLE..."
    )


class Error(BaseModel):
    """Every error, whatever its status."""

    error: ErrorDetail


class Whoami(BaseModel):
    name: str
    role: str = Field(description="admin or read-only")


class Outcome(BaseModel):
    id: str
    status: str = Field(description="accepted, rejected or failed")
    code: str
    message: str


class Request(_Open):
    """An administrator's request for the coordinator, and its answer once there is one."""

    id: str
    status: str = Field(description="pending, accepted, rejected or failed")
    kind: str | None = Field(None, description="move-group, online-group, ... (pending ones)")
    subject: str | None = None
    target: str | None = None
    created: float | None = None
    outcome: Outcome | None = None


class NodeAdmin(BaseModel):
    node: str
    paused: bool
    draining: bool
    maintenance: bool = Field(description="unmanaged: nothing of it is started or stopped")


class Token(BaseModel):
    name: str
    role: str
    created: float
    previous_until: float | None = Field(
        None, description="Rotated: the previous secret is accepted until then (epoch s)"
    )


class NewTokenAnswer(Token):
    token: str = Field(description="NAME.SECRET: shown this once, never again")


class AuditRecord(_Open):
    id: str
    ts: float
    node: str
    who: str
    role: str
    method: str
    path: str
    object: str
    status: int
    body: str = ""


class LogLine(_Open):
    """One JSON line of a wolfpackd log, with ``source``: the node whose log it is."""

    ts: float
    event: str
    source: str
    node: str | None = None
    level: str | None = None


class Unreachable(BaseModel):
    node: str
    error: str


class ClusterLog(BaseModel):
    lines: list[LogLine]
    unreachable: list[Unreachable]


class PlanAnswer(_Open):
    """What the coordinator would do now (actions), what it deliberately does not (notes)."""

    actions: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    explain: list[str] = Field(description="one line per action and note")
    revision: int


class TimelineEvent(_Open):
    phase: str = Field(
        description="requested, last-heard, detected, fencing, fenced, decided, stopping, "
        "offline, starting, failed, online, complete or abandoned"
    )
    at: float = Field(description="when, by the wall clock of the machine it happened on")
    offset_ms: int = Field(description="from the timeline's first event")
    step_ms: int = Field(description="from the event before")
    node: str
    resource: str = Field(description="the resource it is about, or empty")
    detail: str


class Timeline(_Open):
    """One failover, move, failback or placement of a group, phase by phase."""

    group: str
    kind: str = Field(description="place, failover, failback, move, drain or rollback")
    source: str | None = Field(description="the old owner")
    target: str = Field(description="the new owner")
    code: str = Field(description="the decision's reason code: FAILOVER_NODE_DOWN...")
    why: str
    ending: str = Field(description="in-progress, complete, superseded or failed")
    started: float
    decided: float
    ended: float | None
    duration_ms: int
    milestones: dict[str, float] = Field(
        description="when each milestone was reached: requested, detected, fenced, decided, "
        "offline (the last resource), starting (the first), online (the last)"
    )
    phases_ms: dict[str, int] = Field(
        description="milliseconds between consecutive milestones, e.g. detected_to_fenced"
    )
    events: list[TimelineEvent]


class GroupHistory(BaseModel):
    group: str
    current: Timeline | None = Field(description="the transition under way, if any")
    timelines: list[Timeline] = Field(description="the last finished ones, newest first")


#: models the OpenAPI document adds to its components, by name
class NodeValidation(BaseModel):
    """A node's facts for ``wolfpack cluster validate`` (``facts``), or why it could not
    be asked (``error``); ``asked_by``: the node whose API answered and whose clock
    ``facts.clock.reference_*`` is."""

    node: str
    asked_by: str
    facts: NodeFacts | None
    error: str | None


MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Whoami,
    Request,
    NodeAdmin,
    Token,
    NewTokenAnswer,
    AuditRecord,
    ClusterLog,
    LogLine,
    PlanAnswer,
    GroupHistory,
    NodeValidation,
)
