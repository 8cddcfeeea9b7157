"""``wolfpack cluster``: create the cluster database and change cluster-wide settings
(New-Cluster, Get-Cluster, ``cluster /prop``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from wolfpack.cli import output
from wolfpack.cli.context import endpoint, open_db
from wolfpack.cli.objects import report
from wolfpack.cli.parse import utc_offset
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig, ClusterSettings

app = typer.Typer(help="The cluster: create, show, set, status.", no_args_is_help=True)

OFFSET_HELP = "Cluster local time for failback windows: minutes east of UTC or +HH:MM."
ANTI_AFFINITY_HELP = "Make anti-affinity hard: never place two groups of a class together."


@verb(app, "create")
def create_(
    name: Annotated[
        str, typer.Argument(help="Cluster name (a DNS label: it becomes a host name).")
    ],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    utc_offset_text: Annotated[str, typer.Option("--utc-offset", help=OFFSET_HELP)] = "0",
    as_json: JsonFlag = False,
) -> None:
    """Create the cluster in an empty cluster database, with the built-in resource types."""
    settings = ClusterSettings(
        name, description, utc_offset(utc_offset_text, "cluster.utc_offset_minutes")
    )
    with open_db() as db:
        db.initialize(settings)
    report(settings, as_json, f"created cluster {name} in the cluster database at {endpoint()}")


@verb(app, "show")
def show_(as_json: JsonFlag = False) -> None:
    """Show the cluster's settings and what it holds."""
    with open_db() as db:
        cfg, epoch = db.load_config()
        root = db.keys.root
    if as_json:
        output.print_json(codec.dump(cfg.cluster, exclude_defaults=False))
        return
    counts: list[tuple[str, Any]] = [
        (kind, len(getattr(cfg, kind)))
        for kind in ("nodes", "networks", "interfaces", "groups", "resources", "types")
    ]
    database = [("database", f"{endpoint()} {root}"), ("config epoch", epoch)]
    rows = output.flatten(codec.dump(cfg.cluster, exclude_defaults=False))
    output.properties(f"cluster {cfg.cluster.name}", rows + counts + database)


@verb(app, "set")
def set_(
    name: Annotated[str | None, typer.Option("--name", help="Rename the cluster.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    utc_offset_text: Annotated[str | None, typer.Option("--utc-offset", help=OFFSET_HELP)] = None,
    enforced: Annotated[
        bool | None,
        typer.Option("--enforced-anti-affinity/--soft-anti-affinity", help=ANTI_AFFINITY_HELP),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change cluster-wide settings."""
    changes: dict[str, Any] = {"name": name, "description": description}
    changes["enforced_anti_affinity"] = enforced
    if utc_offset_text is not None:
        changes["utc_offset_minutes"] = utc_offset(utc_offset_text, "cluster.utc_offset_minutes")
    changes = {k: v for k, v in changes.items() if v is not None}

    def change(cfg: ClusterConfig) -> ClusterConfig:
        return dataclasses.replace(cfg, cluster=dataclasses.replace(cfg.cluster, **changes))

    with open_db() as db:
        cfg = db.update_config(change)
    report(cfg.cluster, as_json, f"changed cluster {cfg.cluster.name}")
