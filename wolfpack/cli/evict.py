"""``wolfpack node evict NAME`` (Remove-ClusterNode): :mod:`wolfpack.admin.evict`."""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack.cli import output
from wolfpack.cli.audited import CountingStore
from wolfpack.cli.context import open_db
from wolfpack.cli.runner import JsonFlag, verb


def register(app: typer.Typer) -> None:
    @verb(app, "evict")
    def evict_(
        name: Annotated[str, typer.Argument(help="The node to evict.")],
        as_json: JsonFlag = False,
    ) -> None:
        """Remove a node from the cluster: its configuration (and its name from owner
        lists), its etcd member and users, its state. Refused while it owns groups, for the
        last voting etcd member, or when the other voters would lose quorum. Then run
        'wolfpack cluster destroy' on the evicted host to remove its files."""
        from wolfpack.admin.evict import evict

        with open_db("node evict") as db:
            counting = db.store
            assert isinstance(counting, CountingStore)
            done = evict(counting.inner, db, name)  # type: ignore[arg-type]
        if as_json:
            output.print_json(done)
        else:
            member = "its etcd member removed" if done["etcd_member_removed"] else "no member"
            typer.echo(f"evicted {name}: {member}; run 'wolfpack cluster destroy' on it")
