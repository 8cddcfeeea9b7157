"""The node's etcd lease: its right to run resources, judged by its own clock.

etcd decides a lease has expired on its leader, by the leader's clock, ``ttl`` seconds after
the last keep-alive it received. A keep-alive sent at ``t0`` (by our clock) therefore keeps
the lease alive at least until ``t0 + ttl``: that is our **deadline**, and we stop our
resources ``margin`` before it when we could not renew (**self-fencing**). Everyone else
waits for the lease to expire (or for a confirmed fence) before starting our groups, so the
two never overlap. Each deadline is also handed to the watchdog process, which acts if this
daemon freezes.

Two threads, so that the deadline never depends on etcd answering (H4):

* the *lease* thread renews; a keep-alive may block, but only for the time left before
  ``deadline - margin`` (the store's ``timeout`` budget), and any error counts as a failed
  renewal (L6);
* the *fence* thread only watches the clock and calls ``on_lost`` at ``deadline - margin``
  whatever the lease thread is doing. A fenced lease is never renewed again: the node takes
  a fresh one (a new incarnation) once ``on_lost`` has returned.

The clock is ``CLOCK_BOOTTIME`` (L2): it goes on while the machine is suspended, as etcd's
clock elsewhere does, so a lease that ran out during a suspend is seen as gone on resume.

The liveness value names this incarnation (boot id, machine id, PID, M4): a second daemon
with the same node name (a cloned VM, a copied config) refuses to start while the first
holds the key, instead of the two revoking each other's leases every second.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wolfpack.errors import LeaseNotFound, StoreError, WolfpackError
from wolfpack.store import Compare, KeySpace, KeyValue, Put, Store, key_absent, mod_revision_is

#: the fence thread re-reads the clock at least this often (a suspend stops its waits)
#: what a node's log says when it stops serving for want of a quorum (S13): etcd answers a
#: renewal only with a majority of its voters
LOST_WHY = (
    "could not renew the lease before its deadline: no quorum (the cluster database did not"
    " answer in time; this node may have lost the other voters, e.g. the other node and the"
    " witness, or its network to them)"
)
FENCE_POLL_S = 0.1
#: after a failed renewal the next try comes this soon (or at renew_every_s, if shorter)
RETRY_S = 0.2


class NodeIdentityConflict(WolfpackError):
    """Another running instance (another machine, boot or process) holds this node's
    liveness key: two daemons with one node name would both run the node's groups."""


