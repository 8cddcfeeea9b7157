"""``wolfpack network``: cluster networks and their roles (Get-ClusterNetwork, S15, S32)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from wolfpack.admin.nouns import NETWORKS
from wolfpack.admin.objects import create, modify
from wolfpack.cli.context import open_cluster
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model.config import ClusterConfig, Network
from wolfpack.model.states import NetworkRole

app = typer.Typer(
    help="Cluster networks: create, list, show, set, set-role, delete.", no_args_is_help=True
)

ROLE_HELP = "none, private (heartbeats only), public (clients only) or mixed (both)."

add_read_verbs(app, NETWORKS)
add_delete_verb(app, NETWORKS)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="Network name, e.g. public.")],
    subnet: Annotated[str, typer.Option(help="IPv4 subnet in CIDR form, e.g. 198.51.100.0/24.")],
    role: Annotated[NetworkRole, typer.Option(help=ROLE_HELP)] = NetworkRole.MIXED,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add a cluster network."""
    network = Network(name, subnet, role, description)
    with open_cluster() as db:
        create(db, NETWORKS, name, lambda cfg: network)
    _report(network, as_json, "created")


@verb(app, "set")
def set_(
    name: Annotated[str, typer.Argument(help="The network's name.")],
    subnet: Annotated[str | None, typer.Option(help="IPv4 subnet in CIDR form.")] = None,
    role: Annotated[NetworkRole | None, typer.Option(help=ROLE_HELP)] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a network's subnet, role or description (roles can change at any time)."""
    changes = {"subnet": subnet, "role": role, "description": description}
    _change(name, {k: v for k, v in changes.items() if v is not None}, as_json)


@verb(app, "set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="The network's name.")],
    role: Annotated[NetworkRole, typer.Argument(help=ROLE_HELP)],
    as_json: JsonFlag = False,
) -> None:
    """Change which traffic a network carries; same as ``set --role``."""
    _change(name, {"role": role}, as_json)


def _change(name: str, changes: dict[str, object], as_json: bool) -> None:
    def edit(cfg: ClusterConfig, network: Network) -> Network:
        return dataclasses.replace(network, **changes)  # type: ignore[arg-type]

    with open_cluster() as db:
        network = modify(db, NETWORKS, name, edit)
    _report(network, as_json, "changed")


def _report(network: Network, as_json: bool, what: str) -> None:
    report(network, as_json, f"{what} network {network.name} ({network.subnet}, {network.role})")
