"""Membership: which peers are alive, judged from UDP heartbeats on every cluster network.

Each node sends one signed heartbeat (:mod:`wolfpack.node.heartbeat_wire`) per interval to
every peer on every *path* (one path = one network whose role carries heartbeats: private or
mixed, S15). A peer is **up** while at least one path heard it within ``threshold x interval``;
it is **down** only when every path has been silent that long (DESIGN §2). A single silent path
marks only that interface Failed and its network Partitioned, never the node: losing one
heartbeat network or a flapping link must not cause a failover (S14, S41).

Two parts, so the failure detector can be tested exactly with a fake clock:

- :class:`Tracker` (pure): receive-side state. Accepts or rejects decoded heartbeats (unknown
  sender, wrong network, replay) and answers "who is up at time t".
- :class:`Membership` (shell): the sockets and ONE daemon thread running a selector loop that
  sends on schedule, receives, and notices time-outs. It uses no asyncio, so a busy event loop
  elsewhere in the daemon cannot delay a heartbeat into a false node failure. Once started,
  only that thread touches the sockets; :meth:`Membership.set_peers` hands changes to it.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from wolfpack.errors import FieldError, IllegalTransition, ValidationError, WolfpackError
from wolfpack.model.states import InterfaceState, NetworkState
from wolfpack.node import heartbeat_wire as wire

__all__ = [
    "COUNTERS",
    "Address",
    "HeartbeatSettings",
    "Membership",
    "MembershipError",
    "MembershipView",
    "Path",
    "PathView",
    "PeerView",
    "Tracker",
    "Verdict",
]

Address = tuple[str, int]

#: every counter in :attr:`MembershipView.counters`, in display order
COUNTERS = (
    "sent",
    "received",
    "dropped_unsigned",
    "dropped_replay",
    "dropped_malformed",
    "dropped_unknown",
    "send_errors",
)

_MIN_SECRET = 16  # same floor as wolfpack.node.secret.read_secret
_RECV_BYTES = 2048  # a heartbeat is < 400 bytes; anything longer is malformed anyway
_RECV_BATCH = 64  # datagrams read per wake-up, so a flood cannot starve our own sending
_DSCP_CS6 = 0xC0  # "network control": switches with QoS queue heartbeats ahead of bulk data
_JOIN_S = 2.0  # how long stop() and set_peers() wait for the thread
_LOG_EVERY_S = 10.0  # a repeating problem (a flood of bad packets) is logged this often at most

#: the daemon's structured log: ``log(event, **fields)`` (wolfpack.node.daemon.JsonLog)
Log = Callable[..., None]


class MembershipError(WolfpackError):
    """The heartbeat service could not do what was asked (a socket would not bind)."""


@dataclass(frozen=True)
class Path:
    """One heartbeat path = one cluster network: where to listen and where each peer listens."""

    network: str
    local: Address  # (address, port) to bind; port 0 picks a free port (tests)
    peers: Mapping[str, Address]  # peer node name -> its (address, port) on this network


@dataclass(frozen=True)
class HeartbeatSettings:
    """Defaults: a heartbeat every 125 ms, a peer is down after 4 silent intervals on every
    path, i.e. 0.5 s (WSFC: 1 s x 5..10). docs/membership.md explains the choice."""

    interval_s: float = 0.125
    threshold: int = 4

    def __post_init__(self) -> None:
        errors = []
        if not self.interval_s > 0:
            errors.append(FieldError("interval_s", f"{self.interval_s} must be positive"))
        if self.threshold < 1:
            errors.append(FieldError("threshold", f"{self.threshold} must be at least 1"))
        if errors:
            raise ValidationError(errors)

    @property
    def timeout_s(self) -> float:
        """Silence after which a path is Failed (and, on every path, a peer is down)."""
        return self.interval_s * self.threshold


@dataclass(frozen=True)
class PathView:
    """One peer as heard on one network."""

    up: bool
    last_heard: float | None  # clock() of the last accepted heartbeat, None if never
    lost: int = 0  # heartbeats never received (gaps in the sender's sequence on this path)

    @property
    def state(self) -> InterfaceState:
        """The peer's interface on this network as this node sees it. Silence from here is
        reported Failed; telling Failed from Unreachable needs every node's view."""
        return InterfaceState.UP if self.up else InterfaceState.FAILED


