"""The ``wolfpack`` command: nouns with verbs after cluster.exe and the FailoverClusters
cmdlets. ``wolfpack --help`` lists them; ``docs/cli.md`` describes them."""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack import __version__
from wolfpack.cli import (
    audit,
    backup,
    cluster,
    config,
    context,
    db,
    events,
    group,
    intent,
    interface,
    lab,
    log,
    network,
    node,
    plan,
    resource,
    rtype,
    snapshot,
    status,
    token,
)
from wolfpack.cli.runner import JsonErrors

app = typer.Typer(
    cls=JsonErrors,
    name="wolfpack",
    help="Wolfpack: a failover cluster manager in the Microsoft Cluster Service model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wolfpack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="etcd URL(s) of the cluster database, comma-separated "
            "(default: $WOLFPACK_ENDPOINT, the config file, https://127.0.0.1:2379).",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="Talk to the nodes' REST API instead of etcd: URL(s), comma-separated, the "
            "next tried on failure (default: $WOLFPACK_API, 'api:' in the config file).",
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="API token for --api (default: $WOLFPACK_TOKEN, 'token:' in the config file).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    context.set_endpoint_override(endpoint)
    context.set_api(api, api_token)


backup.register(cluster.app)  # cluster backup, cluster restore
app.add_typer(cluster.app, name="cluster")
app.add_typer(node.app, name="node")
app.add_typer(network.app, name="network")
app.add_typer(interface.app, name="interface")
app.add_typer(group.app, name="group")
app.add_typer(resource.app, name="resource")
app.add_typer(rtype.app, name="type")
app.add_typer(db.app, name="db")
app.add_typer(intent.app, name="intent")
app.add_typer(config.app, name="config")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(token.app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(lab.app, name="lab")
events.register(app)
log.register(app)
plan.register(app)
status.register(app)
status.register(cluster.app)  # cluster.exe spelling: `cluster status`
