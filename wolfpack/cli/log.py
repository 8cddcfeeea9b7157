"""``wolfpack log``: the cluster log (Get-ClusterLog): every node's wolfpackd log lines,
merged by time, through a node's REST API (each node keeps its own lines)."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from wolfpack.cli import output
from wolfpack.cli.context import api_get
from wolfpack.cli.runner import JsonFlag, verb

ApiOption = Annotated[
    str | None,
    typer.Option("--api", help="REST API URL(s), comma-separated (default: $WOLFPACK_API, "
                 "else every node's registered API)."),
]  # fmt: skip
TokenOption = Annotated[
    str | None, typer.Option("--token", help="API token (default: $WOLFPACK_TOKEN).")
]


def register(app: typer.Typer) -> None:
    @verb(app, "log")
    def log_(
        since: Annotated[str, typer.Option(help="How far back: e.g. 10m, 1h.")] = "10m",
        node: Annotated[str | None, typer.Option(help="Only this node's lines.")] = None,
        limit: Annotated[int, typer.Option(help="At most this many lines.", min=1)] = 1000,
        api: ApiOption = None,
        token: TokenOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Show the cluster log: what every wolfpackd logged, oldest first."""
        params = {"since": since, "limit": str(limit), **({"node": node} if node else {})}
        body = api_get("log", params, api=api, token=token)
        if as_json:
            output.print_json(body)
            return
        for line in body["lines"]:
            ts = datetime.datetime.fromtimestamp(float(line.get("ts", 0)), datetime.UTC)
            rest = {k: v for k, v in line.items() if k not in ("ts", "node", "event")}
            extra = " ".join(f"{k}={v}" for k, v in rest.items())
            output.message(
                f"{ts:%H:%M:%S.%f}"[:-3] + f" {line.get('node', '-')} {line.get('event')} {extra}"
            )
        for gone in body["unreachable"]:
            output.error(f"{gone['node']}: no answer ({gone['error']})")
