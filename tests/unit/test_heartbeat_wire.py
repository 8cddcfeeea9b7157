"""The heartbeat packet: round trip, signature, malformed input, fuzz."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wolfpack.errors import ValidationError
from wolfpack.node.heartbeat_wire import (
    MAX_NODE_BYTES,
    BadSignature,
    Heartbeat,
    MalformedPacket,
    PacketError,
    decode,
    encode,
)

SECRET = b"0123456789abcdef-cluster-secret"
HB = Heartbeat(
    node_id=3, node="node3", network="private", incarnation=1_700_000_000_123, sequence=42
)


def test_round_trip() -> None:
    assert decode(encode(HB, SECRET), SECRET) == HB


def test_round_trip_unicode_and_extremes() -> None:
    hb = Heartbeat(255, "n" * MAX_NODE_BYTES, "réseau privé", 2**64 - 1, 0)
    assert decode(encode(hb, SECRET), SECRET) == hb


@pytest.mark.parametrize("index", range(len(encode(HB, SECRET))))
def test_any_tampered_byte_is_rejected(index: int) -> None:
    data = bytearray(encode(HB, SECRET))
    data[index] ^= 0x01
    with pytest.raises(PacketError):
        decode(bytes(data), SECRET)


def test_tampered_sequence_is_a_bad_signature() -> None:
    data = bytearray(encode(HB, SECRET))
    data[-33] ^= 0xFF  # last byte of the sequence
    with pytest.raises(BadSignature):
        decode(bytes(data), SECRET)


def test_wrong_secret_is_a_bad_signature() -> None:
    with pytest.raises(BadSignature):
        decode(encode(HB, SECRET), b"another-secret-of-this-cluster")


@pytest.mark.parametrize("keep", [0, 3, 4, 7, 12, 20, 40, -1])
def test_truncated_is_malformed(keep: int) -> None:
    data = encode(HB, SECRET)
    with pytest.raises(MalformedPacket):
        decode(data[:keep], SECRET)


def test_trailing_bytes_are_malformed() -> None:
    with pytest.raises(MalformedPacket):
        decode(encode(HB, SECRET) + b"\0", SECRET)


def test_other_version_is_malformed() -> None:
    data = bytearray(encode(HB, SECRET))
    data[4] = 2
    with pytest.raises(MalformedPacket, match="version"):
        decode(bytes(data), SECRET)


def test_fields_that_do_not_fit_are_refused_by_name() -> None:
    bad = Heartbeat(0, "x" * (MAX_NODE_BYTES + 1), "", -1, 2**64)
    with pytest.raises(ValidationError) as info:
        encode(bad, SECRET)
    assert {e.field for e in info.value.errors} == {
        "node_id",
        "node",
        "network",
        "incarnation",
        "sequence",
    }


@given(st.binary(max_size=400))
def test_random_bytes_raise_only_packet_errors(data: bytes) -> None:
    with contextlib.suppress(PacketError):
        decode(data, SECRET)


@given(st.binary(min_size=1, max_size=120), st.integers(0, 200))
def test_random_edits_of_a_real_packet_raise_only_packet_errors(junk: bytes, at: int) -> None:
    data = encode(HB, SECRET)
    edited = data[:at] + junk + data[at + len(junk) :]
    with contextlib.suppress(PacketError):
        assert decode(edited, SECRET) == HB  # nothing else can carry a valid signature


@given(
    st.integers(1, 255),
    st.text(min_size=1, max_size=15),
    st.text(min_size=1, max_size=60),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)
def test_round_trip_property(node_id: int, node: str, network: str, inc: int, seq: int) -> None:
    hb = Heartbeat(node_id, node, network, inc, seq)
    assert decode(encode(hb, SECRET), SECRET) == hb
