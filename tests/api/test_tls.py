"""TLS of the REST API: the cluster CA in etcd (its key encrypted with the cluster secret),
node certificates made by the daemons, HTTPS verified against the CA, the cluster log
across nodes over HTTPS, and the CLI verifying with the CA from the database."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from wolfpack.admin import tls, tokens
from wolfpack.errors import StoreError
from wolfpack.lab.localcluster import LocalCluster
from wolfpack.model.config import ClusterSettings
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

SECRET = b"0123456789abcdef0123456789abcdef"


def test_ca_is_stored_once_with_an_encrypted_key() -> None:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="tls"))
    first = tls.ensure_ca(db, SECRET, "tls")
    assert tls.ensure_ca(db, SECRET, "tls") == first  # made once
    key = db.store.get(db.keys.tls_ca_key)
    assert key is not None and b"ENCRYPTED PRIVATE KEY" in key.value
    ca = x509.load_pem_x509_certificate(first)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_node_certificate_is_reused_and_renewed_when_addresses_change(tmp_path: Path) -> None:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="tls"))
    cert, key = tls.node_certificate(db, SECRET, "tls", "node1", ["198.51.100.1"], tmp_path)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    first = cert.read_bytes()
    again, _ = tls.node_certificate(db, SECRET, "tls", "node1", ["198.51.100.1"], tmp_path)
    assert again.read_bytes() == first
    tls.node_certificate(db, SECRET, "tls", "node1", ["198.51.100.2"], tmp_path)
    renewed = x509.load_pem_x509_certificate(cert.read_bytes())
    sans = renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {
        "198.51.100.2",
        "127.0.0.1",
    }
    with pytest.raises(StoreError, match="cannot decrypt"):  # the wrong secret signs nothing
        tls.node_certificate(
            db, b"another-secret-of-32-bytes-xxxxx", "tls", "n2", [], tmp_path / "2"
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(
        tmp_path_factory.mktemp("tls-cluster"), nodes=2, daemon_settings={"api": {"tls": True}}
    )
    try:
        c.start()
        c.start_all()
        yield c
    finally:
        c.close()


@pytest.mark.etcd
def test_https_verified_against_the_cluster_ca(cluster: LocalCluster) -> None:
    ctx = cluster.ca_context()
    assert ctx is not None
    _, token = tokens.create(cluster.db, "tls-admin", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    for node in cluster.names:
        url = cluster.api_url(node)
        assert url.startswith("https://127.0.0.1:")
        assert httpx.get(url + "/healthz", verify=ctx).json()["node"] == node
        with pytest.raises(httpx.ConnectError):  # not trusted without the cluster CA
            httpx.get(url + "/healthz", verify=ssl.create_default_context())
    log = httpx.get(
        cluster.api_url("node1") + "/api/v1/log", params={"since": "5m"}, headers=headers,
        verify=ctx,
    ).json()  # fmt: skip
    assert log["unreachable"] == [] and {line["source"] for line in log["lines"]} == {
        "node1",
        "node2",
    }


@pytest.mark.etcd
def test_cli_log_over_https(cluster: LocalCluster) -> None:
    from typer.testing import CliRunner

    from wolfpack.cli.main import app

    _, token = tokens.create(cluster.db, "tls-cli", "read-only")
    env = {
        **cluster.client_env(),
        "WOLFPACK_PREFIX": cluster.keys.root,
        "WOLFPACK_TOKEN": token,
    }
    result = CliRunner().invoke(app, ["log", "--since", "5m", "--node", "node2", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {line["source"] for line in json.loads(result.stdout)["lines"]} == {"node2"}


@pytest.mark.etcd
def test_cli_verbs_over_https_with_the_ca_in_wolfpack_ca(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """``wolfpack --api https://…`` verifies the node against ``$WOLFPACK_CA``; without it
    the self-made cluster CA is not trusted and the verb fails naming the URL."""
    from typer.testing import CliRunner

    from wolfpack.cli.main import app

    _, token = tokens.create(cluster.db, "tls-cli-api", "read-only")
    ca = tmp_path / "ca.pem"
    pem = cluster.db.ca_certificate()
    assert pem is not None
    ca.write_bytes(pem)
    url = cluster.api_url("node1")
    args = ["--api", url, "--token", token, "node", "list", "--json"]
    env = {"WOLFPACK_CONFIG": str(tmp_path / "none.yaml"), "WOLFPACK_CA": str(ca)}
    (tmp_path / "none.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert {n["name"] for n in json.loads(result.stdout)} == set(cluster.names)
    untrusted = CliRunner().invoke(app, args, env={**env, "WOLFPACK_CA": ""})
    assert untrusted.exit_code == 3 and url in untrusted.stdout


@pytest.mark.etcd
def test_cli_prints_the_api_ca_and_issues_an_api_certificate(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """``wolfpack cluster certs api-ca`` gives the CA clients import; ``certs api NODE``
    issues a server certificate from it with the cluster secret (issue 11 item 2)."""
    from typer.testing import CliRunner

    from wolfpack.cli.main import app

    env = {**cluster.client_env(), "WOLFPACK_PREFIX": cluster.keys.root}
    shown = CliRunner().invoke(app, ["cluster", "certs", "api-ca", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    ca_pem = json.loads(shown.stdout)["pem"].encode()
    assert ca_pem == cluster.db.ca_certificate()
    made = CliRunner().invoke(app, [
        "cluster", "certs", "api", "node9", "--address", "198.51.100.9", "--out", str(tmp_path),
        "--secret-file", str(cluster.secret_file), "--json",
    ], env=env)  # fmt: skip
    assert made.exit_code == 0, made.output
    cert = x509.load_pem_x509_certificate(Path(json.loads(made.stdout)["cert"]).read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node9" in sans.get_values_for_type(x509.DNSName)
    wrong = tmp_path / "wrong-secret"
    wrong.write_bytes(b"another-secret-of-32-bytes-xxxxx")
    refused = CliRunner().invoke(app, [
        "cluster", "certs", "api", "node9", "--out", str(tmp_path / "x"),
        "--secret-file", str(wrong), "--json",
    ], env=env)  # fmt: skip
    assert refused.exit_code != 0 and "decrypt" in refused.stdout
