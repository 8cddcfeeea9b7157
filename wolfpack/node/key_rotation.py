"""A node following a rotation of the cluster secret and the API's CA (the phases are
:mod:`wolfpack.node.keyring`'s): apply each phase's keys to the heartbeats and the API,
re-issue the API certificate from the next CA, write the new secret to the secret file,
and say so in ``<root>rotation/acks/<node>`` so ``wolfpack cluster rotate-keys`` knows
when every live node is ready for the next phase. Runs on the daemon's watch thread.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.node.keyring import Keys, Rotation, keys_for, parse
from wolfpack.node.secret import verifier
from wolfpack.store import KeySpace, Store
from wolfpack.store.repository import ClusterDB


def read_rotation(store: Store, keys: KeySpace) -> Rotation | None:
    kv = store.get(keys.rotation)
    return parse(kv.value) if kv is not None else None


def write_secret(path: Path, secret: bytes) -> None:
    """Replace the secret file in one step (a crash leaves the old or the new, whole)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def adopt_at_start(
    store: Store, keys: KeySpace, held: bytes, secret_file: Path, log: Callable[..., None]
) -> bytes:
    """The secret this node starts with: ``held``, or the new one of a rotation that
    finished while it was down (written to its file first)."""
    try:
        rotation = read_rotation(store, keys)
    except StoreError as exc:
        log("key_rotation_unreadable", level="warning", error=str(exc))
        return held
    current = keys_for(held, rotation).current
    if current != held:
        write_secret(secret_file, current)
        log("secret_rotated", rotation=rotation.id if rotation else None, at="start")
    return current


class KeyFollower:
    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        node: str,
        secret_file: Path,
        held: bytes,
        *,
        apply: Callable[[Keys], None],
        certificate: Callable[[Keys, str], None],
        log: Callable[..., None],
    ) -> None:
        """``apply(keys)``: sign and accept with these from now on (heartbeats, API).
        ``certificate(keys, phase)``: make sure the API's certificate is from the CA of
        that phase (the next CA from ``send`` on)."""
        self.store, self.keys, self.node, self.secret_file = store, keys, node, secret_file
        self.held = held
        self._apply, self._certificate, self._log = apply, certificate, log
        self.current = Keys(held, (held,), held)
        self._acked: tuple[str, str] | None = None

    def follow(self) -> None:
        """Apply the rotation document as it is now (idempotent: called on every change)."""
        try:
            rotation = read_rotation(self.store, self.keys)
        except StoreError as exc:
            self._log("key_rotation_unreadable", level="warning", error=str(exc))
            return
        if rotation is None:
            return
        wanted = keys_for(self.held, rotation)
        if wanted != self.current:
            self._apply(wanted)
            self.current = wanted
            self._log("key_rotation_phase", rotation=rotation.id, phase=rotation.phase)
        if rotation.phase in ("send", "done"):
            try:
                self._certificate(wanted, rotation.phase)
            except (WolfpackError, OSError, ValueError) as exc:
                self._log("api_certificate_failed", level="warning", error=str(exc))
        if wanted.current != self.held:
            try:
                write_secret(self.secret_file, wanted.current)
            except OSError as exc:  # no ack: the rotation waits, and says which node
                self._log("secret_write_failed", level="error", error=str(exc))
                return
            self.held = wanted.current
            self.current = Keys(self.held, (self.held,), self.held)
            self._log("secret_rotated", rotation=rotation.id)
        mine = verifier(self.held).decode() in (rotation.old_verifier, rotation.new_verifier)
        if mine and self._acked != (rotation.id, rotation.phase):
            ack = {"id": rotation.id, "phase": rotation.phase}
            try:
                self.store.put(self.keys.rotation_ack(self.node), json.dumps(ack).encode())
                self._acked = (rotation.id, rotation.phase)
            except StoreError as exc:
                self._log("key_rotation_ack_failed", level="warning", error=str(exc))


def rotate_certificate(
    db: ClusterDB, keys: Keys, phase: str, node: str, addresses: list[str], where: Path
) -> bool:
    """Make sure this node's API certificate is from the CA of ``phase`` (the next CA from
    ``send`` on, the only CA at ``done``); True when a new one was issued."""
    from wolfpack.admin import tls  # lazy: cryptography's x509 only when TLS is on

    cert = where / "api.crt"
    if phase == "send":
        if keys.upcoming is None:
            return False
        found = tls.next_ca(db, keys.upcoming)
        if found is None or tls.issued_by(cert, found[0]):
            return False
        tls.issue(found[0], found[1], node, addresses, where)
        return True
    ca = db.ca_certificate()
    if ca is None or tls.issued_by(cert, ca):
        return False
    name = db.load_config()[0].cluster.name
    tls.node_certificate(db, keys.current, name, node, addresses, where)
    return True
