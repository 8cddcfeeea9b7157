"""A store's endpoints follow the cluster (issue 10): :meth:`EtcdStore.set_endpoints` on a
real etcd, and which endpoints a node with its own member asks (pure)."""

from __future__ import annotations

import threading

import pytest

from wolfpack.errors import StoreUnavailable
from wolfpack.node import etcd_endpoints
from wolfpack.node.etcd_endpoints import endpoints_for, own_voter_url
from wolfpack.store import EtcdStore
from wolfpack.store.etcd import _serving
from wolfpack.store.etcd_members import EtcdMember
from wolfpack.store.etcd_process import EtcdProcess, free_port


def member(name: str, *urls: str, learner: bool = False) -> EtcdMember:
    return EtcdMember(abs(hash(name)) % 1000, name, (f"https://{name}:2380",), urls, learner)


def test_a_node_asks_its_configured_endpoints_first_then_every_other_voter() -> None:
    found = [
        member("node2", "https://b:2379"),
        member("node1", "https://a:2379", "https://a2:2379"),
        member("node3", "https://c:2379"),
        member("node4", "https://d:2379", learner=True),
    ]
    assert endpoints_for(["https://a:2379"], found) == [
        "https://a:2379", "https://a2:2379", "https://b:2379", "https://c:2379"
    ]  # fmt: skip


def test_a_configured_endpoint_whose_member_was_removed_is_dropped() -> None:
    found = [member("node1", "https://a:2379"), member("node2", "https://b:2379")]
    assert endpoints_for(["https://c:2379", "https://b:2379"], found) == [
        "https://b:2379", "https://a:2379"
    ]  # fmt: skip


def test_with_no_member_to_ask_the_configured_endpoints_stay() -> None:
    assert endpoints_for(["https://a:2379"], []) == ["https://a:2379"]
    learner = [member("node9", "https://z:2379", learner=True)]
    assert endpoints_for(["https://a:2379"], learner) == ["https://a:2379"]


@pytest.mark.etcd
def test_set_endpoints_moves_a_store_to_endpoints_that_answer(etcd: EtcdProcess) -> None:
    scheme = etcd.endpoint.split(":", 1)[0]
    dead, live = f"{scheme}://127.0.0.1:{free_port()}", etcd.endpoint
    store = EtcdStore(dead, timeout=1.0, credentials=etcd.admin)
    try:
        with pytest.raises(StoreUnavailable):
            store.put("/x", b"1")
        assert store.set_endpoints([dead, live])
        assert store.endpoints == [dead, live]
        assert store.put("/x", b"2") > 0 and store.get("/x").value == b"2"  # type: ignore[union-attr]
        assert not store.set_endpoints([dead, live])  # the same: nothing changed
        assert store.set_endpoints([live, live])  # duplicates once
        assert store.endpoints == [live]
        with pytest.raises(ValueError):
            store.set_endpoints([" "])
        assert store.endpoints == [live]
    finally:
        store.close()
    with pytest.raises(StoreUnavailable):
        store.set_endpoints([live])  # a closed store stays closed


def test_a_node_prefers_its_own_member_only_once_it_votes() -> None:
    found = [member("node1", "https://a:2379"), member("node3", "https://c:2379", learner=True)]
    assert own_voter_url(["https://c:2379"], found) is None  # a learner serves no requests
    promoted = [found[0], member("node3", "https://c:2379")]
    assert own_voter_url(["https://c:2379"], promoted) == "https://c:2379"
    assert own_voter_url([], promoted) is None  # a memberless node has no own member


@pytest.mark.etcd
def test_prefer_moves_a_store_to_an_endpoint_that_answers(etcd: EtcdProcess) -> None:
    """Issue 12: a store keeps asking the member that answered last (another node's, say);
    prefer() moves it to the node's own member, but only if that answers now."""
    scheme = etcd.endpoint.split(":", 1)[0]
    first = etcd.endpoint
    own = first.replace("127.0.0.1", "localhost")  # the same member by another name
    dead = f"{scheme}://127.0.0.1:{free_port()}"
    store = EtcdStore([first, own, dead], timeout=1.0, credentials=etcd.admin)
    try:
        assert store.get("/prefer") is None and store.asked_first == first
        assert not store.prefer(dead)  # no answer: the store stays where it was
        assert store.asked_first == first
        assert store.prefer(own) and store.asked_first == own
        assert not store.prefer(own)  # asked first already
        assert store.put("/prefer", b"1") > 0 and store.asked_first == own
        # a keep-alive race won by another member does not move the rest away from home
        lease = store.lease_grant(10)
        other = next(ep for ep in store._endpoints if ep.url == first)
        store._keepalive_at(other, {"ID": lease}, 1.0)
        assert store.asked_first == own
    finally:
        store.close()


def test_a_member_is_preferred_only_while_it_serves() -> None:
    """A member just started answers its status before it knows a leader or has caught
    up: it is not preferred then (the gateway sends numbers as strings)."""
    head = {"raftIndex": "500", "leader": "7"}
    assert _serving({"leader": "7", "raftAppliedIndex": "450"}, head)
    assert not _serving({"leader": "0", "raftAppliedIndex": "500"}, head)  # no leader yet
    assert not _serving({"leader": "7", "raftAppliedIndex": "350"}, head)  # behind
    assert not _serving({"leader": "7", "raftAppliedIndex": "500", "errors": ["NOSPACE"]}, head)
    assert not _serving("not a status", head)


class FakeStore:
    """What follow() uses of an EtcdStore: it records the calls and moves to ``own`` once."""

    def __init__(self) -> None:
        self.preferred: list[str] = []

    def set_endpoints(self, urls: list[str]) -> bool:
        return False

    def prefer(self, url: str) -> bool:
        self.preferred.append(url)
        return len(self.preferred) == 1  # moved the first time, asked first already after


def test_follow_reports_the_move_to_the_own_member_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 12: the daemon opens its watch again when its store moves to the node's own
    member (a watch stays on the member it was opened on)."""
    found = [member("node1", "https://a:2379"), member("node3", "https://c:2379")]
    monkeypatch.setattr(etcd_endpoints, "members", lambda store: found)
    store, moves, logged = FakeStore(), [], []
    stop = threading.Event()
    rounds = iter(range(3))
    monkeypatch.setattr(stop, "wait", lambda s: next(rounds) == 2)  # three rounds, then stop
    etcd_endpoints.follow(
        [store],  # type: ignore[list-item]
        ["https://a:2379"],
        stop,
        lambda event, **f: logged.append(event),
        own=["https://c:2379"],
        on_preferred=lambda: moves.append("moved"),
    )
    assert store.preferred == ["https://c:2379"] * 3
    assert moves == ["moved"] and logged == ["etcd_endpoint_preferred"]
