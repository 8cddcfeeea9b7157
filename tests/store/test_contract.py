"""The Store contract, run against every implementation (``memory`` and a real ``etcd``).

Each test works under its own key prefix ``h.ns``. Revisions are compared relative to values
the test itself observed, because the etcd instance is shared by the whole session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from wolfpack.errors import ConflictError, LeaseNotFound, StoreError, StoreUnavailable
from wolfpack.store import (
    Compare,
    Delete,
    KeySpace,
    Put,
    Store,
    WatchEvent,
    compare_and_swap,
    ensure_schema,
    key_absent,
    key_exists,
    keys,
    mod_revision_is,
    prefix_empty,
    put_if_absent,
    value_is,
)

from .conftest import MAX_WAIT, Harness, wait_until


def current_revision(store: Store) -> int:
    return store.get_prefix("/no-such-prefix/")[1]


# -- get / put / delete and revisions ---------------------------------------------------------


def test_get_missing_key_is_none(harness: Harness) -> None:
    assert harness.store.get(harness.k("missing")) is None


def test_put_get_and_revisions(harness: Harness) -> None:
    s, k = harness.store, harness.k("a")
    r1 = s.put(k, b"one")
    kv = s.get(k)
    assert kv is not None
    assert (kv.key, kv.value, kv.lease) == (k, b"one", 0)
    assert kv.create_revision == kv.mod_revision == r1
    assert kv.version == 1

    r2 = s.put(k, b"two")
    r3 = s.put(harness.k("other"), b"x")  # any key bumps the one global revision
    r4 = s.put(k, b"two")  # writing the same value is still a write
    assert (r2, r3, r4) == (r1 + 1, r1 + 2, r1 + 3)
    kv = s.get(k)
    assert kv is not None
    assert kv.value == b"two"
    assert kv.create_revision == r1  # creation is remembered
    assert kv.mod_revision == r4
    assert kv.version == 3
    assert current_revision(s) == r4


def test_binary_values_and_unicode_keys_round_trip(harness: Harness) -> None:
    s = harness.store
    key = harness.k("grüße/ключ with space")
    value = bytes(range(256))
    s.put(key, value)
    kv = s.get(key)
    assert kv is not None and kv.key == key and kv.value == value
    s.put(harness.k("empty"), b"")
    empty = s.get(harness.k("empty"))
    assert empty is not None and empty.value == b""


def test_delete_counts_and_resets_key_history(harness: Harness) -> None:
    s, k = harness.store, harness.k("d")
    first = s.put(k, b"1")
    s.put(k, b"2")
    before = current_revision(s)
    assert s.delete(harness.k("never-existed")) == 0
    assert current_revision(s) == before  # deleting nothing is not a write
    assert s.delete(k) == 1
    assert current_revision(s) == before + 1
    assert s.get(k) is None
    again = s.put(k, b"3")
    kv = s.get(k)
    assert kv is not None
    assert kv.create_revision == again != first
    assert kv.version == 1


def test_get_prefix_is_sorted_exact_and_consistent(harness: Harness) -> None:
    s = harness.store
    names = ["b", "a/2", "a/10", "a/1", "ab", "a", "a/"]
    last = 0
    for name in names:
        last = s.put(harness.k(name), name.encode())
    kvs, revision = s.get_prefix(harness.k("a/"))
    assert [kv.key for kv in kvs] == [harness.k(n) for n in ("a/", "a/1", "a/10", "a/2")]
    assert [kv.value for kv in kvs] == [b"a/", b"a/1", b"a/10", b"a/2"]
    assert revision == last
    everything, _ = s.get_prefix(harness.ns)
    assert [kv.key for kv in everything] == sorted(harness.k(n) for n in names)
    assert s.get_prefix(harness.k("zzz/")) == ([], last)


def test_get_prefix_empty_string_lists_the_whole_store(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("x"), b"1")
    s.put(harness.k("y"), b"2")
    kvs, _ = s.get_prefix("")
    listed = [kv.key for kv in kvs]
    assert harness.k("x") in listed and harness.k("y") in listed
    assert listed == sorted(listed, key=str.encode)


def test_delete_prefix_is_exact_and_atomic(harness: Harness) -> None:
    s = harness.store
    for name in ("g/1", "g/2", "g/3", "gx", "h"):
        s.put(harness.k(name), b"v")
    before = current_revision(s)
    assert s.delete(harness.k("g/"), prefix=True) == 3
    assert current_revision(s) == before + 1  # one revision for all three
    left, _ = s.get_prefix(harness.ns)
    assert [kv.key for kv in left] == [harness.k("gx"), harness.k("h")]


# -- transactions -----------------------------------------------------------------------------


def test_txn_success_and_failure_branches(harness: Harness) -> None:
    s, k = harness.store, harness.k("t")
    res = s.txn([key_absent(k)], [Put(k, b"created")], [Put(harness.k("lost"), b"x")])
    assert res.succeeded
    kv = s.get(k)
    assert kv is not None and kv.value == b"created" and kv.mod_revision == res.revision
    assert s.get(harness.k("lost")) is None

    res = s.txn([key_absent(k)], [Put(k, b"again")], [Put(harness.k("lost"), b"x")])
    assert not res.succeeded
    got = s.get(k)
    assert got is not None and got.value == b"created"
    lost = s.get(harness.k("lost"))
    assert lost is not None and lost.mod_revision == res.revision


def test_txn_writes_share_one_revision(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("old"), b"o")
    before = current_revision(s)
    res = s.txn(
        [key_exists(harness.k("old"))],
        [Put(harness.k("n1"), b"1"), Put(harness.k("n2"), b"2"), Delete(harness.k("old"))],
    )
    assert res.succeeded and res.revision == before + 1
    n1, n2 = s.get(harness.k("n1")), s.get(harness.k("n2"))
    assert n1 is not None and n2 is not None
    assert n1.mod_revision == n2.mod_revision == res.revision
    assert s.get(harness.k("old")) is None


def test_txn_without_writes_does_not_bump_revision(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("r"), b"x")
    before = current_revision(s)
    res = s.txn([value_is(harness.k("r"), b"x")], [], [])
    assert res.succeeded and res.revision == before
    res = s.txn([value_is(harness.k("r"), b"y")], [Delete(harness.k("nothing-here"))])
    assert not res.succeeded and res.revision == before
    res = s.txn([], [Delete(harness.k("nothing-here"))])
    assert res.succeeded and res.revision == before


def test_stale_mod_revision_cas_fails_and_changes_nothing(harness: Harness) -> None:
    s, k = harness.store, harness.k("cas")
    stale = s.put(k, b"v1")
    fresh = s.put(k, b"v2")
    other = harness.k("side-effect")
    res = s.txn([mod_revision_is(k, stale)], [Put(k, b"mine"), Put(other, b"x")])
    assert not res.succeeded
    assert res.revision == fresh == current_revision(s)
    kv = s.get(k)
    assert kv is not None and kv.value == b"v2" and kv.mod_revision == fresh
    assert s.get(other) is None
    assert s.txn([mod_revision_is(k, fresh)], [Put(k, b"mine")]).succeeded


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (lambda k: Compare(k, "version", ">", 1), True),
        (lambda k: Compare(k, "version", "<", 2), False),
        (lambda k: Compare(k, "version", "==", 2), True),
        (lambda k: Compare(k, "value", "!=", b"v1"), True),
        (lambda k: Compare(k, "value", "<", b"v3"), True),
        (lambda k: Compare(k, "value", ">", b"v3"), False),
        (lambda k: Compare(k, "create", "<", 1), False),
        (lambda k: Compare(k, "mod", "!=", 0), True),
    ],
)
def test_compare_ops(harness: Harness, compare: Callable[[str], Compare], expected: bool) -> None:
    s, k = harness.store, harness.k("c")
    s.put(k, b"v1")
    s.put(k, b"v2")
    assert s.txn([compare(k)], []).succeeded is expected


def test_compare_on_missing_key(harness: Harness) -> None:
    s, k = harness.store, harness.k("missing")
    assert s.txn([key_absent(k)], []).succeeded
    assert not s.txn([key_exists(k)], []).succeeded
    assert s.txn([mod_revision_is(k, 0)], []).succeeded
    assert s.txn([Compare(k, "version", "==", 0)], []).succeeded
    # as in etcd, a value compare against a missing key is false whatever the operator
    assert not s.txn([Compare(k, "value", "!=", b"x")], []).succeeded
    assert not s.txn([value_is(k, b"")], []).succeeded


def test_prefix_compare_holds_for_every_key_under_the_prefix(harness: Harness) -> None:
    """H3: a prefix compare judges every key under it (etcd's range_end), so "no node holds
    a lease" can be a condition of the import's own transaction."""
    s, p = harness.store, harness.k("leases/")
    marker = harness.k("marker")
    assert s.txn([prefix_empty(p)], [Put(marker, b"1")]).succeeded  # nothing under it
    s.put(harness.k("leases-not-under"), b"x")  # a sibling, not under "leases/"
    assert s.txn([prefix_empty(p)], []).succeeded
    lease = s.lease_grant(30)
    s.put(p + "node1", b"{}", lease=lease)
    assert not s.txn([prefix_empty(p)], [Put(marker, b"2")]).succeeded
    assert s.get(marker) is not None and s.get(marker).value == b"1"  # type: ignore[union-attr]
    s.put(p + "node2", b"{}")
    assert s.txn([Compare(p, "create", ">", 0, prefix=True)], []).succeeded  # all exist
    assert not s.txn([Compare(p, "version", ">", 1, prefix=True)], []).succeeded
    s.put(p + "node2", b"{}")
    assert not s.txn([Compare(p, "version", ">", 1, prefix=True)], []).succeeded  # one is 1
    s.lease_revoke(lease)
    s.delete(p + "node2")
    assert s.txn([prefix_empty(p)], []).succeeded


def test_all_compares_must_hold(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("x"), b"1")
    both = [value_is(harness.k("x"), b"1"), key_exists(harness.k("y"))]
    assert not s.txn(both, [Put(harness.k("z"), b"")]).succeeded
    assert s.get(harness.k("z")) is None


def test_txn_touching_a_key_twice_is_refused_before_sending(harness: Harness) -> None:
    s, k = harness.store, harness.k("dup")
    before = current_revision(s)
    with pytest.raises(ValueError, match="twice"):
        s.txn([], [Put(k, b"1"), Put(k, b"2")])
    with pytest.raises(ValueError, match="both puts and deletes"):
        s.txn([], [], [Delete(harness.k(""), prefix=True), Put(k, b"1")])
    assert s.get(k) is None and current_revision(s) == before


def test_malformed_compare_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Compare("/k", "value", "==", 3)
    with pytest.raises(ValueError):
        Compare("/k", "mod", "==", b"3")
    with pytest.raises(ValueError):
        Compare("/k", "mod", "=>", 3)  # type: ignore[arg-type]


def test_put_if_absent(harness: Harness) -> None:
    s, k = harness.store, harness.k("once")
    assert put_if_absent(s, k, b"first") is True
    assert put_if_absent(s, k, b"second") is False
    kv = s.get(k)
    assert kv is not None and kv.value == b"first"


def test_compare_and_swap(harness: Harness) -> None:
    s, k = harness.store, harness.k("swap")
    created = compare_and_swap(s, k, 0, b"v1")  # 0 = only if absent
    kv = s.get(k)
    assert kv is not None and kv.mod_revision == created
    updated = compare_and_swap(s, k, created, b"v2")
    assert updated > created
    with pytest.raises(ConflictError) as info:
        compare_and_swap(s, k, created, b"v3")
    assert k in str(info.value)
    assert info.value.http_status == 409
    kv = s.get(k)
    assert kv is not None and kv.value == b"v2" and kv.mod_revision == updated
    with pytest.raises(ConflictError, match="swap"):
        compare_and_swap(s, k, 0, b"v4")


def test_concurrent_cas_increments_lose_no_update(harness: Harness) -> None:
    """Optimistic concurrency end to end: racing read-modify-write loops from several threads
    (each with its own client where the store has clients) never lose an increment."""
    s, k = harness.store, harness.k("counter")
    s.put(k, b"0")
    threads, rounds = 4, 8
    conflicts = 0
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        nonlocal conflicts
        try:
            for _ in range(rounds):
                while True:
                    kv = s.get(k)
                    assert kv is not None
                    try:
                        compare_and_swap(s, k, kv.mod_revision, b"%d" % (int(kv.value) + 1))
                        break
                    except ConflictError:
                        with lock:
                            conflicts += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors
    assert not any(t.is_alive() for t in pool)
    kv = s.get(k)
    assert kv is not None and int(kv.value) == threads * rounds
    assert kv.version == threads * rounds + 1


# -- watches ----------------------------------------------------------------------------------


def test_watch_delivers_puts_and_deletes_in_order(harness: Harness) -> None:
    s = harness.store
    with s.watch_prefix(harness.k("w/")) as watch:
        r1 = s.put(harness.k("w/a"), b"1")
        s.put(harness.k("wx"), b"not under the prefix")
        r2 = s.put(harness.k("w/b"), b"2")
        r3 = s.txn([], [Put(harness.k("w/c"), b"3"), Delete(harness.k("w/a"))]).revision
        expected = [
            WatchEvent("put", harness.k("w/a"), b"1", r1),
            WatchEvent("put", harness.k("w/b"), b"2", r2),
            WatchEvent("put", harness.k("w/c"), b"3", r3),
            WatchEvent("delete", harness.k("w/a"), b"", r3),
        ]
        got = [watch.get(timeout=MAX_WAIT) for _ in expected]
        assert got == expected
        assert watch.get(timeout=0.3) is None  # nothing else, and no hang


def test_watch_events_carry_the_keys_metadata(harness: Harness) -> None:
    """A follower keeps a copy of the keys from the events alone (wolfpack.store.mirror):
    each put says the key as get() would then, a delete only what went."""
    s = harness.store
    lease = harness.lease(30)
    with s.watch_prefix(harness.k("m/")) as watch:
        s.put(harness.k("m/a"), b"1")
        s.put(harness.k("m/a"), b"2", lease=lease)
        after = s.get(harness.k("m/a"))
        s.delete(harness.k("m/a"))
        events = [watch.get(timeout=MAX_WAIT) for _ in range(3)]
    assert after is not None and events[0] and events[1] and events[2]
    assert events[1].key_value() == after  # create revision, version 2, the lease
    assert (events[0].version, events[0].create_revision) == (1, events[0].mod_revision)
    assert events[2].kind == "delete" and events[2].key_value() is None


def test_watch_hands_out_a_transaction_whole(harness: Harness) -> None:
    """get_batch never splits a revision: a copy applied batch by batch is never half a
    transaction."""
    s = harness.store
    keys = [harness.k(f"b/{i:03d}") for i in range(50)]
    with s.watch_prefix(harness.k("b/")) as watch:
        rev = s.txn([], [Put(k, b"x") for k in keys]).revision
        batch = watch.get_batch(timeout=MAX_WAIT)  # all of it, in one batch
        assert watch.get_batch(timeout=0.3) == []
    assert [(e.key, e.mod_revision) for e in batch] == [(k, rev) for k in keys]


def test_watch_sees_only_writes_after_it_started(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("before"), b"old")
    with s.watch_prefix(harness.ns) as watch:
        rev = s.put(harness.k("after"), b"new")
        event = watch.get(timeout=MAX_WAIT)
    assert event == WatchEvent("put", harness.k("after"), b"new", rev)


def test_watch_replays_history_from_start_revision(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("h/skipped"), b"0")
    r1 = s.put(harness.k("h/x"), b"1")
    r2 = s.put(harness.k("h/y"), b"2")
    r3 = s.delete(harness.k("h/x")) and current_revision(s)
    with s.watch_prefix(harness.k("h/"), start_revision=r1) as watch:
        replayed = [watch.get(timeout=MAX_WAIT) for _ in range(3)]
        assert replayed == [
            WatchEvent("put", harness.k("h/x"), b"1", r1),
            WatchEvent("put", harness.k("h/y"), b"2", r2),
            WatchEvent("delete", harness.k("h/x"), b"", r3),
        ]
        r4 = s.put(harness.k("h/z"), b"live")  # replay continues seamlessly into live events
        assert watch.get(timeout=MAX_WAIT) == WatchEvent("put", harness.k("h/z"), b"live", r4)


def test_watch_from_a_future_revision_waits_for_it(harness: Harness) -> None:
    s = harness.store
    start = current_revision(s) + 2
    with s.watch_prefix(harness.ns, start_revision=start) as watch:
        s.put(harness.k("too-early"), b"1")
        rev = s.put(harness.k("first-seen"), b"2")
        assert rev == start
        assert watch.get(timeout=MAX_WAIT) == WatchEvent("put", harness.k("first-seen"), b"2", rev)


def test_snapshot_then_watch_misses_nothing(harness: Harness) -> None:
    s = harness.store
    s.put(harness.k("s/1"), b"a")
    kvs, rev = s.get_prefix(harness.k("s/"))
    r2 = s.put(harness.k("s/2"), b"b")  # written between the snapshot and the watch
    with s.watch_prefix(harness.k("s/"), start_revision=rev + 1) as watch:
        assert [kv.key for kv in kvs] == [harness.k("s/1")]
        assert watch.get(timeout=MAX_WAIT) == WatchEvent("put", harness.k("s/2"), b"b", r2)


def test_watch_iteration_and_cancel(harness: Harness) -> None:
    s = harness.store
    watch = s.watch_prefix(harness.ns)
    rev = s.put(harness.k("i"), b"1")
    assert next(iter(watch)) == WatchEvent("put", harness.k("i"), b"1", rev)
    watch.cancel()
    watch.cancel()  # idempotent
    assert watch.cancelled
    s.put(harness.k("j"), b"2")
    assert watch.get(timeout=0.3) is None
    assert list(watch) == []  # iteration ends at once instead of blocking


def test_close_cancels_watches_and_refuses_calls(harness: Harness) -> None:
    s = harness.store
    watch = s.watch_prefix(harness.ns)
    s.close()
    s.close()  # idempotent
    assert watch.cancelled and watch.get(timeout=0.3) is None
    with pytest.raises(StoreUnavailable):
        s.get(harness.k("x"))


def test_watch_from_compacted_revision_fails(harness: Harness) -> None:
    s = harness.store
    r1 = s.put(harness.k("old"), b"1")
    r2 = s.put(harness.k("old"), b"2")
    s.compact(r2)
    s.compact(r1)  # compacting behind an earlier compaction is a no-op
    with pytest.raises(ValueError):
        s.compact(current_revision(s) + 100)
    kv = s.get(harness.k("old"))
    assert kv is not None and kv.value == b"2"  # values survive compaction
    watch = s.watch_prefix(harness.ns, start_revision=r1)
    try:
        with pytest.raises(StoreError, match="compacted"):
            watch.get(timeout=MAX_WAIT)
        with pytest.raises(StoreError):  # stays failed
            watch.get(timeout=0.1)
    finally:
        watch.cancel()
    with s.watch_prefix(harness.ns, start_revision=r2) as ok:
        assert ok.get(timeout=MAX_WAIT) == WatchEvent("put", harness.k("old"), b"2", r2)


# -- leases -----------------------------------------------------------------------------------


def test_lease_revoke_deletes_attached_keys(harness: Harness) -> None:
    s = harness.store
    lease = harness.lease(30)
    assert lease != 0
    assert 0 < s.lease_ttl(lease) <= 30
    s.put(harness.k("l/1"), b"a", lease=lease)
    s.txn([], [Put(harness.k("l/2"), b"b", lease=lease)])
    s.put(harness.k("l/free"), b"c")
    kv = s.get(harness.k("l/1"))
    assert kv is not None and kv.lease == lease
    with s.watch_prefix(harness.k("l/")) as watch:
        s.lease_revoke(lease)
        events = [watch.get(timeout=MAX_WAIT) for _ in range(2)]
    assert [(e.kind, e.key) for e in events if e] == [
        ("delete", harness.k("l/1")),
        ("delete", harness.k("l/2")),
    ]
    assert events[0] and events[1] and events[0].mod_revision == events[1].mod_revision
    assert s.get(harness.k("l/1")) is None and s.get(harness.k("l/2")) is None
    assert s.get(harness.k("l/free")) is not None
    assert s.lease_ttl(lease) == -1


def test_keepalive_on_revoked_lease_raises_and_revoke_is_idempotent(harness: Harness) -> None:
    s = harness.store
    lease = harness.lease(30)
    assert s.lease_keepalive(lease) == 30
    s.lease_revoke(lease)
    with pytest.raises(LeaseNotFound) as info:
        s.lease_keepalive(lease)
    assert info.value.http_status == 410
    s.lease_revoke(lease)  # documented no-op
    s.lease_revoke(987654321)  # never existed: also a no-op
    assert s.lease_ttl(987654321) == -1


def test_put_with_unknown_lease_raises_and_writes_nothing(harness: Harness) -> None:
    s, k = harness.store, harness.k("orphan")
    before = current_revision(s)
    with pytest.raises(LeaseNotFound):
        s.put(k, b"x", lease=123456789)
    with pytest.raises(LeaseNotFound):
        s.txn([], [Put(harness.k("other"), b"y"), Put(k, b"x", lease=123456789)])
    assert s.get(k) is None and s.get(harness.k("other")) is None
    assert current_revision(s) == before


def test_put_without_lease_detaches_key(harness: Harness) -> None:
    s, k = harness.store, harness.k("detach")
    lease = harness.lease(30)
    s.put(k, b"leased", lease=lease)
    s.put(k, b"mine now")
    s.lease_revoke(lease)
    kv = s.get(k)
    assert kv is not None and kv.value == b"mine now" and kv.lease == 0


def test_lease_grant_rejects_nonpositive_ttl(harness: Harness) -> None:
    with pytest.raises(ValueError):
        harness.store.lease_grant(0)


def test_keepalive_takes_a_time_budget(harness: Harness) -> None:
    """H4: a keep-alive accepts ``timeout`` (its total budget, every endpoint included), so a
    node never spends longer on it than the time left before its own deadline."""
    s = harness.store
    lease = harness.lease(30)
    assert s.lease_keepalive(lease, timeout=2.0) == 30
    with pytest.raises(ValueError):
        s.lease_keepalive(lease, timeout=0)
    s.lease_revoke(lease)
    with pytest.raises(LeaseNotFound):
        s.lease_keepalive(lease, timeout=2.0)


def test_compare_on_the_lease_a_key_is_attached_to(harness: Harness) -> None:
    """M4: a guard on the lease of a node's liveness key fails once another lease took the
    key over (a put keeps the create revision, so a create-revision guard would not)."""
    s, k = harness.store, harness.k("live")
    mine, theirs = harness.lease(30), harness.lease(30)
    s.put(k, b"me", lease=mine)
    assert s.txn([Compare(k, "lease", "==", mine)], []).succeeded
    created = s.get(k)
    s.put(k, b"them", lease=theirs)
    after = s.get(k)
    assert created is not None and after is not None
    assert after.create_revision == created.create_revision
    assert not s.txn([Compare(k, "lease", "==", mine)], []).succeeded
    assert s.txn([Compare(k, "lease", "==", theirs)], []).succeeded
    assert s.txn([Compare(harness.k("absent"), "lease", "==", 0)], []).succeeded


def test_keepalive_keeps_key_past_ttl(harness: Harness) -> None:
    s, k = harness.store, harness.k("alive")
    lease = harness.lease(2)
    s.put(k, b"x", lease=lease)
    for _ in range(6):  # 3 s in all: well past the 2 s TTL
        harness.advance(0.5)
        assert s.lease_keepalive(lease) >= 2
    kv = s.get(k)
    assert kv is not None and kv.lease == lease
    assert s.lease_ttl(lease) > 0


def test_lease_expires_without_keepalive(harness: Harness) -> None:
    s, k = harness.store, harness.k("mortal")
    lease = harness.lease(1)
    s.put(k, b"x", lease=lease)
    with s.watch_prefix(harness.ns) as watch:
        harness.advance(1.5)
        assert wait_until(lambda: s.get(k) is None), "leased key outlived its lease"
        event = watch.get(timeout=MAX_WAIT)
    assert event is not None and (event.kind, event.key) == ("delete", k)
    assert s.lease_ttl(lease) == -1
    with pytest.raises(LeaseNotFound):
        s.lease_keepalive(lease)


def test_watch_consumer_sees_expiry_without_other_calls(harness: Harness) -> None:
    """A node-liveness watcher that only waits must still learn that a lease expired."""
    s, k = harness.store, harness.k("quiet")
    lease = harness.lease(1)
    s.put(k, b"x", lease=lease)
    with s.watch_prefix(harness.ns) as watch:
        harness.advance(1.5)
        event = watch.get(timeout=MAX_WAIT)
    assert event is not None and (event.kind, event.key) == ("delete", k)


# -- unavailability ---------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[Store], object]] = {
    "get": lambda s: s.get("/x"),
    "get_prefix": lambda s: s.get_prefix("/x/"),
    "put": lambda s: s.put("/x", b"1"),
    "delete": lambda s: s.delete("/x", prefix=True),
    "txn": lambda s: s.txn([key_absent("/x")], [Put("/x", b"1")]),
    "watch_prefix": lambda s: s.watch_prefix("/x/"),
    "compact": lambda s: s.compact(1),
    "lease_grant": lambda s: s.lease_grant(5),
    "lease_keepalive": lambda s: s.lease_keepalive(1),
    "lease_revoke": lambda s: s.lease_revoke(1),
    "lease_ttl": lambda s: s.lease_ttl(1),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_unreachable_store_raises_store_unavailable(harness: Harness, operation: str) -> None:
    down = harness.make_down_store()
    try:
        with pytest.raises(StoreUnavailable) as info:
            OPERATIONS[operation](down)
    finally:
        down.close()
    assert isinstance(info.value, StoreError) and info.value.http_status == 503
    for hint in harness.down_hints:
        assert hint in str(info.value)


# -- key layout -------------------------------------------------------------------------------


def test_ensure_schema_stamps_once_and_refuses_other_versions(harness: Harness) -> None:
    s = harness.store
    space = KeySpace(root=harness.k("wp/"))
    assert ensure_schema(s, space) == keys.SCHEMA_VERSION
    kv = s.get(space.schema_version)
    assert kv is not None and kv.value == b"1"
    assert ensure_schema(s, space) == 1
    assert s.get(space.schema_version) == kv  # not rewritten
    s.put(space.schema_version, b"99")
    with pytest.raises(StoreError, match="schema version 99"):
        ensure_schema(s, space)


def test_key_layout() -> None:
    assert keys.DEFAULT.schema_version == "/wolfpack/schema_version"
    assert keys.DEFAULT.cluster == "/wolfpack/config/cluster"
    assert keys.config("nodes", "n1") == "/wolfpack/config/nodes/n1"
    assert keys.config_prefix("groups") == "/wolfpack/config/groups/"
    assert keys.DEFAULT.config_epoch == "/wolfpack/config_epoch"
    assert keys.state("resources", "ip") == "/wolfpack/state/resources/ip"
    assert keys.state_prefix("groups") == "/wolfpack/state/groups/"
    assert keys.intent("42") == "/wolfpack/intents/42"
    assert keys.node_lease("n1") == "/wolfpack/leases/nodes/n1"
    assert keys.DEFAULT.coordinator == "/wolfpack/leases/coordinator"
    space = KeySpace("/t/")
    assert space.config("types", "ip") == "/t/config/types/ip"
    assert space.name_of(space.config("types", "ip"), space.config_prefix("types")) == "ip"
    assert space.config("interfaces", "n1-eth0").startswith(space.config_root)


@pytest.mark.parametrize("bad", ["", "a/b", ".", ".."])
def test_key_layout_rejects_bad_names(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.config("groups", bad)
    with pytest.raises(ValueError):
        keys.node_lease(bad)


def test_key_layout_rejects_bad_kinds_and_roots() -> None:
    with pytest.raises(ValueError):
        keys.config("widgets", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        keys.state("networks", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KeySpace("wolfpack")
    with pytest.raises(ValueError):
        KeySpace("/").name_of("/config/groups/a/b", "/config/groups/")
