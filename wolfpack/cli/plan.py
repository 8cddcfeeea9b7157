"""``wolfpack plan``: what the coordinator would decide now, and why (reason codes)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from wolfpack.cli import output
from wolfpack.cli import snapshot as snapshot_files
from wolfpack.cli.context import open_cluster
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import NotFoundError
from wolfpack.model import codec
from wolfpack.model.plan import Plan
from wolfpack.model.snapshot import NodeStatus, Snapshot
from wolfpack.model.states import NodeState
from wolfpack.policy import explain, plan


def assume_down(snap: Snapshot, nodes: list[str], now: float) -> Snapshot:
    """What-if: ``nodes`` are lost (Down, and fenced, so their groups may move) at ``now``."""
    changed = dict(snap.nodes)
    for name in nodes:
        if name not in snap.config.nodes:
            raise NotFoundError("node", name)
        changed[name] = NodeStatus(NodeState.DOWN, since=now, fenced=True)
    return dataclasses.replace(snap, nodes=changed)


def show(result: Plan) -> None:
    output.table(
        "actions",
        ("action", "subject", "node", "from", "reason"),
        ((a.kind, a.subject, a.node, a.source, a.reason.code) for a in result.actions),
    )
    if result.notes:
        output.table(
            "notes",
            ("subject", "reason", "why"),
            ((n.subject, n.reason.code, n.reason.message) for n in result.notes),
        )


def register(app: typer.Typer) -> None:
    @verb(app, "plan")
    def plan_(
        explain_: Annotated[
            bool, typer.Option("--explain", help="One line per action, with why.")
        ] = False,
        now: Annotated[
            float | None,
            typer.Option(help="Decide as of this epoch time (default: now, or a scenario's)."),
        ] = None,
        source: Annotated[
            Path | None,
            typer.Option("--from", help="Decide from a snapshot file, not the cluster database."),
        ] = None,
        down: Annotated[
            list[str] | None,
            typer.Option("--assume-down", help="What-if: treat this node as lost (repeatable)."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Show what the coordinator would do now (actions and deliberate non-actions)."""
        file_now: float | None = None
        if source is not None:
            snap, file_now = snapshot_files.load(source)
        else:
            with open_cluster() as db:
                snap = db.read_snapshot()
        when = now if now is not None else file_now if file_now is not None else time.time()
        result = plan(assume_down(snap, down or [], when), when)
        if as_json:
            output.print_json(codec.dump(result))
        elif explain_:
            for line in explain(result):
                output.message(line)
        else:
            show(result)
