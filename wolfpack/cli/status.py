"""``wolfpack status``: nodes and groups with owners and states, like Cluster
Administrator's tree (S19, S33)."""

from __future__ import annotations

from typing import Any

import typer

from wolfpack.cli import output
from wolfpack.cli.context import read_snapshot
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model.fsm import derived_state
from wolfpack.model.snapshot import Snapshot


def document(snap: Snapshot) -> dict[str, Any]:
    cfg = snap.config
    owners = {g: snap.group(g).owner for g in cfg.groups}
    nodes = [
        {
            "name": n.name,
            "id": n.id,
            "state": str(snap.nodes[n.name].state) if n.name in snap.nodes else None,
            "groups": sorted(g for g, owner in owners.items() if owner == n.name),
        }
        for n in cfg.nodes_by_id
    ]
    groups = [
        {
            "name": g,
            "owner": owners[g],
            "state": str(derived_state(snap, g)),
            "preferred_owners": list(cfg.groups[g].preferred_owners),
            "resources": [
                {
                    "name": r.name,
                    "type": r.type,
                    "state": str(snap.resource(r.name).state),
                    "node": snap.resource(r.name).node,
                }
                for r in cfg.group_resources(g)
            ],
        }
        for g in sorted(cfg.groups)
    ]
    return {
        "cluster": cfg.cluster.name,
        "revision": snap.revision,
        "nodes": nodes,
        "groups": groups,
        "pending_requests": len(snap.intents),
    }


def show(doc: dict[str, Any]) -> None:
    output.message(f"Cluster {doc['cluster']}")
    output.table(
        "Nodes",
        ("node", "id", "state", "active groups"),
        ((n["name"], n["id"], n["state"] or "unknown", n["groups"]) for n in doc["nodes"]),
    )
    output.table(
        "Groups",
        ("group", "owner", "state", "preferred owners", "resources"),
        (
            (
                g["name"],
                g["owner"],
                g["state"],
                g["preferred_owners"],
                [f"{r['name']} ({r['state']})" for r in g["resources"]],
            )
            for g in doc["groups"]
        ),
    )
    if doc["pending_requests"]:
        output.message(f"{doc['pending_requests']} pending request(s): wolfpack plan --explain")


def register(app: typer.Typer) -> None:
    @verb(app, "status")
    def status(as_json: JsonFlag = False) -> None:
        """Nodes and groups with their owners and states (Cluster Administrator)."""
        doc = document(read_snapshot())  # one read, nothing written (issue 12)
        if as_json:
            output.print_json(doc)
        else:
            show(doc)
