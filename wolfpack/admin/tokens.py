"""API tokens: a name, a role (``admin`` or ``read-only``) and the sha256 of a random secret.

Only the hash is stored (``<root>tokens/<name>``), so a copy of the database gives no
working token; the secret is shown once, when the token is made. The token an administrator
hands to a client is ``<name>.<secret>``, so the API can say which token was wrong; the hash
alone decides whether it is valid. Written straight to the store, so the first admin token
can be made before any API runs (``wolfpack token create``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Final

from wolfpack.errors import AlreadyExistsError, NotFoundError, StoreError, ValidationError
from wolfpack.store.repository import ClusterDB

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class Role(StrEnum):
    ADMIN = "admin"
    READ_ONLY = "read-only"


@dataclass(frozen=True)
class Token:
    name: str
    role: Role
    sha256: str  # hex digest of the secret
    created: float
    #: after ``rotate``: the previous secret's digest, accepted until ``previous_until``
    previous_sha256: str = ""
    previous_until: float = 0.0

    def public(self) -> dict[str, object]:
        """What may be shown: everything but the hashes."""
        out: dict[str, object] = {
            "name": self.name,
            "role": str(self.role),
            "created": self.created,
        }
        if self.previous_sha256:
            out["previous_until"] = self.previous_until
        return out

    def document(self) -> bytes:
        return json.dumps({**asdict(self), "role": str(self.role)}, sort_keys=True).encode()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(raw: bytes, name: str) -> Token:
    try:
        data = json.loads(raw)
        return Token(
            data["name"], Role(data["role"]), data["sha256"], float(data["created"]),
            str(data.get("previous_sha256", "")), float(data.get("previous_until", 0.0)),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"corrupt document of token {name!r}: {exc}") from None


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValidationError.single(
            "name", f"{name!r} is not a token name: letters, digits, '-', '_', up to 63"
        )


def create(
    db: ClusterDB, name: str, role: Role | str, *, clock: Callable[[], float] = time.time
) -> tuple[Token, str]:
    """Make token ``name``; returns it and the full token text (shown only now)."""
    check_name(name)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError.single("role", f"{role!r}: must be admin or read-only") from None
    secret = secrets.token_urlsafe(32)
    token = Token(name, role, digest(secret), clock())
    if not db.add_token(name, token.document()):
        raise AlreadyExistsError("token", name)
    return token, f"{name}.{secret}"


def from_documents(documents: Mapping[str, bytes]) -> dict[str, Token]:
    """Tokens by name from their stored documents (``token_documents()`` of a read)."""
    return {name: parse_token(raw, name) for name, raw in documents.items()}


def list_tokens(db: ClusterDB) -> list[Token]:
    found = from_documents(db.token_documents())
    return sorted(found.values(), key=lambda t: t.name)


def delete(db: ClusterDB, name: str) -> Token:
    found = {t.name: t for t in list_tokens(db)}
    if name not in found or not db.delete_token(name):
        raise NotFoundError("token", name)
    return found[name]


def rotate(
    db: ClusterDB, name: str, overlap_s: float, *, clock: Callable[[], float] = time.time
) -> tuple[Token, str]:
    """A new secret for token ``name`` (same name and role); the old one still works for
    ``overlap_s`` seconds, so its clients can be given the new one without an outage, and
    is refused after. Returns the token and its new full text (shown only now)."""
    if overlap_s < 0:
        raise ValidationError.single("overlap", "must be 0 or more seconds")
    stored = db.token_documents().get(name)
    if stored is None:
        raise NotFoundError("token", name)
    old = parse_token(stored, name)
    secret = secrets.token_urlsafe(32)
    token = Token(name, old.role, digest(secret), old.created, old.sha256, clock() + overlap_s)
    if not db.replace_token(name, stored, token.document()):
        raise StoreError(f"token {name!r} changed while it was rotated: try again")
    return token, f"{name}.{secret}"


def verify(tokens: Mapping[str, Token], presented: str, now: float | None = None) -> Token | None:
    """The token ``presented`` (``name.secret``) is, or None. The previous secret of a
    rotated token counts until its overlap ends (``now``: the caller's clock)."""
    name, dot, secret = presented.partition(".")
    token = tokens.get(name)
    if not dot or token is None:
        return None
    given = digest(secret)
    if hmac.compare_digest(token.sha256, given):
        return token
    if token.previous_sha256 and (now if now is not None else time.time()) < token.previous_until:
        return token if hmac.compare_digest(token.previous_sha256, given) else None
    return None
