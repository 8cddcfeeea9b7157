"""Admitting a node (or a witness) that joins through the REST API (issue 10).

``POST /api/v1/cluster/join`` on any node that runs its own etcd member (the management
address of the Cluster Group reaches the node that owns it). The request is signed with the
cluster secret (:mod:`wolfpack.node.join_wire`); the node then, in this order, so that a
refusal changes nothing:

1. computes the configuration with the new node and its interfaces matched by subnet (a
   node on no cluster network is refused here, naming its addresses);
2. adds the joiner's etcd member as a learner (promoting a waiting learner first; refused
   when the waiting one has not caught up). A node, not a witness, that finds 5 voters and
   a learner already gets no member: it uses the voters' client URLs;
3. issues its member certificates and (not for a witness) its daemon's and API's etcd
   users, with the cluster database CA this node holds;
4. writes the Node and its interfaces (and any new network) to the configuration;
5. answers with everything the joiner needs, sealed with the secret.

A join run again (it stopped half-way) finds its member and node there and gets new files.
A witness is a voting member only: no Node, no users, no CA or administrator files.
"""

from __future__ import annotations

import ipaddress
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wolfpack.admin import members
from wolfpack.errors import RejectedError, ValidationError
from wolfpack.model.builtin_types import IP_ADDRESS
from wolfpack.model.config import ClusterConfig
from wolfpack.model.joining import HostAddress, with_node
from wolfpack.node.etcd_member import MemberSection
from wolfpack.node.install import ADMIN_NAME, parse_addresses
from wolfpack.node.join_wire import seal, verify
from wolfpack.store import etcd_auth, etcd_members
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_members import EtcdMember, initial_cluster
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.keys import KeySpace
from wolfpack.store.repository import ClusterDB

Log = Callable[..., None]
MEMBER_FILES = ["server.crt", "server.key", "peer.crt", "peer.key", "ca.crt", "jwt.key", "jwt.pub"]
PRINCIPAL_FILES = [f"{k}.{x}" for k in ("node", "api") for x in ("crt", "key", "password")]
PRINCIPAL_FILES.append("ca.crt")
CA_FILES = ["ca.crt", "ca.key", "jwt.key", "jwt.pub"]
ADMIN_FILES = ["admin.crt", "admin.key", "admin.password", "ca.crt"]


def virtual_addresses(cfg: ClusterConfig) -> list[str]:
    """The IP Address resources' addresses: they move between nodes, never interfaces."""
    return [
        str(r.properties.get("address"))
        for r in cfg.resources.values()
        if r.type == IP_ADDRESS and r.properties.get("address")
    ]


def _peer_address(cfg: ClusterConfig, mine: MemberSection, addresses: list[HostAddress]) -> str:
    """The joiner's address on the network this node's own member talks raft on."""
    host = mine.peer_url.split("//", 1)[1].rsplit(":", 1)[0]
    here = ipaddress.IPv4Address(host)
    for net in cfg.networks.values():
        subnet = ipaddress.IPv4Network(net.subnet)
        if here in subnet:
            found = next((a.address for a in addresses if a.interface.ip in subnet), None)
            if found is not None:
                return found
    return addresses[0].address


def _read(directory: Path, names: list[str], prefix: str) -> dict[str, str]:
    return {f"{prefix}/{n}": (directory / n).read_text() for n in names}


