"""``wolfpack type``: the resource types the cluster knows, with their property schemas
(Get-ClusterResourceType, S26, S31), and OCF agents registered as types of their own
(Add-ClusterResourceType; Pacemaker's ``crm_resource --list-agents ocf``)."""

# no "from __future__ import annotations": typer must see the verb annotations built here

from pathlib import Path
from typing import Annotated

import typer

from wolfpack.admin.nouns import TYPES
from wolfpack.admin.objects import create, modify
from wolfpack.cli import output
from wolfpack.cli.context import open_cluster
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import ValidationError
from wolfpack.model.config import ResourceType

app = typer.Typer(
    help="Resource types: list, show, register (an OCF agent), agents, delete.",
    no_args_is_help=True,
)

OcfRoot = Annotated[
    str, typer.Option("--ocf-root", help="Where the OCF agents are (default /usr/lib/ocf).")
]

add_read_verbs(app, TYPES)


def _metadata_type(agent: str, ocf_root: str, metadata: Path | None) -> ResourceType:
    from wolfpack.resources.ocf_types import agent_type, type_from_document

    if metadata is None:
        return agent_type(agent, ocf_root)
    try:
        text = metadata.read_text(errors="replace")
    except OSError as exc:
        raise ValidationError.single("metadata", f"cannot read {metadata}: {exc}") from None
    return type_from_document(agent, text)


@verb(app, "register")
def register(
    agent: Annotated[
        str, typer.Argument(help="The OCF agent as provider:type, e.g. heartbeat:IPaddr2.")
    ],
    ocf_root: OcfRoot = "/usr/lib/ocf",
    metadata: Annotated[
        Path | None,
        typer.Option(help="Its meta-data saved to a file, where this machine lacks the agent."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a registered type (a new agent version).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Register an OCF resource agent as resource type ocf:PROVIDER:TYPE: its parameters
    become the type's properties, checked when a resource is made or changed. Reads the
    agent's meta-data on this machine (or from --metadata). Every possible owner of a
    resource of this type needs the agent installed ('wolfpack type agents' on each node)."""
    rtype = _metadata_type(agent, ocf_root, metadata)
    with open_cluster() as db:
        if replace:
            stored = modify(db, TYPES, rtype.name, lambda cfg, old: rtype)
        else:
            stored = create(db, TYPES, rtype.name, lambda cfg: rtype)
    names = ", ".join(p.name for p in stored.properties) or "none"
    report(stored, as_json, f"registered resource type {stored.name} (properties: {names})")


@verb(app, "agents")
def agents(ocf_root: OcfRoot = "/usr/lib/ocf", as_json: JsonFlag = False) -> None:
    """The OCF agents installed on this machine, and whether each is registered as a type."""
    from wolfpack.resources.ocf_metadata import TYPE_PREFIX, installed_agents

    found = installed_agents(ocf_root)
    with open_cluster() as db:
        types = db.read_snapshot().config.types
    rows = [{"agent": a, "type": TYPE_PREFIX + a, "registered": TYPE_PREFIX + a in types}
            for a in found]  # fmt: skip
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.message(f"no OCF agents under {ocf_root}/resource.d (Debian: resource-agents)")
        return
    output.table(
        None,
        ["agent", "type", "registered"],
        ([r["agent"], r["type"], "yes" if r["registered"] else ""] for r in rows),
    )


add_delete_verb(app, TYPES)
