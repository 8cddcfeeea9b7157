"""``wolfpack interface``: a node's address on a network (Get-ClusterNetworkInterface)."""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack.admin.nouns import INTERFACES
from wolfpack.admin.objects import create
from wolfpack.cli.context import open_cluster
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model.config import Interface

app = typer.Typer(help="Network interfaces: create, list, show, delete.", no_args_is_help=True)

add_read_verbs(app, INTERFACES)
add_delete_verb(app, INTERFACES)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="Interface name, e.g. node1-public.")],
    node: Annotated[str, typer.Option(help="The node it belongs to.")],
    network: Annotated[str, typer.Option(help="The cluster network it is on.")],
    address: Annotated[str, typer.Option(help="Its IPv4 address, inside the network's subnet.")],
    as_json: JsonFlag = False,
) -> None:
    """Add a node's interface on a cluster network."""
    interface = Interface(name, node, network, address)
    with open_cluster() as db:
        create(db, INTERFACES, name, lambda cfg: interface)
    report(interface, as_json, f"created interface {name} ({node} on {network}, {address})")
