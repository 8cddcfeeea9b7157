"""etcd users and roles: what each principal may write in the cluster database (C1, issue 11).

Three kinds of principal (:mod:`wolfpack.store.pki`), each an etcd user:

* ``admin:<name>`` -- an administrator (the CLI): etcd's ``root`` role, everything.
* ``api:<node>`` -- the REST API served by a node's daemon. It changes the configuration on
  behalf of token holders, so it may write everything under the cluster's prefix and the
  audit log, but it cannot manage etcd's users, roles or authentication (root's).
* ``node:<node>`` -- the daemon of one node (:func:`node_permissions`): it reads the whole
  prefix and writes only what the daemon writes. It may **not** write the configuration
  (``config/``: resource definitions, and a Generic Application runs as root on every node),
  ``config_epoch``, ``tokens/``, ``tls/``, ``secret_verifier`` or ``schema_version``, nor
  another node's ``inventory/``, ``api/`` or ``admin/nodes/`` key, nor the audit log.

Why a node may still write some keys of other nodes: any node can become the coordinator,
which writes every group's and resource's observed state (``state/``), request outcomes and
consumes requests (``intents/``), and revokes a fenced node's lease. etcd lets a user revoke
a lease only if it may write every key attached to it, so ``leases/``, ``views/``,
``claims/`` and ``links/`` (all attached to node leases) are writable by every node. A
stolen node credential can therefore disturb placement (as a rogue coordinator could), but
it cannot define what runs, mint API tokens, or read the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from wolfpack.errors import StoreError
from wolfpack.store.base import prefix_range_end
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_wire import _b64, _key_bytes
from wolfpack.store.keys import KeySpace

Perm = Literal["READ", "WRITE", "READWRITE"]
#: What the coordinator and the resource managers write, on any node's behalf.
NODE_SHARED_PREFIXES = (
    "state/", "outcomes/", "intents/", "leases/", "views/", "claims/", "links/",
)  # fmt: skip
#: What only the node itself writes (``inventory/<node>``, ...).
NODE_OWN_PREFIXES = ("inventory/", "api/", "admin/nodes/", "rotation/acks/")


@dataclass(frozen=True)
class Permission:
    """``perm`` on ``key`` alone, or on every key starting with it when ``prefix``."""

    key: str
    perm: Perm
    prefix: bool = True

    def grant(self, role: str) -> dict[str, object]:
        raw = _key_bytes(self.key)
        perm: dict[str, object] = {"permType": self.perm, "key": _b64(raw)}
        if self.prefix:
            perm["range_end"] = _b64(prefix_range_end(raw))
        return {"name": role, "perm": perm}


def node_role(keys: KeySpace) -> str:
    return f"wolfpack-node:{keys.root}"


def own_role(keys: KeySpace, node: str) -> str:
    return f"wolfpack-node:{keys.root}:{node}"


def api_role(keys: KeySpace) -> str:
    return f"wolfpack-api:{keys.root}"


def node_permissions(keys: KeySpace) -> list[Permission]:
    """The role every node's daemon has (see the module's docstring for why); any node
    can be the coordinator, which keeps the groups' failover timelines."""
    return [
        Permission(keys.root, "READ"),
        *(Permission(keys.root + p, "READWRITE") for p in NODE_SHARED_PREFIXES),
        Permission(keys.history_prefix, "READWRITE"),
    ]


def own_permissions(keys: KeySpace, node: str) -> list[Permission]:
    """The keys of one node that only that node writes."""
    return [
        Permission(keys.inventory(node), "READWRITE", prefix=False),
        Permission(keys.api(node), "READWRITE", prefix=False),
        Permission(keys.node_admin(node), "READWRITE", prefix=False),
        Permission(keys.rotation_ack(node), "READWRITE", prefix=False),
    ]


def api_permissions(keys: KeySpace) -> list[Permission]:
    return [
        Permission(keys.root, "READWRITE"),
        Permission(keys.audit_prefix, "READWRITE"),
        Permission(keys.history_prefix, "READWRITE"),  # a renamed group's history moves
    ]


def roles_of(user: str, keys: KeySpace) -> dict[str, list[Permission]]:
    """The roles (name -> permissions) the user ``kind:name`` gets; ``root`` for admins."""
    kind, _, name = user.partition(":")
    if kind == "admin":
        return {"root": []}
    if kind == "api":
        return {api_role(keys): api_permissions(keys)}
    if kind == "node":
        return {
            node_role(keys): node_permissions(keys),
            own_role(keys, name): own_permissions(keys, name),
        }
    raise ValueError(f"unknown kind of etcd user {user!r} (admin:, api: or node:)")


def _tolerating(store: EtcdStore, path: str, payload: dict[str, object], exists: str) -> bool:
    """Call; False if etcd says the thing already exists (``exists`` in its message)."""
    try:
        store.call_api(path, payload)
    except StoreError as exc:
        if exists in str(exc):
            return False
        raise
    return True


def add_user(store: EtcdStore, keys: KeySpace, user: str, password: str) -> None:
    """Create (or give a new password to) ``user`` with its roles, creating those roles."""
    for role, perms in roles_of(user, keys).items():
        if role == "root":
            continue
        _tolerating(store, "auth/role/add", {"name": role}, "role name already exists")
        for p in perms:  # again for an existing role: a newer release may grant more
            store.call_api("auth/role/grant", p.grant(role))
    if not _tolerating(
        store,
        "auth/user/add",
        {"name": user, "password": password},
        "user name already exists",
    ):
        store.call_api("auth/user/changepw", {"name": user, "password": password})
    for role in roles_of(user, keys):
        store.call_api("auth/user/grant", {"user": user, "role": role})


def remove_user(store: EtcdStore, user: str) -> bool:
    """Delete ``user``: its password stops working at once (False: there was none)."""
    return _tolerating(store, "auth/user/delete", {"name": user}, "user name not found")


def enable(store: EtcdStore, users: Iterable[tuple[str, str]], keys: KeySpace) -> None:
    """Bootstrap: create ``users`` (name, password) and their roles, a ``root`` user (etcd
    requires one; its random password is thrown away, administrators have the root role),
    and turn authentication on. Run once, with an admin's certificate, before auth is on."""
    import secrets

    for user, password in users:
        add_user(store, keys, user, password)
    _tolerating(
        store,
        "auth/user/add",
        {"name": "root", "password": secrets.token_urlsafe(32)},
        "user name already exists",
    )
    store.call_api("auth/user/grant", {"user": "root", "role": "root"})
    store.call_api("auth/enable", {})


def status(store: EtcdStore) -> dict[str, object]:
    """Users and their roles as etcd has them (for ``wolfpack cluster certs list``)."""
    users = store.call_api("auth/user/list", {}).get("users", [])
    out: dict[str, object] = {}
    for user in users:
        roles = store.call_api("auth/user/get", {"name": user}).get("roles", [])
        out[str(user)] = list(roles)
    return out
