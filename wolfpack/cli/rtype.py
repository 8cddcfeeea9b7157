"""``wolfpack type``: the resource types the cluster knows, with their property schemas
(Get-ClusterResourceType, S26, S31)."""

from __future__ import annotations

import typer

from wolfpack.admin.nouns import TYPES
from wolfpack.cli.objects import add_read_verbs

app = typer.Typer(help="Resource types: list, show.", no_args_is_help=True)


add_read_verbs(app, TYPES)
