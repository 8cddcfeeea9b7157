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

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

from wolfpack.errors import (
    ConflictError,
    NotFoundError,
    ValidationError,
)
from wolfpack.model import timeline
from wolfpack.model.config import (
    ClusterConfig,
)
from wolfpack.model.inventory import Inventory
from wolfpack.model.snapshot import (
    Intent,
    IntentKind,
    NodeAdmin,
    Outcome,
    Snapshot,
)
from wolfpack.model.timeline import History, Timeline
from wolfpack.store.base import (
    Delete,
    Op,
    Put,
    Store,
    Watch,
    key_absent,
    put_if_absent,
    value_is,
)
from wolfpack.store.config_writes import ConfigWrites, StateSection, check_config
from wolfpack.store.database_read import (
    STATE_TYPES,
    DatabaseRead,
    DecodeCache,
    NoClusterError,
    SchemaVersionError,
    Status,
    _decode,
    encode,
)
from wolfpack.store.keys import (
    KeySpace,
    StateKind,
)
from wolfpack.store.mirror import RootMirror
from wolfpack.store.root_read import database_read, read_root

__all__ = [
    "STATE_TYPES",
    "TXN_OPS",
    "ClusterDB",
    "DatabaseRead",
    "DecodeCache",
    "NoClusterError",
    "RequestCheck",
    "SchemaVersionError",
    "StateSection",
    "check_config",
    "encode",
    "new_intent_id",
]

#: Raises what can be refused at once about a request, judged on a snapshot.
RequestCheck: TypeAlias = Callable[[Snapshot], None]

#: writes per transaction: etcd refuses more than 128 operations (or compares) by default
TXN_OPS: Final = 100


def new_intent_id(now: float) -> str:
    """Time-sortable and unique: microseconds since the epoch, then 8 random hex digits."""
    return f"{int(now * 1_000_000):017d}-{secrets.token_hex(4)}"


class ClusterDB(ConfigWrites):
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

    def read(
        self, cache: DecodeCache | None = None, mirror: RootMirror | None = None
    ) -> DatabaseRead:
        """One consistent read of everything under the root (documents parsed lazily, each
        once per mod revision: ``cache``, else this handle's own cache). ``mirror``: a copy
        of the root kept current by a watch, read instead of the store when it can be
        (:mod:`wolfpack.store.mirror`)."""
        cache = cache if cache is not None else self.decode_cache
        if mirror is None:
            return read_root(self.store, self.keys, cache)
        if mirror.prefix != self.keys.root:
            raise ValueError(f"a mirror of {mirror.prefix!r} cannot read {self.keys.root!r}")
        by_key, revision = mirror.read()
        return database_read(by_key, revision, self.keys, cache)

    def load_config(self) -> tuple[ClusterConfig, int]:
        """The configuration and its epoch (``config_epoch``'s mod revision)."""
        read = self.read()
        return read.config(), read.epoch

    def read_snapshot(self) -> Snapshot:
        """Configuration, observed state and requests, from one consistent read."""
        return self.read().snapshot()

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

    def replace_token(self, name: str, stored: bytes, document: bytes) -> bool:
        """Replace token ``name``'s document if it is still ``stored`` (else False)."""
        key = self.keys.token(name)
        return self.store.txn([value_is(key, stored)], [Put(key, document)]).succeeded

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
        for i in range(0, len(old), TXN_OPS):
            self.store.txn([], [Delete(k) for k in old[i : i + TXN_OPS]])
        return len(old)

    # -- failover timelines (wolfpack.model.timeline) ---------------------------------------

    def timelines(self, group: str) -> tuple[Timeline, ...]:
        """The finished timelines the coordinator kept for ``group``, oldest first."""
        kv = self.store.get(self.keys.history(group))
        return _decode(History, kv).timelines if kv is not None else ()

    def group_history(self, group: str) -> dict[str, Any]:
        """The transition under way and the kept ones, as plain data (``NotFoundError``
        for a group that does not exist)."""
        snap = self.read_snapshot()
        if group not in snap.config.groups:
            raise NotFoundError("group", group)
        return timeline.history_document(snap, group, self.timelines(group))

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
