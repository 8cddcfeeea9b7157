"""``wolfpack cluster``: create the cluster database and change cluster-wide settings
(New-Cluster, Get-Cluster, ``cluster /prop``)."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.admin.objects import flatten
from wolfpack.cli import certs, install, output, rotate
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
from wolfpack.node.install import Layout
from wolfpack.node.secret import check_verifier, read_secret, verifier

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
    node: install.NodeName = "",
    addresses: install.Addresses = None,
    peer_address: install.PeerAddress = "",
    etcd_port: install.EtcdPort = 2379,
    peer_port: install.PeerPort = 2380,
    api_port: install.ApiPort = 9443,
    api_listen: install.ApiListen = "0.0.0.0",
    heartbeat_port: install.HeartbeatPort = 3343,
    fence_agent: install.FenceAgent = None,
    management_ip: Annotated[
        str | None, typer.Option("--management-ip", help="The Cluster Group's IP Address.")
    ] = None,
    dns_zone: Annotated[str | None, typer.Option(help="Zone of the cluster's name.")] = None,
    dns_server: Annotated[str | None, typer.Option(help="DNS server (RFC 2136).")] = None,
    tsig_key_file: Annotated[Path | None, typer.Option(help="TSIG key for updates.")] = None,
    config_dir: install.ConfigDir = Path("/etc/wolfpack"),
    data_dir: install.DataDir = Path("/var/lib/wolfpack"),
    run_dir: install.RunDir = Path("/run/wolfpack"),
    as_json: JsonFlag = False,
) -> None:
    """Create the cluster (New-Cluster). With no cluster database configured, on its first
    node: forms the etcd cluster with this host's member, the secret and CAs, the networks
    from this host's addresses and the Cluster Group (with --management-ip); then start
    wolfpackd. Re-run it with the same flags if it stopped half-way. With a database
    configured (--endpoint, WOLFPACK_ENDPOINT): creates the cluster in it, with the secret
    from --secret-file (made there, mode 0600, if missing; copy it to every node)."""
    settings = ClusterSettings(
        name, description, utc_offset(utc_offset_text, "cluster.utc_offset_minutes")
    )
    if install.formed(config_dir):
        from wolfpack.node import forming

        layout = Layout(config_dir, data_dir, run_dir)
        mgmt = install.management(management_ip, dns_zone, dns_server, tsig_key_file)
        plan = install.plan(
            name, node, addresses, fence_agent, peer_address=peer_address,
            etcd_port=etcd_port, peer_port=peer_port, api_port=api_port,
            heartbeat_port=heartbeat_port, layout=layout, api_listen=api_listen,
        )  # fmt: skip
        progress = (lambda _: None) if as_json else typer.echo
        cfg = forming.create(
            plan,
            description=settings.description,
            utc_offset_minutes=settings.utc_offset_minutes,
            management=mgmt,
            progress=progress,
        )
        report(cfg.cluster, as_json, f"created cluster {name} on {plan.node}: start wolfpackd")
        return
    from wolfpack.admin import tls  # lazy: cryptography is only needed here
    from wolfpack.node.forming import read_or_make_secret

    secret = read_or_make_secret(secret_file)

    with open_db("cluster create") as db:
        db.initialize(settings)
        db.add_secret_verifier(verifier(secret))
        tls.ensure_ca(db, secret, name)  # the REST API's cluster CA (docs/api.md)
    report(settings, as_json, f"created cluster {name} in the cluster database at {endpoint()}")


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
    server: Annotated[
        str | None,
        typer.Option("--server", help="A node's API as ADDRESS[:PORT] instead of the name's."),
    ] = None,
    addresses: install.Addresses = None,
    peer_address: install.PeerAddress = "",
    etcd_port: install.EtcdPort = 2379,
    peer_port: install.PeerPort = 2380,
    api_port: install.ApiPort = 9443,
    api_listen: install.ApiListen = "0.0.0.0",
    heartbeat_port: install.HeartbeatPort = 3343,
    fence_agent: install.FenceAgent = None,
    config_dir: install.ConfigDir = Path("/etc/wolfpack"),
    data_dir: install.DataDir = Path("/var/lib/wolfpack"),
    run_dir: install.RunDir = Path("/run/wolfpack"),
    as_json: JsonFlag = False,
) -> None:
    """Join this node to a cluster (Add-ClusterNode). With no cluster database configured:
    reach the cluster's REST API at NAME (its management address), prove the cluster secret
    (--secret-file, copied from a node), and receive this node's etcd member, certificates
    and settings; its addresses are matched to the cluster networks by subnet (a new segment
    becomes a new network). Then start wolfpackd. With a database configured (--endpoint):
    add the node and its --interface addresses to it, as before."""
    secret = read_secret(secret_file)
    if interfaces is None and install.formed(config_dir):
        from wolfpack.node.join_client import join as join_api

        layout = Layout(config_dir, data_dir, run_dir)
        plan = install.plan(
            name, node, addresses, fence_agent, peer_address=peer_address,
            etcd_port=etcd_port, peer_port=peer_port, api_port=api_port,
            heartbeat_port=heartbeat_port, layout=layout, api_listen=api_listen,
        )  # fmt: skip
        url = _server_url(server, api_port) if server else install.resolve_api(name, api_port)
        progress = (lambda _: None) if as_json else typer.echo
        summary = join_api(plan, url, secret, progress=progress)
        if as_json:
            output.print_json(summary)
        else:
            typer.echo(f"{plan.node} joined cluster {summary['cluster']} as id {summary['id']}:"
                       " start wolfpackd")  # fmt: skip
        return
    node = node or socket.gethostname().split(".")[0]
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


@verb(app, "destroy")
def destroy(
    yes: Annotated[bool, typer.Option("--yes", help="Really remove this host's files.")] = False,
    config_dir: install.ConfigDir = Path("/etc/wolfpack"),
    data_dir: install.DataDir = Path("/var/lib/wolfpack"),
    run_dir: install.RunDir = Path("/run/wolfpack"),
    as_json: JsonFlag = False,
) -> None:
    """Remove what 'cluster create' or 'cluster join' made on this host: the secret, the
    certificates and keys, the settings, the etcd member's data. wolfpackd must be stopped
    first; a host still in a cluster of other members must be evicted first ('wolfpack node
    evict NAME' on another node). On the last node this ends the cluster."""
    if not yes:
        raise ValidationError.single(
            "--yes", "destroy removes this host's cluster files: add --yes"
        )
    layout = Layout(config_dir, data_dir, run_dir)
    install.check_destroyable(layout)
    gone = layout.remove()
    if as_json:
        output.print_json({"removed": gone})
    else:
        typer.echo("removed " + (", ".join(gone) or "nothing (no cluster files here)"))


def _server_url(server: str, port: int) -> str:
    host, sep, given = server.rpartition(":")
    return f"https://{server}:{port}" if not sep else f"https://{host}:{given}"


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
