"""The cluster database's certificate authority: who may talk to etcd at all (C1, issue 11).

One CA per cluster, kept in a directory on an administrator's host (``ca.crt``, ``ca.key``
mode 0600), never in etcd: etcd must trust it before etcd runs, and a copy of the database
must not be able to mint access to it. It is not the REST API's CA (``wolfpack.admin.tls``,
whose key every node can decrypt with the cluster secret).

What it issues:

* an **etcd member** (a node running etcd, or a third-vote host): a server certificate for
  the client port and a peer certificate (``CN=wolfpack-etcd-peer``, required of peers with
  ``--peer-cert-allowed-cn``, so a client certificate cannot join the raft group), plus the
  cluster's JWT signing key pair that every member shares (tokens survive a member restart);
* a **principal** (a node's daemon, a node's REST API, an administrator): a client
  certificate naming its etcd user (``urn:wolfpack:etcd-user:node:node1``) and a random
  password for that user. etcd 3.4's HTTP gateway, which Wolfpack speaks, refuses client
  certificates with a common name and cannot map one to a user (etcd PR #10366), so the
  certificate proves membership (TLS) and the password, issued with it, proves the user
  (RBAC, :mod:`wolfpack.store.etcd_auth`). Both files are needed; both are mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wolfpack.errors import ValidationError
from wolfpack.store.pki_names import PEER_CN, PRINCIPAL_KINDS, USER_URI, PrincipalKind

CA_DAYS = 3650
LEAF_DAYS = 825
_NAME = re.compile(r"^[^/\x00-\x1f\x7f]{1,64}$")  # the model's rule for names


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _subject(unit: str, common: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wolfpack"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
    ]
    if common is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attrs)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(mode)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def user_name(kind: PrincipalKind, name: str) -> str:
    """The etcd user of a principal: ``node:node1``, ``api:node1``, ``admin:alice``."""
    if kind not in PRINCIPAL_KINDS:
        raise ValidationError.single("kind", f"must be one of {', '.join(PRINCIPAL_KINDS)}")
    if not _NAME.match(name):
        raise ValidationError.single("name", f"1 to 64 characters without '/', not {name!r}")
    return f"{kind}:{name}"


def ca_builder(name: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    """A self-signed CA certificate named ``name`` with ``key``, yet to be given its validity
    and signed: it may sign certificates (no intermediate below it) and revocation lists.
    Both cluster CAs are made so: the cluster database's and the REST API's."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    )  # fmt: skip


@dataclass(frozen=True)
class Issued:
    """Files written for one principal or member (paths, for the caller to report)."""

    what: str
    files: tuple[Path, ...]
    user: str | None = None


class ClusterCA:
    """The CA in ``directory``: :meth:`create` once, then :meth:`load` to issue."""

    def __init__(self, directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey):
        self.directory = directory
        self.cert = cert
        self._key = key

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(cls, directory: Path, cluster: str) -> ClusterCA:
        """A new CA and JWT key pair in ``directory``; refuses to overwrite an existing CA."""
        if (directory / "ca.key").exists():
            raise ValidationError.single(
                "dir", f"{directory} already holds a CA (ca.key); use it or choose another dir"
            )
        key = ec.generate_private_key(ec.SECP256R1())
        name = _subject("cluster-database-ca", f"Wolfpack cluster {cluster} etcd CA")
        now = _now()
        cert = (
            ca_builder(name, key)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        _write(directory / "ca.key", _key_pem(key), 0o600)
        _write(directory / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        jwt = ec.generate_private_key(ec.SECP256R1())
        _write(directory / "jwt.key", _key_pem(jwt), 0o600)
        pub = jwt.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(directory / "jwt.pub", pub, 0o644)
        return cls(directory, cert, key)

    @classmethod
    def load(cls, directory: Path) -> ClusterCA:
        try:
            cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
            key = serialization.load_pem_private_key(
                (directory / "ca.key").read_bytes(), password=None
            )
        except FileNotFoundError as exc:
            raise ValidationError.single(
                "dir",
                f"no cluster database CA in {directory} ({exc.filename} is missing): "
                "create one with 'wolfpack cluster certs init'",
            ) from None
        except (OSError, ValueError) as exc:
            why = f"cannot read the CA in {directory}: {exc}"
            raise ValidationError.single("dir", why) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValidationError.single("dir", f"{directory}/ca.key is not an EC key")
        return cls(directory, cert, key)

    @classmethod
    def open(cls, directory: Path, cluster: str) -> ClusterCA:
        """The CA in ``directory``, created there first if it has none (lab and tests)."""
        if (directory / "ca.key").exists():
            return cls.load(directory)
        return cls.create(directory, cluster)

    # -- issuing --------------------------------------------------------------------------

    def _leaf(
        self,
        subject: x509.Name,
        sans: list[x509.GeneralName],
        usages: list[x509.ObjectIdentifier],
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def issue_member(self, name: str, addresses: Iterable[str], out: Path) -> Issued:
        """An etcd member's files in ``out``: ``server.crt/key`` (client port), ``peer.crt/key``
        (peer port), ``ca.crt``, and the shared ``jwt.key/pub`` (token signing)."""
        ips = sorted({*addresses, "127.0.0.1"})
        for a in ips:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValidationError.single("address", f"{a!r} is not an IP address") from None
        sans: list[x509.GeneralName] = [x509.DNSName(name), x509.DNSName("localhost")]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        # no common name on the server certificate: etcd's gateway dials the member with it
        server = self._leaf(_subject("etcd-member"), sans, both)
        peer = self._leaf(_subject("etcd-member", PEER_CN), sans, both)
        files = [
            *self._pair(out / "server", server),
            *self._pair(out / "peer", peer),
            self._ca_copy(out),
        ]
        for part in ("jwt.key", "jwt.pub"):
            data = (self.directory / part).read_bytes()
            _write(out / part, data, 0o600 if part.endswith(".key") else 0o644)
            files.append(out / part)
        return Issued(f"etcd member {name}", tuple(files))

    def issue_principal(
        self, kind: PrincipalKind, name: str, out: Path, *, stem: str | None = None
    ) -> tuple[Issued, str]:
        """A client certificate, key and password for ``kind:name`` in ``out``
        (``<stem>.crt/.key/.password``, stem defaulting to ``kind``), and ``ca.crt``.
        Returns what was written and the password (for creating the etcd user)."""
        user = user_name(kind, name)
        cert_key = self._leaf(
            _subject(kind),
            [x509.UniformResourceIdentifier(USER_URI + quote(user, safe=":@"))],
            [ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        password = secrets.token_urlsafe(32)
        base = out / (stem or kind)
        files = [*self._pair(base, cert_key), self._ca_copy(out)]
        _write(base.with_suffix(".password"), password.encode() + b"\n", 0o600)
        files.append(base.with_suffix(".password"))
        return Issued(f"{kind} {name}", tuple(files), user), password

    def _pair(self, base: Path, pair: tuple[bytes, bytes]) -> list[Path]:
        cert, key = base.with_suffix(".crt"), base.with_suffix(".key")
        _write(key, pair[1], 0o600)
        _write(cert, pair[0], 0o644)
        return [cert, key]

    def _ca_copy(self, out: Path) -> Path:
        target = out / "ca.crt"
        if target.resolve() != self.cert_path.resolve():
            _write(target, self.cert_pem, 0o644)
        return target


def user_of(cert_pem: bytes) -> str | None:
    """The etcd user a principal certificate names (its ``urn:wolfpack:etcd-user:`` URI)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(USER_URI):
            return unquote(uri[len(USER_URI) :])
    return None
