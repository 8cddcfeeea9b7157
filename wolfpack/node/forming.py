"""``wolfpack cluster create``: form a new cluster on its first node (issue 10).

In order, each step skipped when a previous run did it already (so a create that stopped
half-way is run again with the same flags): the cluster secret; the cluster database CA
and this node's member, administrator, daemon and API certificates; wolfpackd's settings
with its ``etcd_member:``; the etcd member started for the while (first start: a new
one-member cluster), authentication turned on with ``admin:cluster`` as root and the node's
two users; the cluster in the database (schema, settings, built-in types, the secret's
verifier, the REST API's CA); this node with networks formed from its addresses (S21);
the Cluster Group with the management IP Address and the cluster's Network Name (S16)
when a management address is given; the CLI's config file. The member is then stopped:
``systemctl start wolfpackd`` starts it again, supervised.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wolfpack.errors import AlreadyExistsError, ValidationError
from wolfpack.model import codec
from wolfpack.model.builtin_types import IP_ADDRESS, NETWORK_NAME
from wolfpack.model.config import ClusterConfig, ClusterSettings
from wolfpack.model.joining import HostAddress, with_node
from wolfpack.node.etcd_member import ManagedMember, MemberSection
from wolfpack.node.install import (
    ADMIN_NAME,
    Layout,
    manages_member,
    write_private,
    write_yaml,
)
from wolfpack.node.secret import new_secret, read_secret, register
from wolfpack.store import etcd_auth
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.keys import KeySpace
from wolfpack.store.repository import ClusterDB

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Management:
    """The Cluster Group's IP Address and Network Name (S16): ``address`` on the network
    that holds it, registered as the cluster's name in ``zone`` at ``server`` (RFC 2136,
    TSIG key in ``key_file``)."""

    address: str
    zone: str
    server: str
    key_file: str
    port: int = 53


@dataclass(frozen=True)
class NodePlan:
    """What a node's files say: its name, addresses, ports and daemon choices."""

    cluster: str
    node: str
    addresses: tuple[HostAddress, ...]
    fence_agent: str
    #: the address etcd's peers use (default: the first address)
    peer_address: str = ""
    client_port: int = 2379
    peer_port: int = 2380
    api_port: int = 9443
    heartbeat_port: int = 3343
    #: where wolfpackd's API listens: every address by default, so that the management
    #: address (the Cluster Group's, which moves) reaches it too
    api_listen: str = "0.0.0.0"
    prefix: str = "/wolfpack/"
    layout: Layout = field(default_factory=Layout)

    @property
    def peer_url(self) -> str:
        return f"https://{self.peer_address or self.addresses[0].address}:{self.peer_port}"

    @property
    def client_urls(self) -> list[str]:
        return [f"https://{a.address}:{self.client_port}" for a in self.addresses]

    def member(self, initial_cluster: str, state: str) -> MemberSection:
        lay = self.layout
        return MemberSection(
            name=self.node,
            data_dir=lay.etcd_data,
            peer_url=self.peer_url,
            client_urls=self.client_urls,
            initial_cluster=initial_cluster,
            initial_state=state,
            token=f"wolfpack-{self.cluster}",
            pki_dir=lay.member_dir,
            ca_dir=lay.ca_dir,
            admin_dir=lay.admin_dir,
        )


def daemon_settings(
    plan: NodePlan, endpoints: list[str], member: MemberSection | None
) -> dict[str, Any]:
    """wolfpackd.yaml for the node (docs/install.md, "The daemon's settings"); without an
    ``etcd_member:`` section for a node that runs no member (it uses ``endpoints``, and
    follows the member list for more)."""
    lay = plan.layout
    etcd = lay.etcd_dir
    advertise = plan.addresses[0].address
    settings: dict[str, Any] = {
        "node": plan.node,
        "endpoints": ",".join(endpoints),
        "prefix": plan.prefix,
        "secret_file": str(lay.secret),
        "run_dir": str(lay.run_dir),
        "etcd": {
            "ca": str(etcd / "ca.crt"),
            "cert": str(etcd / "node.crt"),
            "key": str(etcd / "node.key"),
            "api_cert": str(etcd / "api.crt"),
            "api_key": str(etcd / "api.key"),
        },
        "heartbeat": {"port": plan.heartbeat_port},
        "fence": {"agent": plan.fence_agent},
        "api": {"listen": plan.api_listen, "advertise": advertise, "port": plan.api_port},
    }
    if member is not None:
        settings["etcd_member"] = member.model_dump(mode="json", exclude_defaults=True)
    else:  # the voters of the day: follow the member list (evictions, new voters)
        settings["follow_members"] = True
    return settings


def cli_settings(plan: NodePlan, endpoints: list[str]) -> dict[str, Any]:
    """The CLI's config.yaml on the node: the database as the cluster's administrator."""
    admin = plan.layout.admin_dir
    return {
        "endpoint": ",".join(endpoints),
        "etcd_ca": str(admin / "ca.crt"),
        "etcd_cert": str(admin / "admin.crt"),
        "etcd_key": str(admin / "admin.key"),
    }


def admin_credentials(layout: Layout) -> EtcdCredentials:
    return EtcdCredentials.from_dir(layout.admin_dir, "admin", field="admin")


