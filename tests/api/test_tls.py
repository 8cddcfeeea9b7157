"""TLS of the REST API: the cluster CA in etcd (its key encrypted with the cluster secret),
node certificates made by the daemons, HTTPS verified against the CA, the cluster log
across nodes over HTTPS, and the CLI verifying with the CA from the database."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from wolfpack.admin import cert_child, cert_memo, tls, tokens
from wolfpack.errors import StoreError, WolfpackError
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


def test_a_certificate_found_good_is_remembered_byte_for_byte(tmp_path: Path) -> None:
    """Issue 12 (memory): the verdict is kept beside the certificate with a digest of the
    certificate, key, CA and names; anything changed, or renewal due, and it no longer
    holds, so the full check (with cryptography) runs again."""
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="tls"))
    tls.node_certificate(db, SECRET, "tls", "node1", ["198.51.100.1"], tmp_path)
    ca = tls.ensure_ca(db, SECRET, "tls")
    names = cert_memo.san_names("node1", ["198.51.100.1"])
    now = time.time()
    assert cert_memo.remembered(tmp_path, ca, names, now)
    assert not cert_memo.remembered(tmp_path, ca, names, now + 900 * 86400)  # renewal due
    assert not cert_memo.remembered(tmp_path, ca + b"\n", names, now)  # another CA
    other = cert_memo.san_names("node1", ["198.51.100.2"])
    assert not cert_memo.remembered(tmp_path, ca, other, now)  # another address
    (tmp_path / "api.crt").write_bytes((tmp_path / "api.crt").read_bytes() + b"\n")
    assert not cert_memo.remembered(tmp_path, ca, names, now)  # the certificate changed


def test_a_remembered_certificate_is_taken_without_cryptography(tmp_path: Path) -> None:
    """What the daemon does at its next start: the memo alone, in a process that never
    imports cryptography (its Rust core is ~9 MB resident)."""
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="tls"))
    tls.node_certificate(db, SECRET, "tls", "node1", ["198.51.100.1"], tmp_path)
    (tmp_path / "ca.pem").write_bytes(tls.ensure_ca(db, SECRET, "tls"))
    script = (
        "import sys, time; from pathlib import Path; from wolfpack.admin import cert_memo\n"
        f"where = Path({str(tmp_path)!r})\n"
        "names = cert_memo.san_names('node1', ['198.51.100.1'])\n"
        "ok = cert_memo.remembered(where, (where / 'ca.pem').read_bytes(), names, time.time())\n"
        "print(ok, 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_child_process_makes_the_certificate_and_says_why_it_could_not(
    tmp_path: Path,
) -> None:
    """The daemon's first start: the child issues the certificate and leaves the verdict
    remembered, so the daemon never imports cryptography; a wrong secret is refused with
    the reason, and nothing is written."""
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="tls"))
    ca = tls.ensure_ca(db, SECRET, "tls")
    key = db.encrypted_ca_key()
    assert key is not None
    cert_child.in_child(ca, key, SECRET, "node1", ["198.51.100.1"], tmp_path / "tls")
    names = cert_memo.san_names("node1", ["198.51.100.1"])
    assert cert_memo.remembered(tmp_path / "tls", ca, names, time.time())
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls" / "api.crt").read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    with pytest.raises(WolfpackError, match="cannot decrypt the cluster CA key"):
        cert_child.in_child(ca, key, b"x" * 32, "node1", [], tmp_path / "other")
    assert not (tmp_path / "other").exists()


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
