"""The node's etcd lease: its right to run resources, judged by its own monotonic clock.

etcd decides a lease has expired on its leader, by the leader's clock, ``ttl`` seconds after
the last keep-alive it received. A keep-alive sent at ``t0`` (by our clock) therefore keeps
the lease alive at least until ``t0 + ttl``: that is our **deadline**, and we stop our
resources ``margin`` before it when we could not renew. Everyone else waits for the lease to
expire (or for a confirmed fence) before starting our groups, so the two never overlap.
Each deadline is also handed to the watchdog process, which acts if this daemon freezes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable

from wolfpack.errors import LeaseNotFound, StoreError
from wolfpack.store import Compare, KeySpace, Store


class NodeLease:
    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        node: str,
        info: dict[str, object],
        *,
        ttl_s: int = 3,
        renew_every_s: float = 0.5,
        margin_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        on_deadline: Callable[[float], None] = lambda deadline: None,
        on_lost: Callable[[str], None] = lambda why: None,
        log: Callable[..., None] = lambda event, **fields: None,
    ) -> None:
        self.store, self.keys, self.node = store, keys, node
        self.info = info
        self.ttl_s, self.renew_every_s, self.margin_s = ttl_s, renew_every_s, margin_s
        self.clock = clock
        self.on_deadline, self.on_lost, self.log = on_deadline, on_lost, log
        self.lease_id = 0
        self.key_revision = 0  # create revision of our liveness key: the node's write token
        self.deadline = 0.0  # by self.clock; resources may run only before deadline - margin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_reported = True

    # -- queries --------------------------------------------------------------------------
    def valid(self) -> bool:
        return self.lease_id != 0 and self.clock() < self.deadline - self.margin_s

    def remaining(self) -> float:
        return self.deadline - self.margin_s - self.clock()

    def guard(self) -> Compare:
        """A transaction condition that holds only while our liveness key (so our lease)
        exists: a node that lost its lease cannot report anything afterwards."""
        return Compare(self.keys.node_lease(self.node), "create", "==", self.key_revision)

    # -- life cycle -----------------------------------------------------------------------
    def acquire(self) -> None:
        """Grant a fresh lease and publish this node's liveness key on it."""
        t0 = self.clock()
        lease_id = self.store.lease_grant(self.ttl_s)
        key = self.keys.node_lease(self.node)
        old = self.store.get(key)
        self.store.put(key, json.dumps(self.info).encode(), lease=lease_id)
        if old is not None and old.lease not in (0, lease_id):
            self._revoke_quietly(old.lease)  # our previous incarnation's lease
        mine = self.store.get(key)
        self.key_revision = mine.create_revision if mine is not None else 0
        self.lease_id = lease_id
        self._set_deadline(t0 + self.ttl_s)
        self._lost_reported = False
        self.log("lease_acquired", lease=lease_id, ttl_s=self.ttl_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    def stop(self, *, revoke: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if revoke and self.lease_id:
            self._revoke_quietly(self.lease_id)
        self.lease_id = 0

    def _revoke_quietly(self, lease_id: int) -> None:
        with contextlib.suppress(StoreError):  # if not, it expires by itself
            self.store.lease_revoke(lease_id)

    def _set_deadline(self, deadline: float) -> None:
        self.deadline = deadline
        self.on_deadline(deadline)

    def _lost(self, why: str) -> None:
        if not self._lost_reported:
            self._lost_reported = True
            self.log("lease_lost", why=why, lease=self.lease_id)
            self.on_lost(why)

    def _run(self) -> None:
        while not self._stop.wait(self._pause()):
            if self.lease_id == 0 or not self.valid():
                if self.lease_id:
                    self._lost("could not renew the lease before its deadline")
                self._try_reacquire()
                continue
            t0 = self.clock()
            try:
                self.store.lease_keepalive(self.lease_id)
            except LeaseNotFound:
                self._lost("the lease expired or was revoked (this node was fenced)")
                self.lease_id = 0
                continue
            except StoreError as exc:
                self.log("lease_renew_failed", error=str(exc), remaining_s=self.remaining())
                continue
            self._set_deadline(t0 + self.ttl_s)

    def _pause(self) -> float:
        if self.lease_id and self.valid():
            return max(0.01, min(self.renew_every_s, self.remaining()))
        return self.renew_every_s

    def _try_reacquire(self) -> None:
        try:
            self.acquire()
        except StoreError as exc:
            self.log("lease_acquire_failed", error=str(exc))