def issue_node_files(plan: NodePlan, member_addresses: list[str]) -> list[tuple[str, str]]:
    """This node's member certificates and its daemon's and API's principals, made with the
    CA in ``layout.ca_dir`` where missing; the (user, password) pairs to create in etcd."""
    from wolfpack.store.pki import ClusterCA  # lazy: cryptography

    lay = plan.layout
    ca = ClusterCA.open(lay.ca_dir, plan.cluster)
    if not (lay.member_dir / "peer.key").exists():
        ca.issue_member(plan.node, member_addresses, lay.member_dir)
    users = []
    for kind, directory in (("admin", lay.admin_dir), ("node", lay.etcd_dir),
                            ("api", lay.etcd_dir)):  # fmt: skip
        name = ADMIN_NAME if kind == "admin" else plan.node
        password_file = directory / f"{kind}.password"
        if not password_file.exists():
            ca.issue_principal(kind, name, directory)  # type: ignore[arg-type]
        users.append((f"{kind}:{name}", password_file.read_text().strip()))
    return users


def read_or_make_secret(path: Path) -> bytes:
    if not path.exists():
        write_private(path, new_secret() + b"\n")
    return read_secret(path)


def create(
    plan: NodePlan,
    *,
    description: str = "",
    utc_offset_minutes: int = 0,
    management: Management | None = None,
    progress: Progress = lambda _: None,
) -> ClusterConfig:
    """Form the cluster (see the module's docstring); its configuration at the end."""
    lay = plan.layout
    settings = ClusterSettings(plan.cluster, description, utc_offset_minutes)
    if manages_member(lay.daemon_settings):  # a re-run; not the package's example file
        _same_cluster(lay, plan)
    secret = read_or_make_secret(lay.secret)
    progress(f"cluster secret: {lay.secret}")
    addresses = sorted({a.address for a in plan.addresses} | {plan.peer_url.split("//")[1]
                                                              .rsplit(":", 1)[0]})  # fmt: skip
    users = issue_node_files(plan, addresses)
    progress(f"certificates: CA {lay.ca_dir}, member {lay.member_dir}, users in {lay.etcd_dir}")
    member = plan.member(f"{plan.node}={plan.peer_url}", "new")
    endpoints = plan.client_urls
    write_yaml(lay.daemon_settings, daemon_settings(plan, endpoints, member))
    running = ManagedMember(member)
    progress(f"etcd: member {plan.node} at {plan.peer_url}, clients {', '.join(endpoints)}")
    running.start()
    try:
        store = EtcdStore(endpoints, timeout=5.0, credentials=admin_credentials(lay))
        try:
            keys = KeySpace(plan.prefix)
            etcd_auth.enable(store, users[:1], keys)  # admin:cluster, root; no-op when on
            for user, password in users[1:]:
                etcd_auth.add_user(store, keys, user, password)
            progress("etcd: authentication on; users " + ", ".join(u for u, _ in users))
            cfg = _cluster(ClusterDB(store, keys), store, keys, settings, secret, plan, management)
        finally:
            store.close()
    finally:
        running.stop()
    write_yaml(lay.cli_config, cli_settings(plan, endpoints))
    progress(f"settings: {lay.daemon_settings}, {lay.cli_config}; start wolfpackd next")
    return cfg


def _same_cluster(lay: Layout, plan: NodePlan) -> None:
    import yaml

    found = yaml.safe_load(lay.daemon_settings.read_text()) or {}
    member = found.get("etcd_member") or {}
    if found.get("node") != plan.node or member.get("token") != f"wolfpack-{plan.cluster}":
        raise ValidationError.single(
            "name",
            f"{lay.daemon_settings} belongs to another node or cluster (node "
            f"{found.get('node')!r}): remove this node from it first ('wolfpack cluster "
            "destroy' or 'wolfpack node evict')",
        )


def _cluster(
    db: ClusterDB,
    store: EtcdStore,
    keys: KeySpace,
    settings: ClusterSettings,
    secret: bytes,
    plan: NodePlan,
    management: Management | None,
) -> ClusterConfig:
    from wolfpack.admin import tls  # lazy: cryptography

    with contextlib.suppress(AlreadyExistsError):  # a re-run: the rest is completed below
        db.initialize(settings)
    register(store, keys, secret)
    tls.ensure_ca(db, secret, plan.cluster)

    def change(cfg: ClusterConfig) -> ClusterConfig:
        ignore = [management.address] if management is not None else []
        if plan.node not in cfg.nodes:
            cfg, _ = with_node(cfg, plan.node, list(plan.addresses), ignore=ignore)
        if management is not None and "Cluster Group" not in cfg.groups:
            cfg = _with_cluster_group(cfg, plan.cluster, management)
        return cfg

    return db.update_config(change)


def _with_cluster_group(cfg: ClusterConfig, name: str, m: Management) -> ClusterConfig:
    """The Cluster Group (S16): the management IP on its network, the cluster's name."""
    import ipaddress

    ip = ipaddress.IPv4Address(m.address)
    network = next(
        (n.name for n in cfg.networks.values() if ip in ipaddress.IPv4Network(n.subnet)), None
    )
    if network is None:
        raise ValidationError.single(
            "--management-ip",
            f"{m.address} is on none of the cluster's networks "
            f"({', '.join(n.subnet for n in cfg.networks.values())})",
        )
    doc = {
        "cluster": codec.dump(cfg.cluster),
        "groups": {"Cluster Group": {"description": "management IP and the cluster name (S16)"}},
        "resources": {
            "cluster-ip": {
                "type": IP_ADDRESS,
                "group": "Cluster Group",
                "properties": {"address": m.address, "network": network},
            },
            "cluster-name": {
                "type": NETWORK_NAME,
                "group": "Cluster Group",
                "dependencies": [["cluster-ip"]],
                "properties": {
                    "name": name,
                    "zone": m.zone,
                    "server": m.server,
                    "port": m.port,
                    "key_file": m.key_file,
                },
            },
        },
    }
    given = codec.parse_config(doc)
    return dataclasses.replace(
        cfg,
        groups={**cfg.groups, **given.groups},
        resources={**cfg.resources, **given.resources},
    )
