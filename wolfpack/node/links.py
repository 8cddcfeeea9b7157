"""The node's link monitor: media sense (S41) and the node's report of its interfaces.

One thread, subscribed to the kernel's link and address notifications (an ``AF_NETLINK``
socket bound to RTMGRP_LINK and RTMGRP_IPV4_IFADDR, in the daemon's own network namespace).
On every notification, every wake-up and every ``POLL_S``, it dumps the links and their
IPv4 addresses (pyroute2 ``IPRoute``) and feeds what it sees to
:class:`~wolfpack.model.media.MediaSense` (pure), which says what has lasted the window.
Then it

- tells each watcher (an online IP Address, through :class:`~wolfpack.resources.base.LinkWatch`)
  whose link has been lost, so the resource fails at once, not at its next IsAlive;
- writes the node's report, ``links/<node>`` (:class:`~wolfpack.model.links.NodeLinks`), when
  it changed: each configured interface of this node, the condition of the link holding its
  address, and the peers its heartbeats hear on that network. The report is attached to the
  node's lease and guarded by its liveness key, like its published view, so it exists only
  while the node does. Network and interface states are derived from these reports by
  every reader (:mod:`wolfpack.model.networks`).

The kernel's notifications only wake the thread; every decision rests on a full dump, so a
lost notification (a full socket buffer) costs at most ``POLL_S`` of delay, never a wrong
state. The subscription is a plain non-blocking socket, read until it is empty, rather than
pyroute2's ``bind``/``get``: pyroute2 0.9 reads several datagrams at once and keeps the
rest, so ``select`` on its socket missed the second of two notifications (a cable pulled:
the switch end goes down, then the node's end loses carrier) and the loss was seen only
at the next poll, seconds late.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from wolfpack.errors import StoreError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig
from wolfpack.model.links import LinkCondition, LinkReport, NodeLinks
from wolfpack.model.media import Change, MediaSense
from wolfpack.node.membership import MembershipView
from wolfpack.resources.netlink import IPRoute, NetlinkError
from wolfpack.store import Compare, KeySpace, Put, Store

__all__ = ["LinkMonitor", "Own", "condition_of", "heard_by_network", "own_interfaces"]

Log = Callable[..., None]

#: a full look even when the kernel says nothing (a lost notification, a lease renewed)
POLL_S = 2.0
#: after an error (netlink, etcd), try again after this
RETRY_S = 0.5
_RTMGRP_LINK = 0x1
_RTMGRP_IPV4_IFADDR = 0x10
_IFF_UP = 0x1
_IFF_LOWER_UP = 0x10000
_DRAIN = 256  # notification datagrams read per wake-up, at most
_CLONE_NEWNET = 0x40000000
_JOIN_S = 5.0


@dataclass(frozen=True)
class Own:
    """One interface of this node in the configuration."""

    name: str
    network: str
    address: str
    heartbeats: bool  # its network carries heartbeats (private, mixed)


def own_interfaces(cfg: ClusterConfig, node: str) -> list[Own]:
    """This node's configured interfaces (pure)."""
    out = []
    for itf in sorted(cfg.interfaces.values(), key=lambda i: i.name):
        net = cfg.networks.get(itf.network)
        if itf.node == node and net is not None:
            out.append(Own(itf.name, itf.network, itf.address, net.role.carries_heartbeats))
    return out


def heard_by_network(view: MembershipView) -> dict[str, list[str]]:
    """Heartbeat network -> the peers heard on it in ``view`` (pure)."""
    out: dict[str, list[str]] = {network: [] for network in view.networks}
    for name, peer in view.peers.items():
        for network, path in peer.paths.items():
            if path.up:
                out.setdefault(network, []).append(name)
    return out


def condition_of(flags: int) -> LinkCondition:
    """A link's condition from its flags (``ip link``: UP, LOWER_UP)."""
    if not flags & _IFF_UP:
        return LinkCondition.ADMIN_DOWN
    if not flags & _IFF_LOWER_UP:
        return LinkCondition.NO_CARRIER
    return LinkCondition.UP


