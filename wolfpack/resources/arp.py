"""The IP Address agent's duplicate-address probe (RFC 5227), in-process.

``arping -0`` did the same, but a process whose start and exit (libpcap's socket and ring
set up and torn down) cost about 0.1 s beyond its own wait, on every failover's path. Here
one ``AF_PACKET`` socket on the interface sends ARP probes (sender 0.0.0.0, so no neighbour
learns anything from them) and listens for any ARP frame whose *sender* address is the one
probed: a host that answers, or announces, or already uses it. Its MAC is returned.

A named network namespace (tests, a tool driving a lab node from outside) is entered by a
short-lived thread (``setns`` changes only the calling thread): the socket stays in the
namespace it was created in.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import struct
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path

__all__ = ["probe", "probe_frame", "sender_of"]

ETH_P_ARP = 0x0806
_CLONE_NEWNET = 0x40000000
_PACKET_OUTGOING = 4
_BROADCAST = b"\xff" * 6
_ZERO_IP = b"\0" * 4


def probe_frame(mac: bytes, address: IPv4Address) -> bytes:
    """An ARP probe: Ethernet broadcast, request, sender MAC ours and IP 0.0.0.0."""
    eth = _BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + _ZERO_IP + b"\0" * 6 + address.packed
    return eth + arp


def sender_of(frame: bytes, address: IPv4Address, mine: bytes) -> str | None:
    """The MAC of the host that ``frame`` (an Ethernet ARP frame) says uses ``address``:
    an ARP packet (reply, announcement or request) whose sender IP is ``address``, from
    another MAC than ``mine``. None for anything else."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    htype, ptype, hlen, plen = struct.unpack("!HHBB", frame[14:20])
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    sha, spa = frame[22:28], frame[28:32]
    if spa != address.packed or sha == mine:
        return None
    return ":".join(f"{b:02x}" for b in sha)


def _open(ifname: str, netns: str | None) -> socket.socket:
    def make() -> socket.socket:
        # Protocol 0 at first: a packet socket made with a protocol is hooked to every
        # interface at once, and binding it to one then unhooks it with a network-wide
        # synchronisation (synchronize_net: 10-15 ms, on the path of every address start).
        # Made without one it receives nothing until the bind hooks it to ours alone.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, ETH_P_ARP))
        except OSError:
            sock.close()
            raise
        return sock

    if netns is None:
        return make()
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter_and_make() -> None:  # setns changes this thread only, which then ends
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(Path("/run/netns") / netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            made.append(make())
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    thread = threading.Thread(target=enter_and_make, name=f"arp-{netns}", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def probe(
    ifname: str,
    mac: str,
    address: IPv4Address,
    *,
    count: int,
    interval_s: float,
    wait_s: float,
    netns: str | None = None,
) -> str | None:
    """Send ``count`` probes ``interval_s`` apart and listen ``wait_s`` in all: the MAC of a
    host that uses ``address``, or None. Returns at the first such frame. Bounded by
    ``wait_s``; OSError (saying why) if no probe could be sent: no raw socket here, an
    unknown interface."""
    mine = bytes.fromhex(mac.replace(":", ""))
    if len(mine) != 6:
        raise OSError(f"{ifname} has no Ethernet address ({mac!r})")
    try:
        sock = _open(ifname, netns)
    except OSError as exc:
        raise OSError(f"cannot open a raw ARP socket on {ifname}: {exc}") from exc
    with contextlib.closing(sock):
        sock.setblocking(False)
        frame = probe_frame(mine, address)
        start = time.monotonic()
        deadline = start + wait_s
        sent = 0
        while True:
            now = time.monotonic()
            if sent < count and now >= start + sent * interval_s:
                try:
                    sock.send(frame)
                except OSError as exc:
                    raise OSError(f"cannot send an ARP probe on {ifname}: {exc}") from exc
                sent += 1
                continue
            if now >= deadline:
                return None
            next_send = start + sent * interval_s if sent < count else deadline
            ready, _, _ = select.select([sock], [], [], max(0.0, min(deadline, next_send) - now))
            for _ in range(64) if ready else ():  # bounded: what has arrived so far
                try:
                    data, where = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                if where[2] == _PACKET_OUTGOING:
                    continue
                owner = sender_of(data, address, mine)
                if owner is not None:
                    return owner
