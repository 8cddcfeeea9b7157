"""``MemoryStore``: an in-process fake of etcd with the same revision, lease and watch semantics.

It exists so unit tests of everything above the store run in milliseconds without an etcd
binary, and still see real optimistic-concurrency behaviour. It passes the same contract suite
as :class:`~wolfpack.store.etcd.EtcdStore`. Time comes from an injected ``clock`` so tests can
expire leases by advancing a fake clock instead of sleeping; expired leases are reaped lazily at
the start of every call (and while a watch consumer waits).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wolfpack.errors import LeaseNotFound, StoreError, StoreUnavailable
from wolfpack.store.base import (
    Compare,
    Delete,
    KeyValue,
    Op,
    Put,
    TxnResult,
    Watch,
    WatchEvent,
    validate_ops,
)


def _byte_order(key: str) -> bytes:
    """etcd orders keys by their bytes; sort the same way."""
    return key.encode("utf-8", "surrogateescape")


@dataclass
class _Lease:
    ttl: int
    expires_at: float
    keys: set[str] = field(default_factory=set)


@dataclass
class _Watcher:
    prefix: str
    start_revision: int
    watch: Watch


class MemoryStore:
    """Thread-safe in-memory :class:`~wolfpack.store.base.Store`.

    ``history_limit`` bounds the events kept for watch replay (older ones are compacted away,
    whole revisions at a time), so a long-running fake does not grow without bound.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        history_limit: int = 100_000,
    ) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        self._clock = clock
        self._history_limit = history_limit
        self._lock = threading.RLock()
        self._revision = 1  # etcd's empty store is at revision 1
        self._data: dict[str, KeyValue] = {}
        self._history: deque[WatchEvent] = deque()
        self._compacted = 0  # watches may start at this revision or later
        self._leases: dict[int, _Lease] = {}
        self._next_lease = 0x57_0000_0001  # arbitrary, non-zero, etcd-sized ids
        self._watchers: list[_Watcher] = []
        self._closed = False

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        with self._lock:
            self._enter()
            return self._data.get(key)

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        with self._lock:
            self._enter()
            found = [kv for k, kv in self._data.items() if k.startswith(prefix)]
            found.sort(key=lambda kv: _byte_order(kv.key))
            return found, self._revision

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        return self.txn([], [Put(key, value, lease)]).revision

    def delete(self, key: str, *, prefix: bool = False) -> int:
        with self._lock:
            self._enter()
            rev = self._revision + 1
            events = self._apply_delete(Delete(key, prefix), rev)
            self._commit(events)
            return len(events)

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        validate_ops(success)
        validate_ops(failure)
        with self._lock:
            self._enter()
            ok = all(self._holds(c) for c in compare)
            ops = success if ok else failure
            for op in ops:
                if isinstance(op, Put) and op.lease and op.lease not in self._leases:
                    raise LeaseNotFound(f"lease {op.lease:x} not found (expired or revoked)")
            rev = self._revision + 1
            events: list[WatchEvent] = []
            for op in ops:
                if isinstance(op, Put):
                    events.append(self._apply_put(op, rev))
                else:
                    events.extend(self._apply_delete(op, rev))
            self._commit(events)
            return TxnResult(ok, self._revision)

    def _holds(self, c: Compare) -> bool:
        if c.prefix:  # as etcd: every key in the range, or one missing key if none is
            found: list[KeyValue | None] = [
                kv for key, kv in self._data.items() if key.startswith(c.key)
            ]
            return all(self._holds_for(c, kv) for kv in found or [None])
        return self._holds_for(c, self._data.get(c.key))

    def _holds_for(self, c: Compare, kv: KeyValue | None) -> bool:
        if c.target == "value":
            if kv is None:
                return False  # as etcd: a missing key has no value to compare
            left: bytes | int = kv.value
        elif kv is None:
            left = 0
        else:
            left = {
                "mod": kv.mod_revision,
                "create": kv.create_revision,
                "version": kv.version,
                "lease": kv.lease,
            }[c.target]
        right = c.operand
        if isinstance(left, bytes):
            assert isinstance(right, bytes)  # Compare checks operand types
            diff = (left > right) - (left < right)
        else:
            assert isinstance(right, int)
            diff = (left > right) - (left < right)
        return {"==": diff == 0, "!=": diff != 0, "<": diff < 0, ">": diff > 0}[c.op]

    def _apply_put(self, op: Put, rev: int) -> WatchEvent:
        old = self._data.get(op.key)
        if old is not None and old.lease and old.lease in self._leases:
            self._leases[old.lease].keys.discard(op.key)
        if op.lease:
            self._leases[op.lease].keys.add(op.key)
        self._data[op.key] = KeyValue(
            key=op.key,
            value=bytes(op.value),
            create_revision=rev if old is None else old.create_revision,
            mod_revision=rev,
            version=1 if old is None else old.version + 1,
            lease=op.lease,
        )
        kv = self._data[op.key]
        return WatchEvent("put", op.key, kv.value, rev, kv.create_revision, kv.version, kv.lease)

    def _apply_delete(self, op: Delete, rev: int) -> list[WatchEvent]:
        if op.prefix:
            doomed = sorted((k for k in self._data if k.startswith(op.key)), key=_byte_order)
        else:
            doomed = [op.key] if op.key in self._data else []
        events = []
        for key in doomed:
            old = self._data.pop(key)
            if old.lease and old.lease in self._leases:
                self._leases[old.lease].keys.discard(key)
            events.append(WatchEvent("delete", key, b"", rev))
        return events

    def _commit(self, events: list[WatchEvent]) -> None:
        """Advance the revision once for a write that changed something, record history and
        notify watchers (under the lock, so watchers see revisions in order)."""
        if not events:
            return
        self._revision += 1
        self._history.extend(events)
        while len(self._history) > self._history_limit:
            dropped = self._history.popleft()
            while self._history and self._history[0].mod_revision == dropped.mod_revision:
                self._history.popleft()
            self._compacted = dropped.mod_revision + 1
        for w in self._watchers:
            w.watch.deliver_all(
                [
                    ev
                    for ev in events
                    if ev.key.startswith(w.prefix) and ev.mod_revision >= w.start_revision
                ]
            )

    # -- watches -------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        if start_revision is not None and start_revision < 1:
            raise ValueError("start_revision must be at least 1 (or None for 'from now')")
        with self._lock:
            self._enter()
            start = self._revision + 1 if start_revision is None else start_revision
            watch = Watch(tick=self._tick, on_cancel=lambda: self._drop_watch(watch))
            if start < self._compacted:
                watch.fail(
                    StoreError(
                        f"cannot watch {prefix!r} from revision {start}: history before "
                        f"revision {self._compacted} was compacted; re-read and watch again"
                    )
                )
                return watch
            replay = [
                e for e in self._history if e.mod_revision >= start and e.key.startswith(prefix)
            ]
            for _, same in itertools.groupby(replay, key=lambda e: e.mod_revision):
                watch.deliver_all(list(same))  # a revision at a time, as etcd sends them
            self._watchers.append(_Watcher(prefix, start, watch))
            return watch

    def _drop_watch(self, watch: Watch) -> None:
        with self._lock:
            self._watchers = [w for w in self._watchers if w.watch is not watch]

    def _tick(self) -> None:
        with self._lock:
            if not self._closed:
                self._expire_leases()

    def compact(self, revision: int) -> None:
        with self._lock:
            self._enter()
            if revision > self._revision:
                raise ValueError(
                    f"cannot compact at revision {revision}: the store is at {self._revision}"
                )
            if revision <= self._compacted:
                return
            while self._history and self._history[0].mod_revision < revision:
                self._history.popleft()
            self._compacted = revision

    # -- leases --------------------------------------------------------------------------

    def lease_grant(self, ttl: int) -> int:
        if ttl < 1:
            raise ValueError("lease TTL must be at least 1 second")
        with self._lock:
            self._enter()
            lease_id = self._next_lease
            self._next_lease += 1
            self._leases[lease_id] = _Lease(ttl, self._clock() + ttl)
            return lease_id

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        with self._lock:
            self._enter()
            lease = self._leases.get(lease_id)
            if lease is None:
                raise LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
            lease.expires_at = self._clock() + lease.ttl
            return lease.ttl

    def lease_revoke(self, lease_id: int) -> None:
        with self._lock:
            self._enter()
            if lease_id in self._leases:
                self._revoke(lease_id)

    def lease_ttl(self, lease_id: int) -> int:
        with self._lock:
            self._enter()
            lease = self._leases.get(lease_id)
            if lease is None:
                return -1
            return int(lease.expires_at - self._clock())

    def _revoke(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id)
        rev = self._revision + 1
        events: list[WatchEvent] = []
        for key in sorted(lease.keys, key=_byte_order):
            events.extend(self._apply_delete(Delete(key), rev))
        self._commit(events)

    def _expire_leases(self) -> None:
        now = self._clock()
        expired = sorted(
            (lease.expires_at, lease_id)
            for lease_id, lease in self._leases.items()
            if lease.expires_at <= now
        )
        for _, lease_id in expired:
            self._revoke(lease_id)

    # -- lifecycle -----------------------------------------------------------------------

    def _enter(self) -> None:
        """Common prologue of every call (lock held): refuse after close, reap leases."""
        if self._closed:
            raise StoreUnavailable(
                "the in-memory store is closed; create a new MemoryStore (tests only)"
            )
        self._expire_leases()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watchers, self._watchers = self._watchers, []
        for w in watchers:
            w.watch.cancel()
