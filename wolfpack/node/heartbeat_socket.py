"""One UDP socket per heartbeat path, bound for :class:`~wolfpack.node.membership.Membership`,
marked as network control traffic so switches with QoS queue heartbeats first, and asking
the kernel for each datagram's arrival time, so a heartbeat read late still counts from
when it came."""

from __future__ import annotations

import ipaddress
import socket
import struct
from contextlib import suppress
from dataclasses import dataclass

from wolfpack.errors import WolfpackError
from wolfpack.node.heartbeat_tracker import Address, Path

_DSCP_CS6 = 0xC0  # "network control": switches with QoS queue heartbeats ahead of bulk data
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Python 3.11 lacks it; asm-generic
_STAMP = struct.Struct("@qq")  # struct timespec: seconds, nanoseconds
_ANCILLARY_BYTES = socket.CMSG_SPACE(_STAMP.size)


class MembershipError(WolfpackError):
    """The heartbeat service could not do what was asked (a socket would not bind)."""


@dataclass
class _Bound:
    requested: Address  # Path.local as asked for (port may be 0)
    address: Address  # as bound; set_peers with either one keeps the socket
    sock: socket.socket


def _bind(path: Path) -> _Bound:
    host, port = path.local
    v6 = ipaddress.ip_address(host).version == 6
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        with suppress(OSError):  # best effort: QoS marking is a nicety, not a requirement
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, _DSCP_CS6)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, _DSCP_CS6)
        with suppress(OSError):  # without it a datagram counts from when it is read
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MembershipError(
            f"network {path.network!r}: cannot bind UDP {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return _Bound(path.local, _sockname(sock), sock)


def _sockname(sock: socket.socket) -> Address:
    name = sock.getsockname()
    return (str(name[0]), int(name[1]))


def receive_stamped(sock: socket.socket, size: int) -> tuple[bytes, Address, float | None]:
    """One datagram, its source, and when the kernel received it (wall clock, seconds;
    None without a stamp). Raises what ``recvmsg`` raises (BlockingIOError: nothing left)."""
    data, ancillary, _, source = sock.recvmsg(size, _ANCILLARY_BYTES)
    stamp = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= _STAMP.size:
            seconds, nanoseconds = _STAMP.unpack_from(payload)
            stamp = seconds + nanoseconds / 1e9
    return data, (str(source[0]), int(source[1])), stamp
