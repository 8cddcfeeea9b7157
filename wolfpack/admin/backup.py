"""Backup and restore of a cluster's *configuration* (``wolfpack cluster backup|restore``).

A backup is one document from one consistent read of the cluster database: the
configuration (every object, the built-in types as they were), what administrators set
beside it (paused or draining nodes, groups and resources they took offline), the API
tokens (names, roles and sha256 hashes: a backup gives no working token) and the cluster's
identity (the secret's verifier, the API's CA certificate and its key, encrypted with the
cluster secret: without the secret file the backup signs nothing).

What the daemons observe is never in it and never restored: owners, resource states,
leases, claims, heartbeat views, requests and their outcomes, where APIs listen. Restored
objects start with no owner, as after a full cluster stop; the coordinator places them
once the nodes run. So a restore can never create a second owner of anything.

Restore refuses a target that already holds objects (``CLUSTER_NOT_EMPTY``) or another
identity (``IDENTITY_MISMATCH``) unless forced; even forced, it goes through the same
validated, all-or-nothing configuration import as ``config import --replace``, which
refuses to remove a group or resource that is active (``OBJECTS_ACTIVE``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from wolfpack.errors import FieldError, RejectedError, ValidationError
from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import GroupStatus, NodeAdmin, ResourceStatus
from wolfpack.model.states import Wanted
from wolfpack.store.base import Put, key_absent
from wolfpack.store.config_writes import cluster_running
from wolfpack.store.keys import SCHEMA_VERSION, STATE_KINDS, StateKind
from wolfpack.store.repository import ClusterDB, DatabaseRead, encode

FORMAT: Final = "wolfpack-backup"
FORMAT_VERSION: Final = 1
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Identity:
    secret_verifier: bytes | None = None
    ca_certificate: bytes | None = None
    ca_key: bytes | None = None  # encrypted with the cluster secret


@dataclass(frozen=True)
class Backup:
    config: ClusterConfig
    created: float = 0.0
    revision: int = 0
    node_admin: Mapping[str, NodeAdmin] = field(default_factory=dict)
    #: groups and resources an administrator took offline (their PersistentState)
    offline_groups: tuple[str, ...] = ()
    offline_resources: tuple[str, ...] = ()
    tokens: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    identity: Identity = field(default_factory=Identity)

    def counts(self) -> dict[str, int]:
        cfg = self.config
        return {
            "nodes": len(cfg.nodes),
            "networks": len(cfg.networks),
            "interfaces": len(cfg.interfaces),
            "groups": len(cfg.groups),
            "resources": len(cfg.resources),
            "types": len(cfg.types),
            "tokens": len(self.tokens),
        }


@dataclass(frozen=True)
class Restored:
    """What a restore wrote (and what it left as it found it)."""

    counts: Mapping[str, int]
    identity: str  # "restored", "unchanged" or "replaced"
    tokens_kept: tuple[str, ...] = ()  # tokens the target had already, left alone
    running: tuple[str, ...] = ()  # nodes holding leases at the time


# -- taking one ------------------------------------------------------------------------------


def take(db: ClusterDB, now: float) -> Backup:
    """Everything a restore needs, from one consistent read."""
    read = db.read()
    read.check_schema()
    snap = read.snapshot()  # NoClusterError when there is none
    k = db.keys
    return Backup(
        config=snap.config,
        created=now,
        revision=read.revision,
        node_admin={
            name: read.decode(NodeAdmin, kv)
            for name, kv in read.section(k.node_admin_prefix).items()
            if name in snap.config.nodes
        },
        offline_groups=tuple(
            sorted(n for n, st in snap.groups.items() if st.wanted is Wanted.OFFLINE)
        ),
        offline_resources=tuple(
            sorted(n for n, st in snap.resources.items() if st.wanted is Wanted.OFFLINE)
        ),
        tokens={name: json.loads(raw) for name, raw in read.token_documents().items()},
        identity=Identity(
            _value(read, k.secret_verifier),
            _value(read, k.tls_ca_cert),
            _value(read, k.tls_ca_key),
        ),
    )


def _value(read: DatabaseRead, key: str) -> bytes | None:
    kv = read.kvs.get(key)
    return kv.value if kv is not None else None


def document(backup: Backup) -> dict[str, Any]:
    """The backup file's content (JSON; binary values in base64)."""
    ident = backup.identity
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "created": backup.created,
        "revision": backup.revision,
        "cluster": backup.config.cluster.name,
        "config": codec.dump(backup.config),
        "administration": {
            "nodes": {
                n: codec.dump(a, exclude_defaults=False) for n, a in backup.node_admin.items()
            },
            "offline_groups": list(backup.offline_groups),
            "offline_resources": list(backup.offline_resources),
        },
        "tokens": dict(backup.tokens),
        "identity": {
            "secret_verifier": _b64(ident.secret_verifier),
            "ca_certificate": _b64(ident.ca_certificate),
            "ca_key": _b64(ident.ca_key),
        },
    }


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode() if value is not None else None


