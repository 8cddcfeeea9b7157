"""The one exception tree of Wolfpack.

Every error a user can see is one of these, so the CLI and the API can turn it into a clear
message and an exit code or HTTP status without knowing where it came from. Third-party
exceptions are translated at the edge that calls the library (``raise ... from exc``).

::

    WolfpackError                 base; ``http_status`` is a hint for the API
    ├── ValidationError           bad input; names every offending field (422)
    │   └── DependencyCycleError  resource dependencies form a cycle; names it
    ├── NotFoundError             a named object does not exist (404)
    │   └── NoClusterError        * no cluster at this prefix yet (store/database_read.py)
    ├── AlreadyExistsError        create of a name that exists (409)
    ├── IllegalTransition         a state machine was asked for a transition it lacks (409)
    ├── RejectedError             a request the policy refuses, with a reason code (409)
    ├── AgentError                a resource agent failed; ``code`` is its OCF-like result
    ├── FenceError                a fence agent did not confirm a node is off (503)
    ├── AuthError                 no or an unknown API token (401)
    ├── ForbiddenError            the token's role may not do this (403)
    ├── PayloadTooLarge           a request body over the API's limit (413)
    ├── MembershipError           * the heartbeat service failed (a socket would not bind)
    │                               (node/heartbeat_socket.py)
    ├── PacketError               * a heartbeat datagram was refused (node/heartbeat_wire.py)
    │   ├── MalformedPacket       * not a heartbeat, truncated, or for another network
    │   └── BadSignature          * its HMAC does not match the cluster secret
    ├── NodeIdentityConflict      * another running daemon holds this node's liveness key
    │                               (node/lease.py)
    ├── Unreachable               * a join's answer did not come; asked again (node/join_client.py)
    ├── WaitTimeout               * ``--wait`` gave up before the cluster got there (cli/wait.py)
    ├── ScenarioError             * a policy scenario file is invalid (tools/scenarios.py)
    ├── LabError                  * a lab network, disk or process step failed (lab/netns.py)
    │   └── BindError             * the lab's BIND server would not start (lab/bind.py)
    ├── LabStateError             * the lab's state file is missing or unreadable (lab/state.py)
    ├── NotInjectable             * a chaos fault's target changed before it could be made
    │                               (lab/chaos_lab_faults.py)
    └── StoreError                the cluster database failed (503)
        ├── StoreUnavailable      etcd cannot be reached
        ├── ConflictError         a revision check failed: someone else wrote first (409)
        │   └── ClaimHeld         a claim (a disk) is held by another node or resource
        ├── LeaseNotFound         a lease expired or was revoked (410)
        └── SchemaVersionError    * the database has another schema version
                                    (store/database_read.py)

``*``: defined beside the code that raises it (in the module named), to keep imports
flowing downward; each still derives from this tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class WolfpackError(Exception):
    """Base of every Wolfpack error."""

    http_status: int = 500


@dataclass(frozen=True)
class FieldError:
    """One problem with one field; ``field`` is a dotted path (``groups.Web.failback``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(WolfpackError):
    """Input was refused; nothing was changed. ``errors`` lists every bad field."""

    http_status = 422

    def __init__(self, errors: Sequence[FieldError] | FieldError) -> None:
        self.errors: tuple[FieldError, ...] = (
            (errors,) if isinstance(errors, FieldError) else tuple(errors)
        )
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        return cls(FieldError(field, message))


class DependencyCycleError(ValidationError):
    """Dependencies would loop; ``cycle`` is the loop, first name repeated at the end."""

    def __init__(self, field: str, cycle: Sequence[str], others: Sequence[FieldError] = ()) -> None:
        self.cycle = tuple(cycle)
        error = FieldError(field, "dependency cycle: " + " -> ".join(self.cycle))
        super().__init__((error, *others))


class NotFoundError(WolfpackError):
    http_status = 404

    def __init__(self, kind: str, name: str, *, message: str | None = None) -> None:
        self.kind, self.name = kind, name
        super().__init__(message or f"{kind} {name!r} does not exist")


class AlreadyExistsError(WolfpackError):
    http_status = 409

    def __init__(self, kind: str, name: str, *, message: str | None = None) -> None:
        self.kind, self.name = kind, name
        super().__init__(message or f"{kind} {name!r} already exists")


class IllegalTransition(WolfpackError):
    """A state machine has no row for (state, event)."""

    http_status = 409

    def __init__(self, machine: str, state: str, event: str) -> None:
        self.machine, self.state, self.event = machine, state, event
        super().__init__(f"{machine}: no transition from {state} on {event}")


class RejectedError(WolfpackError):
    """The policy refused a request; ``code`` is the stable reason code."""

    http_status = 409

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class FenceError(WolfpackError):
    """A fence agent did not confirm that a node is powered off (or on, for unfence).

    Until a fence is confirmed, nothing of that node may start elsewhere: the caller waits
    for the node's lease to expire instead.
    """

    http_status = 503


class AgentResult(StrEnum):
    """OCF-like outcome of an agent call. "Not running" (cleanly stopped) is not a failure."""

    OK = "ok"
    NOT_RUNNING = "not_running"
    ERR_GENERIC = "err_generic"  # it ran and failed, or timed out
    ERR_ARGS = "err_args"  # the agent was called wrongly (another type's resource)
    ERR_CONFIGURED = "err_configured"  # a property value is wrong (or names what is missing)
    ERR_INSTALLED = "err_installed"  # a program the resource needs is missing on this node
    ERR_PERM = "err_perm"  # this daemon lacks the right to do it
    #: held elsewhere (the address answers from another host, the disk's MMP block ticks):
    #: the start waits for its release instead of counting as a failure
    ERR_BUSY = "err_busy"


class AgentError(WolfpackError):
    """A resource agent could not do what it was asked on this node.

    ``code`` says how, OCF-like: ``ERR_INSTALLED`` (a program is missing here),
    ``ERR_CONFIGURED`` (a property is wrong, e.g. names an unknown account), ``ERR_PERM``,
    ``ERR_GENERIC`` (it started and failed, or timed out). The message names the resource,
    the node and, where one is at fault, the property.
    """

    def __init__(self, code: AgentResult, message: str) -> None:
        self.code = code
        super().__init__(message)


class AuthError(WolfpackError):
    """An API request without a valid token."""

    http_status = 401


class ForbiddenError(WolfpackError):
    """An API token whose role does not allow the request (read-only on a change)."""

    http_status = 403


class PayloadTooLarge(WolfpackError):
    http_status = 413


class StoreError(WolfpackError):
    http_status = 503


class StoreUnavailable(StoreError):
    pass


class ConflictError(StoreError):
    http_status = 409


class ClaimHeld(ConflictError):
    """Another node (or another resource) holds the claim asked for, e.g. a disk's."""


class LeaseNotFound(StoreError):
    http_status = 410


def error_document(
    kind: str, message: str, fields: Sequence[Mapping[str, str]] = (), code: str | None = None
) -> dict[str, Any]:
    """The REST API's error shape, ``{type, message, fields[, code]}``: the one place that
    says it (the API's own errors and :func:`to_document`)."""
    doc: dict[str, Any] = {"type": kind, "message": message, "fields": [dict(f) for f in fields]}
    if code is not None:
        doc["code"] = code
    return doc


def to_document(exc: WolfpackError) -> dict[str, Any]:
    """``exc`` as the REST API answers with it; what :func:`from_document` turns back into
    the same error."""
    fields = (
        [{"field": f.field, "message": f.message} for f in exc.errors]
        if isinstance(exc, ValidationError)
        else []
    )
    code = getattr(exc, "code", None)
    return error_document(
        type(exc).__name__, str(exc), fields, code if isinstance(code, str) else None
    )


def from_document(doc: Mapping[str, Any], http_status: int) -> WolfpackError:
    """The error a REST API answered with (``{type, message, fields, code}``, written by
    ``api/errors.py``) as the error it was on the server, so a client prints the same
    message and exits with the same code. A type not known here is a WolfpackError."""
    message = str(doc.get("message", ""))
    kind = str(doc.get("type", ""))
    if kind in ("ValidationError", "DependencyCycleError") or http_status == 422:
        fields = [
            FieldError(str(f.get("field", "")), str(f.get("message", "")))
            for f in doc.get("fields") or []
            if isinstance(f, Mapping)
        ]
        return ValidationError(fields or [FieldError("request", message)])
    if kind == "RejectedError" or "code" in doc:
        return RejectedError(str(doc.get("code", "")), message)
    if kind in _NAMED:
        return _NAMED[kind]("", "", message=message)
    return _PLAIN.get(kind, WolfpackError)(message)


_NAMED: Mapping[str, type[NotFoundError] | type[AlreadyExistsError]] = {
    "NotFoundError": NotFoundError,
    "AlreadyExistsError": AlreadyExistsError,
}
#: the errors that carry nothing but their message
_PLAIN: Mapping[str, type[WolfpackError]] = {
    cls.__name__: cls
    for cls in (
        FenceError, AuthError, ForbiddenError, PayloadTooLarge, StoreError, StoreUnavailable,
        ConflictError, ClaimHeld, LeaseNotFound,
    )
}  # fmt: skip
