"""The cluster secret: signs heartbeats, and proves a joining node belongs (S20).

The cluster database stores only a verifier (an HMAC of a fixed message under the secret),
never the secret itself; a node with the wrong secret is refused before it does anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from wolfpack.errors import ValidationError
from wolfpack.store import KeySpace, Store, put_if_absent

_MESSAGE = b"wolfpack cluster secret v1"


def verifier_key(keys: KeySpace) -> str:
    return keys.secret_verifier


def verifier(secret: bytes) -> bytes:
    return hmac.new(secret, _MESSAGE, hashlib.sha256).hexdigest().encode()


def new_secret() -> bytes:
    return secrets.token_hex(32).encode()


def read_secret(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ValidationError.single(
            "secret_file", f"cannot read the cluster secret {path}: {exc.strerror}"
        ) from None
    if len(secret) < 16:
        raise ValidationError.single("secret_file", f"{path} holds fewer than 16 bytes")
    return secret


def register(store: Store, keys: KeySpace, secret: bytes) -> None:
    """Store the verifier when the cluster is created (only once)."""
    put_if_absent(store, verifier_key(keys), verifier(secret))


def check(store: Store, keys: KeySpace, secret: bytes) -> None:
    kv = store.get(verifier_key(keys))
    check_verifier(kv.value if kv is not None else None, secret)


def check_verifier(stored: bytes | None, secret: bytes) -> None:
    """Refuse ``secret`` unless it matches the cluster's ``stored`` verifier."""
    if stored is None:
        raise ValidationError.single(
            "secret", "the cluster has no secret yet: create it with 'wolfpack cluster create'"
        )
    if not hmac.compare_digest(stored, verifier(secret)):
        raise ValidationError.single(
            "secret",
            "wrong cluster secret: this node may not join; copy the secret file from a "
            "cluster node",
        )
