"""``ClusterDB``: the model <-> store mapping of the cluster database.

Every configuration object is one JSON document (``codec.dump`` of its dataclass, defaults
included so a stored object never changes meaning when a default does) under the key
layout of :mod:`wolfpack.store.keys`. Reads are one ``get_prefix`` of the root, so a loaded
configuration or snapshot is always consistent. Configuration writes are optimistic: read,
change, validate the *whole* result, then one transaction that only applies if
``config_epoch`` was not written meanwhile; a concurrent writer gets
:class:`~wolfpack.errors.ConflictError` naming that key and nothing is overwritten.

Observed state (``state/``) and administrator requests (``intents/``) are written by their
owners with plain puts; the configuration transaction only deletes the state of objects it
removes, so no stale status outlives its object. A write may add conditions of its own
(``guard``: e.g. the state revisions a delete guard read, a coordinator's election token).

``config import`` never rewrites observed state under running daemons: a ``state`` section,
or deleting every status (``replace_state``), needs a stopped cluster (no key under
``leases/nodes/``, compared in the same transaction), and removing a group or resource that
is active is refused (its status revisions compared in the transaction too).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeVar, cast

from wolfpack.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    NotFoundError,
    RejectedError,
    StoreError,
    ValidationError,
    WolfpackError,
)
from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
    Group,
    Interface,
    Network,
    Node,
    Resource,
    ResourceType,
)
from wolfpack.model.inventory import Inventory
from wolfpack.model.links import NodeLinks
from wolfpack.model.snapshot import (
    GroupStatus,
    Intent,
    IntentKind,
    NodeAdmin,
    NodeStatus,
    Outcome,
    ResourceStatus,
    Snapshot,
)
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.model.validation import validate_config
from wolfpack.store.base import (
    Compare,
    Delete,
    KeyValue,
    Op,
    Put,
    Store,
    Watch,
    key_absent,
    prefix_empty,
    put_if_absent,
)
from wolfpack.store.base import mod_revision_is as mod_is
from wolfpack.store.keys import (
    CONFIG_KINDS,
    SCHEMA_VERSION,
    STATE_KINDS,
    ConfigKind,
    KeySpace,
    StateKind,
)

T = TypeVar("T")
#: how often ``import_config`` re-reads and re-checks after a concurrent write
IMPORT_ATTEMPTS: Final = 3
Status: TypeAlias = NodeStatus | GroupStatus | ResourceStatus
#: Raises what can be refused at once about a request, judged on a snapshot.
RequestCheck: TypeAlias = Callable[[Snapshot], None]

_SCHEMA: Final = str(SCHEMA_VERSION).encode()
_TXN_OPS: Final = 100  # etcd refuses transactions of more than 128 operations by default
_CONFIG_TYPES: Final[Mapping[str, type[Any]]] = {
    "nodes": Node,
    "networks": Network,
    "interfaces": Interface,
    "groups": Group,
    "resources": Resource,
    "types": ResourceType,
}
#: the status class of each kind of observed state
STATE_TYPES: Final[Mapping[str, type[Any]]] = {
    "nodes": NodeStatus,
    "groups": GroupStatus,
    "resources": ResourceStatus,
}


class NoClusterError(NotFoundError):
    """The database under this key root holds no cluster (yet)."""

    def __init__(self, root: str) -> None:
        self.kind, self.name = "cluster", root
        WolfpackError.__init__(
            self,
            f"the cluster database under {root!r} holds no cluster: create one with "
            "`wolfpack cluster create NAME` or `wolfpack config import FILE`",
        )


class SchemaVersionError(StoreError):
    """The database was written by a Wolfpack with another key layout."""


@dataclass(frozen=True)
class StateSection:
    """Observed state to write together with a configuration (``config import``)."""

    nodes: Mapping[str, NodeStatus] = field(default_factory=dict)
    groups: Mapping[str, GroupStatus] = field(default_factory=dict)
    resources: Mapping[str, ResourceStatus] = field(default_factory=dict)

    def of(self, kind: StateKind) -> Mapping[str, Status]:
        return cast(Mapping[str, Status], getattr(self, kind))


def encode(obj: Any) -> bytes:
    """One stored JSON document: every field, keys sorted, compact."""
    data = codec.dump(obj, exclude_defaults=False)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _decode(cls: type[T], kv: KeyValue) -> T:
    try:
        return codec.parse(cls, json.loads(kv.value))
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"corrupt document at {kv.key!r}: {exc}") from None


class DecodeCache:
    """Parsed documents by key and mod revision: a daemon re-reads the whole database on
    every change, and most documents have not changed since the last read. Safe to share
    between threads (the objects are frozen values)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, type[Any], Any]] = {}
        self._lock = threading.Lock()

    def decode(self, cls: type[T], kv: KeyValue) -> T:
        hit = self._entries.get(kv.key)
        if hit is not None and hit[0] == kv.mod_revision and hit[1] is cls:
            return cast(T, hit[2])
        obj = _decode(cls, kv)
        with self._lock:
            self._entries[kv.key] = (kv.mod_revision, cls, obj)
        return obj

    def forget_except(self, keys: Mapping[str, object]) -> None:
        with self._lock:
            for key in [k for k in self._entries if k not in keys]:
                del self._entries[key]


