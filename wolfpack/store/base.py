"""The ``Store`` contract: what Wolfpack needs from its cluster database, and the value types.

Wolfpack keeps all cluster configuration and observed state in one strongly consistent
key-value store (etcd in production, :class:`~wolfpack.store.memory.MemoryStore` in unit
tests). Every component talks to it only through the :class:`Store` protocol below, so the
semantics written here are the whole contract: both implementations pass the same test suite
(``tests/store/test_contract.py``).

The model is etcd's:

* one **global revision** counter for the whole store. Every successful write (put, delete that
  removed something, transaction whose chosen branch changed something, lease expiry or revoke
  that removed keys) increments it by exactly one, however many keys it touched. The empty store
  is at revision 1.
* per key: ``create_revision`` (revision of the write that created it; stays put across updates),
  ``mod_revision`` (revision of its last write) and ``version`` (writes since creation, starting
  at 1). Deleting a key forgets it: a re-created key gets a new ``create_revision`` and version 1.
* optimistic concurrency: read a key, remember its ``mod_revision``, write with a
  :class:`Compare` on it in a :meth:`Store.txn`. If someone else wrote first the compare fails,
  nothing is changed and the caller re-reads (:func:`compare_and_swap` turns that into a
  :class:`~wolfpack.errors.ConflictError`).
* **leases**: a lease has a TTL in seconds; keys attached to it are deleted when it expires or is
  revoked. Node liveness and coordinator election are built on this.
* **watches** report every change under a prefix in revision order, optionally replaying history
  from a past revision, so a reader can take a consistent snapshot with
  :meth:`Store.get_prefix` and then follow changes from ``snapshot_revision + 1`` without gaps.

Errors: every failure is a :class:`~wolfpack.errors.StoreError`; no third-party exception leaks
out. :class:`~wolfpack.errors.StoreUnavailable` from a *write* means its outcome is unknown (the
request may have been applied): re-read before retrying. Invalid arguments (a malformed
:class:`Compare`, two operations on the same key in one transaction branch) are programming
errors and raise :class:`ValueError` before anything is sent.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, TypeAlias, cast

from wolfpack.errors import ConflictError, StoreError

CompareTarget: TypeAlias = Literal["value", "mod", "create", "version", "lease"]
CompareOp: TypeAlias = Literal["==", "!=", "<", ">"]
_TARGETS: tuple[str, ...] = ("value", "mod", "create", "version", "lease")
_OPS: tuple[str, ...] = ("==", "!=", "<", ">")


@dataclass(frozen=True)
class KeyValue:
    """One key as stored, with etcd's revision metadata. ``lease`` 0 means no lease."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclass(frozen=True)
class Compare:
    """One condition of a transaction: ``<target of key> <op> <operand>``.

    ``target`` ``"value"`` compares bytes lexicographically and needs a ``bytes`` operand; the
    others compare integers (``"lease"``: the id of the lease the key is attached to). As in
    etcd, a key that does not exist has create/mod revision, version and lease 0, and a
    ``"value"`` compare on a missing key is always false, whatever the op.
    Prefer the helpers :func:`key_absent`, :func:`key_exists`, :func:`mod_revision_is`,
    :func:`value_is` and :func:`prefix_empty`.

    ``prefix``: the compare holds only if it holds for *every* key starting with ``key``
    (etcd's ``range_end``); over no key at all it is judged as on one missing key (so
    ``create == 0`` says "no key under this prefix exists").
    """

    key: str
    target: CompareTarget
    op: CompareOp
    operand: bytes | int
    prefix: bool = False

    def __post_init__(self) -> None:
        if self.target not in _TARGETS:
            raise ValueError(f"Compare target must be one of {_TARGETS}, not {self.target!r}")
        if self.op not in _OPS:
            raise ValueError(f"Compare op must be one of {_OPS}, not {self.op!r}")
        if self.target == "value":
            if not isinstance(self.operand, bytes):
                raise ValueError(f"Compare on value of {self.key!r} needs a bytes operand")
        elif isinstance(self.operand, bool) or not isinstance(self.operand, int):
            raise ValueError(f"Compare on {self.target} of {self.key!r} needs an int operand")