@dataclass(frozen=True)
class _Kernel:
    """One dump: link name -> flags, and the IPv4 addresses (with prefix) on each link."""

    flags: Mapping[str, int]
    addresses: Mapping[str, tuple[ipaddress.IPv4Interface, ...]]

    def holder(self, address: str) -> str | None:
        """The link holding ``address``, else the one whose subnet holds it (127.0.0.x on
        ``lo``); None if none does."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return None
        exact = [n for n, addrs in self.addresses.items() if any(a.ip == ip for a in addrs)]
        if exact:
            return sorted(exact)[0]
        inside = [n for n, addrs in self.addresses.items() if any(ip in a.network for a in addrs)]
        return sorted(inside)[0] if inside else None


@dataclass
class _Watch:
    ifname: str
    on_lost: Callable[[str], None]
    fired: bool = False


class LinkMonitor:
    """Media sense and the interface report of one node (see the module docstring).

    - ``heard()``: heartbeat network -> the peers heard on it now;
    - ``listening()``: False while silence says nothing (membership just started or stalled):
      the report then claims nothing about heartbeats;
    - ``lease()``: our valid lease id (0: none, write nothing); ``guard()``: a compare that
      holds while our liveness key is ours.
    """

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        node: str,
        *,
        window_s: float,
        heard: Callable[[], Mapping[str, Sequence[str]]] = dict,
        listening: Callable[[], bool] = lambda: True,
        lease: Callable[[], int] = lambda: 0,
        guard: Callable[[], Compare] | None = None,
        netns: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        log: Log = lambda event, **fields: None,
    ) -> None:
        self.store, self.keys, self.node = store, keys, node
        self.heard, self.listening, self.lease, self.guard = heard, listening, lease, guard
        self.netns = netns
        self.clock, self.wall, self.log = clock, wall, log
        self.media = MediaSense(window_s)
        self._lock = threading.Lock()  # guards _own and _watches (callers vs. the thread)
        self._own: list[Own] = []
        self._watches: dict[str, _Watch] = {}
        self._since: dict[str, float] = {}  # interface -> wall time of its last change
        self.published: NodeLinks | None = None
        self._published_lease = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None

    # -- the public surface ----------------------------------------------------------------
    def set_interfaces(self, own: Sequence[Own]) -> None:
        """This node's configured interfaces (at start, and when the configuration changes)."""
        with self._lock:
            self._own = list(own)
        self.wake()

    def watch(self, owner: str, ifname: str, on_lost: Callable[[str], None]) -> None:
        with self._lock:
            self._watches[owner] = _Watch(ifname, on_lost)
        self.wake()

    def unwatch(self, owner: str) -> None:
        with self._lock:
            self._watches.pop(owner, None)

    def wake(self) -> None:
        with suppress(OSError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"\0")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="links", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=_JOIN_S)
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._loop()
            except Exception as exc:  # one catch-all per loop: log, pause, go on
                self.log("link_monitor_failed", error=repr(exc))
                self._stop.wait(RETRY_S)

    def _loop(self) -> None:
        if self.netns is not None:
            _enter_netns(self.netns)  # this thread only (tests and tools; a daemon is in it)
        events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        query = None
        try:
            events.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR))
            events.setblocking(False)
            query = IPRoute()
            while not self._stop.is_set():
                self.step(self._dump(query))
                ready, _, _ = select.select([events, self._wake_r], [], [], self._pause())
                if events in ready:
                    _drain(events)
                if self._wake_r in ready:
                    _drain(self._wake_r)
        finally:
            events.close()
            if query is not None:
                query.close()

    def _pause(self) -> float:
        deadline = self.media.next_deadline()
        if deadline is None:
            return POLL_S
        return max(0.0, min(POLL_S, deadline - self.clock()))

    def _dump(self, ipr: Any) -> _Kernel:
        try:
            links = list(ipr.get_links())
            names = {int(link["index"]): str(link.get_attr("IFLA_IFNAME")) for link in links}
            flags = {names[int(link["index"])]: int(link["flags"]) for link in links}
            addresses: dict[str, list[ipaddress.IPv4Interface]] = {}
            for msg in ipr.get_addr(family=socket.AF_INET):
                name = names.get(int(msg["index"]))
                local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                if name is not None and local:
                    addresses.setdefault(name, []).append(
                        ipaddress.IPv4Interface(f"{local}/{int(msg['prefixlen'])}")
                    )
        except (OSError, NetlinkError, KeyError) as exc:
            raise OSError(f"cannot list the links: {exc}") from exc
        return _Kernel(flags, {n: tuple(a) for n, a in addresses.items()})

    def step(self, kernel: _Kernel) -> list[Change]:
        """Observe one dump, act on what settled, publish; the settled changes (tests)."""
        now = self.clock()
        with self._lock:
            own, watches = list(self._own), dict(self._watches)
        ifnames: dict[str, str] = {}
        for itf in own:
            ifname = kernel.holder(itf.address)
            ifnames[itf.name] = ifname or ""
            self.media.observe(f"if:{itf.name}", _condition(kernel, ifname), now)
        # Every link, watched or not, so a resource that starts watching one later finds
        # its history (a loss already under way is not taken for settled at once).
        links = set(kernel.flags) | {w.ifname for w in watches.values()}
        for name in links:
            self.media.observe(f"link:{name}", _condition(kernel, name), now)
        self.media.forget({f"if:{i.name}" for i in own} | {f"link:{n}" for n in links})
        changes = self.media.settle(now)
        by_name = {i.name: i for i in own}
        for change in changes:
            if change.key.startswith("if:"):
                name = change.key[3:]
                self._since[name] = self.wall()
                self._log_change(change, by_name.get(name), ifnames.get(name, ""))
        self._fire(watches)
        self._publish(own, ifnames)
        return changes

    def _log_change(self, change: Change, itf: Own | None, ifname: str) -> None:
        event = (
            "interface_link_lost"
            if change.lost
            else "interface_link_restored"
            if change.restored
            else "interface_link_changed"
        )
        self.log(
            event,
            level="warning" if change.lost else "info",
            interface=itf.name if itf is not None else change.key[3:],
            network=itf.network if itf is not None else None,
            link=ifname or None,
            condition=str(change.new),
            was=str(change.old),
            lasted_s=round(change.lasted_s, 3),
        )

    def _fire(self, watches: Mapping[str, _Watch]) -> None:
        for owner, watch in watches.items():
            condition = self.media.condition(f"link:{watch.ifname}")
            if condition is None:
                continue
            if condition.usable:
                watch.fired = False
                continue
            if watch.fired:
                continue
            watch.fired = True
            why = f"link {watch.ifname}: {condition.text} for the media sense window"
            self.log("media_sense_failure", resource=owner, link=watch.ifname, why=why)
            try:
                watch.on_lost(why)
            except Exception as exc:  # a watcher's bug must not stop the monitor
                self.log("media_sense_callback_failed", resource=owner, error=repr(exc))

    def report(self, own: Sequence[Own], ifnames: Mapping[str, str]) -> NodeLinks:
        """What this node says about its interfaces now (settled conditions only)."""
        listening = self.listening()
        heard = self.heard() if listening else {}
        interfaces = {}
        for itf in own:
            condition = self.media.condition(f"if:{itf.name}") or LinkCondition.MISSING
            peers = heard.get(itf.network) if itf.heartbeats and listening else None
            interfaces[itf.name] = LinkReport(
                itf.network,
                ifnames.get(itf.name, ""),
                condition,
                round(self._since.setdefault(itf.name, self.wall()), 3),
                None if peers is None else tuple(sorted(peers)),
            )
        return NodeLinks(interfaces)

    def _publish(self, own: Sequence[Own], ifnames: Mapping[str, str]) -> None:
        lease = self.lease()
        if lease == 0 or self.guard is None:
            return
        links = self.report(own, ifnames)
        if links == self.published and lease == self._published_lease:
            return
        body = json.dumps(codec.dump(links, exclude_defaults=False), sort_keys=True).encode()
        try:
            result = self.store.txn(
                [self.guard()], [Put(self.keys.links(self.node), body, lease=lease)]
            )
        except StoreError as exc:
            self.log("links_publish_failed", error=str(exc))
            return  # the next round (at most POLL_S away) tries again
        if result.succeeded:
            self.published, self._published_lease = links, lease


def _condition(kernel: _Kernel, ifname: str | None) -> LinkCondition:
    if ifname is None or ifname not in kernel.flags:
        return LinkCondition.MISSING
    return condition_of(kernel.flags[ifname])


def _drain(sock: socket.socket) -> None:
    """Read what is pending (notifications only wake us: a full dump follows)."""
    for _ in range(_DRAIN):
        try:
            if not sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ENOBUFS: notifications were lost; the dump that follows sees all
            return


def _enter_netns(name: str) -> None:
    """Move the calling thread (only it) into network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns to network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)
