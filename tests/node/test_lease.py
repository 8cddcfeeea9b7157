"""The node lease: self-fencing bound to the deadline (H4), suspend-proof clock (L2), a
lease thread that survives bugs (L6), and one daemon per node identity (M4)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from wolfpack.errors import StoreUnavailable
from wolfpack.node import lease as lease_module
from wolfpack.node.lease import Identity, NodeIdentityConflict, NodeLease
from wolfpack.store import KeySpace, MemoryStore, Put

KEYS = KeySpace("/t/")


class PartitionedStore(MemoryStore):
    """A.6: once ``partitioned`` is set, a keep-alive hangs ``hang_s`` (whatever timeout it
    is given: a wedged HTTP stack) and then fails."""

    def __init__(self, hang_s: float = 3.0) -> None:
        super().__init__()
        self.partitioned = threading.Event()
        self.hang_s = hang_s

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        if self.partitioned.is_set():
            time.sleep(self.hang_s)
            raise StoreUnavailable("cannot reach etcd (partitioned)")
        return super().lease_keepalive(lease_id)


class Recorder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lost: list[tuple[float, str]] = []
        self.events: list[tuple[str, dict[str, object]]] = []
        self.fenced = threading.Event()

    def on_lost(self, why: str) -> None:
        self.lost.append((self.clock(), why))
        self.fenced.set()

    def log(self, event: str, **fields: object) -> None:
        self.events.append((event, fields))

    def count(self, event: str) -> int:
        return sum(1 for e, _ in self.events if e == event)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_self_fence_comes_at_deadline_minus_margin_while_keepalive_hangs() -> None:
    """H4 (A.6): a keep-alive that blocks 3 s and then fails must not delay the self-fence:
    on_lost comes at ``deadline - margin`` (old code: about 2 s after the deadline)."""
    store = PartitionedStore(hang_s=3.0)
    clock = time.monotonic
    seen: list[tuple[float, float]] = []  # (when on_lost came, the deadline it fenced)
    fenced = threading.Event()

    def on_lost(why: str) -> None:
        seen.append((clock(), lease.deadline))
        fenced.set()

    lease = NodeLease(
        store, KEYS, "n1", {}, ttl_s=3, renew_every_s=1.0, margin_s=0.5, clock=clock,
        on_lost=on_lost,
    )  # fmt: skip
    lease.acquire()
    lease.start()
    try:
        time.sleep(1.2)
        store.partitioned.set()
        assert fenced.wait(8.0), "never self-fenced"
    finally:
        store.partitioned.clear()
        lease.stop()
    fenced_at, deadline = seen[0]
    # at deadline - margin (slack for a loaded machine), and so before the deadline
    assert fenced_at <= deadline - lease.margin_s + 0.4
    assert fenced_at >= deadline - lease.margin_s - 0.05


def test_keepalive_gets_the_time_left_as_its_budget() -> None:
    """H4: each keep-alive may take no longer than the time left before deadline - margin."""
    budgets: list[tuple[float | None, float]] = []

    class Spy(MemoryStore):
        def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
            budgets.append((timeout, lease.remaining()))
            return super().lease_keepalive(lease_id, timeout=timeout)

    lease = NodeLease(Spy(), KEYS, "n1", {}, ttl_s=3, renew_every_s=0.1, margin_s=0.5)
    lease.acquire()
    lease.start()
    try:
        assert wait_for(lambda: len(budgets) >= 3)
    finally:
        lease.stop()
    for timeout, remaining in budgets:
        assert timeout is not None and 0 < timeout <= 2.5
        assert timeout >= remaining  # it was computed just before


def test_unexpected_error_in_the_lease_thread_is_a_failed_renewal() -> None:
    """L6: a bug in a keep-alive (here KeyError) is logged, the deadline still self-fences,
    and the thread lives on to take a fresh lease once renewals work again."""
    broken = threading.Event()
    broken.set()

    class Buggy(MemoryStore):
        def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
            if broken.is_set():
                raise KeyError("ID")
            return super().lease_keepalive(lease_id, timeout=timeout)

    rec = Recorder(time.monotonic)
    lease = NodeLease(
        Buggy(), KEYS, "n1", {}, ttl_s=2, renew_every_s=0.2, margin_s=0.5,
        clock=time.monotonic, on_lost=rec.on_lost, log=rec.log,
    )  # fmt: skip
    lease.acquire()
    first = lease.lease_id
    lease.start()
    try:
        assert rec.fenced.wait(5.0), "the deadline did not self-fence"
        assert rec.count("lease_thread_error") >= 1
        broken.clear()
        assert wait_for(lambda: lease.valid() and lease.lease_id != first, 5.0)
        assert wait_for(lambda: rec.count("lease_acquired") >= 2)
    finally:
        lease.stop()
    assert len(rec.lost) == 1


def test_a_fenced_lease_is_never_renewed_and_starts_over_after_on_lost() -> None:
    """Once self-fenced (now on the fence thread), nothing may run again before a fresh
    lease, and that lease is taken only after on_lost (stop_everything) has returned."""
    store = PartitionedStore(hang_s=0.05)
    release = threading.Event()
    acquired_during_stop: list[bool] = []
    events: list[str] = []

    def on_lost(why: str) -> None:
        events.append("lost")
        release.wait(3.0)
        acquired_during_stop.append(lease.valid())
        events.append("stopped")

    lease = NodeLease(
        store, KEYS, "n1", {}, ttl_s=2, renew_every_s=0.2, margin_s=0.5, on_lost=on_lost,
        log=lambda event, **f: events.append(event),
    )  # fmt: skip
    lease.acquire()
    first = lease.lease_id
    lease.start()
    try:
        store.partitioned.set()
        assert wait_for(lambda: "lost" in events)
        store.partitioned.clear()  # etcd is back while the node still stops its resources
        time.sleep(0.5)
        assert not lease.valid()
        release.set()
        assert wait_for(lambda: lease.valid())
    finally:
        release.set()
        lease.stop()
    assert acquired_during_stop == [False]
    assert lease.lease_id != first
    assert events.index("stopped") < events.index("lease_acquired", events.index("lost"))
    assert store.lease_ttl(first) == -1  # the old lease was revoked by the new incarnation


def test_default_clock_counts_suspend() -> None:
    """L2: the lease's default clock is CLOCK_BOOTTIME, which goes on while suspended."""
    lease = NodeLease(MemoryStore(), KEYS, "n1", {})
    assert lease.clock is lease_module.boottime
    assert abs(lease.clock() - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1.0


# -- M4: one daemon per node identity ---------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


ME = Identity("boot-a", "machine-a", 1111)


def _lease(store: MemoryStore, identity: Identity, **kw: object) -> NodeLease:
    return NodeLease(
        store, KEYS, "n1", {"id": 1}, ttl_s=3, identity=identity,
        pid_running=lambda pid: pid != DEAD, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


DEAD = 999_999_999


def test_liveness_value_names_boot_machine_and_pid() -> None:
    """M4: the liveness key says which instance holds it."""
    store = MemoryStore()
    lease = NodeLease(store, KEYS, "n1", {"id": 1})
    lease.acquire()
    kv = store.get(KEYS.node_lease("n1"))
    assert kv is not None
    assert Identity.of(kv) == Identity.here()
    assert Identity.here().boot_id  # Linux always has one


@pytest.mark.parametrize(
    "other",
    [
        Identity("boot-b", "machine-b", 1111),  # a cloned VM, another machine
        Identity("boot-a", "machine-a", 2222),  # a second daemon on this machine, running
    ],
    ids=["other-machine", "same-machine-running"],
)
def test_second_instance_with_the_same_node_name_refuses(other: Identity) -> None:
    """M4: a second daemon with the same node name but another identity refuses to take the
    node's liveness key while the first holds it on a live lease, and changes nothing."""
    store = MemoryStore()
    first = _lease(store, ME)
    first.acquire()
    before = store.get(KEYS.node_lease("n1"))
    second = _lease(store, other)
    with pytest.raises(NodeIdentityConflict) as info:
        second.acquire(wait_s=0.3)
    text = str(info.value)
    assert "node n1 is already running elsewhere" in text and "pid 1111" in text
    assert store.get(KEYS.node_lease("n1")) == before
    assert first.valid() and second.lease_id == 0
    assert store.txn([first.guard()], []).succeeded


def test_previous_incarnation_on_this_machine_is_replaced() -> None:
    """M4: the key of a dead daemon of this very machine and boot is ours: a restarted daemon
    takes it over at once and revokes the old lease, as before."""
    store = MemoryStore()
    old = _lease(store, Identity("boot-a", "machine-a", DEAD))
    old.acquire()
    new = _lease(store, ME)
    new.acquire(wait_s=0)
    kv = store.get(KEYS.node_lease("n1"))
    assert kv is not None and kv.lease == new.lease_id and Identity.of(kv) == ME
    assert store.lease_ttl(old.lease_id) == -1


def test_conflict_after_the_other_lease_runs_out_is_no_conflict() -> None:
    """M4: a key whose lease expires while we wait (this machine's previous boot, a dead
    clone) is no reason to refuse: acquire waits up to ttl + 1 s for it."""
    store = MemoryStore()
    other = _lease(store, Identity("boot-old", "machine-a", 42))
    other.acquire()
    timer = threading.Timer(0.3, store.lease_revoke, args=(other.lease_id,))
    timer.start()
    try:
        mine = _lease(store, ME)
        mine.acquire(wait_s=5.0)
    finally:
        timer.cancel()
    assert mine.valid()


def test_guard_fails_once_another_instance_put_over_the_key() -> None:
    """M4: a put over the liveness key keeps its create revision, so a create-revision guard
    passed for both daemons; the guard compares the lease now."""
    store = MemoryStore()
    first = _lease(store, ME)
    first.acquire()
    intruder_lease = store.lease_grant(3)
    store.put(KEYS.node_lease("n1"), b"{}", lease=intruder_lease)  # old code's acquire did this
    assert not store.txn([first.guard()], [Put("/t/report", b"x")]).succeeded
    assert store.get("/t/report") is None


def test_a_revoked_lease_fences_at_once_with_no_time_left() -> None:
    """H4: a keep-alive that finds the lease gone (revoked by a fence, or expired) means etcd
    has dropped it already: on_lost comes at once, and the deadline it gets is now, so the
    stops take no longer than the shortest stop."""
    store = MemoryStore()
    seen: list[tuple[float, float, str]] = []
    done = threading.Event()

    def on_lost(why: str) -> None:
        seen.append((time.monotonic(), lease.deadline, why))
        done.set()

    lease = NodeLease(
        store, KEYS, "n1", {}, ttl_s=10, renew_every_s=0.1, margin_s=0.5,
        clock=time.monotonic, on_lost=on_lost,
    )  # fmt: skip
    lease.acquire()
    lease.start()
    try:
        store.lease_revoke(lease.lease_id)
        assert done.wait(5.0)
    finally:
        lease.stop()
    fenced_at, deadline, why = seen[0]
    assert "revoked" in why
    assert deadline <= fenced_at


def test_each_renewal_reports_its_round_trip_for_the_fencing_grace() -> None:
    """The fencing grace is sized from the renewals' round trips (wolfpack.node.grace): a
    keep-alive that takes 50 ms is reported as taking at least that."""

    class Slow(MemoryStore):
        def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
            time.sleep(0.05)
            return super().lease_keepalive(lease_id, timeout=timeout)

    trips: list[float] = []
    lease = NodeLease(
        Slow(), KEYS, "n1", {}, ttl_s=3, renew_every_s=0.1, margin_s=0.5,
        on_round_trip=trips.append,
    )  # fmt: skip
    lease.acquire()
    lease.start()
    try:
        assert wait_for(lambda: len(trips) >= 3)
    finally:
        lease.stop()
    assert all(0.05 <= t < 2.0 for t in trips)
