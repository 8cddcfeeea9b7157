"""Node-to-node credentials for the API's fan-out (M9): one node's API asks another's for
what only that node knows (its log lines) without forwarding the caller's token.

The caller's token never leaves the node it was sent to: the addresses of the other APIs
are read from the cluster database (``<root>api/<node>``), and whoever could rewrite one
would collect every token sent there. Instead the asking node signs a short-lived
credential with a key derived from the cluster secret (which every node holds and the
database never does): it names the asking node, the node asked, the one path it is good
for and when it expires (:data:`LIFETIME_S`). The node asked checks that it is the one
named, the path, the expiry and the MAC against every key of its key ring (during a
rotation of the cluster secret, the old and the new: docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

HEADER = "x-wolfpack-peer"
LIFETIME_S = 10.0
_CONTEXT = b"wolfpack api peer v1"


def peer_key(secret: bytes) -> bytes:
    """The fan-out's key, derived from the cluster secret (never the secret itself)."""
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


def _mac(key: bytes, sender: str, target: str, path: str, expires: float) -> str:
    message = f"{sender}\n{target}\n{path}\n{expires:.3f}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, sender: str, target: str, path: str, now: float) -> str:
    """The header value ``sender`` sends to ``target`` for ``path``."""
    expires = round(now + LIFETIME_S, 3)
    return f"{sender} {target} {expires:.3f} {_mac(key, sender, target, path, expires)}"


def verify(keys: Sequence[bytes], value: str, me: str, path: str, now: float) -> str | None:
    """The sending node's name if ``value`` is a valid credential for ``me`` and ``path``
    at ``now`` under one of ``keys``, else None."""
    parts = value.split(" ")
    if len(parts) != 4:
        return None
    sender, target, expires_text, mac = parts
    try:
        expires = float(expires_text)
    except ValueError:
        return None
    if target != me or not now <= expires <= now + LIFETIME_S + 1.0:
        return None
    for key in keys:
        if hmac.compare_digest(mac, _mac(key, sender, target, path, expires)):
            return sender
    return None


def plain_beyond_loopback(url: str) -> bool:
    """Would a request to ``url`` cross a network in clear? (A token or credential goes
    only over HTTPS, or plain HTTP to this machine.)"""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return False
    try:
        return not ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return parts.hostname != "localhost"
