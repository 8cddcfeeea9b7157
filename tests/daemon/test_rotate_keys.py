"""Key rotation without downtime (issue 11 item 4), with real daemons and real etcd (over
TLS, with RBAC): ``wolfpack cluster rotate-keys`` while Web runs on node1 and an observer
samples the cluster every 50 ms. Nothing moves, no node is ever seen Down; afterwards the
secret file and the database's verifier are the new secret's, a heartbeat signed with the
old secret is dropped as unsigned, every API serves a certificate of the new CA (which
refuses the old certificates; the old CA no longer verifies the nodes), the cluster log's
fan-out still reaches every node, and a node that was stopped during the rotation adopts
the new secret when it starts. ``wolfpack token rotate``: the old secret overlaps, then is
refused. Docs: docs/security.md "Rotating keys"."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from wolfpack.admin import tokens
from wolfpack.cli.main import app
from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.node import heartbeat_wire as wire
from wolfpack.node.secret import verifier

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("rotate-cluster"))
    try:
        c.start()
        c.start_all(timeout=60)
        c.add_app_group("Web", preferred=("node1", "node2", "node3"))
        wait_for(lambda: c.answer("Web") == "node1", timeout=30)
        yield c
    finally:
        c.close()


def served_certificate(c: LocalCluster, node: str) -> x509.Certificate:
    port = c.api_ports[node]
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return x509.load_pem_x509_certificate(pem.encode())


def dropped_unsigned(c: LocalCluster, node: str) -> float:
    text = httpx.get(c.api_url(node) + "/metrics", verify=c.ca_context() or True, timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "wolfpack_heartbeat_packets_total" and s.labels["outcome"] == (
                "dropped_unsigned"
            ):
                return float(s.value)
    raise AssertionError("no heartbeat counter")


class Observer:
    """Samples Web's owner and the live nodes' states every 50 ms from etcd (bounded:
    5 minutes)."""

    def __init__(self, c: LocalCluster) -> None:
        self.c = c
        self.owners: set[str | None] = set()
        self.node_states: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            snap = self.c.snapshot()
            self.owners.add(snap.group("Web").owner)
            self.node_states |= {snap.node(n).state.value for n in ("node1", "node2")}
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def cli(c: LocalCluster, *args: str) -> Any:
    env = {**c.client_env(), "WOLFPACK_PREFIX": c.keys.root}
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_rotate_keys_without_downtime(cluster: LocalCluster) -> None:
    c = cluster
    old_secret = c.secret_file.read_bytes().strip()
    old_ca = c.db.ca_certificate()
    assert old_ca is not None
    old_cert = served_certificate(c, "node2")
    starts_before = [r for r in c.runs("Web") if " start " in r]
    c.stop_node("node3")  # down during the rotation: adopts the new secret at its start
    wait_for(lambda: c.owner("Web") == "node1", timeout=30)
    with Observer(c) as seen:
        report = cli(c, "cluster", "rotate-keys", "--secret-file", str(c.secret_file),
                     "--overlap", "1s", "--timeout", "60s")  # fmt: skip
        time.sleep(1.0)
    assert report["nodes"] == ["node1", "node2"] and set(report["phase_seconds"]) == {
        "accept", "send", "done",
    }  # fmt: skip
    # no downtime: Web never moved or stopped, no live node was ever judged Down
    assert seen.samples > 10 and seen.owners == {"node1"}, seen.owners
    assert seen.node_states == {"Up"}, seen.node_states
    assert [r for r in c.runs("Web") if " start " in r] == starts_before  # never restarted
    assert c.answer("Web") == "node1"
    # the new secret everywhere; the old one refused on the wire
    new_secret = c.secret_file.read_bytes().strip()
    assert new_secret != old_secret
    kv = c.store.get(c.keys.secret_verifier)
    assert kv is not None and kv.value == verifier(new_secret)
    before = dropped_unsigned(c, "node1")
    hb = wire.Heartbeat(2, "node2", "heartbeat", time.time_ns(), 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(wire.encode(hb, old_secret), (c.address("node1", "heartbeat"), c.heartbeat_port))
    wait_for(lambda: dropped_unsigned(c, "node1") > before, timeout=10)
    # a new CA, new node certificates; the old ones are refused by it
    new_ca = c.db.ca_certificate()
    assert new_ca is not None and new_ca != old_ca and new_ca.count(b"BEGIN CERTIFICATE") == 1
    ca = x509.load_pem_x509_certificate(new_ca)
    fresh = served_certificate(c, "node2")
    assert fresh.serial_number != old_cert.serial_number
    fresh.verify_directly_issued_by(ca)
    with pytest.raises(Exception):  # noqa: B017 (cryptography raises ValueError or InvalidSignature)
        old_cert.verify_directly_issued_by(ca)
    with pytest.raises(httpx.ConnectError):  # the old CA no longer verifies the nodes
        httpx.get(
            c.api_url("node1") + "/livez", verify=ssl.create_default_context(cadata=old_ca.decode())
        )
    # node3 was down: it starts with the old secret in its file and adopts the new one
    c.secret_file.write_bytes(old_secret + b"\n")
    c.start_node("node3")
    wait_for(c.all_up, timeout=60)
    assert c.secret_file.read_bytes().strip() == new_secret
    assert any(e.get("event") == "secret_rotated" for e in c.log_lines("node3"))
    # every node, node3 too, verified with the new CA; the fan-out (node credentials under
    # the new secret) reaches them all
    wait_for(lambda: c.api_ready("node3") and c.has_started("node3"), timeout=30)
    served_certificate(c, "node3").verify_directly_issued_by(ca)
    _, token = tokens.create(c.db, "rotate-reader", "read-only")
    log = httpx.get(c.api_url("node2") + "/api/v1/log", params={"since": "5m"},
                    headers={"Authorization": f"Bearer {token}"}, verify=c.ca_context(),
                    timeout=10).json()  # fmt: skip
    assert log["unreachable"] == [], log["unreachable"]
    assert c.owner("Web") == "node1"


def test_token_rotation_overlaps_then_refuses_the_old_secret(cluster: LocalCluster) -> None:
    c = cluster
    made = cli(c, "token", "create", "rotate-me", "--role", "read-only")
    url = c.api_url("node1") + "/api/v1/whoami"

    def status(token: str) -> int:
        r = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, verify=c.ca_context())
        return r.status_code

    assert status(made["token"]) == 200
    rotated = cli(c, "token", "rotate", "rotate-me", "--overlap", "3s")
    assert rotated["token"] != made["token"]
    wait_for(lambda: status(rotated["token"]) == 200, timeout=5)
    assert status(made["token"]) == 200  # during the overlap: both
    wait_for(lambda: status(made["token"]) == 401, timeout=10)  # then the old is refused
    assert status(rotated["token"]) == 200
