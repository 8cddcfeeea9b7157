"""The cluster database lets in only who belongs (C1, issue 11), on a real etcd started as
Wolfpack starts every etcd: TLS with client certificates from the cluster database CA,
authentication on, JWT tokens.

Refused: plain HTTP, TLS without a certificate, a certificate from another CA, a cluster
certificate without its user's password, a wrong password. A node's etcd user writes only
what a daemon writes (wolfpack.store.etcd_auth); every refused write leaves the database as
it was (compared before and after)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from wolfpack.errors import StoreError, StoreUnavailable
from wolfpack.store import Delete, EtcdProcess, EtcdStore, KeySpace, Put, etcd_auth
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.pki import ClusterCA

pytestmark = pytest.mark.etcd

KEYS = KeySpace("/wolfpack/")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """An etcd with the users of two nodes and one node's API, and some configuration."""
    proc = EtcdProcess(tmp_path_factory.mktemp("secure") / "etcd")
    proc.start()
    try:
        admin = proc.store()
        for kind, node in (("node", "n1"), ("node", "n2"), ("api", "n1")):
            creds = proc.pki.principal(kind, node)
            assert creds.user is not None and creds.password is not None
            etcd_auth.add_user(admin, KEYS, creds.user, creds.password)
        admin.put(KEYS.config("resources", "web"), b'{"command": "/bin/true"}')
        admin.put(KEYS.token("ops"), b'{"role": "admin", "sha256": "00"}')
        admin.put(KEYS.inventory("n2"), b"{}")
        admin.close()
        yield proc
    finally:
        proc.stop()


def as_user(proc: EtcdProcess, kind: str, node: str, timeout: float = 2.0) -> EtcdStore:
    return EtcdStore(proc.endpoint, timeout=timeout, credentials=proc.pki.principal(kind, node))


def everything(proc: EtcdProcess) -> list[tuple[str, bytes]]:
    admin = proc.store()
    try:
        kvs = admin.get_prefix("/")[0]
    finally:
        admin.close()
    return [(kv.key, kv.value) for kv in kvs]


def refused(store: EtcdStore, op: str, *args: object) -> str:
    """The message of the StoreError ``store.<op>(*args)`` raises (it must raise one)."""
    with pytest.raises(StoreError) as info:
        getattr(store, op)(*args)
    return str(info.value)


