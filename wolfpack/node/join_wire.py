"""The join handshake's cryptography (issue 10): a request signed with the cluster secret,
and an answer only a holder of the secret can read.

``wolfpack cluster join`` reaches the cluster's REST API at the cluster name before it has
the cluster's CA, so it cannot check the server's TLS certificate. It does not need to:

* the request (node name, addresses, a fresh nonce, the time) carries an HMAC-SHA256 under
  a key derived from the cluster secret, so only a holder of the secret can add a node; a
  request older than :data:`MAX_AGE_S` is refused (a replay);
* the answer (certificates, keys, passwords, the member list) is sealed with AES-256-GCM
  under a key derived (HKDF-SHA256) from the secret and the joiner's nonce, so a server
  without the secret cannot forge one and an eavesdropper cannot read one.

Two keys from one secret, each for one purpose (``info`` in HKDF), so the MAC key is never
the encryption key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from wolfpack.errors import AuthError, ValidationError

PROTOCOL = "wolfpack-join-1"
#: a signed request older (or newer) than this is refused: clocks must roughly agree
MAX_AGE_S = 300.0


def _key(secret: bytes, purpose: bytes, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``secret``, 32 bytes: one block of the expand step. Written
    with :mod:`hmac` so that a daemon checks a join request without loading cryptography
    (~9 MB resident for the rest of its life, issue 12); tests/unit/test_join_wire.py holds
    it to cryptography's HKDF byte for byte."""
    prk = hmac.new(salt or bytes(hashlib.sha256().digest_size), secret, hashlib.sha256)
    return hmac.new(prk.digest(), purpose + b"\x01", hashlib.sha256).digest()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def new_nonce() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode()


def sign(secret: bytes, payload: dict[str, Any], now: float, nonce: str) -> dict[str, Any]:
    """The request to send: ``payload`` with the nonce, time and protocol, and its MAC."""
    body = {**payload, "nonce": nonce, "time": now, "protocol": PROTOCOL}
    mac = hmac.new(_key(secret, b"wolfpack join request"), _canonical(body), hashlib.sha256)
    return {"request": body, "mac": mac.hexdigest()}


def verify(secret: bytes, message: dict[str, Any], now: float) -> dict[str, Any]:
    """The request's body if its MAC is right and it is fresh; AuthError otherwise (which
    says what to check, never which part was wrong beyond that)."""
    body, mac = message.get("request"), message.get("mac")
    if not isinstance(body, dict) or not isinstance(mac, str):
        raise ValidationError.single("request", "a join request has 'request' and 'mac'")
    if body.get("protocol") != PROTOCOL:
        raise ValidationError.single(
            "protocol", f"this node speaks {PROTOCOL}: use the same Wolfpack version"
        )
    want = hmac.new(_key(secret, b"wolfpack join request"), _canonical(body), hashlib.sha256)
    if not hmac.compare_digest(want.hexdigest(), mac):
        raise AuthError(
            "the join request is not signed with this cluster's secret: copy the cluster "
            "secret (/etc/wolfpack/secret on a node) to the joining node"
        )
    sent = body.get("time")
    if not isinstance(sent, int | float) or abs(now - sent) > MAX_AGE_S:
        raise AuthError(
            f"the join request's time is more than {MAX_AGE_S:.0f} s from this node's clock: "
            "synchronise the clocks (chrony) and join again"
        )
    return body


def seal(secret: bytes, nonce: str, bundle: dict[str, Any]) -> dict[str, str]:
    """``bundle`` encrypted and authenticated for the joiner that sent ``nonce``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # the join's child only

    iv = os.urandom(12)
    key = _key(secret, b"wolfpack join bundle", nonce.encode())
    data = AESGCM(key).encrypt(iv, _canonical(bundle), nonce.encode())
    return {"iv": base64.b64encode(iv).decode(), "sealed": base64.b64encode(data).decode()}


def unseal(secret: bytes, nonce: str, sealed: dict[str, Any]) -> dict[str, Any]:
    """The bundle; AuthError if it was not sealed with this secret for this nonce."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        iv = base64.b64decode(str(sealed["iv"]))
        data = base64.b64decode(str(sealed["sealed"]))
        key = _key(secret, b"wolfpack join bundle", nonce.encode())
        plain = AESGCM(key).decrypt(iv, data, nonce.encode())
    except (KeyError, ValueError, InvalidTag):
        raise AuthError(
            "the answer to the join was not made with this cluster's secret: the name "
            "reached a server that is not this cluster's node"
        ) from None
    bundle = json.loads(plain)
    if not isinstance(bundle, dict):
        raise AuthError("the join answer is not a bundle")
    return bundle
