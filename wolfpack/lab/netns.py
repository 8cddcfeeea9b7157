"""Lab network primitives: namespaces, bridges and veth links on one machine (DESIGN §4).

A :class:`Lab` owns every namespace whose name starts with its prefix and that it created:
node namespaces (``<prefix><name>``) and one "fabric" namespace (``<prefix>fabric``) that holds
the Linux bridges, so nothing of the lab ever lives in the host's own namespace. A node's
interface (``eth0``, ``eth1``) is one end of a veth pair created directly in the node's
namespace; the other end is created directly in the fabric and enslaved to a bridge. Bridges
have no uplink and nobody has a default route: lab traffic cannot leave the machine.

Deleting a namespace deletes the veths and bridges in it, so :meth:`Lab.destroy` only deletes
the namespaces it recorded. (A namespace that still has processes in it lives on, detached,
until they exit: whoever starts processes in the lab stops them first.)

Everything is done with ``ip`` (iproute2), each call bounded by a timeout, and every failure
is a :class:`LabError` naming the namespace and the command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from wolfpack.errors import WolfpackError

__all__ = ["FABRIC", "Lab", "LabError", "LabLink"]

#: name (after the prefix) of the namespace that holds the bridges
FABRIC = "fabric"
#: upper bound of one ``ip`` call
IP_TIMEOUT_S = 10.0
#: how long a new link may take to report carrier
LINK_UP_WAIT_S = 5.0
#: Linux interface names are at most 15 bytes
IFNAMSIZ = 15

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: ICMP echo in plain Python, for machines without ``ping`` (root: raw socket).
_PING = r"""
import os, socket, struct, sys, time
addr, timeout = sys.argv[1], float(sys.argv[2])
ident = os.getpid() & 0xFFFF
def csum(b):
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
body = b"wolfpack"
head = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, csum(head + body), ident, 1) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(packet, (addr, 0))
deadline = time.monotonic() + timeout
while (left := deadline - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, src = s.recvfrom(2048)
    except OSError:
        break
    ihl = (data[0] & 15) * 4
    kind, _, _, got, _ = struct.unpack("!BBHHH", data[ihl : ihl + 8])
    if kind == 0 and got == ident and src[0] == addr:
        sys.exit(0)
sys.exit(1)
"""


class LabError(WolfpackError):
    """A lab network operation failed; the message names the namespace and what was done."""


@dataclass(frozen=True)
class LabLink:
    """One node interface and the fabric end (``peer``) of its veth, enslaved to ``bridge``."""

    node: str
    ifname: str
    bridge: str
    peer: str


class Lab:
    """The lab's namespaces, bridges and links; removes exactly what it created.

    Use as a context manager (or call :meth:`destroy` in a ``finally``) so a failure half-way
    through building leaves nothing behind.
    """

    def __init__(self, prefix: str) -> None:
        if not _NAME.match(prefix) or len(prefix) > 40:
            raise LabError(f"lab prefix {prefix!r} is not a usable namespace name prefix")
        if shutil.which("ip") is None:
            raise LabError("iproute2's 'ip' command is not installed on this machine")
        self.prefix = prefix
        self._created: list[str] = []  # full namespace names, in creation order
        self._bridges: set[str] = set()
        self.links: list[LabLink] = []

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    # -- names ---------------------------------------------------------------------------------
    def ns(self, name: str) -> str:
        """The full namespace name of lab host ``name`` (``node1`` → ``<prefix>node1``)."""
        return self.prefix + name

    @property
    def fabric(self) -> str:
        return self.ns(FABRIC)

    @property
    def namespaces(self) -> list[str]:
        """The namespaces this lab created and has not removed yet."""
        return list(self._created)

    @classmethod
    def existing(cls, prefix: str) -> list[str]:
        """Namespaces on this machine whose name starts with ``prefix`` (for ``lab down``)."""
        out = _ip(["-j", "netns", "list"], what="list namespaces")
        entries = json.loads(out) if out.strip() else []
        return sorted(str(e["name"]) for e in entries if str(e["name"]).startswith(prefix))

    @classmethod
    def adopt(cls, prefix: str) -> Lab:
        """A Lab owning the namespaces an earlier process made with ``prefix``."""
        lab = cls(prefix)
        lab._created = cls.existing(prefix)
        return lab

    # -- building ------------------------------------------------------------------------------
    def add_host(self, name: str) -> str:
        """Create the namespace of host ``name`` (a node, the client, dns) with ``lo`` up."""
        if not _NAME.match(name):
            raise LabError(f"lab host name {name!r} is not usable in a namespace name")
        if name == FABRIC:
            raise LabError(f"lab host name {name!r} is reserved for the bridges' namespace")
        return self._add_namespace(name)

    def add_bridge(self, bridge: str) -> None:
        """Create Linux bridge ``bridge`` (up, no uplink) in the fabric namespace."""
        _check_ifname(bridge, "bridge")
        if self.fabric not in self._created:
            self._add_namespace(FABRIC)
        self.ip(FABRIC, ["link", "add", bridge, "type", "bridge"], what=f"create bridge {bridge}")
        self.ip(FABRIC, ["link", "set", bridge, "up"], what=f"bring bridge {bridge} up")
        self._bridges.add(bridge)

    def connect(self, host: str, ifname: str, bridge: str, address: str | None = None) -> LabLink:
        """Give ``host`` interface ``ifname`` on ``bridge``, up, with ``address`` (CIDR).

        Both veth ends are created directly in their namespaces: neither ever exists in the
        host's own namespace. Waits (bounded) until the interface reports carrier.
        """
        _check_ifname(ifname, "interface")
        if bridge not in self._bridges:
            raise LabError(f"bridge {bridge!r} does not exist in lab {self.prefix!r}")
        if self.ns(host) not in self._created:
            raise LabError(f"host {host!r} does not exist in lab {self.prefix!r}")
        peer = f"{host}-{ifname}"
        if len(peer) > IFNAMSIZ:
            peer = f"veth{len(self.links)}"
        what = f"connect {host} {ifname} to bridge {bridge}"
        veth = ["link", "add", ifname, "netns", self.ns(host), "type", "veth"]
        self.ip(None, [*veth, "peer", "name", peer, "netns", self.fabric], what=what)
        self.ip(FABRIC, ["link", "set", peer, "master", bridge, "up"], what=what)
        if address is not None:
            self.add_address(host, ifname, address)
        self.set_link(host, ifname, up=True)
        link = LabLink(host, ifname, bridge, peer)
        self.links.append(link)
        self.wait_carrier(host, ifname, LINK_UP_WAIT_S)
        return link

    def add_address(self, host: str, ifname: str, address: str) -> None:
        """Add ``address`` (CIDR, e.g. ``198.51.100.11/24``) to ``host``'s ``ifname``."""
        self.ip(
            host,
            ["addr", "add", address, "dev", ifname],
            what=f"add address {address} to {ifname}",
        )

    def set_link(self, host: str, ifname: str, *, up: bool) -> None:
        """Bring ``host``'s ``ifname`` up or down (down simulates a cut cable, S41)."""
        state = "up" if up else "down"
        self.ip(host, ["link", "set", ifname, state], what=f"set {ifname} {state}")

    def isolate(self, host: str) -> None:
        """Take every lab link of ``host`` down (the lab fence's "power off" of the network)."""
        for link in self.links:
            if link.node == host:
                self.set_link(host, link.ifname, up=False)

    def sysctl(self, host: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl such as ``net.ipv4.conf.eth0.arp_accept``."""
        self.run(host, ["sysctl", "-q", "-w", f"{key}={value}"])

    # -- looking -------------------------------------------------------------------------------
    def mac(self, host: str, ifname: str) -> str:
        """The MAC address of ``host``'s ``ifname``, lower case."""
        out = self.ip(host, ["-j", "link", "show", "dev", ifname], what=f"show {ifname}")
        return str(json.loads(out)[0]["address"]).lower()

    def link_up(self, host: str, ifname: str) -> bool:
        """Whether ``ifname`` is administratively up and has carrier."""
        out = self.ip(host, ["-j", "link", "show", "dev", ifname], what=f"show {ifname}")
        flags = json.loads(out)[0].get("flags", [])
        return "UP" in flags and "LOWER_UP" in flags

    def wait_carrier(self, host: str, ifname: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.link_up(host, ifname):
            if time.monotonic() > deadline:
                raise LabError(
                    f"{ifname} in namespace {self.ns(host)} has no carrier after {timeout_s}s"
                )
            time.sleep(0.02)

    def neighbour(self, host: str, address: str) -> str | None:
        """The MAC ``host`` has in its ARP table for ``address`` (None if no usable entry)."""
        out = self.ip(host, ["-j", "neigh", "show", "to", address], what="show neighbours")
        for entry in json.loads(out) if out.strip() else []:
            mac = entry.get("lladdr")
            if entry.get("dst") == address and mac and "FAILED" not in entry.get("state", []):
                return str(mac).lower()
        return None

    def set_neighbour(self, host: str, ifname: str, address: str, mac: str) -> None:
        """Seed (or overwrite) a dynamic ARP entry, which a gratuitous ARP may then update."""
        self.ip(
            host,
            ["neigh", "replace", address, "lladdr", mac, "dev", ifname, "nud", "stale"],
            what=f"set neighbour {address}",
        )

    def ping(self, host: str, address: str, timeout_s: float = 1.0) -> bool:
        """Whether ``address`` answers one ICMP echo from ``host`` within ``timeout_s``."""
        wait = max(1, round(timeout_s))
        if shutil.which("ping"):
            argv = ["ping", "-n", "-q", "-c", "1", "-W", str(wait), address]
        else:
            argv = [sys.executable, "-c", _PING, address, str(timeout_s)]
        result = self.run(host, argv, check=False, timeout_s=timeout_s + 5)
        return result.returncode == 0

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout_s: float = IP_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host``'s namespace (``ip netns exec``), output captured."""
        full = ["ip", "netns", "exec", self.ns(host), *argv]
        try:
            result = subprocess.run(
                full, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(
                f"in namespace {self.ns(host)}: {' '.join(argv)} did not finish in {timeout_s}s"
            ) from exc
        except OSError as exc:
            raise LabError(f"cannot run ip netns exec: {exc}") from exc
        if check and result.returncode != 0:
            raise LabError(
                f"in namespace {self.ns(host)}: {' '.join(argv)} failed"
                f" (exit {result.returncode}): {result.stderr.strip()}"
            )
        return result

    def ip(self, host: str | None, args: Sequence[str], *, what: str) -> str:
        """``ip -n <ns> args`` (``host`` None: no ``-n``); its stdout, or LabError."""
        where = [] if host is None else ["-n", self.ns(host)]
        try:
            return _ip([*where, *args], what=what)
        except LabError as exc:
            place = "" if host is None else f"in namespace {self.ns(host)}: "
            raise LabError(f"{place}{exc}") from exc

    def ip_batch(self, host: str, commands: Sequence[str], *, what: str) -> None:
        """Several ``ip`` commands in ``host``'s namespace with one ``ip -batch``: one process
        instead of one each (the lab fence runs this during every failover)."""
        try:
            _ip(["-n", self.ns(host), "-batch", "-"], what=what, stdin="\n".join(commands) + "\n")
        except LabError as exc:
            raise LabError(f"in namespace {self.ns(host)}: {exc}") from exc

    # -- tearing down ----------------------------------------------------------------------
    def destroy(self) -> None:
        """Delete every namespace this lab created (with the veths and bridges in them).

        Tries all of them even if one fails, then raises a LabError naming the failures. A
        namespace already gone is fine, so calling this twice is harmless.
        """
        failures = []
        try:
            present = set(self.existing(self.prefix))
        except LabError:  # cannot tell: try to delete every one of ours
            present = set(self._created)
        for name in reversed(self._created):
            if name in present:
                try:
                    _ip(["netns", "del", name], what=f"delete namespace {name}")
                except LabError as exc:
                    failures.append(str(exc))
                    continue
            self._created.remove(name)
        self.links.clear()
        self._bridges.clear()
        if failures:
            raise LabError("; ".join(failures))

    # -- internals -------------------------------------------------------------------------
    def _add_namespace(self, name: str) -> str:
        full = self.ns(name)
        _ip(["netns", "add", full], what=f"create namespace {full}")
        self._created.append(full)
        self.ip(name, ["link", "set", "lo", "up"], what="bring lo up")
        return full


def _check_ifname(name: str, kind: str) -> None:
    if not _NAME.match(name) or len(name) > IFNAMSIZ:
        raise LabError(f"{kind} name {name!r} is not a usable interface name (max 15 chars)")


def _ip(args: Sequence[str], *, what: str, stdin: str | None = None) -> str:
    """Run ``ip args`` (``stdin`` on its standard input); its stdout, or a LabError saying
    what failed and why."""
    try:
        result = subprocess.run(
            ["ip", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=IP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"cannot {what}: 'ip {' '.join(args)}' hung for {IP_TIMEOUT_S}s") from exc
    except OSError as exc:
        raise LabError(f"cannot {what}: {exc}") from exc
    if result.returncode != 0:
        raise LabError(f"cannot {what}: 'ip {' '.join(args)}': {result.stderr.strip()}")
    return result.stdout
