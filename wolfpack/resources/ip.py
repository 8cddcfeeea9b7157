"""IP Address (agent ``ip``): a virtual IPv4 address that moves with its group (DESIGN §3).

The agent runs inside the node daemon, so it works on the daemon's own network namespace. A
test (or a tool driving a lab node from outside) may point it at a named namespace instead:
``agent.netns = "<name>"``, or the environment variable ``WOLFPACK_NETNS`` when the agent is
built. A named namespace that does not exist is an error, never created.

*start* picks the interface with an IPv4 address whose subnet holds the virtual address (the
``network`` property only names the cluster network, for messages), makes sure no other host
on that segment answers ARP for it (RFC 5227 probe, ``arping -0``: two owners of one address
is the failure this resource must never cause), adds it with the label ``<ifname>:wp`` and
announces it by gratuitous ARP so that neighbours' caches point here at once (in the
background: start returns once the address is added, so what depends on it starts sooner).

The label marks the addresses the cluster added: *stop* removes only those, so a mistyped
``address`` that equals a node's own address is refused at start instead of being deleted at
stop. Every address added is recorded with the node's holdings (interface, label, namespace),
so that the watchdog and a restarted daemon remove exactly it. *looks_alive* is one netlink
dump: the labelled address is there; *is_alive* also wants
the interface up with carrier (a cut cable means the clients cannot reach it, S41).

**Media sense** (S41): while online, the agent watches its interface through the node's link
monitor (``ctx.links``, :mod:`wolfpack.node.links`) and fails as soon as the link has been
lost (no carrier, set down) for the node's window, not at its next IsAlive a minute later;
the coordinator then fails the group over to a node whose interface on that network is Up.
Only in the daemon's own namespace (``netns`` unset): the monitor watches that one.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources import arp
from wolfpack.resources.base import Agent, AgentContext, AgentResult
from wolfpack.resources.holdings import ADDRESS
from wolfpack.resources.netlink import IPRoute, NetlinkError

__all__ = ["NETNS_ENV", "IpAddressAgent"]

#: environment variable naming the network namespace to work in (default: the current one)
NETNS_ENV = "WOLFPACK_NETNS"
#: label suffix of the addresses this agent adds (``eth0:wp``)
LABEL_SUFFIX = ":wp"
#: how long the duplicate-address probe waits for an answer, and its probes' spacing: on
#: a LAN an ARP reply takes well under a millisecond (the owner's kernel answers, however
#: loaded its CPUs), so three probes 15 ms apart and 50 ms in all cover two lost frames;
#: RFC 5227's 1-2 s would only lengthen every failover. The wait is on every failover's
#: and move's critical path (the address, then what depends on it): 0.1 s was 100 of the
#: 175 ms an address took to come online in bench/lab_failover.py (stop 23)
DAD_WAIT_S = 0.05
DAD_PROBE_INTERVAL_S = 0.015
DAD_PROBES = 3
#: gratuitous ARPs sent on start, and the pause between them (arping also waits one pause
#: after the last: 50 ms keeps a lost frame covered, measured in bench/lab_client_net.py).
#: They go out in the background: the address is usable once added, and arping's own
#: start and exit (about 0.25 s) is not worth a failover's wait (bench/lab_failover.py)
GARP_COUNT = 2
GARP_INTERVAL_S = 0.05
#: lower bound of any one arping call, whatever the caller's timeout
MIN_CALL_S = 2.0

_IFF_UP = 0x1
_IFF_LOWER_UP = 0x10000
_MAC = re.compile(r"([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})")


@dataclass(frozen=True)
class _Settings:
    address: IPv4Address
    prefix_length: int
    network: str

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Interface(f"{self.address}/{self.prefix_length}").network

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefix_length}"


@dataclass
class _Iface:
    """One interface of the namespace and its IPv4 addresses (with their labels)."""

    index: int
    name: str
    flags: int
    mac: str = ""
    addrs: list[tuple[IPv4Interface, str]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.flags & (_IFF_UP | _IFF_LOWER_UP) == (_IFF_UP | _IFF_LOWER_UP)

    @property
    def label(self) -> str:
        return self.name[: 15 - len(LABEL_SUFFIX)] + LABEL_SUFFIX

    def holds(self, address: IPv4Address) -> tuple[IPv4Interface, str] | None:
        return next(((a, lbl) for a, lbl in self.addrs if a.ip == address), None)


class IpAddressAgent(Agent):
    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        #: network namespace to work in; None: the current one (the node daemon's own)
        self.netns: str | None = os.environ.get(NETNS_ENV) or None
        #: the announcement of the last start, still under way (stop waits for it)
        self._announcing: threading.Thread | None = None

    # -- validate ----------------------------------------------------------------------------
    def validate(self) -> None:
        settings = self.settings()
        self._arping_path()
        self._interface_for(settings, self._snapshot())

    def settings(self) -> _Settings:
        """The properties, checked; AgentError naming the first one at fault."""
        text = self.prop_str("address", required=True)
        assert text is not None
        try:
            address = IPv4Address(text)
        except ipaddress.AddressValueError as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{text!r} is not an IPv4 address", "address"
            ) from exc
        if address.is_unspecified or address.is_loopback or address.is_multicast:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{address} cannot be a virtual address", "address"
            )
        prefix_length = self.prop_int("prefix_length", 24)
        if not 1 <= prefix_length <= 32:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"must be between 1 and 32, not {prefix_length}",
                "prefix_length",
            )
        network = self.prop_str("network") or "(unnamed)"
        return _Settings(address, prefix_length, network)

    # -- start / stop ------------------------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        settings = self.settings()
        arping = self._arping_path()
        ifaces = self._snapshot()
        iface = self._interface_for(settings, ifaces)
        self._check_not_elsewhere(settings, ifaces, iface)
        held = iface.holds(settings.address)
        if held is not None:
            self._check_ours(settings, iface, *held)
            self._hold(settings, iface)
            self.log("ip_already_present", address=settings.cidr, interface=iface.name)
            self._announce_soon(arping, settings, iface)  # neighbours may be stale
            self._sense(iface)
            return
        if not iface.usable:
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"interface {iface.name} for {settings.cidr} is down or has no carrier",
            )
        owner = self._probe(arping, settings, iface, deadline)
        if owner is not None:
            raise self.error(
                AgentResult.ERR_BUSY,
                f"address {settings.address} is already in use on the network"
                f" {settings.network!r} (answered by {owner} on {iface.name});"
                " refusing to add a second owner",
                "address",
            )
        if not self.ctx.may_run():  # L3: asked again just before the side effect
            raise self.error(AgentResult.ERR_GENERIC, "this node may no longer run resources")
        self._hold(settings, iface)  # recorded before it exists: never held unrecorded
        try:
            self._change("add", settings, iface)
        except AgentError:
            with contextlib.suppress(AgentError):
                self._change("del", settings, iface)
                self.holdings.remove(ADDRESS, self.name)
            raise
        self._announce_soon(arping, settings, iface)
        self.log("ip_added", address=settings.cidr, interface=iface.name, netns=self.netns)
        self._sense(iface)

    def stop(self, timeout_s: float) -> None:
        if self.ctx.links is not None:
            self.ctx.links.unwatch(self.name)
        if self._announcing is not None:  # no announcement of an address no longer here
            self._announcing.join(min(timeout_s, MIN_CALL_S + 1.0))
        settings = self.settings()
        for iface in self._snapshot():
            held = iface.holds(settings.address)
            if held is None:
                continue
            if held[1] != iface.label:
                self.log("ip_not_ours", address=settings.cidr, interface=iface.name)
                continue
            self._change("del", settings, iface, prefix_length=held[0].network.prefixlen)
            self.log("ip_removed", address=settings.cidr, interface=iface.name)
        self.holdings.remove(ADDRESS, self.name)

    # -- health ------------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        return self._holder() is not None

    def is_alive(self) -> bool:
        iface = self._holder()
        return iface is not None and iface.usable

    def adopt(self) -> bool:
        iface = self._holder()
        if iface is not None:
            self._hold(self.settings(), iface)
            self.log("ip_adopted", interface=iface.name)
            self._sense(iface)
        return iface is not None

    def pids(self) -> list[int]:
        return []

    # -- internals ---------------------------------------------------------------------------
    def _sense(self, iface: _Iface) -> None:
        """Media sense: be failed as soon as the node's link monitor says the link is lost."""
        links = self.ctx.links
        if links is None or self.netns is not None:
            return
        name, on_failure = self.name, self.ctx.on_failure
        links.watch(name, iface.name, lambda why: on_failure(name, f"{why} (media sense)"))

    def _hold(self, settings: _Settings, iface: _Iface) -> None:
        """Record the address with the node's holdings, for its watchdog and a restarted
        daemon (:mod:`wolfpack.resources.holdings`): they remove exactly this one."""
        self.holdings.add(
            ADDRESS,
            self.name,
            interface=iface.name,
            address=str(settings.address),
            prefix_length=settings.prefix_length,
            label=iface.label,
            netns=self.netns,
        )

    def _holder(self) -> _Iface | None:
        """The interface holding our (labelled) address with our prefix; None on any error."""
        try:
            settings = self.settings()
            ifaces = self._snapshot()
        except AgentError:
            return None
        mine = IPv4Interface(settings.cidr)
        return next((i for i in ifaces if i.holds(settings.address) == (mine, i.label)), None)

    def _where(self) -> str:
        return "this node's network namespace" if self.netns is None else f"netns {self.netns}"

    @contextlib.contextmanager
    def _rtnl(self) -> Iterator[Any]:
        """A netlink socket in our namespace; AgentError if it cannot be had."""
        try:
            ipr = IPRoute() if self.netns is None else IPRoute(netns=self.netns, flags=0)
        except FileNotFoundError as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"network namespace {self.netns!r} does not exist"
            ) from exc
        except PermissionError as exc:
            raise self.error(AgentResult.ERR_PERM, f"cannot open netlink: {exc}") from exc
        except (OSError, NetlinkError) as exc:
            raise self.error(AgentResult.ERR_GENERIC, f"cannot open netlink: {exc}") from exc
        try:
            yield ipr
        finally:
            ipr.close()

    def _snapshot(self) -> list[_Iface]:
        """Every interface and its IPv4 addresses, in one netlink session."""
        try:
            with self._rtnl() as ipr:
                ifaces = {
                    int(link["index"]): _Iface(
                        int(link["index"]),
                        str(link.get_attr("IFLA_IFNAME")),
                        int(link["flags"]),
                        str(link.get_attr("IFLA_ADDRESS") or ""),
                    )
                    for link in ipr.get_links()
                }
                for msg in ipr.get_addr(family=2):
                    iface = ifaces.get(int(msg["index"]))
                    local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                    if iface is not None and local:
                        cidr = IPv4Interface(f"{local}/{int(msg['prefixlen'])}")
                        iface.addrs.append((cidr, str(msg.get_attr("IFA_LABEL") or "")))
        except (OSError, NetlinkError) as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"cannot list interfaces in {self._where()}: {exc}"
            ) from exc
        return sorted(ifaces.values(), key=lambda i: i.index)

    def _interface_for(self, settings: _Settings, ifaces: Sequence[_Iface]) -> _Iface:
        """The one interface with an address (other than the virtual one) in its subnet.

        Failing that, the interface already holding the address, so that start can say it
        is configured outside the cluster rather than that there is no such network here.
        """
        subnet = settings.subnet
        matches = [
            iface
            for iface in ifaces
            if any(
                a.ip != settings.address and (a.ip in subnet or settings.address in a.network)
                for a, _ in iface.addrs
            )
        ]
        if not matches:  # the address is an interface's only one in its subnet: that one
            matches = [iface for iface in ifaces if iface.holds(settings.address)]
        if not matches:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"no interface in {self._where()} has an address in {subnet}, so"
                f" {settings.address} cannot be added on network {settings.network!r} here",
                "address",
            )
        if len(matches) > 1:
            names = ", ".join(i.name for i in matches)
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"several interfaces ({names}) are on {subnet}; cannot tell which one is"
                f" network {settings.network!r}",
                "address",
            )
        return matches[0]

    def _check_not_elsewhere(
        self, settings: _Settings, ifaces: Sequence[_Iface], target: _Iface
    ) -> None:
        for iface in ifaces:
            if iface.index != target.index and iface.holds(settings.address) is not None:
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"address {settings.address} is already on interface {iface.name},"
                    f" not on {target.name} (network {settings.network!r})",
                    "address",
                )

    def _check_ours(
        self, settings: _Settings, iface: _Iface, present: IPv4Interface, label: str
    ) -> None:
        if label != iface.label:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"address {settings.address} is configured on {iface.name} outside the"
                " cluster (it is not a virtual address this agent added)",
                "address",
            )
        if present.network.prefixlen != settings.prefix_length:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"address {settings.address} is on {iface.name} as {present.with_prefixlen},"
                f" not /{settings.prefix_length}",
                "prefix_length",
            )

    def _change(
        self, op: str, settings: _Settings, iface: _Iface, prefix_length: int | None = None
    ) -> None:
        """Add or delete the address; adding one present or deleting one absent is fine."""
        plen = settings.prefix_length if prefix_length is None else prefix_length
        extra = {"label": iface.label} if op == "add" else {}
        try:
            with self._rtnl() as ipr:
                ipr.addr(
                    op, index=iface.index, address=str(settings.address), prefixlen=plen, **extra
                )
        except NetlinkError as exc:
            if (op, exc.code) in (("add", errno.EEXIST), ("del", errno.EADDRNOTAVAIL)):
                return
            code = AgentResult.ERR_PERM if exc.code == errno.EPERM else AgentResult.ERR_GENERIC
            verb = "add" if op == "add" else "remove"
            raise self.error(
                code, f"cannot {verb} {settings.address}/{plen} on {iface.name}: {exc}"
            ) from exc

    def _arping_path(self) -> str:
        path = shutil.which("arping")
        if path is None:
            raise self.error(
                AgentResult.ERR_INSTALLED,
                "program 'arping' (Debian package arping) is not installed on this node",
            )
        return path

    def _arping(
        self, argv: Sequence[str], deadline: float, wait_s: float
    ) -> subprocess.CompletedProcess[str]:
        """Run arping (in our namespace); rc 0/1 are answers/no answers, stderr is trouble."""
        full = list(argv) if self.netns is None else ["ip", "netns", "exec", self.netns, *argv]
        limit = max(deadline - time.monotonic(), wait_s + MIN_CALL_S)
        try:
            result = subprocess.run(
                full, capture_output=True, text=True, timeout=limit, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"arping did not finish within {limit:.1f}s"
            ) from exc
        except OSError as exc:
            raise self.error(AgentResult.ERR_GENERIC, f"cannot run arping: {exc}") from exc
        if result.returncode not in (0, 1) or (result.returncode and result.stderr.strip()):
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"arping failed (exit {result.returncode}): {result.stderr.strip()}",
            )
        return result

    def _probe(
        self, arping: str, settings: _Settings, iface: _Iface, deadline: float
    ) -> str | None:
        """RFC 5227 probe (sender 0.0.0.0): the MAC of a host answering for the address.
        In-process (:mod:`wolfpack.resources.arp`); with arping where that cannot be done."""
        try:
            return arp.probe(
                iface.name,
                iface.mac,
                settings.address,
                count=DAD_PROBES,
                interval_s=DAD_PROBE_INTERVAL_S,
                wait_s=DAD_WAIT_S,
                netns=self.netns,
            )
        except OSError as exc:
            self.log("ip_probe_with_arping", address=settings.cidr, why=str(exc))
        wait = DAD_WAIT_S
        argv = [arping, "-0", "-C", "1", "-c", str(DAD_PROBES), "-W", str(DAD_PROBE_INTERVAL_S),
                "-w", str(wait), "-i", iface.name]  # fmt: skip
        result = self._arping([*argv, str(settings.address)], deadline, wait)
        if result.returncode != 0:
            return None
        found = _MAC.search(result.stdout)
        return found.group(1).lower() if found else "another host"

    def _announce(self, arping: str, settings: _Settings, iface: _Iface, deadline: float) -> None:
        """Gratuitous ARP: neighbours that know the address learn its new MAC now.

        Thomas Habets' arping exits 1 in this mode (nobody replies to an unsolicited ARP).
        """
        addr = str(settings.address)
        argv = [arping, "-q", "-U", "-c", str(GARP_COUNT), "-W", str(GARP_INTERVAL_S)]
        wait = GARP_COUNT * GARP_INTERVAL_S
        self._arping([*argv, "-i", iface.name, "-S", addr, addr], deadline, wait)

    def _announce_soon(self, arping: str, settings: _Settings, iface: _Iface) -> None:
        """:meth:`_announce` in a thread of its own: start returns once the address is
        added. A failed announcement is logged (neighbours then learn the address by their
        own ARP, as after any cache timeout); it never takes the address away again."""
        deadline = time.monotonic() + MIN_CALL_S

        def run() -> None:
            try:
                self._announce(arping, settings, iface, deadline)
            except AgentError as exc:
                self.log("ip_announce_failed", address=settings.cidr, error=str(exc))

        self._announcing = threading.Thread(target=run, name=f"garp-{self.name}", daemon=True)
        self._announcing.start()