@dataclass(frozen=True)
class PeerView:
    up: bool  # heard on at least one path within the timeout
    last_heard: float | None  # latest over all paths
    paths: Mapping[str, PathView]  # network -> path
    incarnation: int | None = None  # sender's start time (ns); changes when the peer restarts


@dataclass(frozen=True)
class MembershipView:
    """An immutable snapshot; safe to keep and to hand to another thread."""

    peers: Mapping[str, PeerView]
    networks: Mapping[str, NetworkState]
    counters: Mapping[str, int]

    def up(self) -> frozenset[str]:
        """Names of the peers that are up."""
        return frozenset(name for name, peer in self.peers.items() if peer.up)


class Verdict(StrEnum):
    """What became of a heartbeat; each value is the counter it increments."""

    ACCEPTED = "received"
    REPLAY = "dropped_replay"
    UNKNOWN = "dropped_unknown"  # not a configured peer on this network (or ourselves)
    MALFORMED = "dropped_malformed"


@dataclass
class _Link:
    last_heard: float | None = None
    lost: int = 0


class Tracker:
    """Receive-side failure detector (pure: time is an argument, no I/O, not thread-safe).

    Replay state outlives :meth:`configure`, so removing and re-adding a peer does not
    reopen the door to its old packets.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._links: dict[tuple[str, str], _Link] = {}  # (peer, network) -> link
        self._networks: tuple[str, ...] = ()
        self._seen: dict[tuple[str, str], tuple[int, int]] = {}  # -> (incarnation, sequence)
        self._newest: dict[str, int] = {}  # peer -> newest incarnation seen on any network

    def configure(self, paths: Mapping[str, Path]) -> None:
        """Track exactly these (peer, network) links; kept links keep their history."""
        old, self._links = self._links, {}
        for network, path in paths.items():
            for peer in path.peers:
                self._links[peer, network] = old.get((peer, network)) or _Link()
        self._networks = tuple(paths)

    def accept(self, hb: wire.Heartbeat, network: str, now: float) -> Verdict:
        """Judge a verified heartbeat that arrived on ``network``'s socket at ``now``."""
        if hb.network != network:
            return Verdict.MALFORMED  # signed for another network: misrouted or moved
        link = self._links.get((hb.node, network))
        if link is None:
            return Verdict.UNKNOWN
        if hb.incarnation < self._newest.get(hb.node, -1):
            return Verdict.REPLAY  # from before the peer's latest restart
        seen = self._seen.get((hb.node, network))
        if seen is not None and seen[0] == hb.incarnation and hb.sequence <= seen[1]:
            return Verdict.REPLAY
        if seen is not None and seen[0] == hb.incarnation:
            link.lost += hb.sequence - seen[1] - 1
        self._seen[hb.node, network] = (hb.incarnation, hb.sequence)
        self._newest[hb.node] = hb.incarnation
        link.last_heard = now
        return Verdict.ACCEPTED

    def _is_up(self, link: _Link, now: float) -> bool:
        return link.last_heard is not None and now - link.last_heard < self.timeout_s

    def next_expiry(self, now: float) -> float | None:
        """When the next up link goes silent unless heard again; None if none is up."""
        ends = [
            link.last_heard + self.timeout_s
            for link in self._links.values()
            if link.last_heard is not None and self._is_up(link, now)
        ]
        return min(ends, default=None)

    def signature(self, now: float) -> Hashable:
        """Cheap fingerprint of everything :meth:`view` reports except times and counters:
        when it changes, listeners are told."""
        return (
            frozenset(self._links),
            frozenset(key for key, link in self._links.items() if self._is_up(link, now)),
            frozenset((peer, self._newest.get(peer)) for peer, _ in self._links),
        )

    def view(self, now: float, counters: Mapping[str, int]) -> MembershipView:
        paths: dict[str, dict[str, PathView]] = {}
        for (peer, network), link in sorted(self._links.items()):
            paths.setdefault(peer, {})[network] = PathView(
                self._is_up(link, now), link.last_heard, link.lost
            )
        peers = {}
        for peer, by_network in paths.items():
            heard = [p.last_heard for p in by_network.values() if p.last_heard is not None]
            peers[peer] = PeerView(
                up=any(p.up for p in by_network.values()),
                last_heard=max(heard, default=None),
                paths=MappingProxyType(by_network),
                incarnation=self._newest.get(peer),
            )
        networks = {network: _network_state(network, peers) for network in self._networks}
        return MembershipView(
            MappingProxyType(peers), MappingProxyType(networks), MappingProxyType(dict(counters))
        )


