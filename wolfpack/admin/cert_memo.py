"""A node's API certificate found good, remembered byte for byte (the standard library only).

Checking the certificate (signed by the cluster CA, naming this node and its addresses, not
due for renewal) needs cryptography, whose Rust core alone keeps about 9 MB resident for
the rest of the daemon's life (issue 12: at most 60 MB per ``wolfpackd``). So the verdict
is kept beside the certificate (:mod:`wolfpack.store.verdict_memo`) with a digest of the
certificate, key, CA and names wanted, until renewal is due; a daemon that starts again
with the same files, CA and names takes it and never loads cryptography. Anything changed
(a new CA, a key rotation's certificate, an address) changes the digest, and
:func:`wolfpack.admin.tls.node_certificate` checks in full again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path

from wolfpack.store.verdict_memo import recall, record

__all__ = ["MEMO_NAME", "remember", "remembered", "san_names"]

MEMO_NAME = "api.checked"


def san_names(node: str, addresses: Iterable[str]) -> list[str]:
    """The subject alternative names a node's certificate carries: ``DNS:<node>``,
    ``DNS:localhost``, then ``IP:<address>`` for each IP address and 127.0.0.1, sorted."""
    ips = sorted({*addresses, "127.0.0.1"})
    return [f"DNS:{node}", "DNS:localhost", *(f"IP:{a}" for a in ips if _is_ip(a))]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parts(where: Path, ca_pem: bytes, names: Sequence[str]) -> list[bytes] | None:
    try:
        cert, key = (where / "api.crt").read_bytes(), (where / "api.key").read_bytes()
    except OSError:
        return None
    return [cert, key, ca_pem, "\n".join(names).encode()]


def remembered(where: Path, ca_pem: bytes, names: Sequence[str], now: float) -> bool:
    """Was this very certificate and key, with this CA and these names, found good, and is
    renewal not yet due at ``now`` (wall clock)?"""
    parts = _parts(where, ca_pem, names)
    return parts is not None and recall(where / MEMO_NAME, parts, now) is not None


def remember(where: Path, ca_pem: bytes, names: Sequence[str], renew_at: float) -> None:
    """Record that the certificate and key in ``where`` are good until ``renew_at``."""
    parts = _parts(where, ca_pem, names)
    if parts is not None:
        record(where / MEMO_NAME, parts, {"good": True}, until=renew_at)
