"""Rotating the cluster secret without downtime (issue 11 item 4): which keys a node signs
and accepts with, at each phase of a rotation.

``wolfpack cluster rotate-keys`` writes one document, ``<root>rotation/current``: the
verifiers of the old and the new secret, and the new secret sealed (AES-GCM) under a key
derived from the old one, so only a holder of the old secret can read it (the database
alone gives nothing). It then moves the document through three phases, waiting each time
until every live node has applied the phase (``<root>rotation/acks/<node>``):

* ``accept``: every node accepts heartbeats (and the API fan-out's credentials) signed
  with either secret, and still signs with the old one;
* ``send``: every node signs with the new one, still accepting both (a node that has not
  yet switched is still heard); nodes re-issue their API certificate from the next CA;
* ``done``: the database's verifier is the new secret's; nodes accept only the new one and
  write it to their secret file. A node that was down all along adopts it when it starts
  (it still holds the old secret, which unseals the new one).

A node holding neither secret of the document is left alone (its own secret decides, and
the verifier check at start refuses it, as before). Pure: no I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from typing import Literal

from wolfpack.errors import StoreError
from wolfpack.node.secret import verifier

Phase = Literal["accept", "send", "done"]
PHASES: tuple[Phase, ...] = ("accept", "send", "done")
_SEAL_CONTEXT = b"wolfpack secret rotation v1"


@dataclass(frozen=True)
class Rotation:
    id: str
    phase: Phase
    old_verifier: str
    new_verifier: str
    sealed: str  # base64 of nonce + AES-GCM(new secret)
    started: float

    def dump(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def parse(raw: bytes) -> Rotation:
    try:
        data = json.loads(raw)
        if data["phase"] not in PHASES:
            raise ValueError(f"unknown phase {data['phase']!r}")
        return Rotation(
            str(data["id"]), data["phase"], str(data["old_verifier"]),
            str(data["new_verifier"]), str(data["sealed"]), float(data["started"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"corrupt key rotation document: {exc}") from None


def _seal_key(old: bytes) -> bytes:
    return hmac.new(old, _SEAL_CONTEXT, hashlib.sha256).digest()


def seal(old: bytes, new: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # lazy: only rotations

    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_seal_key(old)).encrypt(nonce, new, None)).decode()


def unseal(old: bytes, sealed: str) -> bytes | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.b64decode(sealed)
        return AESGCM(_seal_key(old)).decrypt(raw[:12], raw[12:], None)
    except (ValueError, InvalidTag):
        return None


def start(rotation_id: str, old: bytes, new: bytes, now: float) -> Rotation:
    return Rotation(
        rotation_id, "accept", verifier(old).decode(), verifier(new).decode(), seal(old, new), now
    )


@dataclass(frozen=True)
class Keys:
    """What a node does with the secrets it holds: sign with ``send``, accept any of
    ``accept`` (``send`` first), and keep ``current`` (its secret file, the CA key's)."""

    send: bytes
    accept: tuple[bytes, ...]
    current: bytes
    #: the next secret while a rotation is under way (for the next CA's key), else None
    upcoming: bytes | None = None


def keys_for(held: bytes, rotation: Rotation | None) -> Keys:
    """The keys of a node holding ``held`` at ``rotation``'s phase (None: no rotation)."""
    alone = Keys(held, (held,), held)
    if rotation is None or verifier(held).decode() != rotation.old_verifier:
        return alone  # no rotation, already the new secret, or not ours
    new = unseal(held, rotation.sealed)
    if new is None or verifier(new).decode() != rotation.new_verifier:
        return alone  # tampered or corrupt: keep what we have
    if rotation.phase == "accept":
        return Keys(held, (held, new), held, new)
    if rotation.phase == "send":
        return Keys(new, (new, held), held, new)
    return Keys(new, (new,), new)