def _network_state(network: str, peers: Mapping[str, PeerView]) -> NetworkState:
    """Judged over the peers that are up: a dead node is a node failure, not a network one,
    so it does not make every network look Partitioned. With no peer up, a network with
    peers is Down (nothing is heard on it); one without peers is Up (nothing says otherwise)."""
    on_it = [peer for peer in peers.values() if network in peer.paths]
    if not on_it:
        return NetworkState.UP
    heard = [peer.paths[network].up for peer in on_it if peer.up]
    if heard and all(heard):
        return NetworkState.UP
    return NetworkState.PARTITIONED if any(heard) else NetworkState.DOWN


@dataclass
class _Bound:
    requested: Address  # Path.local as asked for (port may be 0)
    address: Address  # as bound; set_peers with either one keeps the socket
    sock: socket.socket


@dataclass
class _Change:
    """A set_peers() request for the thread; ``error`` is set if it could not be applied."""

    paths: dict[str, Path]
    done: threading.Event = field(default_factory=threading.Event)
    error: WolfpackError | None = None


class Membership:
    """Heartbeats for one node: sends on schedule, tracks peers, reports changes.

    ``on_change(view)`` runs on the membership thread whenever a peer goes up or down, restarts,
    a path changes state or the peer set changes; it must be quick (a slow callback delays
    heartbeats) and exceptions from it are logged, not raised.

    ``log(event, **fields)`` gets every event (peer up/down, dropped packets, errors) with a
    reason-code-like name: the daemon's JSON log. A repeating one (a flood of unsigned
    packets, a dead link) is logged at most every ``_LOG_EVERY_S`` per network, with how
    many were not logged; the counters have them all.
    """

    def __init__(
        self,
        node: str,
        node_id: int,
        secret: bytes,
        paths: Sequence[Path],
        settings: HeartbeatSettings,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[MembershipView], None] | None = None,
        log: Log = lambda event, **fields: None,
    ) -> None:
        # Wall-clock ns, not the monotonic clock: it must grow across restarts of the process.
        self.incarnation = time.time_ns()
        wire.check(wire.Heartbeat(node_id, node, "-", self.incarnation, 0))
        if len(secret) < _MIN_SECRET:
            raise ValidationError.single("secret", f"must be at least {_MIN_SECRET} bytes")
        self.node, self.node_id = node, node_id
        self.settings = settings
        self._secret = secret
        self._clock = clock
        self._on_change = on_change
        self._log = log
        self._throttle: dict[tuple[str, str], tuple[float, int]] = {}  # (event, network) ->
        # (when last logged, how many since): owned by the thread
        self._paths = _check_paths(paths, node)
        self._tracker = Tracker(settings.timeout_s)
        self._tracker.configure(self._paths)
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._sequence: dict[str, int] = {}  # network -> last sequence sent
        self._addresses: dict[str, Address] = {}  # network -> bound (address, port)
        self._lock = threading.Lock()  # guards the fields above (thread vs. callers)
        self._admin = threading.Lock()  # serialises start / stop / set_peers
        self._state = "new"  # -> running -> stopped
        self._changes: deque[_Change] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Owned by the thread once it runs:
        self._bound: dict[str, _Bound] = {}
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._last_signature: Hashable = None
        self._last_view: MembershipView | None = None
        self._next_send = self._wake_at = 0.0  # the loop's schedule, by self._clock
        # Guarded by _lock: when the loop last read the sockets (views are judged no later
        # than one interval after it), and until when silence is no evidence.
        self._judged_at = float("-inf")
        self._quiet_until = float("inf")  # set on start: one timeout of listening first

    # -- public surface ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind one UDP socket per path (errors raise here) and start the membership thread."""
        with self._admin:
            self._open()
            self._thread = threading.Thread(
                target=self._run, name=f"membership-{self.node}", daemon=True
            )
            self._thread.start()

    def _open(self) -> None:
        """Bind the sockets and get ready to run rounds (tests run them without the thread)."""
        if self._state != "new":
            raise IllegalTransition("membership", self._state, "start")
        selector = selectors.DefaultSelector()
        wake_r, wake_w = socket.socketpair()
        try:
            for sock in (wake_r, wake_w):
                sock.setblocking(False)
            selector.register(wake_r, selectors.EVENT_READ, None)
            for network, path in self._paths.items():
                bound = self._bound[network] = _bind(path)
                selector.register(bound.sock, selectors.EVENT_READ, network)
        except BaseException:
            for b in self._bound.values():
                b.sock.close()
            self._bound.clear()
            selector.close()
            wake_r.close()
            wake_w.close()
            raise
        self._selector, self._wake_r, self._wake_w = selector, wake_r, wake_w
        with self._lock:
            self._addresses = {n: b.address for n, b in self._bound.items()}
            now = self._clock()
            self._judged_at = now
            self._quiet_until = now + self.settings.timeout_s
            self._last_signature = self._tracker.signature(now)
            self._last_view = self._tracker.view(now, self._counters)
        self._state = "running"

    def stop(self) -> None:
        """Stop sending (peers will see this node go down), close every socket, join the
        thread (bounded). Idempotent. Not from ``on_change``: it runs on the thread to join."""
        if threading.current_thread() is self._thread:
            raise IllegalTransition("membership", "on_change", "stop")
        with self._admin:
            if self._state == "stopped":
                return
            was_running, self._state = self._state == "running", "stopped"
        if was_running and self._thread is not None:
            self._stopping.set()
            self._wake()
            self._thread.join(_JOIN_S)
            if self._thread.is_alive():
                self._log("membership_thread_stuck", node=self.node, waited_s=_JOIN_S)
        for bound in self._bound.values():
            bound.sock.close()
        self._bound.clear()
        with self._lock:
            self._addresses.clear()
        for closeable in (self._selector, self._wake_r, self._wake_w):
            if closeable is not None:
                closeable.close()
        with self._lock:  # requests that raced with stop: record them, nothing to bind
            while self._changes:
                change = self._changes.popleft()
                self._configure(change.paths)
                change.done.set()

    def view(self) -> MembershipView:
        """Who is up right now, computed at the time of the call, but never judged more than
        one interval after the membership thread last read the sockets: if the thread is
        late (the daemon stalled), heartbeats may sit unread, and their silence says
        nothing yet (M3)."""
        with self._lock:
            at = min(self._clock(), self._judged_at + self.settings.interval_s)
            if self._state != "running":
                at = self._clock()
            return self._tracker.view(at, self._counters)

    def listening(self) -> bool:
        """Has this node listened long enough for silence to mean something? False for one
        timeout after start and after a stall of the membership loop (M3)."""
        with self._lock:
            return self._state == "running" and self._clock() >= self._quiet_until

    @property
    def counters(self) -> Mapping[str, int]:
        with self._lock:
            return MappingProxyType(dict(self._counters))

    @property
    def local_addresses(self) -> Mapping[str, Address]:
        """network -> (address, port) actually bound (useful with port 0); empty until started."""
        with self._lock:
            return MappingProxyType(dict(self._addresses))

    def set_peers(self, paths: Sequence[Path]) -> None:
        """Replace the paths (nodes join or leave, networks change roles). Returns once the
        change is in effect; a socket that will not bind raises and changes nothing. A peer
        kept on a path keeps its history; a new one starts not yet heard (down)."""
        wanted = _check_paths(paths, self.node)
        if threading.current_thread() is self._thread:  # from on_change: must not wait for
            with self._lock:  # ourselves; applied (errors logged) when the callback returns
                self._changes.append(_Change(wanted))
            return
        with self._admin:
            if self._state != "running":
                with self._lock:
                    self._configure(wanted)
                return
            change = _Change(wanted)
            with self._lock:
                self._changes.append(change)
            self._wake()
            if not change.done.wait(_JOIN_S):
                raise MembershipError(f"membership thread of {self.node} did not respond")
        if change.error is not None:
            raise change.error

    # -- the membership thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._loop()
            except Exception as exc:
                # A bug must not silence this node (peers would fence it): log, pause, go on.
                self._log("membership_loop_failed", error=repr(exc))
                self._stopping.wait(self.settings.interval_s)

    def _loop(self) -> None:
        self._open_rounds()
        assert self._selector is not None
        while not self._stopping.is_set():
            wait = self._round()
            for key, _ in self._selector.select(wait):
                if key.data is None:
                    self._drain_wake()
                # heartbeats are read at the start of the next round, before any judging

    def _open_rounds(self) -> None:
        now = self._clock()
        self._next_send = self._wake_at = now

    def _round(self) -> float:
        """One round of the loop: apply changes, send if due, read every socket, then
        judge; returns how long to wait for the next round (M3: a stall must not turn
        heartbeats that sit unread in the sockets into false Downs)."""
        interval = self.settings.interval_s
        self._apply_changes()
        now = self._clock()
        if now - self._wake_at > interval:
            # Woke late: the daemon (or the machine) stalled. Whatever was lost meanwhile
            # says nothing about the peers: silence is no evidence for one timeout.
            with self._lock:
                self._quiet_until = now + self.settings.timeout_s
            self._log_some("membership_stalled", "-", late_s=round(now - self._wake_at, 3))
        if now >= self._next_send:
            self._send_all()
            self._next_send += interval  # keep the cadence; after a stall, resume, don't burst
            if self._next_send <= now:
                self._next_send = now + interval
        for network in list(self._bound):
            self._receive(network)
        with self._lock:
            self._judged_at = self._clock()
        self._notice_changes()
        with self._lock:
            expiry = self._tracker.next_expiry(self._clock())
        self._wake_at = self._next_send if expiry is None else min(self._next_send, expiry)
        return max(0.0, self._wake_at - self._clock())

    def _send_all(self) -> None:
        with self._lock:
            paths = self._paths
            packets = {}
            for network in self._bound:
                seq = self._sequence[network] = self._sequence.get(network, 0) + 1
                hb = wire.Heartbeat(self.node_id, self.node, network, self.incarnation, seq)
                packets[network] = wire.encode(hb, self._secret)
        sent = errors = 0
        failed: list[tuple[str, Address, OSError]] = []
        for network, packet in packets.items():
            sock = self._bound[network].sock
            for address in paths[network].peers.values():
                try:
                    sock.sendto(packet, address)
                    sent += 1
                except OSError as exc:  # link down, no route, firewall: the receiver will notice
                    errors += 1
                    failed.append((network, address, exc))
        with self._lock:
            self._counters["sent"] += sent
            self._counters["send_errors"] += errors
        for network, address, err in failed:
            self._log_some("heartbeat_send_failed", network, to=address, error=str(err))

    def _receive(self, network: str) -> None:
        sock = self._bound[network].sock
        for _ in range(_RECV_BATCH):
            try:
                data, source = sock.recvfrom(_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._log_some("heartbeat_receive_failed", network, error=str(exc))
                return
            now = self._clock()
            hb: wire.Heartbeat | None = None
            try:
                hb = wire.decode(data, self._secret)
            except wire.BadSignature:
                counter = "dropped_unsigned"
            except wire.MalformedPacket:
                counter = "dropped_malformed"
            with self._lock:
                if hb is not None:
                    counter = self._tracker.accept(hb, network, now).value
                self._counters[counter] += 1
            if counter.startswith("dropped_"):
                sender = hb.node if hb is not None else None
                self._log_some(
                    f"heartbeat_{counter}",
                    network,
                    source=f"{source[0]}:{source[1]}",
                    sender=sender,
                )

    def _log_some(self, event: str, network: str, **fields: object) -> None:
        """Log ``event`` on ``network`` now if it was not logged in the last _LOG_EVERY_S;
        otherwise count it, and say how many were left out the next time it is logged."""
        now = self._clock()
        key = (event, network)
        last, left_out = self._throttle.get(key, (None, 0))
        if last is not None and now - last < _LOG_EVERY_S:
            self._throttle[key] = (last, left_out + 1)
            return
        self._throttle[key] = (now, 0)
        self._log(
            event, network=network, **fields, **({"not_logged": left_out} if left_out else {})
        )

    def _notice_changes(self) -> None:
        with self._lock:
            now = self._clock()
            signature = self._tracker.signature(now)
            if signature == self._last_signature:
                return
            self._last_signature = signature
            view = self._tracker.view(now, self._counters)
        for event, fields in transitions(self._last_view, view):
            self._log(event, **fields)
        self._last_view = view
        if self._on_change is not None:
            try:
                self._on_change(view)
            except Exception as exc:
                self._log("membership_callback_failed", error=repr(exc))
            self._apply_changes()  # the callback may have called set_peers

    def _apply_changes(self) -> None:
        while True:
            with self._lock:
                if not self._changes:
                    return
                change = self._changes.popleft()
            try:
                self._apply(change.paths)
            except MembershipError as exc:
                self._log("heartbeat_paths_refused", error=str(exc))
                change.error = exc
            change.done.set()

    def _apply(self, wanted: dict[str, Path]) -> None:
        """Bind what is new first, so a failure leaves everything as it was."""
        assert self._selector is not None
        fresh: dict[str, _Bound] = {}
        try:
            for network, path in wanted.items():
                old = self._bound.get(network)
                if old is None or path.local not in (old.requested, old.address):
                    fresh[network] = _bind(path)
        except MembershipError:
            for bound in fresh.values():
                bound.sock.close()
            raise
        for network, old in list(self._bound.items()):
            if network not in wanted or network in fresh:
                self._selector.unregister(old.sock)
                old.sock.close()
                del self._bound[network]
        for network, bound in fresh.items():
            self._selector.register(bound.sock, selectors.EVENT_READ, network)
            self._bound[network] = bound
        with self._lock:
            self._configure(wanted)
            self._addresses = {n: b.address for n, b in self._bound.items()}

    def _configure(self, wanted: dict[str, Path]) -> None:
        self._paths = wanted
        self._tracker.configure(wanted)

    def _wake(self) -> None:
        if self._wake_w is not None:
            with suppress(OSError):  # full (a wake-up is pending anyway) or closed
                self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with suppress(OSError):
            while self._wake_r.recv(512):
                pass


def _check_paths(paths: Sequence[Path], node: str) -> dict[str, Path]:
    """Validate paths (naming every bad field) and copy them so callers cannot mutate ours.
    Addresses must be numeric: a name would need DNS, which can block the heartbeat thread."""
    errors: list[FieldError] = []
    out: dict[str, Path] = {}
    for i, path in enumerate(paths):
        f = f"paths[{i}]"
        if path.network in out:
            errors.append(FieldError(f"{f}.network", f"{path.network!r} appears twice"))
        if not 0 < len(path.network.encode()) <= wire.MAX_NETWORK_BYTES:
            errors.append(FieldError(f"{f}.network", f"must be 1..{wire.MAX_NETWORK_BYTES} bytes"))
        version = _check_address(f"{f}.local", path.local, 0, errors)
        for peer, address in path.peers.items():
            pf = f"{f}.peers.{peer}"
            if peer == node:
                errors.append(FieldError(pf, "a node is not its own peer"))
            if not 0 < len(peer.encode()) <= wire.MAX_NODE_BYTES:
                errors.append(FieldError(pf, f"name must be 1..{wire.MAX_NODE_BYTES} bytes"))
            peer_version = _check_address(pf, address, 1, errors)
            if version and peer_version and version != peer_version:
                errors.append(FieldError(pf, f"IPv{peer_version} peer on an IPv{version} path"))
        out[path.network] = Path(path.network, path.local, MappingProxyType(dict(path.peers)))
    if errors:
        raise ValidationError(errors)
    return out


def _check_address(f: str, address: Address, min_port: int, errors: list[FieldError]) -> int:
    """The IP version of ``address`` (0 if invalid, with the reason appended to ``errors``)."""
    host, port = address
    if not min_port <= port <= 65535:
        errors.append(FieldError(f, f"port {port} is not in {min_port}..65535"))
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        errors.append(FieldError(f, f"{host!r} is not a numeric IP address"))
        return 0


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


def transitions(
    before: MembershipView | None, after: MembershipView
) -> list[tuple[str, dict[str, object]]]:
    """What changed between two views, as log events (event name, fields)."""
    out: list[tuple[str, dict[str, object]]] = []
    old = before.peers if before is not None else {}
    for name, peer in after.peers.items():
        was = old.get(name)
        if was is None:
            out.append(("peer_added", {"peer": name, "up": peer.up}))
            if peer.up:  # heard already when its path was first judged
                out.append(("peer_up", {"peer": name}))
            continue
        if was.up != peer.up:
            # down = silent on every path; its paths changed with it: no need to list them
            out.append(("peer_up" if peer.up else "peer_down", {"peer": name}))
            continue
        if None not in (was.incarnation, peer.incarnation) and was.incarnation != peer.incarnation:
            out.append(("peer_restarted", {"peer": name, "incarnation": peer.incarnation}))
        for network, path in peer.paths.items():
            was_path = was.paths.get(network)
            if was_path is not None and was_path.up != path.up:
                out.append(
                    ("heartbeat_path", {"peer": name, "network": network, "state": str(path.state)})
                )
    for name in old.keys() - after.peers.keys():
        out.append(("peer_removed", {"peer": name}))
    return out
