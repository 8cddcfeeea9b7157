"""The pure half of membership: heartbeat paths and settings, the :class:`Tracker` failure
detector, and the immutable views it reports (DESIGN §2, S14, S15, S41).

Time is an argument and there is no I/O, so the detector is tested exactly with a fake
clock; :mod:`wolfpack.node.membership` is the shell (sockets, the thread) around it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.states import InterfaceState, NetworkState
from wolfpack.node import heartbeat_wire as wire

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


@dataclass(frozen=True)
class Path:
    """One heartbeat path = one cluster network: where to listen and where each peer listens."""

    network: str
    local: Address  # (address, port) to bind; port 0 picks a free port (tests)
    peers: Mapping[str, Address]  # peer node name -> its (address, port) on this network


def heartbeat_paths(cfg: ClusterConfig, me: str, port: int) -> list[Path]:
    """One path per network that carries heartbeats (private, mixed) where this node has an
    interface; peers are the other nodes' interfaces on that network."""
    paths = []
    for net in sorted(cfg.networks.values(), key=lambda n: n.name):
        if not net.role.carries_heartbeats:
            continue
        on_net = [i for i in cfg.interfaces.values() if i.network == net.name]
        mine = [i for i in on_net if i.node == me]
        if not mine:
            continue
        peers = {i.node: (i.address, port) for i in on_net if i.node != me}
        paths.append(Path(net.name, (mine[0].address, port), peers))
    return paths


#: a peer is suspected after this many intervals of silence on every path at the earliest
EARLIEST_SUSPECT_INTERVALS = 1.5


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

    @property
    def suspect_s(self) -> float:
        """Silence on every path after which a peer is *suspected*: half the timeout (in
        whole intervals, at least two when the threshold allows; 0.25 s at the defaults).
        A suspected peer is left out of this node's published view, so the etcd half of
        the Down verdict (the fencing grace: does the peer answer through etcd?) runs while
        the heartbeat timeout is still running, instead of after it (docs/fencing.md)."""
        return self.interval_s * min(self.threshold, max(2, math.ceil(self.threshold / 2)))

    def suspect_within(self, grace_s: float) -> float:
        """The suspicion time for a fencing grace of ``grace_s``: early enough that the grace
        ends by the heartbeat timeout (a slow etcd lengthens the grace, and a Down that
        waited for it came that much later: issue 12), never later than :attr:`suspect_s`
        and never before :data:`EARLIEST_SUSPECT_INTERVALS` intervals of silence, so that
        one heartbeat lost on every path at once is not yet a suspicion."""
        earliest = min(self.timeout_s, EARLIEST_SUSPECT_INTERVALS * self.interval_s)
        return min(self.suspect_s, max(earliest, self.timeout_s - grace_s))


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
    #: silent on every path for the suspicion time (:attr:`HeartbeatSettings.suspect_s`):
    #: not Down, but no longer in the view this node publishes
    suspected: bool = False


@dataclass(frozen=True)
class MembershipView:
    """An immutable snapshot; safe to keep and to hand to another thread."""

    peers: Mapping[str, PeerView]
    networks: Mapping[str, NetworkState]
    counters: Mapping[str, int]

    def up(self) -> frozenset[str]:
        """Names of the peers that are up."""
        return frozenset(name for name, peer in self.peers.items() if peer.up)

    def last_heard(self, offset: float) -> dict[str, dict[str, float]]:
        """Peer -> network -> its last heartbeat there, moved by ``offset`` (from the
        tracker's clock to the wall clock); paths never heard are left out."""
        return {
            name: {
                net: path.last_heard + offset
                for net, path in peer.paths.items()
                if path.last_heard is not None
            }
            for name, peer in self.peers.items()
        }


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

    def __init__(self, timeout_s: float, suspect_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.suspect_s = timeout_s if suspect_s is None else min(suspect_s, timeout_s)
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
        """Judge a verified heartbeat that arrived on ``network``'s socket at ``now`` (the
        kernel's arrival time: datagrams read together may carry times out of order)."""
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
        if link.last_heard is None or now > link.last_heard:
            link.last_heard = now
        return Verdict.ACCEPTED

    @staticmethod
    def _heard_within(link: _Link, now: float, span: float) -> bool:
        return link.last_heard is not None and now - link.last_heard < span

    def _is_up(self, link: _Link, now: float) -> bool:
        return self._heard_within(link, now, self.timeout_s)

    def _suspected(self, now: float) -> frozenset[str]:
        fresh = {
            peer
            for (peer, _), link in self._links.items()
            if self._heard_within(link, now, self.suspect_s)
        }
        return frozenset(peer for peer, _ in self._links if peer not in fresh)

    def next_expiry(self, now: float) -> float | None:
        """When the next link goes silent (suspected, or Failed) unless heard again; None if
        none is heard within the timeout."""
        ends = [
            end
            for link in self._links.values()
            if link.last_heard is not None
            for end in (link.last_heard + self.suspect_s, link.last_heard + self.timeout_s)
            if end > now
        ]
        return min(ends, default=None)

    def signature(self, now: float) -> Hashable:
        """Cheap fingerprint of everything :meth:`view` reports except times and counters:
        when it changes, listeners are told."""
        return (
            frozenset(self._links),
            frozenset(key for key, link in self._links.items() if self._is_up(link, now)),
            frozenset((peer, self._newest.get(peer)) for peer, _ in self._links),
            self._suspected(now),
        )

    def view(self, now: float, counters: Mapping[str, int]) -> MembershipView:
        paths: dict[str, dict[str, PathView]] = {}
        for (peer, network), link in sorted(self._links.items()):
            paths.setdefault(peer, {})[network] = PathView(
                self._is_up(link, now), link.last_heard, link.lost
            )
        peers = {}
        suspected = self._suspected(now)
        for peer, by_network in paths.items():
            heard = [p.last_heard for p in by_network.values() if p.last_heard is not None]
            peers[peer] = PeerView(
                up=any(p.up for p in by_network.values()),
                last_heard=max(heard, default=None),
                paths=MappingProxyType(by_network),
                incarnation=self._newest.get(peer),
                suspected=peer in suspected,
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