def test_plain_http_is_refused(secured: EtcdProcess) -> None:
    plain = EtcdStore(secured.endpoint.replace("https:", "http:"), timeout=2.0)
    with pytest.raises(StoreUnavailable):
        plain.get(KEYS.token("ops"))
    plain.close()
    with socket.create_connection(("127.0.0.1", secured.client_port), timeout=2) as sock:
        sock.sendall(b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        reply = sock.recv(4096)
    assert reply == b""  # etcd closes a plain-text connection on a TLS port without a word


def test_tls_without_a_certificate_is_refused(secured: EtcdProcess) -> None:
    bare = EtcdStore(
        secured.endpoint, timeout=2.0, credentials=EtcdCredentials(secured.pki.ca_file)
    )
    with pytest.raises(StoreUnavailable, match="TLS"):
        bare.get(KEYS.token("ops"))
    bare.close()
    ctx = ssl.create_default_context(cafile=str(secured.pki.ca_file))
    raw = socket.create_connection(("127.0.0.1", secured.client_port), timeout=2)
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls.do_handshake()
        tls.sendall(b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n\r\n")
        tls.recv(4096)  # TLS 1.3: the refusal of the certificate arrives here
    tls.close()


def test_a_certificate_from_another_ca_is_refused(secured: EtcdProcess, tmp_path: Path) -> None:
    other = ClusterCA.create(tmp_path / "other-ca", "intruder")
    _, password = other.issue_principal("admin", "lab", tmp_path / "intruder")
    forged = EtcdCredentials(
        secured.pki.ca_file,  # trusts the real etcd: only its own certificate is foreign
        tmp_path / "intruder" / "admin.crt",
        tmp_path / "intruder" / "admin.key",
        "admin:lab",
        password,
    )
    store = EtcdStore(secured.endpoint, timeout=2.0, credentials=forged)
    with pytest.raises(StoreUnavailable, match="TLS"):
        store.put(KEYS.token("evil"), b"{}")
    store.close()
    assert KEYS.token("evil") not in dict(everything(secured))


def test_a_cluster_certificate_needs_its_users_password(secured: EtcdProcess) -> None:
    before = everything(secured)
    creds = secured.pki.principal("node", "n1")
    for wrong in (replace(creds, user=None, password=None), replace(creds, password="guess")):
        store = EtcdStore(secured.endpoint, timeout=2.0, credentials=wrong)
        message = refused(store, "put", KEYS.config("resources", "web"), b"{}")
        assert "user name is empty" in message or "authentication failed" in message
        store.close()
    assert everything(secured) == before


NODE_MAY_NOT = [
    KEYS.config("resources", "evil"),  # a Generic Application runs as root everywhere
    KEYS.config("resources", "web"),
    KEYS.cluster,
    KEYS.config_epoch,
    KEYS.token("evil"),
    KEYS.tls_ca_key,
    KEYS.secret_verifier,
    KEYS.schema_version,
    KEYS.inventory("n2"),
    KEYS.api("n2"),
    KEYS.node_admin("n2"),
    KEYS.audit("x"),
]


@pytest.mark.parametrize("key", NODE_MAY_NOT)
def test_a_node_cannot_write_what_is_not_a_nodes(secured: EtcdProcess, key: str) -> None:
    before = everything(secured)
    node = as_user(secured, "node", "n1")
    try:
        assert "permission denied" in refused(node, "put", key, b'{"user": "root"}')
        assert "permission denied" in refused(node, "delete", key)
        # a forbidden write in either branch of a transaction refuses the whole of it
        ok = Put(KEYS.state("groups", "g"), b"{}")
        assert "permission denied" in refused(node, "txn", [], [ok], [Put(key, b"{}")])
    finally:
        node.close()
    assert everything(secured) == before


def test_a_node_cannot_delete_the_configuration_or_manage_users(secured: EtcdProcess) -> None:
    before = everything(secured)
    node = as_user(secured, "node", "n1")
    try:
        assert "permission denied" in refused(node, "txn", [], [Delete(KEYS.config_root, True)])
        assert "permission denied" in refused(node, "txn", [], [Delete(KEYS.root, True)])
        for path, body in (
            ("auth/user/add", {"name": "evil", "password": "x"}),
            ("auth/user/grant", {"user": "node:n1", "role": "root"}),
            ("auth/disable", {}),
        ):
            assert "permission denied" in refused(node, "call_api", path, body)
        assert "permission denied" in refused(node, "get_prefix", KEYS.audit_prefix)
    finally:
        node.close()
    assert everything(secured) == before


def test_a_node_writes_what_a_daemon_writes(secured: EtcdProcess) -> None:
    node = as_user(secured, "node", "n1")
    try:
        assert node.get(KEYS.config("resources", "web")) is not None  # reads everything
        lease = node.lease_grant(10)
        node.put(KEYS.node_lease("n1"), b"{}", lease=lease)
        node.put(KEYS.view("n1"), b"{}", lease=lease)
        node.put(KEYS.links("n1"), b"{}", lease=lease)  # its media sense (S41)
        node.put(KEYS.inventory("n1"), b"{}")
        node.put(KEYS.api("n1"), b"{}")
        node.put(KEYS.node_admin("n1"), b"{}")
        node.put(KEYS.coordinator, b"n1", lease=lease)
        node.put(KEYS.state("groups", "g"), b"{}")
        node.put(KEYS.outcome("i1"), b"{}")
        node.put(KEYS.claim("disks", "u1"), b"n1", lease=lease)
        with node.watch_prefix(KEYS.root) as watch:
            node.put(KEYS.state("resources", "r"), b"{}")
            event = watch.get(timeout=5)
            assert event is not None and event.key == KEYS.state("resources", "r")
        node.lease_revoke(lease)  # its own lease, with every key attached to it
        assert node.get(KEYS.node_lease("n1")) is None
    finally:
        node.close()


def test_a_coordinator_may_revoke_another_nodes_lease(secured: EtcdProcess) -> None:
    """Why leases/, views/ and links/ are writable by every node: fencing revokes the fenced
    node's lease, and etcd allows that only to a user who may write every key attached to it."""
    n2, n1 = as_user(secured, "node", "n2"), as_user(secured, "node", "n1")
    try:
        lease = n2.lease_grant(10)
        n2.put(KEYS.node_lease("n2"), b"{}", lease=lease)
        n2.put(KEYS.view("n2"), b"{}", lease=lease)
        n2.put(KEYS.links("n2"), b"{}", lease=lease)
        n1.lease_revoke(lease)
        assert n2.get(KEYS.node_lease("n2")) is None
    finally:
        n1.close()
        n2.close()


def test_the_api_user_changes_the_configuration_but_not_who_may(secured: EtcdProcess) -> None:
    api = as_user(secured, "api", "n1")
    try:
        api.put(KEYS.config("groups", "g"), b"{}")
        api.put(KEYS.token("t"), b"{}")
        api.put(KEYS.audit("a1"), b"{}")
        for path, body in (
            ("auth/user/add", {"name": "evil", "password": "x"}),
            ("auth/disable", {}),
        ):
            assert "permission denied" in refused(api, "call_api", path, body)
        api.delete(KEYS.config("groups", "g"))
        api.delete(KEYS.token("t"))
        api.delete(KEYS.audit("a1"))
    finally:
        api.close()


def test_tokens_are_fetched_again_when_users_change(secured: EtcdProcess) -> None:
    """Adding a user makes every token issued before it stale ("revision of auth store is
    old"): the store fetches a new one and the write goes through once."""
    node = as_user(secured, "node", "n1")
    admin = secured.store()
    try:
        node.put(KEYS.inventory("n1"), b"1")
        creds = secured.pki.principal("node", "n3")
        assert creds.user is not None and creds.password is not None
        etcd_auth.add_user(admin, KEYS, creds.user, creds.password)
        node.put(KEYS.inventory("n1"), b"2")
        assert admin.get(KEYS.inventory("n1")).value == b"2"  # type: ignore[union-attr]
        assert etcd_auth.remove_user(admin, creds.user)
        gone = as_user(secured, "node", "n3")
        assert "authentication failed" in refused(gone, "get", KEYS.cluster)
        gone.close()
    finally:
        node.close()
        admin.close()
