"""Exclusive claims in the cluster database, bound to the node's lease (DESIGN §2, S6, S24).

A claim is one key, ``<root>claims/<kind>/<name>``, created by a transaction that succeeds
only while the key is absent, and attached to the node's etcd lease: when the node is fenced
or loses its lease, its claims vanish with it, so the next owner can take them. The value
names the holder (``{"node", "resource", "since"}``) so a refusal can say who has it.

After a daemon restart the node has a new lease (the old one is revoked, which drops the old
claims): a claim this node still holds under an older lease is moved to the current one by
a compare-and-swap on its revision, never by a blind write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from wolfpack.errors import ClaimHeld, LeaseNotFound
from wolfpack.store import Delete, KeySpace, KeyValue, Put, Store, key_absent, mod_revision_is

__all__ = ["ClaimHolder", "LeaseClaims"]


@dataclass(frozen=True)
class ClaimHolder:
    node: str
    resource: str
    since: float

    @classmethod
    def parse(cls, kv: KeyValue) -> ClaimHolder:
        try:
            doc = json.loads(kv.value)
            return cls(str(doc["node"]), str(doc["resource"]), float(doc.get("since", 0.0)))
        except (ValueError, TypeError, KeyError):
            return cls("(unreadable claim)", "?", 0.0)


class LeaseClaims:
    """:class:`wolfpack.resources.base.Claims` for one node. ``lease_id`` gives the node's
    current lease (0 while it has none: then nothing can be claimed)."""

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        node: str,
        lease_id: Callable[[], int],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.keys, self.node, self.lease_id, self.wall = (
            store,
            keys,
            node,
            lease_id,
            wall,
        )

    def holder(self, kind: str, name: str) -> ClaimHolder | None:
        kv = self.store.get(self.keys.claim(kind, name))
        return None if kv is None else ClaimHolder.parse(kv)

    def claim(self, kind: str, name: str, owner: str) -> None:
        key = self.keys.claim(kind, name)
        lease = self.lease_id()
        if not lease:
            raise LeaseNotFound(f"node {self.node} has no valid lease, so it cannot claim {key}")
        value = json.dumps({"node": self.node, "resource": owner, "since": self.wall()}).encode()
        for _ in range(3):  # bounded: each retry follows someone else's write
            if self.store.txn([key_absent(key)], [Put(key, value, lease)]).succeeded:
                return
            kv = self.store.get(key)
            if kv is None:
                continue  # released in between: try again
            holder = ClaimHolder.parse(kv)
            if (holder.node, holder.resource) != (self.node, owner):
                raise ClaimHeld(
                    f"{key} is held by resource {holder.resource!r} on node {holder.node}"
                )
            if kv.lease == lease:
                return
            moved = [mod_revision_is(key, kv.mod_revision)]
            if self.store.txn(moved, [Put(key, kv.value, lease)]).succeeded:
                return  # ours from before a daemon restart: now on the current lease
        raise ClaimHeld(f"{key} kept changing while node {self.node} tried to claim it")

    def release(self, kind: str, name: str, owner: str) -> None:
        """Delete our claim. Without a valid lease (self-fencing) nothing is asked of etcd,
        which may be unreachable then: the claim goes when the lease expires, and nobody
        takes this node's groups before that anyway (H4: the stop must not wait for etcd)."""
        if not self.lease_id():
            return
        key = self.keys.claim(kind, name)
        kv = self.store.get(key)
        if kv is None:
            return
        holder = ClaimHolder.parse(kv)
        if (holder.node, holder.resource) == (self.node, owner):
            self.store.txn([mod_revision_is(key, kv.mod_revision)], [Delete(key)])

    def holds(self, kind: str, name: str, owner: str) -> bool:
        kv = self.store.get(self.keys.claim(kind, name))
        if kv is None:
            return False
        holder = ClaimHolder.parse(kv)
        lease = self.lease_id()
        return (
            bool(lease)
            and kv.lease == lease
            and (holder.node, holder.resource)
            == (
                self.node,
                owner,
            )
        )
