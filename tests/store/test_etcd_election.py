"""Node leases against a real etcd: leader elections on 3 members (M6), keep-alives bounded
by the time left (H4), and one daemon per node identity (M4)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.errors import LeaseNotFound, StoreUnavailable
from wolfpack.lab import election
from wolfpack.node.lease import Identity, NodeIdentityConflict, NodeLease
from wolfpack.store import EtcdProcess, EtcdStore, KeySpace
from wolfpack.store.etcd import KEEPALIVE_ATTEMPT_S
from wolfpack.store.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.etcd


@pytest.fixture
def silent_endpoints() -> Iterator[list[str]]:
    """Eight endpoints that accept a connection and never answer (a wedged member, a member
    cut from its peers, an address on a pulled cable)."""
    socks = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            socks.append(s)
        yield [f"https://127.0.0.1:{s.getsockname()[1]}" for s in socks]
    finally:
        for s in socks:
            s.close()


def test_keepalive_budget_bounds_the_whole_call(silent_endpoints: list[str]) -> None:
    """H4: with 8 silent endpoints and 1 s per request, a keep-alive used to take 8 s; with a
    budget of 0.5 s it gives up after about 0.5 s, whatever the number of endpoints."""
    plain = [e.replace("https:", "http:") for e in silent_endpoints]
    store = EtcdStore(plain, timeout=1.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            store.lease_keepalive(0x1234, timeout=0.5)
        took = time.monotonic() - t0
    finally:
        store.close()
    assert took < 1.0  # one request's own timeout, let alone three
    assert "budget" in str(info.value)


def test_keepalive_moves_on_from_a_member_that_holds_it(
    silent_endpoints: list[str], etcd_server: EtcdProcess
) -> None:
    """M6: a member without a leader holds a keep-alive for whole election timeouts, even
    after the new leader is there; the keep-alive goes to the next member after a short
    attempt instead of the store's whole request timeout (5 s here)."""
    direct = etcd_server.store(timeout=5.0)
    admin = etcd_server.admin
    store = EtcdStore([silent_endpoints[0], etcd_server.endpoint], timeout=5.0, credentials=admin)
    lease = direct.lease_grant(10)
    try:
        t0 = time.monotonic()
        assert store.lease_keepalive(lease) == 10  # the silent member is tried first
        took = time.monotonic() - t0
    finally:
        direct.lease_revoke(lease)
        direct.close()
        store.close()
    assert took < 2.5  # half the request timeout: it did not wait that out


def test_a_keepalive_gets_past_silent_endpoints_within_its_budget(
    etcd_server: EtcdProcess, silent_endpoints: list[str]
) -> None:
    """Issue 9 (a leader's private cable pulled, CI): the endpoints that do not answer come
    first; one after another they would take longer than the budget, raced they do not."""
    admin = etcd_server.store()
    lease = admin.lease_grant(30)
    budget = len(silent_endpoints) * KEEPALIVE_ATTEMPT_S - 0.1
    store = EtcdStore(
        [*silent_endpoints, etcd_server.endpoint], timeout=5.0, credentials=etcd_server.admin
    )
    try:
        assert store.lease_keepalive(lease, timeout=budget) > 0
        admin.lease_revoke(lease)
        with pytest.raises(LeaseNotFound):  # the member that answers is asked first now
            store.lease_keepalive(lease, timeout=KEEPALIVE_ATTEMPT_S)
    finally:
        store.close()
        admin.close()


def test_a_keepalive_nobody_answers_names_each_endpoint(
    etcd_server: EtcdProcess, silent_endpoints: list[str]
) -> None:
    store = EtcdStore(silent_endpoints, timeout=5.0, credentials=etcd_server.admin)
    try:
        with pytest.raises(StoreUnavailable) as info:
            store.lease_keepalive(1, timeout=1.0)
    finally:
        store.close()
    assert all(url in str(info.value) for url in silent_endpoints)


def test_every_member_runs_with_pre_vote(tmp_path: Path) -> None:
    """M6: a member that comes back from a partition must not depose a healthy leader (and
    so stall every node's renewals): etcd members started by Wolfpack use --pre-vote."""
    member = EtcdProcess(tmp_path / "d")
    member.client_port, member.peer_port = 1, 2  # only to build the command line
    assert "--pre-vote" in member._command("/usr/bin/etcd")


def test_leader_kills_cost_no_lease(tmp_path: Path) -> None:
    """M6: 3 etcd members (--pre-vote, election timeout 500 ms), 3 node leases with the
    default settings renewing against every endpoint; the leader is killed (SIGKILL, by
    PID) 5 times and started again each time: no lease is lost."""
    result = election.run(tmp_path / "etcd", kills=5)
    assert result.leader_changes == 5
    assert result.lease_losses == 0, result
    ttl, margin = result.settings["ttl_s"], result.settings["margin_s"]
    assert result.max_renewal_gap_s < ttl - margin


def test_cluster_reports_its_leader(tmp_path: Path) -> None:
    """The helper the election test relies on: exactly one member says it is the leader,
    and a killed one never is."""
    with EtcdCluster(tmp_path / "etcd") as cluster:
        leader = cluster.leader()
        assert leader is not None
        store = leader.store()
        try:
            body = store.call_api("maintenance/status", {})
        finally:
            store.close()
        assert body["leader"] == body["header"]["member_id"]
        leader.kill()
        ends = time.monotonic() + 10
        while (now := cluster.leader()) is None and time.monotonic() < ends:
            time.sleep(0.05)
        assert now is not None and now is not leader


def test_second_daemon_with_the_same_node_name_refuses_on_etcd(etcd_server: EtcdProcess) -> None:
    """M4 on a real etcd: the second instance refuses while the first renews; the first's
    guard (compare on the lease) still holds."""
    keys = KeySpace(f"/m4-{time.monotonic_ns()}/")
    store = etcd_server.store(timeout=2.0)
    first = NodeLease(store, keys, "n1", {}, ttl_s=3, identity=Identity("b1", "m1", 1))
    second = NodeLease(store, keys, "n1", {}, ttl_s=3, identity=Identity("b2", "m2", 1))
    try:
        first.acquire()
        first.start()
        with pytest.raises(NodeIdentityConflict, match="node n1 is already running elsewhere"):
            second.acquire(wait_s=0.5)
        assert store.txn([first.guard()], []).succeeded
        assert second.lease_id == 0
    finally:
        first.stop()
        store.delete(keys.root, prefix=True)
        store.close()


def test_managed_members_run_with_pre_vote(tmp_path: Path) -> None:
    """M6: every member wolfpackd runs (the lab's too: it is built with cluster create and
    join) has --pre-vote and the 500 ms election timeout the lease's arithmetic assumes."""
    from wolfpack.node.etcd_member import MemberSection, member_argv

    section = MemberSection(
        name="node1", data_dir=tmp_path / "etcd", peer_url="https://203.0.113.11:2380",
        client_urls=["https://198.51.100.11:2379"], token="jean",
        initial_cluster="node1=https://203.0.113.11:2380", pki_dir=tmp_path / "member",
        ca_dir=tmp_path / "ca", admin_dir=tmp_path / "admin",
    )  # fmt: skip
    argv = member_argv(section, "/usr/bin/etcd")
    assert "--pre-vote" in argv
    assert argv[argv.index("--election-timeout") + 1] == "500"
