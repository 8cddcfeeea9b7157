"""A :class:`~wolfpack.store.base.Store` that hands every call to another one.

For wrappers that watch what passes through (the CLI's write counter for its audit record,
the coordinator's mirror that learns the revision of its own writes): they override the
calls they look at and inherit the rest, so a new Store method needs adding in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from wolfpack.store.base import Compare, KeyValue, Op, Store, TxnResult, Watch

__all__ = ["StoreWrapper"]


class StoreWrapper:
    """Every :class:`Store` call passed to ``inner`` unchanged."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def get(self, key: str) -> KeyValue | None:
        return self.inner.get(key)

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        return self.inner.get_prefix(prefix)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        return self.inner.put(key, value, lease=lease)

    def delete(self, key: str, *, prefix: bool = False) -> int:
        return self.inner.delete(key, prefix=prefix)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        return self.inner.txn(compare, success, failure)

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        return self.inner.watch_prefix(prefix, start_revision=start_revision)

    def compact(self, revision: int) -> None:
        self.inner.compact(revision)

    def lease_grant(self, ttl: int) -> int:
        return self.inner.lease_grant(ttl)

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        return self.inner.lease_keepalive(lease_id, timeout=timeout)

    def lease_revoke(self, lease_id: int) -> None:
        self.inner.lease_revoke(lease_id)

    def lease_ttl(self, lease_id: int) -> int:
        return self.inner.lease_ttl(lease_id)

    def close(self) -> None:
        self.inner.close()
