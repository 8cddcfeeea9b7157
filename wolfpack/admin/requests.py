"""Administrator requests: intents for the coordinator.

A request is carried out by the coordinator, which may still refuse it with a reason code.
What can be judged at once (an unknown object, an ineligible move target, a resource with
dependencies changing group, S36) is refused here and nothing is written.
"""

from __future__ import annotations

from typing import Any

from wolfpack.errors import NotFoundError, RejectedError
from wolfpack.model import codec
from wolfpack.model.snapshot import Intent, IntentKind, Outcome, Snapshot
from wolfpack.policy import check_move
from wolfpack.store.cluster import Cluster, RequestCheck


def check_change_group(snap: Snapshot, name: str, group: str) -> None:
    """Change Group (S27) is only for a resource without dependencies either way (S36)."""
    cfg = snap.config
    if group not in cfg.groups:
        raise NotFoundError("group", group)
    res = cfg.resources[name]
    if res.group == group:
        raise RejectedError("SAME_GROUP", f"resource {name!r} is already in group {group!r}")
    related = cfg.dependency_relations(name)
    if related:
        raise RejectedError(
            "RESOURCE_HAS_DEPENDENCIES",
            f"resource {name!r} has dependency relations ({', '.join(related)}): only a "
            "resource without dependencies may change group (S36)",
        )


def check_request(snap: Snapshot, kind: IntentKind, subject: str, target: str | None) -> None:
    """Raise what can be refused now: unknown subject, bad move target, S36."""
    if kind.is_group and subject not in snap.config.groups:
        raise NotFoundError("group", subject)
    if not kind.is_group and subject not in snap.config.resources:
        raise NotFoundError("resource", subject)
    if kind is IntentKind.MOVE_GROUP and target is not None:
        check_move(snap, subject, target)
    if kind is IntentKind.CHANGE_GROUP:
        if target is None:
            raise NotFoundError("group", "")
        check_change_group(snap, subject, target)


def checker(kind: IntentKind, subject: str, target: str | None) -> RequestCheck:
    """:func:`check_request` of this request, for ``add_intent(check=...)``."""

    def check(snap: Snapshot) -> None:
        check_request(snap, kind, subject, target)

    return check


def submit(db: Cluster, kind: IntentKind, subject: str, target: str | None) -> Intent:
    """Check the request and record it. The check runs where it is recorded: on this
    process's database, or over the REST API on the server (the one check, no read here)."""
    return db.add_intent(kind, subject, target, check=checker(kind, subject, target))


def intent_document(intent: Intent, result: Outcome | None) -> dict[str, Any]:
    """A request as the API shows it: the request, its status, and the answer if any."""
    return {
        **codec.dump(intent, exclude_defaults=False),
        "status": str(result.status) if result else "pending",
        "outcome": codec.dump(result, exclude_defaults=False) if result else None,
    }
