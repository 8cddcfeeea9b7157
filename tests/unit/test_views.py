"""Published heartbeat views (H5): written on change and to answer, never in a ping-pong;
the silence marks the coordinator judges from."""

from __future__ import annotations

from wolfpack.model.views import PublishedView
from wolfpack.node.views import ViewPublisher, answers, read_views
from wolfpack.store import Compare, KeySpace, MemoryStore, key_exists


class Node:
    def __init__(self, store: MemoryStore, name: str, peers: dict[str, bool]) -> None:
        keys = KeySpace()
        self.lease = store.lease_grant(30)
        store.put(keys.node_lease(name), b"{}", lease=self.lease)
        self.peers = peers
        self.listening = True
        self.now = [0.0]

        def guard() -> Compare:
            return key_exists(keys.node_lease(name))

        self.pub = ViewPublisher(
            store,
            keys,
            name,
            lambda: self.peers,
            lambda: self.listening,
            lambda: self.lease,
            guard,
            grace=lambda: 0.5,
            clock=lambda: self.now[0],
        )


def settle(nodes: list[Node], rounds: int = 10) -> int:
    """Run publish rounds until nobody writes; returns how many writes were made."""
    writes = 0
    for _ in range(rounds):
        wrote = [n.pub.publish_once() for n in nodes]
        writes += sum(w is not None for w in wrote)
        if not any(wrote):
            return writes
    raise AssertionError("views never settled: a ping-pong")


def test_answers_are_owed_once_per_epoch() -> None:
    theirs = {"b": PublishedView(frozenset(), epoch=3)}
    assert answers("a", theirs, {}) == {"b": 3}
    assert answers("a", theirs, {"b": 3}) == {}
    assert answers("a", {"b": PublishedView(frozenset({"a"}), 4)}, {}) == {}


def test_h5_a_heartbeat_cut_costs_a_few_writes_and_proves_both_alive() -> None:
    """H5: two nodes that stop hearing each other each write a new view and answer the
    other's once; then nothing more is written, and each one's view is newer than the
    other's first view without it (the coordinator's proof that it is alive)."""
    store = MemoryStore()
    a = Node(store, "a", {"b": True})
    b = Node(store, "b", {"a": True})
    assert settle([a, b]) == 2
    a.peers, b.peers = {"b": False}, {"a": False}
    assert settle([a, b]) <= 4
    assert settle([a, b]) == 0
    views = read_views(store, KeySpace())
    assert a.pub.silence()["b"].revision < views["b"].revision
    assert b.pub.silence()["a"].revision < views["a"].revision


def test_h5_a_dead_node_does_not_answer_and_the_mark_ages() -> None:
    store = MemoryStore()
    a = Node(store, "a", {"b": True})
    b = Node(store, "b", {"a": True})
    settle([a, b])
    a.peers = {"b": False}
    settle([a])  # b is off: it runs no rounds
    mark = a.pub.silence()["b"]
    assert read_views(store, KeySpace())["b"].revision < mark.revision
    a.now[0] += 0.7
    assert a.pub.silence()["b"].elapsed_s == 0.7
    a.peers = {"b": True}
    settle([a])
    assert "b" not in a.pub.silence()


def test_m3_while_not_listening_a_peer_is_not_dropped_from_the_view() -> None:
    """M3: after a stall silence is no evidence, so the published view keeps its peers."""
    store = MemoryStore()
    a = Node(store, "a", {"b": True})
    settle([a])
    a.listening = False
    a.peers = {"b": False}
    assert settle([a]) == 0
    assert read_views(store, KeySpace())["a"].heard == {"b"}


def test_nothing_is_published_without_a_lease() -> None:
    store = MemoryStore()
    a = Node(store, "a", {"b": True})
    a.lease = 0
    assert a.pub.publish_once() is None
    assert read_views(store, KeySpace()) == {}
