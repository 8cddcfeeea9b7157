"""etcd's membership as Wolfpack manages it (issue 10): a member started and supervised by
the node (node/etcd_member), learners added over the gateway, promoted by the voters policy
so the voters stay odd, removed, and the last voter refused; real etcd on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.admin import members as voters
from wolfpack.errors import RejectedError
from wolfpack.node.etcd_member import ManagedMember, MemberSection, health
from wolfpack.store import EtcdStore
from wolfpack.store import etcd_members as em
from wolfpack.store.etcd_process import EtcdPki, free_port

pytestmark = pytest.mark.etcd
WAIT_S = 20.0


class Members:
    """Up to three members m1..m3 on 127.0.0.1, each with its own ports and data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = EtcdPki(root / "pki")
        self.running: dict[str, ManagedMember] = {}
        ports = {free_port() for _ in range(6)}
        while len(ports) < 6:
            ports.add(free_port())
        it = iter(sorted(ports))
        self.ports = {f"m{i}": (next(it), next(it)) for i in (1, 2, 3)}
        self.events: list[tuple[str, dict[str, object]]] = []

    def section(self, name: str, initial: str, state: str) -> MemberSection:
        client, _ = self.ports[name]
        return MemberSection(
            name=name,
            data_dir=self.root / name,
            peer_url=self.peer(name),
            client_urls=[f"https://127.0.0.1:{client}"],
            initial_cluster=initial,
            initial_state=state,  # type: ignore[arg-type]
            token="members-test",
            pki_dir=self.pki.member(name),
        )

    def peer(self, name: str) -> str:
        return f"https://127.0.0.1:{self.ports[name][1]}"

    def start(self, name: str, initial: str, state: str = "existing") -> ManagedMember:
        log = lambda event, **fields: self.events.append((event, fields))  # noqa: E731
        member = ManagedMember(self.section(name, initial, state), log=log)
        self.running[name] = member
        member.start()
        return member

    def stop_all(self) -> None:
        for m in self.running.values():
            m.stop(grace=3.0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Members]:
    ms = Members(tmp_path)
    try:
        yield ms
    finally:
        ms.stop_all()
    assert all(m.pid is None for m in ms.running.values())


def healthy(store: EtcdStore) -> int:
    return sum(m.healthy for m in voters.health(em.members(store), store.credentials))


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


def test_form_grow_promote_remove(cluster: Members) -> None:
    m1 = cluster.start("m1", f"m1={cluster.peer('m1')}", "new")
    cluster.pki.bootstrap(m1.section.client_urls)
    store = EtcdStore(m1.section.client_urls, timeout=5.0, credentials=cluster.pki.admin)
    try:
        assert [(m.name, m.learner) for m in em.members(store)] == [("m1", False)]

        # a second node joins as a learner: one voter stays (two would be less safe)
        added, listed = voters.add_learner(store, cluster.peer("m2"))
        assert added.learner and added.name == ""
        again, _ = voters.add_learner(store, cluster.peer("m2"))  # a re-run join: same member
        assert again.id == added.id
        cluster.start("m2", em.initial_cluster(listed, "m2", cluster.peer("m2")))
        wait_for("m2 publishes its name", lambda: em.find(store, "m2") is not None)
        wait_for("m2 caught up", lambda: healthy(store) == 2)
        decision, done = voters.promote_ready(store)
        assert (decision.reason, done) == ("WAIT_FOR_ODD", [])

        # a third: the waiting learner votes first (etcd holds one learner), then the third
        _, listed = voters.add_learner(store, cluster.peer("m3"))
        assert {(m.label, m.learner) for m in listed} == {
            ("m1", False), ("m2", False), (cluster.peer("m3"), True),
        }  # fmt: skip
        cluster.start("m3", em.initial_cluster(listed, "m3", cluster.peer("m3")))
        wait_for("m3 caught up", lambda: healthy(store) == 3)
        decision, done = voters.promote_ready(store)
        assert (decision.reason, done) == ("PROMOTE", ["m3"])
        assert {(m.name, m.learner) for m in em.members(store)} == {
            ("m1", False), ("m2", False), ("m3", False),
        }  # fmt: skip
        store.put("/members-test/k", b"v")  # the database serves with three voters

        # remove m3 (allowed: two healthy remain), then m2; m1, the last voter, is refused
        for name in ("m3", "m2"):
            _, member = voters.check_removal(store, name)
            assert member is not None
            assert voters.remove(store, member)
            cluster.running[name].stop(grace=3.0)
        assert not voters.remove(store, member)  # removed already
        with pytest.raises(RejectedError) as err:
            voters.check_removal(store, "m1")
        assert err.value.code == "LAST_VOTER"
        assert [m.name for m in em.members(store)] == ["m1"]
        assert store.get("/members-test/k") is not None
    finally:
        store.close()


def test_the_supervisor_restarts_a_member_that_dies(cluster: Members) -> None:
    m1 = cluster.start("m1", f"m1={cluster.peer('m1')}", "new")
    first = m1.pid
    assert first is not None
    m1.kill()
    wait_for("restarted", lambda: m1.pid is not None and m1.pid != first)
    wait_for("answers again", lambda: health(m1.section)[0])
    assert m1.restarts == 1
    assert any(e == "etcd_member_exited" for e, _ in cluster.events)
    m1.stop(grace=3.0)
    assert m1.pid is None
    time.sleep(1.5)  # longer than the first backoff: a stopped member stays stopped
    assert m1.pid is None and m1.restarts == 1


def test_a_member_that_cannot_start_says_why(cluster: Members) -> None:
    section = cluster.section("m1", "m1=https://127.0.0.1:1", "new")  # not its own peer URL
    member = ManagedMember(section.model_copy(update={"ready_timeout_s": 5.0}))
    cluster.running["m1"] = member
    with pytest.raises(Exception, match="m1"):
        member.start()
