"""The ``wolfpack`` command: nouns with verbs after cluster.exe and the FailoverClusters
cmdlets. ``wolfpack --help`` lists them; ``docs/cli.md`` describes them."""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack.cli import (
    audit,
    cluster,
    config,
    context,
    db,
    events,
    group,
    intent,
    interface,
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
    add_completion=False,
)


@app.callback()
def root(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="etcd URL(s) of the cluster database, comma-separated "
            "(default: $WOLFPACK_ENDPOINT, the config file, http://127.0.0.1:2379).",
        ),
    ] = None,
) -> None:
    context.set_endpoint_override(endpoint)


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
events.register(app)
log.register(app)
plan.register(app)
status.register(app)
status.register(cluster.app)  # cluster.exe spelling: `cluster status`
