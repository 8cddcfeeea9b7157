"""The assembled cluster document, rebuilt only when the store changed.

Reads dominate (a web UI polls ``/api/v1/cluster``), and the document is the same for
every reader until the database changes: it is built once per change, from one consistent
read, and kept encoded. :meth:`ClusterCache.invalidate` is called by the change feed on
every store event and by the API's own writes (so a client reads its own write at once,
before the watch event arrives). While the feed has no working watch the cache is
invalidated on every request, so it is never stale for longer than the feed is down.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from wolfpack.admin import tokens
from wolfpack.admin.nouns import BY_KIND
from wolfpack.admin.redact import redact_properties
from wolfpack.model import codec
from wolfpack.model.snapshot import Outcome, Snapshot
from wolfpack.store.repository import ClusterDB, DatabaseRead, DecodeCache
from wolfpack.store.view import ClusterView, parse_view


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Built:
    """One revision of the cluster, with its documents."""

    view: ClusterView
    read: DatabaseRead
    revision: int
    tokens: Mapping[str, tokens.Token]
    outcomes: Mapping[str, Outcome]
    apis: Mapping[str, dict[str, Any]]
    objects: Mapping[str, Mapping[str, dict[str, Any]]]  # kind -> name -> document
    document: bytes
    lists: dict[str, bytes] = field(default_factory=dict)
    _reader_objects: dict[str, Mapping[str, dict[str, Any]]] | None = None
    _reader_document: bytes | None = None

    @property
    def snapshot(self) -> Snapshot:
        return self.view.snapshot

    def list_bytes(self, kind: str, reader: bool = False) -> bytes:
        """The kind's documents, encoded once per revision; ``reader``: as a read-only
        token sees them (secret property values hidden, :mod:`wolfpack.admin.redact`)."""
        key = f"{kind}:reader" if reader else kind
        found = self.lists.get(key)
        if found is None:
            found = self.lists[key] = encode(list(self.objects_for(reader)[kind].values()))
        return found

    def objects_for(self, reader: bool) -> Mapping[str, Mapping[str, dict[str, Any]]]:
        if not reader:
            return self.objects
        if self._reader_objects is None:
            types = self.snapshot.config.types
            hidden = {n: {p.name for p in t.properties if p.secret} for n, t in types.items()}
            resources = {
                name: {**doc, "properties": redact_properties(
                    doc.get("properties") or {}, hidden.get(str(doc.get("type")), set())
                )}
                for name, doc in self.objects["resources"].items()
            }  # fmt: skip
            self._reader_objects = {**self.objects, "resources": resources}
        return self._reader_objects

    def document_for(self, reader: bool) -> bytes:
        """The whole cluster document; ``reader``: as a read-only token sees it."""
        if not reader:
            return self.document
        if self._reader_document is None:
            doc = json.loads(self.document)
            doc["resources"] = list(self.objects_for(True)["resources"].values())
            self._reader_document = encode(doc)
        return self._reader_document


def content_revision(read: DatabaseRead, last_event: int) -> int:
    """The revision of what was read: its newest key, or a later delete this node's watch
    saw. Unlike the store's global revision it does not move on writes outside the root
    (the audit log), so two nodes that read the same cluster give the same number."""
    newest = max((kv.mod_revision for kv in read.kvs.values()), default=0)
    return max(newest, min(last_event, read.revision))


def build(db: ClusterDB, decode_cache: DecodeCache, last_event: int = 0) -> Built:
    read = db.read(decode_cache)
    revision = content_revision(read, last_event)
    view = parse_view(read)
    snap = view.snapshot
    objects = {
        kind: {
            name: noun.document(snap, obj)
            for name, obj in sorted(noun.objects(snap.config).items())
        }
        for kind, noun in BY_KIND.items()
    }
    document = {
        "cluster": codec.dump(snap.config.cluster, exclude_defaults=False),
        **{kind: list(docs.values()) for kind, docs in objects.items()},
        "coordinator": view.coordinator,
        "revision": revision,
    }
    return Built(
        view=view,
        read=read,
        revision=revision,
        tokens=tokens.from_documents(read.token_documents()),
        outcomes=read.outcomes(),
        apis=read.apis(),
        objects=objects,
        document=encode(document),
    )


class ClusterCache:
    def __init__(self, db: ClusterDB) -> None:
        self.db = db
        self._decode = DecodeCache()
        self._lock = threading.Lock()
        self._wanted = 1  # generation asked for; bumped by invalidate()
        self._built: Built | None = None
        self._built_gen = 0
        self.always_read = True  # until the feed has a watch (and again whenever it has none)
        self.rebuilds = 0
        self.last_event = 0  # revision of the newest change the feed saw under the root
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def invalidate(self, revision: int = 0) -> None:
        """Something changed (at ``revision``, when the watch says so): rebuild on next use."""
        self.last_event = max(self.last_event, revision)
        self._wanted += 1  # a lost update between threads only means one extra rebuild

    def fresh(self) -> Built | None:
        """The cached build if it is current (no I/O), else None."""
        built = self._built
        if built is not None and self._built_gen == self._wanted and not self.always_read:
            return built
        return None

    def last(self) -> Built | None:
        """The newest build, however old (no I/O)."""
        return self._built

    def secret_names(self) -> frozenset[str]:
        """Property names any type marks secret, from the newest build (no I/O)."""
        built = self._built
        if built is None:
            return frozenset()
        types = built.snapshot.config.types.values()
        return frozenset(p.name for t in types for p in t.properties if p.secret)

    def latest(self) -> Built:
        """The newest build, current or not; reads the store only if there is none yet."""
        return self._built if self._built is not None else self.current()

    async def current_async(self) -> Built:
        """:meth:`current` for the event loop: while one rebuild runs in a worker thread,
        other requests wait for it here, not each in a worker thread of their own (a
        burst of readers after a change would otherwise use up the pool the changes
        need)."""
        built = self.fresh()
        if built is not None:
            return built
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            lock = self._async_locks[loop] = asyncio.Lock()
        async with lock:
            built = self.fresh()
            if built is not None:
                return built
            return await run_in_threadpool(self.current)

    def current(self) -> Built:
        """The current build, reading the store if something changed (blocking I/O)."""
        built = self.fresh()
        if built is not None:
            return built
        with self._lock:
            built = self.fresh()
            if built is not None:
                return built
            gen = self._wanted
            built = build(self.db, self._decode, self.last_event)
            self.rebuilds += 1
            self._built, self._built_gen = built, gen
            return built
