"""``wolfpack events``: changes in the cluster database as they happen (the same events as
the API's ``/api/v1/events``), from a store watch."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from wolfpack.admin.events import describe
from wolfpack.cli import output
from wolfpack.cli.context import open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import StoreError

DEFAULT_LAST = 20


def register(app: typer.Typer) -> None:
    @verb(app, "events")
    def events_(
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="Keep printing new changes.")
        ] = False,
        last: Annotated[
            int, typer.Option(help="Start with the changes of the last N revisions.", min=0)
        ] = DEFAULT_LAST,
        count: Annotated[
            int, typer.Option(help="Stop after this many events (0: no limit).", min=0)
        ] = 0,
        timeout: Annotated[
            float, typer.Option(help="Stop after this many seconds (0: no limit).", min=0)
        ] = 0.0,
        as_json: JsonFlag = False,
    ) -> None:
        """Print recent changes (``--follow``: and every new one; one JSON per line)."""
        deadline = time.monotonic() + timeout if timeout else None
        printed = 0
        with open_db("events") as db:
            revision = db.revision()
            start = max(1, revision - last + 1) if last else revision + 1
            watch = db.watch(start)
            with watch:
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    wait = 0.5 if left is None else min(0.5, left)
                    try:
                        event = watch.get(timeout=wait)
                    except StoreError:
                        if start > revision:
                            raise
                        # that history was compacted away: follow from now on (closing the
                        # store at the end cancels this watch too)
                        watch.cancel()
                        start = revision + 1
                        watch = db.watch(start)
                        continue
                    if event is None:
                        if not follow:
                            break  # history replayed; nothing new within half a second
                        continue
                    data = describe(db.root, event)
                    if as_json:
                        typer.echo(output.json_line(data))
                    else:
                        name = f" {data['name']}" if data["name"] else ""
                        output.message(
                            f"{data['revision']:>8} {data['type']:<6} {data['section']}/"
                            f"{data['kind']}{name}"
                        )
                    printed += 1
                    if count and printed >= count:
                        break
