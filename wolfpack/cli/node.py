"""``wolfpack node``: cluster members (Get-ClusterNode, ``cluster node``)."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer

from wolfpack.admin.nouns import NODES
from wolfpack.admin.objects import create, modify
from wolfpack.cli import output
from wolfpack.cli.context import open_cluster
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.cli.wait import NoWaitFlag, TimeoutOption, WaitTimeout
from wolfpack.model.config import ClusterConfig, Node
from wolfpack.model.snapshot import NodeAdmin

app = typer.Typer(
    help="Cluster nodes: create, list, show, set, delete, pause, resume, drain, maintenance.",
    no_args_is_help=True,
)


add_read_verbs(app, NODES)
add_delete_verb(app, NODES)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="Node name (a DNS label, e.g. node1).")],
    node_id: Annotated[int, typer.Option("--id", help="Node id, 1-64, unique in the cluster.")],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add a node to the cluster configuration (Add-ClusterNode)."""
    node = Node(name, node_id, description)
    with open_cluster() as db:
        create(db, NODES, name, lambda cfg: node)
    report(node, as_json, f"created node {name} (id {node_id})")


@verb(app, "set")
def set_(
    name: Annotated[str, typer.Argument(help="The node's name.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a node's properties."""

    def edit(cfg: ClusterConfig, node: Node) -> Node:
        return node if description is None else dataclasses.replace(node, description=description)

    with open_cluster() as db:
        node = modify(db, NODES, name, edit)
    report(node, as_json, f"changed node {name}")


NodeName = Annotated[str, typer.Argument(help="The node's name.")]


def _set_admin(name: str, admin: NodeAdmin) -> None:
    with open_cluster() as db:
        db.write_node_admin(name, admin)


@verb(app, "pause")
def pause(name: NodeName, as_json: JsonFlag = False) -> None:
    """Pause a node (Suspend-ClusterNode): it keeps its groups but takes no new ones."""
    _set_admin(name, NodeAdmin(paused=True))
    report({"node": name, "paused": True}, as_json, f"{name} paused: it takes no new groups")


@verb(app, "resume")
def resume(name: NodeName, as_json: JsonFlag = False) -> None:
    """Resume a paused, drained or maintenance node (Resume-ClusterNode); groups may fail
    back to it by their own failback policy."""
    _set_admin(name, NodeAdmin())
    report({"node": name, "paused": False, "maintenance": False}, as_json, f"{name} resumed")


@verb(app, "maintenance")
def maintenance(name: NodeName, as_json: JsonFlag = False) -> None:
    """Put a node in maintenance (Pacemaker's node maintenance): its groups and resources are
    unmanaged - nothing is started, stopped, checked or failed over - and stopping or
    restarting its wolfpackd leaves them running. 'wolfpack node resume' ends it."""
    _set_admin(name, NodeAdmin(paused=True, maintenance=True))
    report(
        {"node": name, "maintenance": True},
        as_json,
        f"{name} in maintenance: its resources are unmanaged until 'wolfpack node resume'",
    )


@verb(app, "drain")
def drain(
    name: NodeName,
    no_wait: NoWaitFlag = False,
    timeout: TimeoutOption = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Drain a node (Suspend-ClusterNode -Drain): pause it and move its groups away."""
    _set_admin(name, NodeAdmin(paused=True, draining=True))
    if no_wait:
        report({"node": name, "draining": True}, as_json, f"{name} is draining")
        return
    deadline = time.monotonic() + timeout
    with open_cluster() as db, output.console(stderr=True).status(f"draining {name}") as spinner:
        while True:
            snap = db.read_snapshot()
            left = sorted(g for g, st in snap.groups.items() if st.owner == name)
            busy = sorted(g for g, st in snap.groups.items() if st.transition is not None)
            if not left and not busy:
                break
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"{name} still owns {', '.join(left) or 'nothing'} after {timeout:g} s; "
                    "see 'wolfpack plan --explain' for why"
                )
            spinner.update(f"draining {name}: {', '.join(left) or 'settling'}")
            time.sleep(0.1)
    report({"node": name, "drained": True}, as_json, f"{name} drained: it owns no group")
