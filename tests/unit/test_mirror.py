"""The coordinator's copy of the root kept current by a watch (wolfpack.store.mirror): on the
in-memory store, a read of the copy is what a ``get_prefix`` of the store gives at that
revision, and whenever the copy cannot be shown current a read goes to the store."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from itertools import pairwise

import pytest

from wolfpack.errors import StoreError
from wolfpack.store import Delete, KeyValue, MemoryStore, Put, Store, WatchEvent, key_absent
from wolfpack.store import mirror as mirror_module
from wolfpack.store.base import Watch
from wolfpack.store.mirror import RootMirror

ROOT = "/wp/"
WAIT_S = 5.0  # the longest any step may wait


def store_read(store: Store) -> tuple[list[KeyValue], int]:
    return store.get_prefix(ROOT)


def as_list(kvs: Mapping[str, KeyValue]) -> list[KeyValue]:
    return list(kvs.values())


def catch_up(mirror: RootMirror, watch: Watch) -> None:
    """Apply everything the watch has delivered so far (at least one batch)."""
    batch = watch.get_batch(timeout=WAIT_S)
    assert batch, "the watch delivered nothing"
    mirror.apply(batch)
    while batch := watch.get_batch(timeout=0.05):
        mirror.apply(batch)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    s = MemoryStore()
    s.put(f"{ROOT}config/nodes/a", b"1")
    s.put(f"{ROOT}state/nodes/a", b"up")
    s.put("/elsewhere/x", b"not mirrored")
    yield s
    s.close()


def test_the_copy_after_puts_deletes_and_a_transaction_is_a_full_read(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT)
    with mirror.begin() as watch:
        store.put(f"{ROOT}state/nodes/a", b"down")  # an update
        store.put(f"{ROOT}config/nodes/b", b"2")  # a new key, sorting before state/
        store.delete(f"{ROOT}config/nodes/a")  # a delete
        store.txn([], [Put(f"{ROOT}intents/1", b"i"), Delete(f"{ROOT}state/nodes/a")])
        store.put("/elsewhere/y", b"moves the revision only")
        catch_up(mirror, watch)
        kvs, revision = mirror.read()
    expected, _ = store_read(store)
    assert as_list(kvs) == expected  # values, every revision field, and key order
    assert f"{ROOT}config/nodes/a" not in kvs and f"{ROOT}state/nodes/a" not in kvs
    assert revision == store.get(f"{ROOT}intents/1").mod_revision  # type: ignore[union-attr]
    assert mirror.fallbacks == 0


def test_keys_of_an_expired_lease_leave_the_copy(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT)
    lease = store.lease_grant(10)
    store.put(f"{ROOT}leases/nodes/a", b"a", lease=lease)
    with mirror.begin() as watch:
        assert mirror.read()[0][f"{ROOT}leases/nodes/a"].lease == lease
        store.lease_revoke(lease)
        catch_up(mirror, watch)
        assert f"{ROOT}leases/nodes/a" not in mirror.read()[0]
    assert mirror.fallbacks == 0


def test_a_write_between_the_read_and_the_watch_is_not_lost(store: MemoryStore) -> None:
    class WriteAfterRead(MemoryStore):
        def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
            found = super().get_prefix(prefix)
            self.put(f"{ROOT}state/nodes/late", b"written after the read")
            return found

    racy = WriteAfterRead()
    mirror = RootMirror(racy, ROOT)
    with mirror.begin() as watch:
        assert f"{ROOT}state/nodes/late" not in mirror.read()[0]
        catch_up(mirror, watch)  # the watch replays it from the read's revision + 1
        assert mirror.read()[0][f"{ROOT}state/nodes/late"].value == b"written after the read"
    racy.close()


def test_a_read_waits_for_its_own_write_then_uses_the_copy(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT, catch_up_s=WAIT_S)
    tracked = mirror.tracking(store)
    with mirror.begin() as watch:
        revision = tracked.put(f"{ROOT}state/nodes/a", b"mine")
        got: list[tuple[Mapping[str, KeyValue], int]] = []
        reader = threading.Thread(target=lambda: got.append(mirror.read()))
        reader.start()  # blocks: the copy is behind this process's own write
        catch_up(mirror, watch)
        reader.join(timeout=WAIT_S)
    [(kvs, at)] = got
    assert kvs[f"{ROOT}state/nodes/a"].value == b"mine" and at >= revision
    assert mirror.fallbacks == 0  # it waited for the copy instead of reading the store


def test_a_copy_that_does_not_catch_up_in_time_is_not_used(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT, catch_up_s=0.05)
    tracked = mirror.tracking(store)
    with mirror.begin():  # nobody applies its events
        tracked.txn(
            [key_absent(f"{ROOT}intents/2")], [Put(f"{ROOT}intents/2", b"i")], []
        )  # a transaction's own write counts too
        kvs, _ = mirror.read()
    assert kvs[f"{ROOT}intents/2"].value == b"i"  # from the store
    assert mirror.fallbacks == 1


def test_only_writes_that_put_a_key_under_the_root_are_waited_for(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT, catch_up_s=0.05)
    tracked = mirror.tracking(store)
    with mirror.begin():
        tracked.put("/elsewhere/z", b"outside")
        tracked.txn([], [Delete(f"{ROOT}state/nodes/a")])  # a delete alone: not waited for
        tracked.txn([key_absent(f"{ROOT}config/nodes/a")], [Put(f"{ROOT}x", b"no")])  # failed
        mirror.read()
        assert mirror.fallbacks == 0
        tracked.txn([key_absent(f"{ROOT}config/nodes/a")], [], [Put(f"{ROOT}y", b"failure")])
        mirror.read()  # the failure branch put a key: waited for, in vain (nobody applies)
    assert mirror.fallbacks == 1


def test_batches_out_of_revision_order_drop_the_copy(store: MemoryStore) -> None:
    mirror = RootMirror(store, ROOT)
    with mirror.begin() as watch:
        store.put(f"{ROOT}state/nodes/a", b"x")
        catch_up(mirror, watch)
        _, revision = mirror.read()
        old = WatchEvent("put", f"{ROOT}state/nodes/a", b"old", revision, 1, 1)
        with pytest.raises(StoreError, match="cannot continue"):
            mirror.apply([old])  # a revision the copy already holds: a replay or a gap
    assert not mirror.following
    kvs, _ = mirror.read()
    assert kvs[f"{ROOT}state/nodes/a"].value == b"x"  # read from the store
    assert mirror.fallbacks == 1


def test_a_batch_going_backwards_or_without_metadata_drops_the_copy(store: MemoryStore) -> None:
    for bad in (
        [
            WatchEvent("put", f"{ROOT}a", b"1", 1000, 1000, 1),
            WatchEvent("put", f"{ROOT}b", b"1", 999, 999, 1),
        ],
        [WatchEvent("put", f"{ROOT}a", b"1", 1000)],  # no create revision, no version
    ):
        mirror = RootMirror(store, ROOT)
        with mirror.begin():
            with pytest.raises(StoreError):
                mirror.apply(bad)
            assert not mirror.following
            assert f"{ROOT}a" not in mirror.read()[0]


class Watched(MemoryStore):
    """A store that keeps every watch it opened, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.watches: list[Watch] = []

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        watch = super().watch_prefix(prefix, start_revision=start_revision)
        self.watches.append(watch)
        return watch


