"""The cluster database CA and the credentials it issues (C1, issue 11): what each file holds,
and that a bad one is refused naming the field before anything connects."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wolfpack.errors import ValidationError
from wolfpack.store import KeySpace
from wolfpack.store.etcd_auth import Permission, roles_of
from wolfpack.store.etcd_tls import EtcdCredentials, check_in_child
from wolfpack.store.pki import PEER_CN, ClusterCA, user_name, user_of

KEYS = KeySpace("/wolfpack/")


@pytest.fixture
def ca(tmp_path: Path) -> ClusterCA:
    return ClusterCA.create(tmp_path / "ca", "jean")


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_a_principal_certificate_names_its_user_and_nothing_else(
    ca: ClusterCA, tmp_path: Path
) -> None:
    issued, password = ca.issue_principal("node", "node 1:a", tmp_path / "n1")
    leaf = cert(tmp_path / "n1" / "node.crt")
    assert issued.user == "node:node 1:a"
    assert user_of((tmp_path / "n1" / "node.crt").read_bytes()) == "node:node 1:a"
    # etcd's gateway refuses a client certificate with a common name (etcd PR #10366)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # never a server, never a peer
    leaf.verify_directly_issued_by(ca.cert)
    for secret in ("node.key", "node.password"):
        assert stat.S_IMODE((tmp_path / "n1" / secret).stat().st_mode) == 0o600
    assert (tmp_path / "n1" / "node.password").read_text().strip() == password
    assert len(password) >= 40
    loaded = EtcdCredentials.from_dir(tmp_path / "n1", "node")
    assert (loaded.user, loaded.password) == ("node:node 1:a", password)


def test_a_member_has_a_server_and_a_peer_certificate(ca: ClusterCA, tmp_path: Path) -> None:
    ca.issue_member("node1", ["203.0.113.11", "198.51.100.11"], tmp_path / "m")
    server, peer = cert(tmp_path / "m" / "server.crt"), cert(tmp_path / "m" / "peer.crt")
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == PEER_CN
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(a) for a in sans.get_values_for_type(x509.IPAddress)}
    assert ips == {"203.0.113.11", "198.51.100.11", "127.0.0.1"}
    assert (tmp_path / "m" / "jwt.key").read_bytes() == (ca.directory / "jwt.key").read_bytes()
    with pytest.raises(ValidationError, match="not an IP address"):
        ca.issue_member("node2", ["node2.example"], tmp_path / "m2")


def test_etcds_command_line_is_made_without_cryptography() -> None:
    """Every node's wolfpackd builds its etcd member's flags at start: that must not load
    the certificate code for a name (cryptography's Rust core stayed resident, ~9 MB)."""
    script = (
        "import sys; from pathlib import Path; from wolfpack.store.etcd_process import EtcdPki\n"
        "print(EtcdPki.server_args(Path('/m'))[-4:], 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert PEER_CN in out.stdout and out.stdout.split()[-1] == "False"


def test_a_ca_is_never_overwritten(ca: ClusterCA) -> None:
    with pytest.raises(ValidationError) as info:
        ClusterCA.create(ca.directory, "other")
    assert fields(info) == {"dir"}
    assert ClusterCA.load(ca.directory).cert == ca.cert


def test_bad_names_are_refused() -> None:
    assert user_name("admin", "alice") == "admin:alice"
    for kind, name, field in (("node", "", "name"), ("node", "a/b", "name"), ("root", "x", "kind")):
        with pytest.raises(ValidationError) as info:
            user_name(kind, name)  # type: ignore[arg-type]
        assert fields(info) == {field}


def test_bad_credential_files_are_refused_naming_the_field(ca: ClusterCA, tmp_path: Path) -> None:
    ca.issue_principal("node", "n1", tmp_path / "n1")
    ca.issue_principal("node", "n2", tmp_path / "n2")
    d = tmp_path / "n1"
    good = {"ca": d / "ca.crt", "cert": d / "node.crt", "key": d / "node.key"}

    def refused(**changes: Path) -> set[str]:
        with pytest.raises(ValidationError) as info:
            EtcdCredentials.load(**{**good, **changes})  # type: ignore[arg-type]
        return fields(info)

    assert refused(cert=tmp_path / "missing.crt") == {"etcd.cert", "etcd.password_file"}
    assert refused(key=tmp_path / "n2" / "node.key") == {"etcd.key"}  # another cert's key
    other = ClusterCA.create(tmp_path / "other", "x")
    assert refused(ca=other.cert_path) == {"etcd.cert"}  # not signed by this CA
    assert refused(ca=d / "node.key") == {"etcd.ca"}  # not a certificate
    (d / "node.password").chmod(0o644)
    assert refused() == {"etcd.password_file"}  # readable by others
    (d / "node.password").chmod(0o600)
    assert EtcdCredentials.load(**good).user == "node:n1"  # type: ignore[arg-type]


def _writes(perms: list[Permission], key: str) -> bool:
    return any(
        "WRITE" in p.perm and (key.startswith(p.key) if p.prefix else key == p.key) for p in perms
    )


def test_a_nodes_roles_grant_no_write_to_what_defines_the_cluster() -> None:
    roles = roles_of("node:n1", KEYS)
    perms = [p for ps in roles.values() for p in ps]
    for key in (
        KEYS.config("resources", "x"),
        KEYS.cluster,
        KEYS.config_epoch,
        KEYS.token("t"),
        KEYS.tls_ca_key,
        KEYS.secret_verifier,
        KEYS.schema_version,
        KEYS.inventory("n2"),
        KEYS.api("n2"),
        KEYS.node_admin("n2"),
        KEYS.audit("a"),
    ):
        assert not _writes(perms, key), key
    for key in (KEYS.inventory("n1"), KEYS.node_lease("n1"), KEYS.state("groups", "g")):
        assert _writes(perms, key), key
    assert roles_of("admin:alice", KEYS) == {"root": []}
    assert _writes(next(iter(roles_of("api:n1", KEYS).values())), KEYS.config("groups", "g"))


def loaded_elsewhere(directory: Path, *, in_child: bool = False) -> list[str]:
    """The user a new process finds in ``directory``'s node files (or the fields of its
    ValidationError), and whether it loaded cryptography to find it."""
    script = (
        "import sys; from pathlib import Path\n"
        "from wolfpack.errors import ValidationError\n"
        "from wolfpack.store.etcd_tls import EtcdCredentials\n"
        "try:\n"
        f"    c = EtcdCredentials.from_dir(Path({str(directory)!r}), 'node', in_child={in_child})\n"
        "    found = c.user\n"
        "except ValidationError as exc:\n"
        "    found = ','.join(sorted(e.field for e in exc.errors))\n"
        "print(found, 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_checked_credentials_are_remembered_so_a_daemon_restarts_without_cryptography(
    ca: ClusterCA, tmp_path: Path
) -> None:
    """Issue 12 (memory): the check of a principal's files is kept beside the certificate
    with a digest of the CA, certificate and key; a later process with the same bytes takes
    the user from it and never loads cryptography (~9 MB resident for a daemon's life)."""
    ca.issue_principal("node", "n1", tmp_path / "n1")
    ca.issue_principal("node", "n2", tmp_path / "n2")
    d = tmp_path / "n1"
    memo = d / "node.crt.checked"
    assert not memo.exists()
    assert EtcdCredentials.from_dir(d, "node").user == "node:n1"
    assert stat.S_IMODE(memo.stat().st_mode) == 0o600
    assert loaded_elsewhere(d) == ["node:n1", "False"]
    memo.chmod(0o666)  # others may write it: it vouches for nothing, the full check runs
    assert loaded_elsewhere(d) == ["node:n1", "True"]
    memo.chmod(0o600)
    (d / "node.key").write_bytes((tmp_path / "n2" / "node.key").read_bytes())
    with pytest.raises(ValidationError) as info:  # the bytes changed: checked again
        EtcdCredentials.from_dir(d, "node")
    assert fields(info) == {"etcd.key"}


def test_a_child_checks_the_files_first_and_a_bad_file_is_left_to_the_callers_load(
    ca: ClusterCA, tmp_path: Path
) -> None:
    """wolfpackd's first start: a child process checks the files and leaves the verdict, so
    the daemon's own load needs no cryptography; bad files leave no verdict and nothing is
    raised there (the daemon's load then names the field)."""
    ca.issue_principal("node", "n1", tmp_path / "n1")
    ca.issue_principal("node", "n2", tmp_path / "n2")
    d = tmp_path / "n1"
    check_in_child(d / "ca.crt", d / "node.crt", d / "node.key")
    assert (d / "node.crt.checked").exists()
    assert loaded_elsewhere(d) == ["node:n1", "False"]
    bad = tmp_path / "n2"
    check_in_child(d / "ca.crt", bad / "node.crt", d / "node.key")  # another cert's key
    assert not (bad / "node.crt.checked").exists()


def test_a_load_in_child_leaves_the_check_to_a_child_and_names_a_bad_field_itself(
    ca: ClusterCA, tmp_path: Path
) -> None:
    """``in_child`` (how wolfpackd loads its node's, its API's and the admin's files): with
    no verdict remembered, a child checks the files and this process never loads
    cryptography; files the child found bad are checked here again, to name the field."""
    ca.issue_principal("node", "n1", tmp_path / "n1")
    ca.issue_principal("node", "n2", tmp_path / "n2")
    d = tmp_path / "n1"
    assert loaded_elsewhere(d, in_child=True) == ["node:n1", "False"]
    assert (d / "node.crt.checked").exists()
    (d / "node.crt.checked").unlink()
    assert loaded_elsewhere(d) == ["node:n1", "True"]  # without: checked in-process
    (d / "node.key").write_bytes((tmp_path / "n2" / "node.key").read_bytes())
    assert loaded_elsewhere(d, in_child=True) == ["etcd.key", "True"]
