"""A copy of every key under a prefix, kept current by a watch: the coordinator's whole-root
read without reading the whole root on every tick.

The coordinator decides from one consistent read of the root; at 10,000 resources a
``get_prefix`` of it is about 12 MB of JSON and half a second (bench/coordinator_scale.py).
:class:`RootMirror` reads the root once, then follows a watch from the revision after that
read and applies each batch of events (whole revisions: :meth:`Watch.get_batch`) to an
in-memory copy, key by key with each key's metadata. A read of the mirror is the store as of
the last revision applied, in key order: what ``get_prefix`` would have returned then.

The copy is only ever a read. Every write made from it carries the compares it would carry
after a full read (mod revisions, the election token), and etcd evaluates them, so a copy
behind etcd can make a write fail, never succeed wrongly. The copy is used only while it is
provably a gap-free continuation of a full read:

* the watch starts at the full read's revision + 1 (etcd replays anything in between);
* batches must come in revision order, else the copy is dropped and the prefix read again;
* a watch error (a compacted start revision, a lost stream) drops the copy until a new full
  read and watch; so does the end of :meth:`RootMirror.follow`;
* a reader sees its own process's writes: :meth:`RootMirror.tracking` notes the revision of
  every write that puts a key under the prefix, and a read waits (up to ``catch_up_s``) for
  the copy to reach it.

Whenever the copy cannot be used, :meth:`RootMirror.read` reads the store itself, as every
read did before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise

from wolfpack.errors import StoreError
from wolfpack.store.base import (
    Compare,
    KeyValue,
    Op,
    Put,
    Store,
    TxnResult,
    Watch,
    WatchEvent,
)
from wolfpack.store.wrapper import StoreWrapper

#: how long a read waits for the copy to reach this process's own last write before it
#: reads the store instead (the watch event normally comes within milliseconds)
CATCH_UP_S = 1.0
#: pause after a failed read or watch before the next attempt
RETRY_S = 0.5
#: how long the follower waits for events before it looks at its stop flag again
POLL_S = 0.5

Log = Callable[..., None]


def _byte_order(key: str) -> bytes:
    """etcd orders keys by their bytes: the copy keeps that order."""
    return key.encode("utf-8", "surrogateescape")


class RootMirror:
    """Every key under ``prefix`` as of one revision, kept current by :meth:`follow` (run
    it on a thread of its own); :meth:`read` is safe from any thread."""

    def __init__(self, store: Store, prefix: str, *, catch_up_s: float = CATCH_UP_S) -> None:
        if catch_up_s < 0:
            raise ValueError("catch_up_s must not be negative")
        self.store, self.prefix, self.catch_up_s = store, prefix, catch_up_s
        self._cond = threading.Condition()
        self._kvs: dict[str, KeyValue] = {}
        self._shared = False  # _kvs was handed to a reader: copy it before changing it
        self._sorted = True  # no key was added since _kvs was last in key order
        self._revision = 0  # the copy is the store as of this revision
        self._following = False  # a watch from the copy's read runs, with no error since
        self._written = 0  # newest revision this process put a key under the prefix at
        #: reads that found no usable copy and read the store instead
        self.fallbacks = 0
        self._rewatch = threading.Event()

    @property
    def following(self) -> bool:
        """True while the copy is kept current (a read may use it)."""
        return self._following

    # -- readers ------------------------------------------------------------------------

    def read(self, at_least: int = 0) -> tuple[Mapping[str, KeyValue], int]:
        """Every key under the prefix by key (in key order) at one revision, and that
        revision: the copy once it holds this process's own writes and ``at_least``, else
        (no watch, or not caught up within ``catch_up_s``) one ``get_prefix`` of the store.
        The mapping is shared: callers must not change it."""
        deadline = time.monotonic() + self.catch_up_s
        with self._cond:
            need = max(at_least, self._written)
            while self._following and self._revision < need:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._following and self._revision >= need:
                if not self._sorted:
                    self._kvs = dict(sorted(self._kvs.items(), key=lambda i: _byte_order(i[0])))
                    self._sorted = True
                self._shared = True
                return self._kvs, self._revision
            self.fallbacks += 1
        kvs, revision = self.store.get_prefix(self.prefix)
        return {kv.key: kv for kv in kvs}, revision

    def wrote(self, revision: int) -> None:
        """This process put a key under the prefix at ``revision``: reads wait for it."""
        with self._cond:
            self._written = max(self._written, revision)

    def tracking(self, store: Store) -> Store:
        """``store`` with every write that puts a key under the prefix noted
        (:meth:`wrote`), for the components that read through this mirror."""
        return _TrackingStore(store, self)

    # -- the follower -------------------------------------------------------------------

    def follow(
        self,
        stop: threading.Event,
        on_events: Callable[[list[WatchEvent]], None] = lambda events: None,
        *,
        log: Log = lambda event, **fields: None,
    ) -> None:
        """Keep the copy current until ``stop`` is set (a thread's whole life): read the
        prefix, watch it from the revision after, apply each batch of events and then pass
        it to ``on_events``. After a store error (logged as ``watch_error``) the copy is
        dropped and, ``RETRY_S`` later, read and watched again; so it is at once on
        :meth:`rewatch`. What changed between the last batch and the new read reached no
        watch: it is passed to ``on_events`` as events made from the difference (a node
        that joined meanwhile would otherwise never become a heartbeat peer)."""
        known: dict[str, KeyValue] | None = None  # the copy as last followed
        while not stop.is_set():
            failed, began = False, False
            try:
                with self.begin() as watch:
                    began = True
                    if known is not None and (missed := self._missed_since(known)):
                        on_events(missed)
                    while not stop.is_set() and not self._rewatch.is_set():
                        events = watch.get_batch(timeout=POLL_S)
                        if events:
                            self.apply(events)
                            on_events(events)
            except StoreError as exc:
                log("watch_error", error=str(exc))
                failed = True
            finally:
                if began:
                    with self._cond:  # as of its last whole batch (a bad one changed nothing)
                        known = dict(self._kvs)
                self.drop()
            if failed:
                stop.wait(RETRY_S)

    def _missed_since(self, known: Mapping[str, KeyValue]) -> list[WatchEvent]:
        """The copy's difference from ``known`` as watch events: a put for every key new or
        written since, a delete (at the copy's revision) for every key gone."""
        with self._cond:
            now, revision = dict(self._kvs), self._revision
        kept = {k: kv.mod_revision for k, kv in known.items()}
        changed = sorted((kv for k, kv in now.items() if kept.get(k) != kv.mod_revision),
                         key=lambda kv: kv.mod_revision)  # fmt: skip
        puts = [WatchEvent("put", kv.key, kv.value, kv.mod_revision, kv.create_revision,
                           kv.version, kv.lease) for kv in changed]  # fmt: skip
        return puts + [WatchEvent("delete", k, b"", revision) for k in sorted(known.keys() - now)]

    def rewatch(self) -> None:
        """Read the prefix and watch it again, now (within ``POLL_S``): the store asks
        another endpoint first from now on (its node's own etcd member). A watch stays on
        the member it was opened on; were that member's node to die, the copy would stay
        stale, without an error, for the seconds TCP takes to notice (the first failover
        after a lab came up waited 4.9 s for it)."""
        self._rewatch.set()

    def begin(self) -> Watch:
        """One full read, and the watch that continues it: the copy is used from here on.
        :meth:`follow` calls it; whoever calls it applies the watch's batches
        (:meth:`apply`) and cancels it."""
        self._rewatch.clear()
        kvs, revision = self.store.get_prefix(self.prefix)
        watch = self.store.watch_prefix(self.prefix, start_revision=revision + 1)
        with self._cond:
            self._kvs = {kv.key: kv for kv in kvs}
            self._shared, self._sorted = False, True
            self._revision = revision
            self._following = True
            self._cond.notify_all()
        return watch

    def apply(self, events: Sequence[WatchEvent]) -> None:
        """One batch of the watch (whole revisions, in order) into the copy. Events out of
        revision order, or a put without the key's metadata, drop the copy (``StoreError``:
        the follower reads the prefix again)."""
        if not events:
            return
        with self._cond:
            if not self._following:
                return
            first = events[0].mod_revision
            ordered = all(a.mod_revision <= b.mod_revision for a, b in pairwise(events))
            complete = all(e.kind == "delete" or e.version > 0 for e in events)
            if first <= self._revision or not ordered or not complete:
                self._following = False
                raise StoreError(
                    f"watch on {self.prefix!r} gave events it cannot continue the copy at "
                    f"revision {self._revision} with (revisions {first}..."
                    f"{events[-1].mod_revision}, metadata complete: {complete}); "
                    "reading it again"
                )
            if self._shared:
                self._kvs, self._shared = dict(self._kvs), False
            for ev in events:
                kv = ev.key_value()
                if kv is None:
                    self._kvs.pop(ev.key, None)
                else:
                    self._sorted = self._sorted and ev.key in self._kvs
                    self._kvs[ev.key] = kv
            self._revision = events[-1].mod_revision
            self._cond.notify_all()

    def drop(self) -> None:
        """Stop using the copy: reads go to the store until the next full read and watch."""
        with self._cond:
            self._following = False
            self._kvs, self._shared = {}, False
            self._cond.notify_all()


class _TrackingStore(StoreWrapper):
    """A :class:`Store` that tells its mirror the revision of every write that put a key
    under the mirrored prefix (a delete alone is not waited for: its revision is not
    known to the caller when it deleted nothing)."""

    def __init__(self, inner: Store, mirror: RootMirror) -> None:
        super().__init__(inner)
        self.mirror = mirror

    def _puts_under(self, ops: Sequence[Op]) -> bool:
        return any(isinstance(op, Put) and op.key.startswith(self.mirror.prefix) for op in ops)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        revision = self.inner.put(key, value, lease=lease)
        if key.startswith(self.mirror.prefix):
            self.mirror.wrote(revision)
        return revision

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        result = self.inner.txn(compare, success, failure)
        if self._puts_under(success if result.succeeded else failure):
            self.mirror.wrote(result.revision)
        return result
