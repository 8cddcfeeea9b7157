"""Reading the whole cluster database in one consistent read, and writing observed state.

One ``get_prefix`` of the root gives configuration, state, intents, leases and the election
key at one revision, so every decision is made from one instant of the cluster.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from wolfpack.errors import ConflictError
from wolfpack.model import codec
from wolfpack.model.snapshot import NodeAdmin, Snapshot
from wolfpack.model.views import PublishedView
from wolfpack.store import Compare, KeySpace, KeyValue, Put, Store, mod_revision_is
from wolfpack.store.mirror import RootMirror
from wolfpack.store.repository import TXN_OPS, ClusterDB, DatabaseRead, DecodeCache, encode

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterView:
    snapshot: Snapshot
    leased: frozenset[str]  # nodes with a live lease key
    node_leases: Mapping[str, int]  # node -> its lease id
    coordinator: str | None
    coordinator_token: int  # create revision of the election key, 0 if none
    admin: Mapping[str, NodeAdmin]
    kvs: Mapping[str, KeyValue] = field(default_factory=dict, repr=False)  # as read

    def mod_revision(self, key: str) -> int:
        """When ``key`` was last written as of this read (0: absent): a fencing token for a
        decision made from this view (H2)."""
        kv = self.kvs.get(key)
        return kv.mod_revision if kv is not None else 0

    def create_revision(self, key: str) -> int:
        kv = self.kvs.get(key)
        return kv.create_revision if kv is not None else 0

    #: node -> mod revision of its liveness key (changes when it re-acquires a lease)
    node_revisions: Mapping[str, int] = field(default_factory=dict)
    #: node -> its published heartbeat view (wolfpack.node.views)
    views: Mapping[str, PublishedView] = field(default_factory=dict)
    coordinator_kv: KeyValue | None = None  # the election key as read


def parse_view(read: DatabaseRead) -> ClusterView:
    """Everything a node needs from one consistent read of the database root."""
    snap = read.snapshot()
    leases = read.section(read.keys.node_leases_prefix)
    election = read.kvs.get(read.keys.coordinator)
    return ClusterView(
        snapshot=snap,
        leased=frozenset(leases),
        node_leases={n: kv.lease for n, kv in leases.items()},
        coordinator=election.value.decode() if election else None,
        coordinator_token=election.create_revision if election else 0,
        admin={
            n: read.decode(NodeAdmin, kv)
            for n, kv in read.section(read.keys.node_admin_prefix).items()
        },
        kvs=read.kvs,
        node_revisions={n: kv.mod_revision for n, kv in leases.items()},
        views={
            n: PublishedView.decode(kv.value, kv.mod_revision)
            for n, kv in read.section(read.keys.views_prefix).items()
        },
        coordinator_kv=election,
    )


class ClusterReader:
    """Whole-root reads, each parsed into a :class:`ClusterView`. ``mirror``: read the
    root's copy kept current by a watch instead of the store, when it can be used (the
    coordinator's reads; :mod:`wolfpack.store.mirror`). ``cache``: parsed documents shared
    with another reader of the same root."""

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        *,
        mirror: RootMirror | None = None,
        cache: DecodeCache | None = None,
    ) -> None:
        self.store, self.keys, self.mirror = store, keys, mirror
        self.db = ClusterDB(store, keys)
        self.cache = cache if cache is not None else DecodeCache()
        self._lock = threading.Lock()

    def read(self) -> ClusterView:
        with self._lock:  # one read at a time per reader (and its memory)
            return parse_view(self.db.read(self.cache, self.mirror))


def update_doc(
    store: Store,
    key: str,
    cls: type[T],
    change: Callable[[T | None], T | None],
    *,
    extra_compares: list[Any] | None = None,
    attempts: int = 5,
    read: Mapping[str, KeyValue] | None = None,
) -> T | None:
    """Read-modify-write one JSON document with a revision check, retrying on conflict.

    ``change`` gets the current value (None if absent) and returns the new one (None: leave it).
    Only the fields ``change`` touches change, so writers of different fields of one document
    (the resource manager's observed state, the coordinator's restart grants) never lose
    each other's updates.

    ``read``: a consistent read that covers ``key`` (absent there: absent then), such as the
    coordinator's read of the whole root. The first attempt starts from the document as it
    was in that read, without a request of its own (at scale, half the requests of a
    failover: bench/coordinator_scale.py); the revision compare refuses it if the document
    was written since, and then the document is read again as without ``read``. A change
    that leaves the read document as it is is judged again on a fresh read.
    """
    for attempt in range(attempts + (read is not None)):  # ``read``: one attempt more
        given = read if attempt == 0 else None
        from_read = given is not None
        kv = given.get(key) if given is not None else store.get(key)
        current = codec.parse(cls, json.loads(kv.value)) if kv is not None else None
        new = change(current)
        if new is None or new == current:
            if from_read:
                continue  # judged again on a fresh read
            return current
        body = encode(new)
        compares = [mod_revision_is(key, kv.mod_revision if kv else 0), *(extra_compares or [])]
        if store.txn(compares, [Put(key, body)]).succeeded:
            return new
        if extra_compares and _guard_failed(store, extra_compares):
            raise ConflictError(f"{extra_compares[0].key} changed: write refused")
        if not from_read:
            time.sleep(0.001)
    raise ConflictError(f"{key}: too many concurrent writers, gave up after {attempts} tries")


@dataclass(frozen=True)
class DocChange(Generic[T]):
    """One document's read-modify-write for :func:`update_docs` (as :func:`update_doc`'s
    arguments)."""

    key: str
    cls: type[T]
    change: Callable[[T | None], T | None]


def update_docs(
    store: Store,
    changes: Sequence[DocChange[Any]],
    read: Mapping[str, KeyValue],
    *,
    extra_compares: Sequence[Compare] = (),
) -> None:
    """:func:`update_doc` of several documents (each key once) from one consistent
    ``read``, in one transaction per :data:`TXN_OPS` documents: each written only if its
    revision is still the one read (and ``extra_compares`` hold), all or none. A
    transaction refused, or a change that leaves its document as read, goes through
    :func:`update_doc` on a fresh read, one document at a time, as without a batch (a
    coordinator placing a lost node's 32 groups made 32 transactions of them:
    bench/coordinator_scale.py)."""
    if len({c.key for c in changes}) != len(changes):
        raise ValueError("update_docs: each document may be changed once per call")
    batch: list[tuple[DocChange[Any], int, bytes]] = []
    alone: list[DocChange[Any]] = []
    for c in changes:
        kv = read.get(c.key)
        current = codec.parse(c.cls, json.loads(kv.value)) if kv is not None else None
        new = c.change(current)
        if new is None or new == current:
            alone.append(c)  # judged again on a fresh read
        else:
            batch.append((c, kv.mod_revision if kv is not None else 0, encode(new)))
    for i in range(0, len(batch), TXN_OPS):
        chunk = batch[i : i + TXN_OPS]
        compares = [*(mod_revision_is(c.key, rev) for c, rev, _ in chunk), *extra_compares]
        if not store.txn(compares, [Put(c.key, body) for c, _, body in chunk]).succeeded:
            alone.extend(c for c, _, _ in chunk)  # written since the read, or the guard
    for c in alone:
        update_doc(store, c.key, c.cls, c.change, extra_compares=list(extra_compares))


def _guard_failed(store: Store, compares: list[Any]) -> bool:
    return not store.txn(compares, []).succeeded
