"""The in-process ARP probe's frames (wolfpack.resources.arp): what it sends, and which
frames it takes for another host using the address (RFC 5227, issue 12)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from wolfpack.resources.arp import probe_frame, sender_of

MINE = bytes.fromhex("020000000001")
OTHER = bytes.fromhex("020000000002")
VIP = IPv4Address("198.51.100.20")


def arp_frame(op: int, sha: bytes, spa: IPv4Address, tpa: IPv4Address) -> bytes:
    eth = b"\xff" * 6 + sha + struct.pack("!H", 0x0806)
    return (
        eth + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa.packed + b"\0" * 6 + tpa.packed
    )


def test_the_probe_says_nothing_about_us() -> None:
    frame = probe_frame(MINE, VIP)
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == MINE and frame[12:14] == b"\x08\x06"
    assert frame[20:22] == b"\x00\x01"  # a request
    assert frame[28:32] == b"\0\0\0\0" and frame[38:42] == VIP.packed  # sender 0.0.0.0


def test_a_reply_or_an_announcement_from_another_host_is_an_owner() -> None:
    assert sender_of(arp_frame(2, OTHER, VIP, VIP), VIP, MINE) == "02:00:00:00:00:02"
    assert sender_of(arp_frame(1, OTHER, VIP, VIP), VIP, MINE) == "02:00:00:00:00:02"


def test_other_frames_are_no_owner() -> None:
    other_ip = IPv4Address("198.51.100.21")
    assert sender_of(arp_frame(2, OTHER, other_ip, VIP), VIP, MINE) is None  # other address
    assert sender_of(arp_frame(2, MINE, VIP, VIP), VIP, MINE) is None  # our own
    assert sender_of(probe_frame(OTHER, VIP), VIP, MINE) is None  # another prober (sender 0.0.0.0)
    assert sender_of(b"\xff" * 14, VIP, MINE) is None  # short, not ARP
    ipv4 = arp_frame(2, OTHER, VIP, VIP)[:12] + b"\x08\x00" + arp_frame(2, OTHER, VIP, VIP)[14:]
    assert sender_of(ipv4, VIP, MINE) is None
