"""TLS for the REST API: one cluster CA, a certificate per node signed by it.

The CA is made with the cluster (``wolfpack cluster create``), or by the first daemon that
needs it. Its certificate is stored in etcd (``<root>tls/ca.crt``) so clients can verify
any node; its private key is stored there too, encrypted with the cluster secret, so every
node (which holds the secret) can sign its own certificate when it starts, while a copy of
the database alone signs nothing. A node's certificate names the node and its addresses
(every interface address, the API's listen address, 127.0.0.1) and is made again when one
of them changed, when it expires within 30 days, or when the CA changed.
"""

from __future__ import annotations

import datetime
import os
import ssl
from collections.abc import Callable, Iterable
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wolfpack.admin.cert_memo import remember, san_names
from wolfpack.errors import StoreError
from wolfpack.store.base import Delete, Put
from wolfpack.store.pki import ca_builder
from wolfpack.store.repository import ClusterDB

CA_DAYS = 3650
NODE_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wolfpack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = _now()
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=days)
    )


def make_ca(cluster: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A new self-signed cluster CA: its certificate (PEM) and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"Wolfpack cluster {cluster} CA")
    cert = _validity(ca_builder(name, key), CA_DAYS).sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), key


def ensure_ca(db: ClusterDB, secret: bytes, cluster: str) -> bytes:
    """The cluster CA certificate (PEM), made and stored now if the cluster has none."""
    found = db.ca_certificate()
    if found is not None:
        return found
    cert_pem, key = make_ca(cluster)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    db.add_ca(cert_pem, key_pem)
    stored = db.ca_certificate()  # someone else may have won the race: theirs counts
    if stored is None:
        raise StoreError("the cluster CA could not be stored")
    return stored


def _ca_key(db: ClusterDB, secret: bytes) -> ec.EllipticCurvePrivateKey:
    pem = db.encrypted_ca_key()
    if pem is None:
        raise StoreError("the cluster has no CA key: run 'wolfpack cluster create' or a daemon")
    return decrypted_ca_key(pem, secret)


def decrypted_ca_key(pem: bytes, secret: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=secret)
    except ValueError:
        raise StoreError(
            "cannot decrypt the cluster CA key with this node's cluster secret: copy the "
            "secret file from a cluster node"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise StoreError("the cluster CA key is not an EC key")
    return key


def _sans(node: str, addresses: Iterable[str]) -> list[x509.GeneralName]:
    return [
        x509.DNSName(name[4:]) if name.startswith("DNS:") else x509.IPAddress(ip_address(name[3:]))
        for name in san_names(node, addresses)
    ]


def _renewal_due(cert_path: Path, ca_pem: bytes, wanted: list[x509.GeneralName]) -> float | None:
    """When the certificate in ``cert_path`` is to be renewed (wall clock), if it is
    signed by the CA, names exactly ``wanted`` and that is still ahead; else None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return None
    due = cert.not_valid_after_utc - RENEW_BEFORE
    return due.timestamp() if due > _now() and set(sans) == set(wanted) else None


def node_certificate(
    db: ClusterDB, secret: bytes, cluster: str, node: str, addresses: Iterable[str], where: Path
) -> tuple[Path, Path]:
    """This node's certificate and key files in ``where`` (made or renewed if needed), and
    the verdict remembered (:mod:`wolfpack.admin.cert_memo`): the next start with the same
    files does not load this module."""
    ca_pem = ensure_ca(db, secret, cluster)
    return certificate_for(ca_pem, lambda: _ca_key(db, secret), node, addresses, where)


def certificate_for(
    ca_pem: bytes,
    ca_key: Callable[[], ec.EllipticCurvePrivateKey],
    node: str,
    addresses: Iterable[str],
    where: Path,
) -> tuple[Path, Path]:
    """:func:`node_certificate` once the CA is known (``ca_key()`` only if one is issued)."""
    addresses = list(addresses)
    cert_path, key_path = where / "api.crt", where / "api.key"
    due = _renewal_due(cert_path, ca_pem, _sans(node, addresses)) if key_path.exists() else None
    if due is None:
        issue(ca_pem, ca_key(), node, addresses, where)
        due = (_now() + datetime.timedelta(days=NODE_DAYS) - RENEW_BEFORE).timestamp()
    remember(where, ca_pem, san_names(node, addresses), due)
    return cert_path, key_path


def issue(
    ca_pem: bytes,
    ca_key: ec.EllipticCurvePrivateKey,
    node: str,
    addresses: Iterable[str],
    where: Path,
) -> tuple[Path, Path]:
    """A new key and certificate for ``node`` signed by ``ca_pem``'s first certificate,
    written to ``where`` (the key first, mode 0600: a reader never pairs a new
    certificate with an old key for long)."""
    cert_path, key_path = where / "api.crt", where / "api.key"
    wanted = _sans(node, addresses)
    ca = x509.load_pem_x509_certificate(ca_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(node))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    cert = _validity(builder, NODE_DAYS).sign(ca_key, hashes.SHA256())
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


# -- rotation (wolfpack cluster rotate-keys; docs/security.md) -------------------------------


def _encrypted(key: ec.EllipticCurvePrivateKey, secret: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def begin_ca_rotation(db: ClusterDB, old: bytes, new: bytes, cluster: str) -> None:
    """Make the next CA: clients trust both from now on (``tls/ca.crt`` holds the old and
    the next certificate), and its key waits in ``tls/next.key`` under the next secret."""
    current = ensure_ca(db, old, cluster)
    first = x509.load_pem_x509_certificate(current).public_bytes(serialization.Encoding.PEM)
    cert_pem, key = make_ca(cluster)
    db.store.put(db.keys.tls_next_key, _encrypted(key, new))
    db.store.put(db.keys.tls_ca_cert, first + cert_pem)


def next_ca(db: ClusterDB, new: bytes) -> tuple[bytes, ec.EllipticCurvePrivateKey] | None:
    """The next CA during a rotation (its certificate, the last of ``tls/ca.crt``, and its
    key), or None when there is none."""
    kv, bundle = db.store.get(db.keys.tls_next_key), db.ca_certificate()
    if kv is None or bundle is None:
        return None
    certs = x509.load_pem_x509_certificates(bundle)
    try:
        key = serialization.load_pem_private_key(kv.value, password=new)
    except ValueError:
        return None
    if len(certs) < 2 or not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return certs[-1].public_bytes(serialization.Encoding.PEM), key


def finish_ca_rotation_ops(db: ClusterDB, new: bytes) -> list[Put | Delete]:
    """The writes that make the next CA the only one (in the rotation's last transaction):
    certificates of the old CA are refused from then on."""
    found = next_ca(db, new)
    if found is None:
        raise StoreError("no next CA to finish the rotation with: start it again")
    cert_pem, key = found
    k = db.keys
    return [Put(k.tls_ca_cert, cert_pem), Put(k.tls_ca_key, _encrypted(key, new)),
            Delete(k.tls_next_key)]  # fmt: skip


def issued_by(cert_path: Path, ca_pem: bytes) -> bool:
    """Was the certificate in ``cert_path`` signed by ``ca_pem``'s first certificate?"""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    """Verifies a node's API against the cluster CA (host name checked against the SANs)."""
    return ssl.create_default_context(cadata=ca_pem.decode())
