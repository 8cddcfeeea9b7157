"""``wolfpack cluster``: create the cluster database and change cluster-wide settings
(New-Cluster, Get-Cluster, ``cluster /prop``)."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.admin.objects import flatten
from wolfpack.cli import certs, output, rotate
from wolfpack.cli.context import (
    endpoint,
    explicit_endpoint,
    keyspace,
    open_cluster,
    open_db,
    set_endpoint_override,
)
from wolfpack.cli.objects import report
from wolfpack.cli.parse import utc_offset
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import AlreadyExistsError, RejectedError, ValidationError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig, ClusterSettings, Interface, Node
from wolfpack.node.secret import check_verifier, new_secret, read_secret, verifier

app = typer.Typer(help="The cluster: create, show, set, status.", no_args_is_help=True)
app.add_typer(certs.app, name="certs")
rotate.register(app)  # cluster rotate-keys

DEFAULT_SECRET = Path("/etc/wolfpack/secret")
SecretFile = Annotated[
    Path,
    typer.Option(
        "--secret-file",
        envvar="WOLFPACK_SECRET_FILE",
        help="The cluster secret (the same file on every node).",
    ),
]
OFFSET_HELP = "Cluster local time for failback windows: minutes east of UTC or +HH:MM."
ANTI_AFFINITY_HELP = "Make anti-affinity hard: never place two groups of a class together."


@verb(app, "create")
def create_(
    name: Annotated[
        str, typer.Argument(help="Cluster name (a DNS label: it becomes a host name).")
    ],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    utc_offset_text: Annotated[str, typer.Option("--utc-offset", help=OFFSET_HELP)] = "0",
    secret_file: SecretFile = DEFAULT_SECRET,
    as_json: JsonFlag = False,
) -> None:
    """Create the cluster in an empty cluster database, with the built-in resource types.

    The cluster secret (signs heartbeats, admits joining nodes) is read from --secret-file,
    or made there (mode 0600) if the file does not exist; copy it to every node."""
    settings = ClusterSettings(
        name, description, utc_offset(utc_offset_text, "cluster.utc_offset_minutes")
    )
    secret = _read_or_make_secret(secret_file)
    from wolfpack.admin import tls  # lazy: cryptography is only needed here

    with open_db("cluster create") as db:
        db.initialize(settings)
        db.add_secret_verifier(verifier(secret))
        tls.ensure_ca(db, secret, name)  # the REST API's cluster CA (docs/api.md)
    report(settings, as_json, f"created cluster {name} in the cluster database at {endpoint()}")


def _read_or_make_secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(new_secret() + b"\n")
    return read_secret(path)


@verb(app, "join")
def join(
    name: Annotated[str, typer.Argument(help="The cluster's name (resolved through DNS).")],
    node: Annotated[str, typer.Option("--node", help="This node's name.")] = "",
    node_id: Annotated[int, typer.Option("--id", help="Node id 1-64; default: the next free.")] = 0,
    interfaces: Annotated[
        list[str] | None,
        typer.Option("--interface", help="NETWORK=ADDRESS of this node; repeat per network."),
    ] = None,
    secret_file: SecretFile = DEFAULT_SECRET,
    as_json: JsonFlag = False,
) -> None:
    """Join this node to a cluster (Add-ClusterNode): find the cluster database by
    --endpoint or by resolving NAME, prove the cluster secret, and add the node with its
    interfaces. The daemon (wolfpackd) then brings it into the cluster."""
    node = node or socket.gethostname().split(".")[0]
    secret = read_secret(secret_file)
    if explicit_endpoint() is None:
        set_endpoint_override(resolve_cluster(name))
    with open_db("cluster join") as db:
        cfg, _ = db.load_config()
        if cfg.cluster.name != name.split(".")[0]:
            raise RejectedError(
                "WRONG_CLUSTER",
                f"the database at {endpoint()} holds cluster {cfg.cluster.name!r}, not {name!r}",
            )
        check_verifier(db.secret_verifier(), secret)
        added = db.update_config(lambda c: _with_node(c, node, node_id, interfaces or []))
    report(
        added.nodes[node],
        as_json,
        f"{node} joined cluster {cfg.cluster.name} as id "
        f"{added.nodes[node].id}; start wolfpackd on it",
    )


def resolve_cluster(name: str, port: int = 2379) -> str:
    """The cluster database endpoint for a cluster name, by the system resolver (S20)."""
    try:
        infos = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValidationError.single(
            "name",
            f"cannot resolve cluster name {name!r} ({exc.strerror}): the first node's DNS "
            "registration must exist, or give the database with --endpoint",
        ) from None
    return f"https://{infos[0][4][0]}:{port}"


def _with_node(cfg: ClusterConfig, node: str, node_id: int, interfaces: list[str]) -> ClusterConfig:
    if node in cfg.nodes:
        raise AlreadyExistsError("node", node)
    used = {n.id for n in cfg.nodes.values()}
    node_id = node_id or next((i for i in range(1, 65) if i not in used), 0)
    new_interfaces = dict(cfg.interfaces)
    for i, spec in enumerate(interfaces):
        network, sep, address = spec.partition("=")
        if not sep:
            raise ValidationError.single(f"--interface[{i}]", f"{spec!r} is not NETWORK=ADDRESS")
        new_interfaces[f"{node}-{network}"] = Interface(f"{node}-{network}", node, network, address)
    return dataclasses.replace(
        cfg, nodes={**cfg.nodes, node: Node(node, node_id)}, interfaces=new_interfaces
    )


@verb(app, "show")
def show_(as_json: JsonFlag = False) -> None:
    """Show the cluster's settings and what it holds."""
    with open_cluster() as db:
        cfg, epoch = db.load_config()
    root = keyspace().root
    if as_json:
        output.print_json(codec.dump(cfg.cluster, exclude_defaults=False))
        return
    counts: list[tuple[str, Any]] = [
        (kind, len(getattr(cfg, kind)))
        for kind in ("nodes", "networks", "interfaces", "groups", "resources", "types")
    ]
    database = [("database", f"{endpoint()} {root}"), ("config epoch", epoch)]
    rows = flatten(codec.dump(cfg.cluster, exclude_defaults=False))
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

    with open_cluster() as db:
        cfg = db.update_config(change)
    report(cfg.cluster, as_json, f"changed cluster {cfg.cluster.name}")