@dataclass(frozen=True)
class Put:
    """Transaction operation: set ``key`` to ``value``, attached to ``lease`` (0 = none)."""

    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    """Transaction operation: delete ``key``, or every key starting with it if ``prefix``."""

    key: str
    prefix: bool = False


Op: TypeAlias = Put | Delete


@dataclass(frozen=True)
class TxnResult:
    """Which branch ran, and the store revision right after the transaction."""

    succeeded: bool
    revision: int


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch. ``value`` is empty for deletes; ``mod_revision`` is the
    revision of the write (all events of one transaction share it).

    A put also carries the key's metadata after the write (``create_revision``,
    ``version``, ``lease``; 0 for deletes), so a follower can keep a copy of the keys
    (:mod:`wolfpack.store.mirror`). Events compare by what changed (kind, key, value,
    revision), not by that metadata."""

    kind: Literal["put", "delete"]
    key: str
    value: bytes
    mod_revision: int
    create_revision: int = field(default=0, compare=False)
    version: int = field(default=0, compare=False)
    lease: int = field(default=0, compare=False)

    def key_value(self) -> KeyValue | None:
        """The key as it is after a put (None after a delete)."""
        if self.kind == "delete":
            return None
        return KeyValue(
            self.key, self.value, self.create_revision, self.mod_revision, self.version, self.lease
        )


def key_absent(key: str) -> Compare:
    """True when ``key`` does not exist (its create_revision is 0)."""
    return Compare(key, "create", "==", 0)


def key_exists(key: str) -> Compare:
    """True when ``key`` exists."""
    return Compare(key, "create", ">", 0)


def prefix_empty(prefix: str) -> Compare:
    """True when no key starts with ``prefix`` (e.g. no node holds a lease)."""
    return Compare(prefix, "create", "==", 0, prefix=True)


def mod_revision_is(key: str, revision: int) -> Compare:
    """True when ``key`` was last written at ``revision`` (0: the key does not exist)."""
    return Compare(key, "mod", "==", revision)


def value_is(key: str, value: bytes) -> Compare:
    """True when ``key`` exists and holds exactly ``value``."""
    return Compare(key, "value", "==", value)


def validate_ops(ops: Sequence[Op]) -> None:
    """Refuse a transaction branch that touches one key twice, as etcd does.

    etcd rejects two puts of one key, or a put of a key that a delete in the same branch
    covers ("duplicate key given in txn request"); both stores check it up front so the fake
    cannot accept what production refuses.
    """
    puts: set[str] = set()
    for op in ops:
        if isinstance(op, Put):
            if op.key in puts:
                raise ValueError(f"transaction puts {op.key!r} twice")
            puts.add(op.key)
        elif not isinstance(op, Delete):
            raise ValueError(f"transaction operations must be Put or Delete, not {op!r}")
    for op in ops:
        if isinstance(op, Delete):
            hit = [k for k in puts if (k.startswith(op.key) if op.prefix else k == op.key)]
            if hit:
                raise ValueError(f"transaction both puts and deletes {sorted(hit)[0]!r}")


def prefix_range_end(prefix: bytes) -> bytes:
    """The first byte string after every key that starts with ``prefix`` (etcd's range_end).

    ``b""`` means "no upper bound"; etcd spells that ``b"\\0"``, which callers handle.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b""
    return stripped[:-1] + bytes([stripped[-1] + 1])


_CANCELLED = object()


class Watch:
    """A stream of :class:`WatchEvent` under one prefix, in revision order.

    Consume it with :meth:`get` (bounded wait) or by iterating (blocks until the next event;
    iteration ends after :meth:`cancel`). If the store connection breaks or the requested start
    revision was compacted away, :meth:`get` and iteration raise the
    :class:`~wolfpack.errors.StoreError` (``StoreUnavailable`` for a broken connection): the
    watch is then dead and the consumer re-reads with ``get_prefix`` and watches again from
    ``revision + 1``. Nothing is delivered after :meth:`cancel`, which is idempotent and also
    runs on leaving a ``with`` block.

    :meth:`get_batch` takes every event that has arrived at once, in whole revisions: stores
    deliver all events of one revision together (:meth:`deliver_all`), so a consumer that
    applies batches never sees half a transaction.

    Stores feed it through :meth:`deliver`, :meth:`deliver_all` and :meth:`fail`; consumers
    never call those.
    ``tick`` is called while a consumer waits (the in-memory store uses it to expire leases
    lazily even when nothing else calls the store).
    """

    def __init__(
        self,
        *,
        on_cancel: Callable[[], None] | None = None,
        tick: Callable[[], None] | None = None,
        tick_interval: float = 0.05,
    ) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._on_cancel = on_cancel
        self._tick = tick
        self._tick_interval = tick_interval
        self._lock = threading.Lock()
        self._cancelled = False
        self._error: StoreError | None = None
        self._pending: collections.deque[WatchEvent] = collections.deque()  # of a taken batch

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def deliver(self, event: WatchEvent) -> None:
        """Producer side: queue one event (ignored after cancel)."""
        if not self._cancelled:
            self._queue.put(event)

    def deliver_all(self, events: Sequence[WatchEvent]) -> None:
        """Producer side: queue events that belong together (whole revisions) as one item, so
        :meth:`get_batch` returns all of them or none."""
        if events and not self._cancelled:
            self._queue.put(tuple(events))

    def fail(self, error: StoreError) -> None:
        """Producer side: end the watch with ``error``, raised to the consumer after any
        events already queued."""
        if not self._cancelled:
            self._queue.put(error)

    def get(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, or ``None`` if none came within ``timeout`` seconds (``None`` waits
        forever) or the watch is cancelled. Raises the watch's error once it has failed."""
        if self._cancelled:
            return None
        if self._pending:
            return self._pending.popleft()
        if self._error is not None:
            raise self._error
        item = self._wait(timeout)
        if item is None or item is _CANCELLED:
            return None
        if isinstance(item, StoreError):
            self._error = item
            raise item
        if isinstance(item, tuple):
            self._pending.extend(item[1:])
            return cast(WatchEvent, item[0])
        assert isinstance(item, WatchEvent)
        return item

    def get_batch(self, timeout: float | None = None) -> list[WatchEvent]:
        """Every event that has arrived, waiting up to ``timeout`` seconds for the first
        (``[]`` if none came or the watch is cancelled). Whole revisions: what a store
        delivered together is never split. Events queued before the watch's error are
        returned first; the error is raised by the next call."""
        if self._cancelled:
            return []
        out = list(self._pending)
        self._pending.clear()
        if self._error is not None:
            if out:
                return out
            raise self._error
        item = None if out else self._wait(timeout)
        while True:
            if item is None and out:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    return out
            if item is None or item is _CANCELLED:
                return out
            if isinstance(item, StoreError):
                self._error = item
                if out:
                    return out
                raise item
            if isinstance(item, tuple):
                out.extend(item)
            else:
                assert isinstance(item, WatchEvent)
                out.append(item)
            item = None

    def _wait(self, timeout: float | None) -> object | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._tick is not None:
                self._tick()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                try:
                    return self._queue.get_nowait()
                except queue.Empty:
                    return None
            wait = remaining
            if self._tick is not None:
                wait = self._tick_interval if wait is None else min(wait, self._tick_interval)
            try:
                return self._queue.get(timeout=wait)
            except queue.Empty:
                continue

    def cancel(self) -> None:
        """Stop the watch and release its connection; safe to call more than once."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
        self._queue.put(_CANCELLED)
        if self._on_cancel is not None:
            self._on_cancel()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        event = self.get(timeout=None)
        if event is None:
            raise StopIteration
        return event

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


class Store(Protocol):
    """Wolfpack's cluster database. Keys are ``str`` (UTF-8 in etcd), values are ``bytes``.

    All methods are synchronous and safe to call from several threads. Every failure raises a
    :class:`~wolfpack.errors.StoreError` subclass; see the module docstring for the revision
    model and what ``StoreUnavailable`` from a write means.
    """

    def get(self, key: str) -> KeyValue | None:
        """The key with its metadata, or ``None`` if it does not exist."""
        ...

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key starting with ``prefix`` (plain string prefix: ``"/a/"`` does not match
        ``"/ab"``), sorted by key, plus the store revision the read was taken at. It is one
        consistent read: watching from ``revision + 1`` afterwards misses nothing. ``""``
        lists the whole store."""
        ...

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Set ``key``; returns the new store revision (= the key's mod_revision). ``lease`` 0
        detaches the key from any lease it had. Raises ``LeaseNotFound`` for an unknown or
        expired lease (and writes nothing)."""
        ...

    def delete(self, key: str, *, prefix: bool = False) -> int:
        """Delete ``key`` (or every key under the prefix); returns how many were deleted. All
        deletions happen at one revision; deleting nothing does not change the revision."""
        ...

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """Atomically: if every compare holds, apply ``success``, else ``failure``.

        All writes of the chosen branch share one new revision (none if it changed nothing).
        A branch may not touch one key twice (``ValueError``). ``LeaseNotFound`` if a put in
        the chosen branch names an unknown lease; then nothing is applied.
        """
        ...

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        """Follow changes under ``prefix``. Without ``start_revision`` only writes after the
        watch is established (when this returns) are reported; with it, history from that
        revision on (inclusive) is replayed first, then live changes, all in revision order.
        A start revision older than the store's compaction point makes the watch fail with
        ``StoreError``."""
        ...

    def compact(self, revision: int) -> None:
        """Forget history before ``revision`` (watches can no longer start earlier). Current
        values are untouched. Compacting at or before an earlier compaction is a no-op;
        ``ValueError`` for a revision in the future."""
        ...

    def lease_grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds (>= 1; etcd may round it up to its minimum TTL);
        returns its non-zero id."""
        ...

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        """Restart the lease's TTL; returns the TTL. ``LeaseNotFound`` if it already expired or
        was revoked: its keys are gone and the holder must start over with a new lease.
        ``timeout`` (seconds, > 0) bounds the whole call, every endpoint tried included, so a
        holder can spend no more than the time left before its own deadline; ``None``: no
        total budget, only the store's own per-request limits. Over budget:
        ``StoreUnavailable``."""
        ...

    def lease_revoke(self, lease_id: int) -> None:
        """End the lease now, deleting its keys at one revision. Revoking an unknown or
        already expired lease is a no-op, so a shutdown path can always call it."""
        ...

    def lease_ttl(self, lease_id: int) -> int:
        """Remaining whole seconds of the lease, ``-1`` if it expired or is unknown."""
        ...

    def close(self) -> None:
        """Release connections and cancel this client's watches. Afterwards every call raises
        ``StoreUnavailable``. Idempotent."""
        ...


def put_if_absent(store: Store, key: str, value: bytes, *, lease: int = 0) -> bool:
    """Create ``key`` only if it does not exist; ``True`` if this call created it."""
    return store.txn([key_absent(key)], [Put(key, value, lease)]).succeeded


def compare_and_swap(
    store: Store, key: str, expected_mod_revision: int, value: bytes, *, lease: int = 0
) -> int:
    """Write ``key`` only if its mod_revision is still ``expected_mod_revision`` (0: only if it
    does not exist). Returns the new revision; raises :class:`ConflictError` naming the key if
    someone else wrote it first (nothing is changed then)."""
    result = store.txn([mod_revision_is(key, expected_mod_revision)], [Put(key, value, lease)])
    if not result.succeeded:
        raise ConflictError(
            f"conflict on {key!r}: it changed after it was read (expected mod_revision "
            f"{expected_mod_revision}); re-read it and retry"
        )
    return result.revision
