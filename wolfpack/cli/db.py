"""``wolfpack db create``: the database wizard (S40), a PostgreSQL virtual server in one go.

It creates the group with an IP Address, a Network Name, a Physical Disk and the PostgreSQL
Server depending on disk and IP, after checking that every node that may own the group has
the PostgreSQL binaries (each wolfpackd reports its software when it starts). The data
directory is initialised on the shared disk by the first start, once.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack.cli import output, parse
from wolfpack.cli.context import open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model import codec
from wolfpack.model.builtin_types import NETWORK_NAME
from wolfpack.model.config import ClusterConfig
from wolfpack.wizards.database import DatabaseGroup, DatabaseSpec, database_group

app = typer.Typer(help="Database virtual servers: create.", no_args_is_help=True)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="The new group, e.g. SQL.")],
    ip: Annotated[str, typer.Option("--ip", help="The virtual server's IPv4 address.")],
    disk: Annotated[str, typer.Option("--disk", help="Shared block device for the data.")],
    network: Annotated[
        str | None, typer.Option(help="Cluster network of --ip (default: the one holding it).")
    ] = None,
    mountpoint: Annotated[
        str | None, typer.Option(help="Where the disk is mounted (default /srv/<name>).")
    ] = None,
    dns_name: Annotated[
        str | None, typer.Option(help="Host name in DNS (default: the group name, lower case).")
    ] = None,
    preferred_owners: Annotated[
        str | None, typer.Option(help="Ordered comma-separated nodes (default: every node).")
    ] = None,
    port: Annotated[int, typer.Option(help="PostgreSQL's TCP port.", min=1, max=65535)] = 5432,
    dns_props: Annotated[
        list[str] | None,
        typer.Option(
            "--dns-prop",
            help="Network Name property key=value, e.g. server=198.51.100.2 (repeatable; "
            "default: those of the cluster's first Network Name).",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create a PostgreSQL virtual server group: IP, name, disk and database."""
    made: list[DatabaseGroup] = []
    with open_db("the database wizard (it reads the node inventories)") as db:
        inventories = db.inventories()

        def change(cfg: ClusterConfig) -> ClusterConfig:
            dns = parse.properties(dns_props or [], cfg.types.get(NETWORK_NAME), "dns-prop")
            spec = DatabaseSpec(
                name,
                ip,
                disk,
                network=network,
                mountpoint=mountpoint,
                dns_name=dns_name,
                preferred_owners=parse.names(preferred_owners or ""),
                port=port,
                description=description,
                dns={k: v for k, v in dns.items() if v is not None},
            )
            made[:] = [database_group(cfg, inventories, spec)]
            return made[0].config

        db.update_config(change)
    result = made[0]
    if as_json:
        output.print_json(
            {
                "group": codec.dump(result.group, exclude_defaults=False),
                "resources": [codec.dump(r, exclude_defaults=False) for r in result.resources],
            }
        )
        return
    output.message(f"created group {name}: " + ", ".join(r.name for r in result.resources))
    output.message(f"bring it online with: wolfpack group online {name!r}")