@dataclass(frozen=True)
class DatabaseRead:
    """One consistent read of the whole database root."""

    kvs: Mapping[str, KeyValue]
    revision: int
    keys: KeySpace
    cache: DecodeCache | None = None

    def decode(self, cls: type[T], kv: KeyValue) -> T:
        return self.cache.decode(cls, kv) if self.cache is not None else _decode(cls, kv)

    def section(self, prefix: str) -> dict[str, KeyValue]:
        """Direct children of ``prefix``, by name."""
        out: dict[str, KeyValue] = {}
        for key, kv in self.kvs.items():
            if key.startswith(prefix) and "/" not in key[len(prefix) :]:
                out[key[len(prefix) :]] = kv
        return out

    @property
    def initialized(self) -> bool:
        return self.keys.cluster in self.kvs

    @property
    def epoch(self) -> int:
        kv = self.kvs.get(self.keys.config_epoch)
        return kv.mod_revision if kv is not None else 0

    def check_schema(self) -> None:
        kv = self.kvs.get(self.keys.schema_version)
        if kv is None and not self.initialized:
            return
        found = kv.value.decode(errors="replace") if kv is not None else "<missing>"
        if kv is None or kv.value != _SCHEMA:
            raise SchemaVersionError(
                f"the cluster database under {self.keys.root!r} has schema version {found}; "
                f"this Wolfpack understands {SCHEMA_VERSION}: upgrade Wolfpack or migrate "
                "the database"
            )

    def config(self) -> ClusterConfig:
        self.check_schema()
        cluster = self.kvs.get(self.keys.cluster)
        if cluster is None:
            raise NoClusterError(self.keys.root)
        sections = {
            kind: {
                name: self.decode(_CONFIG_TYPES[kind], kv)
                for name, kv in self.section(self.keys.config_prefix(kind)).items()
            }
            for kind in cast(tuple[ConfigKind, ...], CONFIG_KINDS)
        }
        return ClusterConfig(cluster=self.decode(ClusterSettings, cluster), **sections)

    def statuses(self, kind: StateKind) -> dict[str, Any]:
        return {
            name: self.decode(STATE_TYPES[kind], kv)
            for name, kv in self.section(self.keys.state_prefix(kind)).items()
        }

    def intents(self) -> tuple[Intent, ...]:
        found = [self.decode(Intent, kv) for kv in self.section(self.keys.intents_prefix).values()]
        return tuple(sorted(found, key=lambda i: (i.created, i.id)))

    def snapshot(self) -> Snapshot:
        """Configuration, observed state and pending requests as of this read."""
        return Snapshot(
            config=self.config(),
            nodes=self.statuses("nodes"),
            groups=self.statuses("groups"),
            resources=self.statuses("resources"),
            intents=self.intents(),
            revision=self.revision,
            links=self.links(),
        )

    def links(self) -> dict[str, NodeLinks]:
        """Each node's report of its interfaces; a damaged one is left out: it is its
        node's to rewrite, and must not stop every reader of the database."""
        out: dict[str, NodeLinks] = {}
        for name, kv in self.section(self.keys.links_prefix).items():
            try:
                out[name] = self.decode(NodeLinks, kv)
            except StoreError:
                continue
        return out

    def token_documents(self) -> dict[str, bytes]:
        """The stored API tokens by name (:mod:`wolfpack.admin.tokens` parses them)."""
        return {name: kv.value for name, kv in self.section(self.keys.tokens_prefix).items()}

    def outcomes(self) -> dict[str, Outcome]:
        """The coordinator's answers by request id (unreadable ones left out)."""
        out: dict[str, Outcome] = {}
        for name, kv in self.section(self.keys.outcomes_prefix).items():
            try:
                out[name] = self.decode(Outcome, kv)
            except WolfpackError:
                continue
        return out

    def apis(self) -> dict[str, dict[str, Any]]:
        """Where each node's REST API listens, by node (``url``, ``started``)."""
        return _json_documents(self.section(self.keys.api_prefix))