@contextlib.contextmanager
def following() -> Iterator[tuple[Watched, RootMirror, list[str]]]:
    """A follower thread over a fresh :class:`Watched` store, with the events it logged;
    stopped (and checked stopped) afterwards; its first watch is open on entry."""
    s = Watched()
    mirror = RootMirror(s, ROOT)
    stop = threading.Event()
    logged: list[str] = []
    follower = threading.Thread(
        target=mirror.follow, args=(stop,), kwargs={"log": lambda e, **f: logged.append(e)}
    )
    follower.start()
    try:
        assert _until(lambda: len(s.watches) == 1 and mirror.following)
        yield s, mirror, logged
    finally:
        stop.set()
        follower.join(timeout=WAIT_S)
        s.close()
    assert not follower.is_alive()


def assert_current(s: MemoryStore, mirror: RootMirror) -> None:
    revision = s.put(f"{ROOT}after", b"seen")
    assert _until(lambda: mirror.read()[1] >= revision)
    assert mirror.read()[0][f"{ROOT}after"].value == b"seen"


def test_a_failed_watch_drops_the_copy_and_the_follower_reads_again() -> None:
    with following() as (s, mirror, errors):
        s.watches[0].fail(StoreError("history was compacted"))
        assert _until(lambda: len(s.watches) == 2 and mirror.following)  # read, watched again
        assert errors == ["watch_error"]
        assert_current(s, mirror)
    assert not mirror.following  # a copy nobody follows is never used


def test_rewatch_reads_and_watches_again_without_an_error() -> None:
    """issue 12: once the store asks its node's own member first, the follower opens its
    watch again (there); the old watch is cancelled, nothing is logged as an error, and the
    copy is current afterwards."""
    with following() as (s, mirror, logged):
        mirror.rewatch()
        assert _until(lambda: len(s.watches) == 2 and mirror.following)
        assert s.watches[0].cancelled and not s.watches[1].cancelled
        assert logged == []
        assert_current(s, mirror)