def boottime() -> float:
    """Seconds since boot, suspend included (``CLOCK_BOOTTIME``)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _read_id(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@dataclass(frozen=True)
class Identity:
    """Which running daemon holds a liveness key."""

    boot_id: str
    machine_id: str
    pid: int

    @classmethod
    def here(cls) -> Identity:
        return cls(
            _read_id("/proc/sys/kernel/random/boot_id"), _read_id("/etc/machine-id"), os.getpid()
        )

    @classmethod
    def of(cls, kv: KeyValue) -> Identity | None:
        """The identity in a liveness value; None if it has none (an older daemon)."""
        try:
            doc = json.loads(kv.value)
            return cls(str(doc["boot_id"]), str(doc["machine_id"]), int(doc["pid"]))
        except (ValueError, TypeError, KeyError):
            return None

    def fields(self) -> dict[str, object]:
        return {"boot_id": self.boot_id, "machine_id": self.machine_id, "pid": self.pid}

    def describe(self) -> str:
        return f"pid {self.pid}, boot id {self.boot_id or '?'}, machine id {self.machine_id or '?'}"


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
        clock: Callable[[], float] = boottime,
        identity: Identity | None = None,
        pid_running: Callable[[int], bool] = _pid_running,
        on_deadline: Callable[[float], None] = lambda deadline: None,
        on_lost: Callable[[str], None] = lambda why: None,
        on_round_trip: Callable[[float], None] = lambda seconds: None,
        log: Callable[..., None] = lambda event, **fields: None,
    ) -> None:
        self.store, self.keys, self.node = store, keys, node
        self.identity = identity or Identity.here()
        self.info = {**info, **self.identity.fields()}
        self.ttl_s, self.renew_every_s, self.margin_s = ttl_s, renew_every_s, margin_s
        self.clock, self.pid_running = clock, pid_running
        self.on_deadline, self.on_lost, self.log = on_deadline, on_lost, log
        self.on_round_trip = on_round_trip  # each renewal's time: the fencing grace's input
        self.lease_id = 0
        self.key_revision = 0  # create revision of our liveness key
        self.deadline = 0.0  # by self.clock; resources may run only before deadline - margin
        self._cond = threading.Condition()
        self._fenced = False  # set at deadline - margin (or on LeaseNotFound) until a new lease
        self._fence_done = threading.Event()  # on_lost has returned
        self._fence_done.set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- queries --------------------------------------------------------------------------
    def valid(self) -> bool:
        return (
            self.lease_id != 0 and not self._fenced and self.clock() < self.deadline - self.margin_s
        )

    def remaining(self) -> float:
        return self.deadline - self.margin_s - self.clock()

    def guard(self) -> Compare:
        """A transaction condition that holds only while our liveness key is attached to our
        lease: a node that lost its lease cannot report anything afterwards. The lease, not
        the key's create revision: a put over the key (another instance, M4) keeps the create
        revision, so two daemons would both pass a create-revision guard."""
        return Compare(self.keys.node_lease(self.node), "lease", "==", self.lease_id)

    # -- life cycle -----------------------------------------------------------------------
    def acquire(self, *, wait_s: float | None = None) -> None:
        """Grant a fresh lease and publish this node's liveness key on it. A key held by a
        live lease of another instance raises :class:`NodeIdentityConflict` once it has
        stayed for ``wait_s`` (default ``ttl_s + 1``: a dead instance's lease runs out by
        then, e.g. this machine's previous boot); a previous incarnation of this very
        daemon's machine and boot whose process is gone is ours, and its lease is revoked."""
        key = self.keys.node_lease(self.node)
        old = self.wait_until_free(wait_s)
        t0 = self.clock()
        lease_id = self.store.lease_grant(self.ttl_s)
        value = json.dumps(self.info).encode()
        try:
            for _ in range(3):  # bounded: each retry follows someone else's write
                seen = key_absent(key) if old is None else mod_revision_is(key, old.mod_revision)
                if self.store.txn([seen], [Put(key, value, lease=lease_id)]).succeeded:
                    break
                old = self.store.get(key)
                self._check_not_other(key, old)
            else:
                raise NodeIdentityConflict(f"{key} kept changing while node {self.node} started")
        except BaseException:
            self._revoke_quietly(lease_id)
            raise
        if old is not None and old.lease not in (0, lease_id):
            self._revoke_quietly(old.lease)  # our previous incarnation's lease
        mine = self.store.get(key)
        with self._cond:
            self.key_revision = mine.create_revision if mine is not None else 0
            self.lease_id = lease_id
            self._fenced = False
            self._set_deadline(t0 + self.ttl_s)
        self.log("lease_acquired", lease=lease_id, ttl_s=self.ttl_s)

    def wait_until_free(self, wait_s: float | None = None) -> KeyValue | None:
        """Wait (``wait_s``, default ``ttl_s + 1``) until no other live instance holds this
        node's liveness key; returns the key as it is then. :class:`NodeIdentityConflict`
        if one still does. The daemon calls it before it starts anything."""
        key = self.keys.node_lease(self.node)
        ends = time.monotonic() + (self.ttl_s + 1.0 if wait_s is None else wait_s)
        for _ in range(10_000):  # bounded by wait_s; the count is a backstop
            old = self.store.get(key)
            try:
                self._check_not_other(key, old)
                return old
            except NodeIdentityConflict:
                if time.monotonic() >= ends:
                    raise
            self._stop.wait(min(0.25, max(0.0, ends - time.monotonic())))
        raise NodeIdentityConflict(f"{key} is still held")

    def _check_not_other(self, key: str, kv: KeyValue | None) -> None:
        if kv is None or not kv.lease or kv.lease == self.lease_id:
            return
        theirs = Identity.of(kv)
        me = self.identity
        if theirs is not None and self._ours(theirs):
            return  # this process, or a dead predecessor on this machine and boot
        who = theirs.describe() if theirs is not None else "an instance that does not say which"
        raise NodeIdentityConflict(
            f"node {self.node} is already running elsewhere: {key} is held by a live lease of"
            f" another wolfpackd ({who}; this one is {me.describe()}). Two daemons with one"
            f" node name would both run its groups. Stop the other one, or give this machine"
            f" its own node name (a cloned VM needs a new /etc/machine-id and its own"
            f" 'node:' in wolfpackd.yaml)"
        )

    def _ours(self, theirs: Identity) -> bool:
        me = self.identity
        if (theirs.boot_id, theirs.machine_id) != (me.boot_id, me.machine_id):
            return False
        return theirs.pid == me.pid or not self.pid_running(theirs.pid)

    def start(self) -> None:
        for target, name in ((self._run, "lease"), (self._watch_deadline, "lease-fence")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, *, revoke: bool = True) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        if revoke and self.lease_id:
            self._revoke_quietly(self.lease_id)
        self.lease_id = 0

    def _revoke_quietly(self, lease_id: int) -> None:
        with contextlib.suppress(StoreError):  # if not, it expires by itself
            self.store.lease_revoke(lease_id)

    def _set_deadline(self, deadline: float) -> None:
        """Under ``_cond``: a new deadline, for the watchdog and the fence thread."""
        self.deadline = deadline
        self.on_deadline(deadline)
        self._cond.notify_all()

    # -- self-fencing ---------------------------------------------------------------------
    def _fence(self, why: str, *, when_due: bool = False) -> None:
        """Give the lease up for good and stop everything (``on_lost``), once per lease;
        ``when_due``: only if ``deadline - margin`` has passed (no renewal came meanwhile)."""
        with self._cond:
            if self._fenced or not self.lease_id or (when_due and self.remaining() > 0):
                return
            self._fenced = True
            self._fence_done.clear()
            lease_id = self.lease_id
        try:
            self.log("lease_lost", why=why, lease=lease_id, late_s=round(-self.remaining(), 3))
            self.on_lost(why)
        except Exception as exc:  # the fence thread must survive a failing callback
            self.log("lease_lost_error", error=repr(exc))
        finally:
            self._fence_done.set()

    def _watch_deadline(self) -> None:
        """The fence thread: ``on_lost`` at ``deadline - margin`` whatever the renewals do."""
        while not self._stop.is_set():
            with self._cond:
                left = self.remaining() if self.lease_id and not self._fenced else None
                if left is None or left > 0:
                    self._cond.wait(FENCE_POLL_S if left is None else min(left, FENCE_POLL_S))
                    continue
            self._fence(LOST_WHY, when_due=True)

    # -- renewals -------------------------------------------------------------------------
    def _run(self) -> None:
        pause = self.renew_every_s
        while not self._stop.wait(pause):
            try:
                ok = self._step()
            except Exception as exc:  # L6: a bug must not end the renewals silently
                self.log("lease_thread_error", error=repr(exc), remaining_s=self.remaining())
                ok = False
            pause = self.renew_every_s if ok else min(self.renew_every_s, RETRY_S)
            if self.valid():
                pause = max(0.01, min(pause, self.remaining()))

    def _step(self) -> bool:
        """One renewal (or, once fenced, one try for a fresh lease); True if it worked."""
        if not self.lease_id or self._fenced:
            if not self._fence_done.is_set():
                return False  # resources are still being stopped: no new lease before that
            return self._try_reacquire()
        lease_id, left = self.lease_id, self.remaining()
        if left <= 0:
            return False  # the fence thread acts
        t0 = self.clock()
        try:
            self.store.lease_keepalive(lease_id, timeout=left)
        except LeaseNotFound:
            with self._cond:  # etcd has dropped it already: no time is left for the stops
                self.deadline = min(self.deadline, self.clock())
            self._fence("the lease expired or was revoked (this node was fenced)")
            return False
        except StoreError as exc:
            self.log("lease_renew_failed", error=str(exc), remaining_s=self.remaining())
            return False
        with self._cond:
            if self._fenced or lease_id != self.lease_id:
                return False  # too late: fenced meanwhile, this lease is given up
            self._set_deadline(t0 + self.ttl_s)
        self.on_round_trip(self.clock() - t0)
        return True

    def _try_reacquire(self) -> bool:
        try:
            self.acquire(wait_s=0)
        except StoreError as exc:
            self.log("lease_acquire_failed", error=str(exc))
            return False
        except NodeIdentityConflict as exc:
            self.log("lease_acquire_refused", error=str(exc))
            return False
        return True