def _json_documents(kvs: Mapping[str, KeyValue]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, kv in kvs.items():
        try:
            doc = json.loads(kv.value)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out[name] = doc
    return out


def _key_name_errors(cfg: ClusterConfig) -> list[FieldError]:
    """Names become key segments: refuse what the key layout cannot hold."""
    errors = []
    for kind in CONFIG_KINDS:
        for name in getattr(cfg, kind):
            if not name or "/" in name or name in (".", ".."):
                errors.append(
                    FieldError(f"{kind}.{name}.name", f"{name!r} is not a valid name: no '/'")
                )
    return errors


def check_config(cfg: ClusterConfig) -> None:
    """``validate_config`` plus what the key layout needs; raises one ValidationError."""
    errors = _key_name_errors(cfg)
    try:
        validate_config(cfg)
    except ValidationError as exc:
        if not errors:
            raise
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)


def _state_errors(cfg: ClusterConfig, state: StateSection) -> list[FieldError]:
    errors = []
    for kind in cast(tuple[StateKind, ...], STATE_KINDS):
        known = getattr(cfg, kind)
        for name in state.of(kind):
            if name not in known:
                errors.append(FieldError(f"state.{kind}.{name}", f"unknown {kind[:-1]} {name!r}"))
    return errors


def new_intent_id(now: float) -> str:
    """Time-sortable and unique: microseconds since the epoch, then 8 random hex digits."""
    return f"{int(now * 1_000_000):017d}-{secrets.token_hex(4)}"


def cluster_running(read: DatabaseRead) -> list[str]:
    """The nodes holding a live lease in ``read`` (their daemons run)."""
    prefix = read.keys.node_leases_prefix
    return sorted(key[len(prefix) :] for key in read.kvs if key.startswith(prefix))


def _resource_active(status: ResourceStatus) -> bool:
    """Online, pending, or failed on a node: it may still run there."""
    return status.state.active and (status.state is not ResourceState.FAILED or bool(status.node))


def active_removed(read: DatabaseRead, new: ClusterConfig) -> list[str]:
    """What ``new`` removes while it is active, as read: a resource that may run on a node,
    a group wanted online that has an owner. Removing those would orphan what runs."""
    if not read.initialized:
        return []
    current = read.config()
    found = []
    for name in sorted(set(current.groups) - set(new.groups)):
        kv = read.kvs.get(read.keys.state("groups", name))
        group = read.decode(GroupStatus, kv) if kv is not None else None
        if group is not None and group.owner and group.wanted is Wanted.ONLINE:
            found.append(f"group {name!r} (online on {group.owner})")
    for name in sorted(set(current.resources) - set(new.resources)):
        kv = read.kvs.get(read.keys.state("resources", name))
        res = read.decode(ResourceStatus, kv) if kv is not None else None
        if res is not None and _resource_active(res):
            found.append(f"resource {name!r} ({res.state} on {res.node})")
    return found


