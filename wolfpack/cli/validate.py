"""``wolfpack cluster validate``: the cluster validation report (S1, WSFC's Test-Cluster).

Every node is asked for its facts through a REST API (``GET /api/v1/nodes/{name}/validation``:
the API relays to the node, which looks at itself), in parallel; the pure judge
(:mod:`wolfpack.policy.validate`) compares them with the configuration. A table per check and
node, or ``--json`` the report. Exit 0: no failure (warnings allowed); 1: a check failed;
3: a node could not be asked (its checks are unknown). docs/troubleshooting.md, "Reading a
validation report", says how to fix each finding.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Annotated
from urllib.parse import quote

import typer

from wolfpack.cli import output
from wolfpack.cli.context import api_get, open_cluster
from wolfpack.cli.log import ApiOption, TokenOption
from wolfpack.cli.runner import EXIT_ERROR, EXIT_UNAVAILABLE, JsonFlag, verb
from wolfpack.errors import ValidationError, WolfpackError
from wolfpack.model import codec
from wolfpack.model.node_facts import NodeFacts, ValidationReport, report_document
from wolfpack.policy.validate import judge, nodes_to_ask

#: nodes asked at once
PARALLEL = 8
STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def ask(node: str, api: str | None, token: str | None) -> NodeFacts | str:
    """``node``'s facts through an API, or why it could not be asked."""
    try:
        body = api_get(f"nodes/{quote(node, safe='')}/validation", {}, api=api, token=token)
    except ValidationError:
        raise  # no API or token given: the whole command cannot run
    except WolfpackError as exc:
        return str(exc)
    if not isinstance(body, dict) or body.get("facts") is None:
        return str(body.get("error") if isinstance(body, dict) else "no answer") or "no facts"
    try:
        return codec.parse(NodeFacts, body["facts"])
    except ValidationError as exc:
        return f"an answer this CLI cannot read ({exc})"


def ask_all(
    names: list[str], api: str | None, token: str | None, show: bool
) -> dict[str, NodeFacts | str]:
    found: dict[str, NodeFacts | str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {pool.submit(ask, n, api, token): n for n in names}
        if not show:
            for future in concurrent.futures.as_completed(futures):
                found[futures[future]] = future.result()
            return found
        from rich.progress import Progress, SpinnerColumn, TextColumn

        columns = (SpinnerColumn(), TextColumn("{task.description}"))
        with Progress(*columns, console=output.console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"asking {len(names)} nodes", total=len(names))
            for future in concurrent.futures.as_completed(futures):
                found[futures[future]] = future.result()
                waiting = sorted(set(names) - set(found))
                bar.update(task, advance=1, description=f"waiting for {', '.join(waiting)}")
    return found


def exit_code(report: ValidationReport) -> int:
    if report.unasked:
        return EXIT_UNAVAILABLE
    return EXIT_ERROR if report.with_verdict("fail") else 0


def show(report: ValidationReport, cluster: str) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"Validation of cluster {cluster}", title_justify="left", show_edge=False)
    for h in ("check", "node", "verdict", "code", "message"):
        t.add_column(h, overflow="fold")
    for r in report.rows:
        verdict = Text(r.verdict, style=STYLE.get(r.verdict, ""))
        t.add_row(Text(r.check), Text(r.node), verdict, Text(r.code), Text(r.message))
    output.console().print(t)
    counts = {v: len(report.with_verdict(v)) for v in ("pass", "warn", "fail")}
    summary = f"{len(report.nodes)} nodes: " + ", ".join(f"{n} {v}" for v, n in counts.items())
    output.message(summary)
    if report.unasked:
        output.error(
            f"not asked: {', '.join(report.unasked)}; start wolfpackd there (or check its API "
            "address with `wolfpack status`) and validate again"
        )
    elif counts["fail"]:
        output.error("fix each fail above (docs/troubleshooting.md, 'Reading a validation report')")


def register(app: typer.Typer) -> None:
    @verb(app, "validate")
    def validate_(
        nodes: Annotated[
            list[str] | None,
            typer.Option("--node", help="Validate only this node; repeat for more."),
        ] = None,
        api: ApiOption = None,
        token: TokenOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Validate the cluster (Test-Cluster): ask every node what it sees (networks and
        peers, names, clock, shared disks, programs of the resource types in use, etcd,
        fence agent, watchdog) and judge it. Exit 0: no failure; 1: a check failed; 3: a
        node could not be asked."""
        with open_cluster() as cluster:
            cfg, _ = cluster.load_config()
        found = ask_all(nodes_to_ask(cfg, nodes, "--node"), api, token, show=not as_json)
        report = judge(cfg, found, time.time())
        if as_json:
            output.print_json(report_document(report))
        else:
            show(report, cfg.cluster.name)
        code = exit_code(report)
        if code:
            raise typer.Exit(code)