def test_what_changed_while_no_watch_ran_is_handed_on_as_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between a lost watch and the next full read (or at a rewatch) no watch reports the
    changes; the follower hands them on as events made from the difference. The daemon
    makes heartbeat peers from them (CI: a node that rejoined meanwhile had its heartbeats
    dropped as unknown by the node whose watch was down, for good)."""
    monkeypatch.setattr(mirror_module, "RETRY_S", 2.0)  # the gap: no watch for 2 s
    s = Watched()
    for key in ("stays", "goes", "changes"):
        s.put(f"{ROOT}{key}", b"1")
    mirror = RootMirror(s, ROOT)
    stop = threading.Event()
    seen: list[WatchEvent] = []
    follower = threading.Thread(target=mirror.follow, args=(stop, seen.extend))
    follower.start()
    try:
        assert _until(lambda: len(s.watches) == 1 and mirror.following)
        s.watches[0].fail(StoreError("the stream was lost"))
        assert _until(lambda: not mirror.following)
        s.put(f"{ROOT}new", b"1")
        s.delete(f"{ROOT}goes")
        s.put(f"{ROOT}changes", b"2")
        assert _until(lambda: len(s.watches) == 2 and len(seen) >= 3)
        got = {(e.kind, e.key.removeprefix(ROOT), e.value) for e in seen}
        assert got == {("put", "new", b"1"), ("delete", "goes", b""), ("put", "changes", b"2")}
        assert_current(s, mirror)
    finally:
        stop.set()
        follower.join(timeout=WAIT_S)
        s.close()


def test_following_random_changes_keeps_the_copy_equal_to_the_store(store: MemoryStore) -> None:
    """Every batch the follower hands on holds whole revisions, and after any mix of
    writes the copy is the store's own read (S39-style property, seeded)."""
    rng = random.Random(12)
    mirror = RootMirror(store, ROOT)
    stop = threading.Event()
    batches: list[list[WatchEvent]] = []
    follower = threading.Thread(target=mirror.follow, args=(stop, batches.append))
    follower.start()
    try:
        assert _until(lambda: mirror.following)
        lease = store.lease_grant(30)
        for i in range(300):
            section = rng.choice(["config/nodes", "state/groups", "views"])
            key = f"{ROOT}{section}/k{rng.randrange(20)}"
            roll = rng.random()
            if roll < 0.5:
                store.put(key, f"v{i}".encode(), lease=lease if roll < 0.1 else 0)
            elif roll < 0.7:
                store.delete(key)
            elif roll < 0.9:
                other = f"{ROOT}state/resources/r{rng.randrange(5)}"
                store.txn([], [Put(key, b"t"), Put(other, f"t{i}".encode())])
            else:
                store.delete(f"{ROOT}views/", prefix=True)
        store.lease_revoke(lease)
        last = store.put(f"{ROOT}done", b"1")
        assert _until(lambda: mirror.read()[1] >= last)
        kvs, _ = mirror.read()
        assert as_list(kvs) == store_read(store)[0]
        assert mirror.fallbacks == 0
    finally:
        stop.set()
        follower.join(timeout=WAIT_S)
    revisions = [[e.mod_revision for e in b] for b in batches]
    assert all(a[-1] < b[0] for a, b in pairwise(revisions))


def test_a_watch_hands_out_whole_transactions(store: MemoryStore) -> None:
    with store.watch_prefix(ROOT) as watch:
        rev = store.txn([], [Put(f"{ROOT}a", b"1"), Put(f"{ROOT}b", b"2")]).revision
        store.put(f"{ROOT}a", b"3")
        first = watch.get(timeout=WAIT_S)  # one at a time still works ...
        rest = watch.get_batch(timeout=WAIT_S)  # ... and the rest of the batch follows
    assert first == WatchEvent("put", f"{ROOT}a", b"1", rev)
    assert [(e.key, e.mod_revision) for e in rest] == [(f"{ROOT}b", rev), (f"{ROOT}a", rev + 1)]
    assert (rest[1].create_revision, rest[1].version) == (rev, 2)


def test_a_batch_before_an_error_is_handed_out_then_the_error() -> None:
    watch = Watch()
    event = WatchEvent("put", "/k", b"1", 5, 5, 1)
    watch.deliver_all([event])
    watch.fail(StoreError("lost the stream"))
    assert watch.get_batch(timeout=1.0) == [event]
    with pytest.raises(StoreError, match="lost the stream"):
        watch.get_batch(timeout=1.0)


def _until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (bounded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