def removed_state_guard(read: DatabaseRead, new: ClusterConfig) -> list[Compare]:
    """The status revisions of every group and resource ``new`` removes, as read: the
    transaction fails if any of them was written since (the check above went stale)."""
    if not read.initialized:
        return []
    current = read.config()
    keys = [
        read.keys.state(kind, name)
        for kind in cast(tuple[StateKind, ...], ("groups", "resources"))
        for name in sorted(set(getattr(current, kind)) - set(getattr(new, kind)))
    ]
    return [mod_is(key, read.kvs[key].mod_revision if key in read.kvs else 0) for key in keys]


class ClusterDB:
    """Typed access to one Wolfpack cluster database (``store`` under ``keys.root``)."""

    def __init__(
        self,
        store: Store,
        keys: KeySpace | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.keys = keys if keys is not None else KeySpace()
        self._clock = clock
        #: parsed documents of this handle's own reads (a write re-reads everything first)
        self.decode_cache = DecodeCache()

    # -- reads ----------------------------------------------------------------------------

    def read(self, cache: DecodeCache | None = None) -> DatabaseRead:
        """One consistent read of everything under the root (documents parsed lazily, each
        once per mod revision: ``cache``, else this handle's own cache)."""
        cache = cache if cache is not None else self.decode_cache
        kvs, revision = self.store.get_prefix(self.keys.root)
        by_key = {kv.key: kv for kv in kvs}
        if cache is not None:
            cache.forget_except(by_key)
        return DatabaseRead(by_key, revision, self.keys, cache)

    def load_config(self) -> tuple[ClusterConfig, int]:
        """The configuration and its epoch (``config_epoch``'s mod revision)."""
        read = self.read()
        return read.config(), read.epoch

    def read_snapshot(self) -> Snapshot:
        """Configuration, observed state and requests, from one consistent read."""
        return self.read().snapshot()

    # -- configuration writes --------------------------------------------------------------

    def initialize(self, settings: ClusterSettings) -> ClusterConfig:
        """Create the cluster: schema version, settings and the built-in resource types,
        in one transaction, only if the database holds no cluster yet."""
        cfg = ClusterConfig(cluster=settings, types=builtin_types())
        check_config(cfg)
        for attempt in (1, 2):
            read = self.read()
            read.check_schema()
            if read.initialized:
                raise AlreadyExistsError("cluster", read.config().cluster.name)
            try:
                self._commit(read, cfg, StateSection(), replace_state=False)
                break
            except ConflictError:
                if attempt == 2:
                    raise  # re-checked: someone keeps writing, but no cluster appeared
        return cfg

    def update_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        *,
        expected_epoch: int | None = None,
        also: Sequence[Op] = (),
        based_on: DatabaseRead | None = None,
        guard: Sequence[Compare] = (),
        check: Callable[[DatabaseRead], Sequence[Compare]] | None = None,
    ) -> ClusterConfig:
        """Apply ``change`` to the current configuration and store the result atomically.

        The whole result is validated first (``ValidationError``: nothing written). The write
        only happens if ``config_epoch`` is unchanged since the read, or equals
        ``expected_epoch`` when given; otherwise ``ConflictError`` and nothing is written.
        ``also``: operations outside the configuration written in the same transaction
        (the API's audit record of the change), even when the configuration is unchanged.
        ``based_on``: a recent read to start from instead of reading now (the API's cached
        one); the epoch check still refuses the write if it is out of date. Only for
        changes that remove no object (their state is deleted by what the read holds).
        ``guard``: more conditions of the same transaction (a coordinator's election token);
        if one fails, ``ConflictError``. ``check``: called with the read the change starts
        from, raises if the change may not happen now and returns the conditions under
        which its verdict holds (the revisions of the state it looked at), compared in the
        transaction like ``guard`` (a delete guard that cannot go stale).
        """
        read = based_on if based_on is not None else self.read()
        current = read.config()
        if expected_epoch is not None and expected_epoch != read.epoch:
            raise self._conflict(expected_epoch)
        if check is not None:
            guard = [*guard, *check(read)]
        new = change(current)
        check_config(new)
        self._commit(read, new, StateSection(), replace_state=False, also=also, guard=guard)
        return new

    def import_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        state: StateSection | None = None,
        *,
        replace_state: bool = False,
    ) -> ClusterConfig:
        """Like :meth:`update_config`, but also creates the cluster if there is none yet and
        writes ``state`` in the same transaction (``replace_state``: delete every other
        status). ``change`` gets an empty configuration with the built-in types when the
        database holds no cluster.

        Observed state belongs to the running daemons: writing ``state`` or deleting it
        (``replace_state``) is refused (``RejectedError`` CLUSTER_RUNNING) while any node
        holds a lease, and that is compared in the transaction itself. Otherwise removing a
        group or resource that is active is refused (OBJECTS_ACTIVE), their status
        revisions compared in the transaction. A concurrent write re-reads and re-checks.
        """
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            read = self.read()
            read.check_schema()
            current = read.config() if read.initialized else ClusterConfig(types=builtin_types())
            new = change(current)
            state = state or StateSection()
            errors = _state_errors(new, state)
            try:
                check_config(new)
            except ValidationError as exc:
                raise ValidationError([*exc.errors, *errors]) from None
            if errors:
                raise ValidationError(errors)
            guard = self._import_guard(read, new, state, replace_state=replace_state)
            try:
                self._commit(read, new, state, replace_state=replace_state, guard=guard)
                return new
            except ConflictError:
                if attempt == IMPORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _import_guard(
        self, read: DatabaseRead, new: ClusterConfig, state: StateSection, *, replace_state: bool
    ) -> list[Compare]:
        """H3: what must hold for an import, checked on ``read`` now and again (as compares)
        in its transaction."""
        if replace_state or any(state.of(k) for k in cast(tuple[StateKind, ...], STATE_KINDS)):
            running = cluster_running(read)
            if running:
                what = "delete the observed state" if replace_state else "write a state section"
                raise RejectedError(
                    "CLUSTER_RUNNING",
                    f"an import may only {what} while the cluster is stopped, and nodes "
                    f"{', '.join(running)} hold live leases: stop every wolfpackd first "
                    "(systemctl stop wolfpackd on each node), or import without state",
                )
            return [prefix_empty(self.keys.node_leases_prefix)]
        active = active_removed(read, new)
        if active:
            raise RejectedError(
                "OBJECTS_ACTIVE",
                f"the import would remove {'; '.join(active)} while active: take them "
                "offline first (wolfpack group offline NAME / wolfpack resource offline "
                "NAME), then import again",
            )
        return removed_state_guard(read, new)

    def _documents(self, cfg: ClusterConfig) -> dict[str, bytes]:
        docs = {self.keys.cluster: encode(cfg.cluster)}
        for kind in cast(tuple[ConfigKind, ...], CONFIG_KINDS):
            for name, obj in getattr(cfg, kind).items():
                docs[self.keys.config(kind, name)] = encode(obj)
        return docs

    def _commit(
        self,
        read: DatabaseRead,
        new: ClusterConfig,
        state: StateSection,
        *,
        replace_state: bool,
        also: Sequence[Op] = (),
        guard: Sequence[Compare] = (),
    ) -> None:
        k = self.keys
        current = {key: kv.value for key, kv in read.kvs.items()}
        wanted = self._documents(new)
        for kind in cast(tuple[StateKind, ...], STATE_KINDS):
            for name, status in state.of(kind).items():
                wanted[k.state(kind, name)] = encode(status)
        ops: list[Op] = [Put(key, v) for key, v in sorted(wanted.items()) if current.get(key) != v]
        for key in sorted(current):
            if key in wanted:
                continue
            if key.startswith(k.config_root) or (
                key.startswith(k.state_root) and (replace_state or self._orphan(key, new))
            ):
                ops.append(Delete(key))
        if not ops:
            if also and not self.store.txn(list(guard), list(also)).succeeded:
                raise self._conflict(read.epoch, guarded=bool(guard))
            return
        ops.extend(also)
        compares: list[Compare]
        if read.initialized:
            compares = [mod_is(k.config_epoch, read.epoch)]
            counter = read.kvs[k.config_epoch].value if read.epoch else b"0"
        else:
            # creation: no cluster yet; a schema stamp (keys.ensure_schema) may already exist
            schema = read.kvs.get(k.schema_version)
            compares = [key_absent(k.cluster), mod_is(k.config_epoch, read.epoch)]
            compares.append(mod_is(k.schema_version, schema.mod_revision if schema else 0))
            if schema is None:
                ops.append(Put(k.schema_version, _SCHEMA))
            counter = b"0"
        ops.append(Put(k.config_epoch, str(_counter(counter) + 1).encode()))
        if not self.store.txn([*compares, *guard], ops).succeeded:
            raise self._conflict(read.epoch, guarded=bool(guard))

    def _orphan(self, key: str, cfg: ClusterConfig) -> bool:
        """A status whose object is no longer configured."""
        for kind in STATE_KINDS:
            prefix = self.keys.state_prefix(cast(StateKind, kind))
            if key.startswith(prefix):
                return key[len(prefix) :] not in getattr(cfg, kind)
        return False

    def _conflict(self, epoch: int, *, guarded: bool = False) -> ConflictError:
        also = " or the state it was checked against" if guarded else ""
        return ConflictError(
            f"conflict on {self.keys.config_epoch!r}: the configuration{also} was changed by "
            f"someone else after it was read (epoch {epoch}); nothing was written, re-read "
            "and retry"
        )

    # -- observed state -------------------------------------------------------------------

    def write_status(self, kind: StateKind, name: str, status: Status) -> int:
        """Store the observed status of one node, group or resource; returns the revision."""
        expected = STATE_TYPES[kind]
        if not isinstance(status, expected):
            raise TypeError(f"state/{kind} holds {expected.__name__}, not {type(status)}")
        return self.store.put(self.keys.state(kind, name), encode(status))

    def delete_status(self, kind: StateKind, name: str) -> bool:
        return self.store.delete(self.keys.state(kind, name)) > 0

    # -- node inventory -------------------------------------------------------------------

    def write_inventory(self, inventory: Inventory) -> int:
        """Store what software ``inventory.node`` has (it probes itself at start)."""
        return self.store.put(self.keys.inventory(inventory.node), encode(inventory))

    def inventories(self) -> dict[str, Inventory]:
        """Every node's last reported inventory, by node name."""
        kvs, _ = self.store.get_prefix(self.keys.inventory_prefix)
        return {
            self.keys.name_of(kv.key, self.keys.inventory_prefix): _decode(Inventory, kv)
            for kv in kvs
        }

    # -- intents --------------------------------------------------------------------------

    def add_intent(
        self,
        kind: IntentKind,
        subject: str,
        target: str | None = None,
        *,
        check: RequestCheck | None = None,
        snapshot: Snapshot | None = None,
        also: Sequence[Op] = (),
    ) -> Intent:
        """Record an administrator's request for the coordinator to carry out, once
        ``check`` passed on ``snapshot`` (default: read now), with ``also`` in the same
        transaction."""
        if not subject:
            raise ValidationError.single("subject", "must name a group or resource")
        if check is not None:
            check(snapshot if snapshot is not None else self.read_snapshot())
        now = self._clock()
        intent = Intent(new_intent_id(now), IntentKind(kind), subject, target, now)
        key = self.keys.intent(intent.id)
        if not self.store.txn([key_absent(key)], [Put(key, encode(intent)), *also]).succeeded:
            raise ConflictError(f"conflict on {key!r}: an intent with this id already exists")
        return intent

    def list_intents(self) -> tuple[Intent, ...]:
        """Pending requests, oldest first."""
        kvs, revision = self.store.get_prefix(self.keys.intents_prefix)
        return DatabaseRead({kv.key: kv for kv in kvs}, revision, self.keys).intents()

    def delete_intent(self, intent_id: str) -> bool:
        return self.store.delete(self.keys.intent(intent_id)) > 0

    def outcome(self, intent_id: str) -> Outcome | None:
        """The coordinator's answer to a request, or None while it has not answered."""
        kv = self.store.get(self.keys.outcome(intent_id))
        return _decode(Outcome, kv) if kv is not None else None

    # -- node administration ----------------------------------------------------------------

    def write_node_admin(self, name: str, admin: NodeAdmin) -> None:
        """Store a configured node's pause/drain flags (Suspend-ClusterNode,
        Resume-ClusterNode); ``NotFoundError`` for any other name."""
        if name not in self.load_config()[0].nodes:
            raise NotFoundError("node", name)
        self.store.put(self.keys.node_admin(name), encode(admin))

    # -- beside the cluster: tokens, audit records, TLS, APIs, the secret, watches ----------
    # Raw documents: their modules (admin.tokens, admin.audit, admin.tls, node.secret)
    # give them meaning; here they only get their keys.

    @property
    def root(self) -> str:
        """The key root this handle reads and writes under."""
        return self.keys.root

    def add_token(self, name: str, document: bytes) -> bool:
        """Store token ``name`` unless one by that name exists (then False)."""
        key = self.keys.token(name)
        return self.store.txn([key_absent(key)], [Put(key, document)]).succeeded

    def token_documents(self) -> dict[str, bytes]:
        kvs, revision = self.store.get_prefix(self.keys.tokens_prefix)
        return DatabaseRead({kv.key: kv for kv in kvs}, revision, self.keys).token_documents()

    def delete_token(self, name: str) -> bool:
        return self.store.delete(self.keys.token(name)) > 0

    def audit_put(self, record_id: str, document: bytes) -> Put:
        """The write that stores an audit record, for the caller's own transaction."""
        return Put(self.keys.audit(record_id), document)

    def write_audit(self, record_id: str, document: bytes) -> None:
        self.store.put(self.keys.audit(record_id), document)

    def audit_documents(self) -> list[bytes]:
        """Every audit record, oldest first (ids sort by time)."""
        kvs, _ = self.store.get_prefix(self.keys.audit_prefix)
        return [kv.value for kv in kvs]

    def trim_audit(self, keep: int) -> int:
        """Delete the oldest audit records beyond ``keep``; returns how many."""
        kvs, _ = self.store.get_prefix(self.keys.audit_prefix)
        old = [kv.key for kv in kvs[: max(0, len(kvs) - keep)]]
        for i in range(0, len(old), _TXN_OPS):
            self.store.txn([], [Delete(k) for k in old[i : i + _TXN_OPS]])
        return len(old)

    def ca_certificate(self) -> bytes | None:
        """The cluster CA certificate (PEM), or None before one is made."""
        kv = self.store.get(self.keys.tls_ca_cert)
        return kv.value if kv is not None else None

    def encrypted_ca_key(self) -> bytes | None:
        kv = self.store.get(self.keys.tls_ca_key)
        return kv.value if kv is not None else None

    def add_ca(self, cert_pem: bytes, encrypted_key_pem: bytes) -> bool:
        """Store the cluster CA unless there is one (then False: the first one counts)."""
        k = self.keys
        return self.store.txn(
            [key_absent(k.tls_ca_cert), key_absent(k.tls_ca_key)],
            [Put(k.tls_ca_cert, cert_pem), Put(k.tls_ca_key, encrypted_key_pem)],
        ).succeeded

    def register_api(self, node: str, document: Mapping[str, Any]) -> None:
        """Publish where ``node``'s REST API listens."""
        self.store.put(self.keys.api(node), json.dumps(document).encode())

    def apis(self) -> dict[str, dict[str, Any]]:
        """Every registered REST API by node."""
        kvs, revision = self.store.get_prefix(self.keys.api_prefix)
        return DatabaseRead({kv.key: kv for kv in kvs}, revision, self.keys).apis()

    def secret_verifier(self) -> bytes | None:
        kv = self.store.get(self.keys.secret_verifier)
        return kv.value if kv is not None else None

    def add_secret_verifier(self, verifier: bytes) -> None:
        """Store the cluster secret's verifier, only if there is none yet."""
        put_if_absent(self.store, self.keys.secret_verifier, verifier)

    def revision(self) -> int:
        """The store's current revision (one cheap read)."""
        _, revision = self.store.get_prefix(self.keys.schema_version)
        return revision

    def watch(self, start_revision: int) -> Watch:
        """Every change under the root from ``start_revision`` on."""
        return self.store.watch_prefix(self.keys.root, start_revision=start_revision)


def _counter(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
