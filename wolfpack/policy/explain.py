"""Plans for people: one readable line per action or note, and up-front request checks."""

from __future__ import annotations

from wolfpack.errors import NotFoundError, RejectedError
from wolfpack.model.dependencies import Steps
from wolfpack.model.plan import Action, ActionKind, Plan
from wolfpack.model.snapshot import Snapshot
from wolfpack.policy.context import PlanContext
from wolfpack.policy.intents import move_refusal


def format_steps(steps: Steps) -> str:
    return " -> ".join("{" + ", ".join(s) + "}" if len(s) > 1 else s[0] for s in steps if s)


def describe(action: Action) -> str:
    where = action.node or "-"
    head = {
        ActionKind.PLACE_GROUP: f"place {action.subject} on {where}"
        + (f" (from {action.source})" if action.source else ""),
        ActionKind.FENCE_NODE: f"fence {action.subject}",
        ActionKind.START_GROUP: f"start in {action.subject} on {where}",
        ActionKind.STOP_GROUP: f"stop in {action.subject} on {where}",
        ActionKind.RESTART_RESOURCES: f"restart in {action.subject} on {where}",
        ActionKind.FAIL_RESOURCES: f"ask {where} to fail in {action.subject}",
        ActionKind.STAMP_PENDING: f"time pending {', '.join(action.resources)} on {where}",
        ActionKind.GROUP_FAILED: f"stop {action.subject}: failed",
        ActionKind.CHANGE_GROUP: f"change group of {format_steps(action.steps)} to {action.target}",
        ActionKind.COMPLETE_TRANSITION: f"{action.subject} settled on {where}",
        ActionKind.MARK_OFFLINE: f"record {', '.join(action.resources)} Offline on {where}",
        ActionKind.REJECT_INTENT: f"refuse request {action.intent} for {action.subject}",
    }[action.kind]
    if action.steps and action.kind is not ActionKind.CHANGE_GROUP:
        head += f" [{format_steps(action.steps)}]"
    if action.forecast:
        head += " (by the node itself)"
    return head


def explain(plan: Plan) -> list[str]:
    lines = [f"* {describe(a)}\n    {a.reason.code}: {a.reason.message}" for a in plan.actions]
    lines += [f"- {n.subject}: {n.reason.code}: {n.reason.message}" for n in plan.notes]
    return lines or ["nothing to do"]


def check_move(snap: Snapshot, group: str, target: str) -> None:
    """Raise a clear error now if moving ``group`` to ``target`` would be refused."""
    if group not in snap.config.groups:
        raise NotFoundError("group", group)
    refusal = move_refusal(PlanContext(snap, 0.0), group, target)
    if refusal is not None:
        raise RejectedError(str(refusal[0]), refusal[1])