# -- reading one back ------------------------------------------------------------------------


def parse(data: Any) -> Backup:
    """A backup document back; every problem named by its field, nothing half-read."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValidationError.single("format", f"not a Wolfpack backup (expected {FORMAT!r})")
    errors: list[FieldError] = []
    if data.get("version") != FORMAT_VERSION:
        errors.append(
            FieldError("version", f"must be {FORMAT_VERSION}, got {data.get('version')!r}")
        )
    if data.get("schema_version") != SCHEMA_VERSION:
        errors.append(
            FieldError(
                "schema_version",
                f"this Wolfpack reads schema {SCHEMA_VERSION}, got {data.get('schema_version')!r}",
            )
        )
    config = ClusterConfig()
    try:
        config = codec.parse_config(data.get("config"))
    except ValidationError as exc:
        errors += [FieldError(f"config.{e.field}", e.message) for e in exc.errors]
    admin = _mapping(data, "administration", errors)
    node_admin: dict[str, NodeAdmin] = {}
    for name, value in _mapping(admin, "nodes", errors, "administration.").items():
        try:
            node_admin[str(name)] = codec.parse(NodeAdmin, value)
        except ValidationError as exc:
            errors += [
                FieldError(f"administration.nodes.{name}.{e.field}", e.message) for e in exc.errors
            ]
    offline = {kind: _names(admin, f"offline_{kind}", errors) for kind in ("groups", "resources")}
    tokens = _mapping(data, "tokens", errors)
    for name, token in tokens.items():
        if not isinstance(token, Mapping) or not {"name", "role", "sha256"} <= set(token):
            errors.append(FieldError(f"tokens.{name}", "must have name, role and sha256"))
    ident = _mapping(data, "identity", errors)
    values = {
        key: _unb64(ident.get(key), f"identity.{key}", errors)
        for key in ("secret_verifier", "ca_certificate", "ca_key")
    }
    if errors:
        raise ValidationError(errors)
    return Backup(
        config=config,
        created=float(data.get("created") or 0.0),
        revision=int(data.get("revision") or 0),
        node_admin=node_admin,
        offline_groups=offline["groups"],
        offline_resources=offline["resources"],
        tokens={str(n): dict(t) for n, t in tokens.items()},
        identity=Identity(**values),
    )


def _mapping(
    data: Mapping[str, Any], key: str, errors: list[FieldError], at: str = ""
) -> Mapping[str, Any]:
    value = data.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(FieldError(f"{at}{key}", "must be a mapping"))
        return {}
    return value


def _names(data: Mapping[str, Any], key: str, errors: list[FieldError]) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(FieldError(f"administration.{key}", "must be a list of names"))
        return ()
    return tuple(value)


def _unb64(value: Any, where: str, errors: list[FieldError]) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        errors.append(FieldError(where, "must be base64"))
        return None


# -- restoring -------------------------------------------------------------------------------


def objects_in(read: DatabaseRead) -> int:
    """How many objects a database holds (the built-in types do not count)."""
    if not read.initialized:
        return 0
    cfg = read.config()
    builtin = builtin_types()
    custom = [t for name, t in cfg.types.items() if builtin.get(name) != t]
    return sum(
        len(getattr(cfg, k)) for k in ("nodes", "networks", "interfaces", "groups", "resources")
    ) + len(custom)


def restore(
    db: ClusterDB, backup: Backup, *, force: bool = False, progress: Progress = lambda _: None
) -> Restored:
    """Write ``backup``'s configuration into ``db``; never any observed state."""
    read = db.read()
    read.check_schema()
    running = tuple(cluster_running(read))
    held = objects_in(read)
    if held and not force:
        where = f"; nodes {', '.join(running)} are running" if running else ""
        raise RejectedError(
            "CLUSTER_NOT_EMPTY",
            f"the target already holds a cluster with {held} objects{where}: restore replaces "
            "its configuration; use --force to do so (active groups and resources are never "
            "removed), or restore into an empty database",
        )
    identity = _restore_identity(db, read, backup.identity, force, progress)
    given = backup.config
    progress(
        f"configuration: {len(given.nodes)} nodes, {len(given.groups)} groups, "
        f"{len(given.resources)} resources"
    )
    db.import_config(
        lambda current: ClusterConfig(
            cluster=given.cluster,
            nodes=given.nodes,
            networks=given.networks,
            interfaces=given.interfaces,
            groups=given.groups,
            resources=given.resources,
            types={**builtin_types(), **given.types},
        )
    )
    progress("administrator settings: paused nodes, offline groups and resources")
    _restore_administration(db, backup)
    progress(f"tokens: {len(backup.tokens)}")
    kept = tuple(
        sorted(
            name
            for name, token in backup.tokens.items()
            if not db.add_token(name, json.dumps(dict(token)).encode())
        )
    )
    return Restored(backup.counts(), identity, kept, running)


