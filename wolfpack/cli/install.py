"""The install path of ``wolfpack cluster create`` and ``cluster join`` (issue 10): this host
runs an etcd member that wolfpackd manages, and joins through the cluster's REST API.

``cluster.py``'s verbs come here when no cluster database endpoint was given (no
``--endpoint``, ``$WOLFPACK_ENDPOINT`` or ``endpoint:`` in the config file) or the host
was formed this way before; otherwise they write into the etcd an administrator runs, as
before. The options below are the same for both verbs and for ``witness join``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from wolfpack.cli.context import explicit_endpoint
from wolfpack.errors import ValidationError
from wolfpack.model.joining import HostAddress
from wolfpack.node.install import Layout, host_addresses, manages_member, parse_addresses

if TYPE_CHECKING:  # the verbs import them when they run: `cluster status` stays small
    from wolfpack.errors import RejectedError
    from wolfpack.node.etcd_member import MemberSection
    from wolfpack.node.forming import Management, NodePlan
    from wolfpack.store import Store

ConfigDir = Annotated[
    Path,
    typer.Option("--config-dir", envvar="WOLFPACK_CONFIG_DIR", help="Where this host's files go."),
]
DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="WOLFPACK_DATA_DIR", help="The etcd member's data."),
]
RunDir = Annotated[Path, typer.Option("--run-dir", help="wolfpackd's run directory.")]
Addresses = Annotated[
    list[str] | None,
    typer.Option(
        "--address",
        help="ADDRESS/PREFIX of this host on a cluster network; repeat. Default: every "
        "global IPv4 address of the host (ip -4 addr).",
    ),
]
PeerAddress = Annotated[
    str, typer.Option("--peer-address", help="Address etcd peers reach (default: the first).")
]
EtcdPort = Annotated[int, typer.Option("--etcd-port", help="etcd client port.")]
PeerPort = Annotated[int, typer.Option("--peer-port", help="etcd peer port.")]
ApiPort = Annotated[int, typer.Option("--api-port", help="REST API port of wolfpackd.")]
ApiListen = Annotated[
    str, typer.Option("--api-listen", help="Address wolfpackd's API listens on (default: all).")
]
HeartbeatPort = Annotated[int, typer.Option("--heartbeat-port", help="Heartbeat UDP port.")]
FenceAgent = Annotated[
    str | None,
    typer.Option("--fence-agent", help="wolfpackd's fence.agent (fence_*, 'test' or 'none')."),
]
NodeName = Annotated[str, typer.Option("--node", help="This host's name (default: hostname).")]


def formed(config_dir: Path) -> bool:
    """Does this run form or join with a managed member (see the module's docstring)?"""
    return explicit_endpoint() is None or manages_member(Layout(config_dir).daemon_settings)


def plan(
    cluster: str,
    node: str,
    addresses: list[str] | None,
    fence_agent: str | None,
    *,
    peer_address: str,
    etcd_port: int,
    peer_port: int,
    api_port: int,
    heartbeat_port: int,
    layout: Layout,
    api_listen: str = "0.0.0.0",
    need_fence: bool = True,
) -> NodePlan:
    found: list[HostAddress] = parse_addresses(addresses) if addresses else host_addresses()
    if not found:
        raise ValidationError.single(
            "--address", "this host has no global IPv4 address: give one with --address"
        )
    from wolfpack.node.forming import NodePlan
    from wolfpack.node.settings import FENCE_CHOICES

    if need_fence and not fence_agent:
        raise ValidationError.single("--fence-agent", FENCE_CHOICES)
    return NodePlan(
        cluster=cluster.split(".")[0],
        node=node or socket.gethostname().split(".")[0],
        addresses=tuple(found),
        fence_agent=fence_agent or "none",
        peer_address=peer_address,
        client_port=etcd_port,
        peer_port=peer_port,
        api_port=api_port,
        heartbeat_port=heartbeat_port,
        api_listen=api_listen,
        layout=layout,
    )


def management(
    address: str | None, zone: str | None, server: str | None, key_file: Path | None
) -> Management | None:
    """The Cluster Group's address and name registration, all or none of the options."""
    given = {"--management-ip": address, "--dns-zone": zone, "--dns-server": server,
             "--tsig-key-file": key_file}  # fmt: skip
    if address is None:
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise ValidationError.single(extra[0], "needs --management-ip")
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ValidationError.single(missing[0], "must be given with --management-ip")
    assert zone is not None and server is not None and key_file is not None
    from wolfpack.node.forming import Management

    return Management(address, zone, server, str(key_file))


def resolve_api(name: str, port: int) -> str:
    """The cluster's REST API for a cluster name (S20): the management address, which
    moves with the Cluster Group; never an etcd member's."""
    try:
        infos = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValidationError.single(
            "name",
            f"cannot resolve cluster name {name!r} ({exc.strerror}): the cluster's Network "
            "Name must be registered in DNS (is the Cluster Group online?), or give a node "
            "with --server ADDRESS",
        ) from None
    return f"https://{infos[0][4][0]}:{port}"


def check_destroyable(layout: Layout) -> None:
    """Refuse to remove a host's files while its member runs (wolfpackd is up) or while it
    is still part of a cluster of others that answers (evict it first): for a node with an
    etcd member, the member list names it; for a node joined without one, the cluster's
    configuration does."""
    import yaml

    from wolfpack.errors import RejectedError, StoreError
    from wolfpack.node.etcd_member import MemberSection, health
    from wolfpack.store.etcd import EtcdStore
    from wolfpack.store.etcd_tls import EtcdCredentials

    path = layout.daemon_settings if layout.daemon_settings.exists() else layout.witness_settings
    if not path.exists():
        return
    doc = yaml.safe_load(path.read_text()) or {}
    member = MemberSection.model_validate(doc["etcd_member"]) if doc.get("etcd_member") else None
    if member is not None and health(member)[0]:
        raise RejectedError(
            "MEMBER_RUNNING",
            f"this host's etcd member {member.name} is running: stop wolfpackd (or "
            "'wolfpack witness run') first",
        )
    own = member.client_urls if member is not None else []
    endpoints = [e for e in str(doc.get("endpoints", "")).split(",") if e and e not in own]
    if not endpoints or not (layout.admin_dir / "admin.password").exists():
        return
    store = EtcdStore(endpoints, timeout=2.0, credentials=EtcdCredentials.from_dir(
        layout.admin_dir, "admin", field="admin"))  # fmt: skip
    try:
        refusal = still_in_cluster(store, member, str(doc.get("node", "")),
                                   str(doc.get("prefix", "/wolfpack/")))  # fmt: skip
    except StoreError:
        return  # nobody answers: the cluster is gone or going with this host
    finally:
        store.close()
    if refusal is not None:
        raise refusal


def still_in_cluster(
    store: Store, member: MemberSection | None, node: str, prefix: str
) -> RejectedError | None:
    """Why this host is still part of the cluster that ``store`` reaches (None: it is not).
    With a member (``store`` an etcd): the member list names it among others. Without one:
    the configuration has ``node`` (a memberless node is evicted from the configuration)."""
    from wolfpack.errors import RejectedError
    from wolfpack.store import KeySpace, etcd_members
    from wolfpack.store.etcd import EtcdStore
    from wolfpack.store.repository import ClusterDB

    if member is not None:
        listed = etcd_members.members(cast(EtcdStore, store))
        if any(m.label == member.name for m in listed) and len(listed) > 1:
            return RejectedError(
                "STILL_A_MEMBER",
                f"{member.name} is still an etcd member of a cluster that runs: evict it first "
                f"('wolfpack node evict {member.name}' on another node)",
            )
        return None
    if node and node in ClusterDB(store, KeySpace(prefix)).load_config()[0].nodes:
        return RejectedError(
            "STILL_A_NODE",
            f"{node} is still a node of the cluster: evict it first ('wolfpack node evict "
            f"{node}' on another node)",
        )
    return None
