"""The heartbeat packet: encode, decode and sign (pure; no sockets, no clock).

One UDP datagram, big-endian, signed with HMAC-SHA256 under the cluster secret::

    offset  size  field
    0       4     magic b"WPHB"            tells a heartbeat from stray traffic on the port
    4       1     version (1)              lets a later format coexist during a rolling upgrade
    5       1     sender node id (1..255)
    6       1     n = length of sender name (1..63 bytes, UTF-8)
    7       n     sender name
    7+n     1     m = length of network name (1..255 bytes, UTF-8)
    8+n     m     network name             so a packet cannot be moved to another network's port
    8+n+m   8     incarnation              sender's start time in ns: a restarted sender starts
                                           a new, larger incarnation and its sequence may restart
    16+n+m  8     sequence                 per sender per network, strictly increasing
    24+n+m  32    HMAC-SHA256 of every byte before it

Replay protection (incarnation, sequence) is the receiver's job (:mod:`wolfpack.node.membership`);
this module only checks that a packet is well formed and signed by someone holding the secret.
:func:`decode` raises only :class:`PacketError` subclasses, whatever the bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from wolfpack.errors import FieldError, ValidationError, WolfpackError

__all__ = [
    "MAGIC",
    "MAX_NETWORK_BYTES",
    "MAX_NODE_BYTES",
    "VERSION",
    "BadSignature",
    "Heartbeat",
    "MalformedPacket",
    "PacketError",
    "check",
    "decode",
    "encode",
]

MAGIC = b"WPHB"
VERSION = 1
MAX_NODE_BYTES = 63
MAX_NETWORK_BYTES = 255

_HEAD = struct.Struct("!4sBBB")  # magic, version, node id, node name length
_COUNTERS = struct.Struct("!QQ")  # incarnation, sequence
_DIGEST = hashlib.sha256().digest_size
_U64 = 2**64


class PacketError(WolfpackError):
    """A received datagram is not an acceptable heartbeat; it is dropped and counted."""


class MalformedPacket(PacketError):
    """Not a well-formed version-1 heartbeat (short, wrong magic or version, garbled)."""


class BadSignature(PacketError):
    """Well formed, but the HMAC does not match: wrong cluster secret or tampered bytes."""


@dataclass(frozen=True)
class Heartbeat:
    """What one packet says: ``node`` (id ``node_id``) was alive on ``network``."""

    node_id: int
    node: str
    network: str
    incarnation: int
    sequence: int


def check(hb: Heartbeat) -> None:
    """Raise :class:`ValidationError` naming every field that cannot go on the wire."""
    errors: list[FieldError] = []
    if not 0 < hb.node_id < 256:
        errors.append(FieldError("node_id", f"{hb.node_id} is not in 1..255"))
    node = hb.node.encode()
    if not 0 < len(node) <= MAX_NODE_BYTES:
        errors.append(FieldError("node", f"{hb.node!r} must be 1..{MAX_NODE_BYTES} bytes"))
    network = hb.network.encode()
    if not 0 < len(network) <= MAX_NETWORK_BYTES:
        errors.append(FieldError("network", f"{hb.network!r} must be 1..{MAX_NETWORK_BYTES} bytes"))
    for name in ("incarnation", "sequence"):
        value: int = getattr(hb, name)
        if not 0 <= value < _U64:
            errors.append(FieldError(name, f"{value} does not fit in 64 bits"))
    if errors:
        raise ValidationError(errors)


def encode(hb: Heartbeat, secret: bytes) -> bytes:
    """The signed datagram for ``hb``; raises :class:`ValidationError` if a field won't fit."""
    check(hb)
    node, network = hb.node.encode(), hb.network.encode()
    body = b"".join(
        (
            _HEAD.pack(MAGIC, VERSION, hb.node_id, len(node)),
            node,
            bytes((len(network),)),
            network,
            _COUNTERS.pack(hb.incarnation, hb.sequence),
        )
    )
    return body + hmac.digest(secret, body, "sha256")


def decode(data: bytes, secret: bytes) -> Heartbeat:
    """Parse and verify one datagram. Structure is checked first (:class:`MalformedPacket`),
    then the signature (:class:`BadSignature`), and only then are the names decoded, so
    nothing unsigned is ever interpreted."""
    if len(data) < _HEAD.size:
        raise MalformedPacket(f"short packet ({len(data)} bytes)")
    magic, version, node_id, node_len = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise MalformedPacket("bad magic")
    if version != VERSION:
        raise MalformedPacket(f"unsupported version {version}")
    if not 0 < node_len <= MAX_NODE_BYTES:
        raise MalformedPacket(f"bad node name length {node_len}")
    at = _HEAD.size + node_len
    if len(data) < at + 1:
        raise MalformedPacket("short packet")
    network_len = data[at]
    if network_len == 0:
        raise MalformedPacket("empty network name")
    counters_at = at + 1 + network_len
    body_len = counters_at + _COUNTERS.size
    if len(data) != body_len + _DIGEST:
        raise MalformedPacket(
            f"length {len(data)} does not match its fields ({body_len + _DIGEST})"
        )
    body, mac = data[:body_len], data[body_len:]
    if not hmac.compare_digest(mac, hmac.digest(secret, body, "sha256")):
        raise BadSignature("HMAC mismatch")
    try:
        node = data[_HEAD.size : at].decode()
        network = data[at + 1 : counters_at].decode()
    except UnicodeDecodeError:
        raise MalformedPacket("name is not UTF-8") from None
    incarnation, sequence = _COUNTERS.unpack_from(data, counters_at)
    return Heartbeat(node_id, node, network, incarnation, sequence)