def _restore_identity(
    db: ClusterDB, read: DatabaseRead, ident: Identity, force: bool, progress: Progress
) -> str:
    """The secret's verifier and the CA belong together: restored if the target has none,
    left if equal, replaced only with ``force`` (the nodes' secret files must then be the
    backup's)."""
    k = db.keys
    pairs = {
        k.secret_verifier: ident.secret_verifier,
        k.tls_ca_cert: ident.ca_certificate,
        k.tls_ca_key: ident.ca_key,
    }
    present = {key: _value(read, key) for key in pairs}
    differ = [
        key
        for key, value in pairs.items()
        if value is not None and present[key] not in (None, value)
    ]
    if differ and not force:
        raise RejectedError(
            "IDENTITY_MISMATCH",
            "the target's cluster secret or CA is not the backup's: its nodes use another "
            "secret file; use --force to replace them (then give every node the backup "
            "cluster's secret file)",
        )
    wanted = [
        Put(key, value)
        for key, value in pairs.items()
        if value is not None and value != present[key]
    ]
    if not wanted:
        return "unchanged"
    progress("cluster identity: secret verifier and API CA")
    db.store.txn([], wanted)
    return "replaced" if differ else "restored"


def _restore_administration(db: ClusterDB, backup: Backup) -> None:
    """Paused/draining nodes; offline groups and resources as new status documents holding
    only what was wanted (no owner, no state), and only where none exists."""
    for name, admin in backup.node_admin.items():
        db.store.put(db.keys.node_admin(name), encode(admin))
    kinds = cast(tuple[StateKind, ...], STATE_KINDS)
    offline: dict[StateKind, tuple[str, ...]] = {
        "groups": backup.offline_groups,
        "resources": backup.offline_resources,
    }
    for kind in kinds:
        for name in offline.get(kind, ()):
            status = (
                GroupStatus(wanted=Wanted.OFFLINE)
                if kind == "groups"
                else ResourceStatus(wanted=Wanted.OFFLINE)
            )
            key = db.keys.state(kind, name)
            db.store.txn([key_absent(key)], [Put(key, encode(status))])