def admit(
    message: dict[str, Any],
    *,
    secret: bytes,
    endpoints: str,
    mine: MemberSection,
    db: ClusterDB,
    keys: KeySpace,
    log: Log,
) -> dict[str, Any]:
    """Admit the joiner of ``message``; the sealed answer (see the module's docstring)."""
    from wolfpack.store.pki import ClusterCA, user_name  # lazy: cryptography

    body = verify(secret, message, time.time())
    node = str(body.get("node", ""))
    user_name("node", node)  # ValidationError naming "name" for a bad one
    witness = bool(body.get("witness", False))
    raw = body.get("addresses")
    if not isinstance(raw, list) or not raw:
        raise ValidationError.single("addresses", "the joining node sent no addresses")
    addresses = parse_addresses([str(a) for a in raw], "addresses")
    ports = {k: int(body.get(k, d)) for k, d in (("client_port", 2379), ("peer_port", 2380))}
    cfg, _ = db.load_config()
    ignore = virtual_addresses(cfg)

    def joined(c: ClusterConfig) -> ClusterConfig:
        if witness or node in c.nodes:
            return c
        return with_node(c, node, addresses, ignore=ignore)[0]

    if witness and node in cfg.nodes:
        raise ValidationError.single("name", f"{node} is a node of this cluster, not a witness")
    planned = joined(cfg)  # bad input is refused here, before anything changes
    peer = str(body.get("peer_address") or _peer_address(planned, mine, addresses))
    peer_url = f"https://{peer}:{ports['peer_port']}"
    client_urls = [f"https://{a.address}:{ports['client_port']}" for a in addresses]
    admin = EtcdCredentials.from_dir(mine.admin_dir, "admin", field="etcd_member.admin_dir")
    store = EtcdStore(endpoints, timeout=5.0, credentials=admin)
    try:
        member, listed = _add_member(store, peer_url, node, witness, log)
        ca = ClusterCA.load(mine.ca_dir)
        files: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="wolfpack-join-") as tmp:
            out = Path(tmp)
            if member is not None:
                names = sorted({peer, *(a.address for a in addresses)})
                ca.issue_member(node, names, out / "m")
                files |= _read(out / "m", MEMBER_FILES, "etcd/member")
            if not witness:
                for kind in ("node", "api"):
                    _, password = ca.issue_principal(kind, node, out / "etcd")
                    etcd_auth.add_user(store, keys, f"{kind}:{node}", password)
                files |= _read(out / "etcd", PRINCIPAL_FILES, "etcd")
                files |= _read(mine.ca_dir, CA_FILES, "etcd/ca")
                files |= _read(mine.admin_dir, ADMIN_FILES, "etcd/admin")
        cfg = cfg if witness else db.update_config(joined)
    finally:
        store.close()
    log("join_admitted", joiner=node, witness=witness,
        member=f"{member.id:x}" if member is not None else "none")  # fmt: skip
    if member is None:  # the voters' client URLs (a learner serves no requests)
        etcd: dict[str, Any] = {
            "member": False, "peer_url": "", "client_urls": [], "initial_cluster": "",
            "endpoints": [u for m in listed if not m.learner for u in m.client_urls],
        }  # fmt: skip
    else:
        others = [u for m in listed if m.id != member.id for u in m.client_urls]
        etcd = {
            "member": True,
            "peer_url": peer_url,
            "client_urls": client_urls,
            "initial_cluster": initial_cluster(listed, node, peer_url),
            # its own member first: with another first, a node whose peer lost power would
            # wait out a connect timeout on each of the peer's addresses (10 s in the
            # two-node lab) before it reached the quorum next to it
            "endpoints": client_urls + others,
        }
    bundle = {
        "cluster": cfg.cluster.name,
        "node": node,
        "node_id": cfg.nodes[node].id if node in cfg.nodes else 0,
        "interfaces": {i.network: i.address for i in cfg.interfaces.values() if i.node == node},
        **etcd,
        "token": mine.token,
        "admin": f"admin:{ADMIN_NAME}",
        "files": files,
    }
    return seal(secret, str(body["nonce"]), bundle)


def _add_member(
    store: EtcdStore, peer_url: str, node: str, witness: bool, log: Log
) -> tuple[EtcdMember | None, list[EtcdMember]]:
    """The joiner's new etcd learner, and the members; no member for a node when etcd has
    all the voters it will have and a learner waits already (``VOTERS_FULL``): the node
    then uses the voters' client URLs, as a node of a large cluster does (etcd advises at
    most 5 voters; WSFC clusters reach 64 nodes). A witness exists only to vote: refused."""
    try:
        member, listed = members.add_learner(store, peer_url)
    except RejectedError as exc:
        if witness or exc.code != "VOTERS_FULL":
            raise
        log("join_without_member", joiner=node, why=str(exc))
        return None, etcd_members.members(store)
    log("join_member_added", joiner=node, peer_url=peer_url, witness=witness)
    return member, listed
