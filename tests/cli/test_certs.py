"""``wolfpack cluster certs`` (C1, issue 11): the administrator's way from nothing to an etcd
that lets in only who belongs, on a real etcd: a CA, an etcd member trusting it, the first
administrator, authentication on, a node's users, and revoking them."""

from __future__ import annotations

from pathlib import Path

import pytest

from wolfpack.errors import StoreError
from wolfpack.store import EtcdStore, KeySpace
from wolfpack.store.etcd_process import EtcdPki, EtcdProcess
from wolfpack.store.etcd_tls import EtcdCredentials

from .conftest import Cli, fields

pytestmark = pytest.mark.etcd


def admin_env(d: Path) -> dict[str, str]:
    return {
        "WOLFPACK_ETCD_CA": str(d / "ca.crt"),
        "WOLFPACK_ETCD_CERT": str(d / "admin.crt"),
        "WOLFPACK_ETCD_KEY": str(d / "admin.key"),
    }


def test_from_a_new_ca_to_a_node_that_writes_only_what_a_node_writes(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    plain = Cli("https://127.0.0.1:9")
    made = plain.json("cluster", "certs", "init", "--cluster", "jean", "--dir", str(pki))
    assert Path(made["ca"]).exists()
    again = plain.fails("cluster", "certs", "init", "--cluster", "jean", "--dir", str(pki))
    assert fields(again) == ["dir"]  # a CA is never overwritten
    mine = plain.json(
        "cluster", "certs", "issue", "--admin", "alice", "--offline", "--dir", str(pki)
    )
    assert mine["issued"][0]["user"] == "admin:alice" and mine["users_added"] == []
    etcd = EtcdProcess(tmp_path / "etcd", pki=EtcdPki(pki, "jean"), auth=False)
    try:
        etcd.start()  # TLS with this CA, authentication still off (a new database)
        cli = Cli(etcd.endpoint, admin_env(pki / "admin-alice"))
        assert cli.json("cluster", "certs", "enable-auth")["admin"] == "admin:alice"
        node = cli.json("cluster", "certs", "issue", "--node", "node1", "--dir", str(pki))
        assert node["users_added"] == ["node:node1", "api:node1"]
        users = cli.json("cluster", "certs", "list")["users"]
        assert users["admin:alice"] == ["root"]
        root = cli.prefix  # roles are per key prefix (the cluster's, WOLFPACK_PREFIX)
        assert set(users["node:node1"]) == {f"wolfpack-node:{root}", f"wolfpack-node:{root}:node1"}
        cli.ok("cluster", "create", "jean")  # the administrator writes the configuration
        keys = KeySpace(cli.prefix)
        creds = EtcdCredentials.from_dir(pki / "node1", "node")
        store = EtcdStore(etcd.endpoint, timeout=2.0, credentials=creds)
        try:
            store.put(keys.inventory("node1"), b"{}")
            with pytest.raises(StoreError, match="permission denied"):
                store.put(keys.config("resources", "evil"), b"{}")
            assert cli.json("cluster", "certs", "revoke", "--node", "node1")["removed"] == [
                "node:node1",
                "api:node1",
            ]
            with pytest.raises(StoreError, match="authentication failed"):
                EtcdStore(etcd.endpoint, timeout=2.0, credentials=creds).get(keys.cluster)
        finally:
            store.close()
        # a node's certificate is not an administrator's
        api = {**admin_env(pki / "node1"), "WOLFPACK_ETCD_CERT": str(pki / "node1" / "api.crt")}
        refused = Cli(etcd.endpoint, {**api, "WOLFPACK_ETCD_KEY": str(pki / "node1" / "api.key")})
        assert refused.fails("cluster", "certs", "enable-auth")["type"] == "ValidationError"
        neither = cli.fails("cluster", "certs", "issue", "--dir", str(pki))
        assert fields(neither) == ["--node"]
    finally:
        etcd.stop()


def test_the_cli_refuses_plain_text_and_bad_files_naming_the_setting(tmp_path: Path) -> None:
    plain = Cli("http://127.0.0.1:9")
    assert fields(plain.fails("cluster", "show")) == ["endpoint"]
    allowed = plain.run("cluster", "show", "--json", env={"WOLFPACK_ETCD_INSECURE": "1"})
    assert allowed.exit_code == 3  # allowed, and unreachable: nothing listens on port 9
    assert "plain-text etcd" in allowed.stderr
    missing = Cli("https://127.0.0.1:9", admin_env(tmp_path / "nothing"))
    assert fields(missing.fails("cluster", "show")) == [
        "etcd_ca (WOLFPACK_ETCD_CA)",
        "etcd_cert (WOLFPACK_ETCD_CERT)",
        "etcd_key (WOLFPACK_ETCD_KEY)",
        "etcd_password_file (WOLFPACK_ETCD_PASSWORD_FILE)",
    ]
