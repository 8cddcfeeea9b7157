"""``wolfpack audit list``: who changed what through the REST API, and with what result."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from wolfpack.cli import output, parse
from wolfpack.cli.context import open_db
from wolfpack.cli.intent import when
from wolfpack.cli.runner import JsonFlag, verb

app = typer.Typer(help="The audit log of REST API changes: list.", no_args_is_help=True)

Since = Annotated[str, typer.Option(help="How far back: e.g. 10m, 1h, 2d.")]


@verb(app, "list")
def list_(
    since: Since = "1h",
    limit: Annotated[int, typer.Option(help="At most this many, the newest.", min=1)] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """List audit records, oldest first."""
    start = time.time() - parse.duration(since, "since")
    with open_db("the audit log") as db:
        from wolfpack.admin import audit  # heavy: only for this verb

        records = audit.list_records(db, start, limit)
    if as_json:
        output.print_json([r.as_dict() for r in records])
        return
    output.table(
        None,
        ("when", "who", "node", "request", "object", "status"),
        ((when(r.ts), r.who, r.node, f"{r.method} {r.path}", r.object, r.status) for r in records),
    )
