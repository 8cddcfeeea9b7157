"""Durability and availability with a real etcd that these tests stop, kill and restart.

Each test runs its own private etcd (``private_etcd``) so stopping it cannot disturb the
session-wide one used by the contract suite.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.errors import StoreUnavailable
from wolfpack.store import EtcdProcess, EtcdStore, Put, key_absent
from wolfpack.store.etcd_process import free_port

from .conftest import MAX_WAIT

pytestmark = pytest.mark.etcd


@pytest.fixture
def private_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    proc = EtcdProcess(tmp_path / "etcd-data")
    try:
        yield proc.start()
    finally:
        proc.stop()


def write_sample(store: EtcdStore) -> int:
    store.put("/wolfpack/schema_version", b"1")
    store.put("/wolfpack/config/nodes/n1", b'{"name": "n1"}')
    store.put("/wolfpack/config/nodes/n1", b'{"name": "n1", "weight": 2}')
    return store.txn(
        [key_absent("/wolfpack/config/groups/web")],
        [Put("/wolfpack/config/groups/web", b"{}"), Put("/wolfpack/config_epoch", b"")],
    ).revision


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_data_and_revisions_survive_restart(private_etcd: EtcdProcess, how: str) -> None:
    endpoint = private_etcd.endpoint
    old_client = private_etcd.store(timeout=2.0)
    try:
        last = write_sample(old_client)
        before, rev_before = old_client.get_prefix("/wolfpack/")
        assert rev_before == last and len(before) == 4
        lease = old_client.lease_grant(30)
        old_client.put("/wolfpack/leases/nodes/n1", b"up", lease=lease)
        before_lease = old_client.get("/wolfpack/leases/nodes/n1")
        watch = old_client.watch_prefix("/wolfpack/")

        pid = private_etcd.pid
        assert pid is not None
        private_etcd.stop() if how == "stop" else private_etcd.kill()
        assert not private_etcd.running and private_etcd.pid is None

        with pytest.raises(StoreUnavailable, match=endpoint):
            old_client.get("/wolfpack/schema_version")
        with pytest.raises(StoreUnavailable, match="lost the watch stream"):
            watch.get(timeout=MAX_WAIT)  # the stream broke: the consumer must re-watch

        private_etcd.start()
        assert private_etcd.endpoint == endpoint and private_etcd.pid != pid

        new_client = private_etcd.store()
        try:
            after, rev_after = new_client.get_prefix("/wolfpack/")
            assert [kv for kv in after if kv.key != "/wolfpack/leases/nodes/n1"] == before
            assert rev_after == rev_before + 1  # the leased put
            assert new_client.get("/wolfpack/leases/nodes/n1") == before_lease
            assert new_client.lease_keepalive(lease) == 30  # leases are persisted too
            assert new_client.put("/wolfpack/x", b"") == rev_after + 1
        finally:
            new_client.close()
        # the old client reconnects by itself; only its watch had to be re-created
        kv = old_client.get("/wolfpack/config/nodes/n1")
        assert kv is not None and kv.version == 2
        with old_client.watch_prefix("/wolfpack/", start_revision=rev_after + 1) as again:
            event = again.get(timeout=MAX_WAIT)
            assert event is not None and event.key == "/wolfpack/x"
    finally:
        old_client.close()


def test_requests_fail_over_to_the_next_endpoint(private_etcd: EtcdProcess) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    admin = private_etcd.admin
    store = EtcdStore([dead, private_etcd.endpoint], timeout=2.0, credentials=admin)
    try:
        rev = store.put("/f/k", b"v")  # a refused connection never sent the write: safe to retry
        kv = store.get("/f/k")
        assert kv is not None and kv.mod_revision == rev
        with store.watch_prefix("/f/") as watch:
            rev2 = store.put("/f/k", b"w")
            event = watch.get(timeout=MAX_WAIT)
            assert event is not None and event.mod_revision == rev2
    finally:
        store.close()
    both = EtcdStore(f"{dead},{private_etcd.endpoint}", credentials=admin)
    assert both.endpoints == [dead, private_etcd.endpoint]


def test_all_endpoints_down_names_each(private_etcd: EtcdProcess) -> None:
    endpoint = private_etcd.endpoint
    private_etcd.stop()
    dead = f"https://127.0.0.1:{free_port()}"
    store = EtcdStore([endpoint, dead], timeout=1.0, credentials=private_etcd.admin)
    with pytest.raises(StoreUnavailable) as info:
        store.get_prefix("/")
    message = str(info.value)
    assert endpoint in message and dead in message and "Is etcd running?" in message


def test_etcd_process_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with EtcdProcess(data) as proc:
        pid = proc.pid
        assert pid is not None and proc.running
        assert proc.start() is proc and proc.pid == pid  # starting a running etcd: no-op
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        assert (data / "member").is_dir()
        assert proc.endpoint.startswith("https://127.0.0.1:")
        assert f"pid {pid}" in repr(proc)
    assert not proc.running and proc.pid is None
    proc.stop()  # idempotent
    proc.kill()
    assert "stopped" in repr(proc)


def test_etcd_process_reports_a_failed_start(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        proc = EtcdProcess(tmp_path / "d", client_port=taken, peer_port=free_port())
        try:
            with pytest.raises(StoreUnavailable, match="address already in use"):
                proc.start()
        finally:
            proc.stop()
    assert not proc.running


def test_etcd_process_needs_a_binary(tmp_path: Path) -> None:
    proc = EtcdProcess(tmp_path / "d", binary=str(tmp_path / "no-such-etcd"))
    with pytest.raises(StoreUnavailable, match="etcd"):
        proc.start()
