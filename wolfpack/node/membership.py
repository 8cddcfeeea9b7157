"""Membership: which peers are alive, judged from UDP heartbeats on every cluster network.

Each node sends one signed heartbeat (:mod:`wolfpack.node.heartbeat_wire`) per interval to
every peer on every *path* (one path = one network whose role carries heartbeats: private or
mixed, S15). A peer is **up** while at least one path heard it within ``threshold x interval``;
it is **down** only when every path has been silent that long (DESIGN §2). A single silent path
marks only that interface Failed and its network Partitioned, never the node: losing one
heartbeat network or a flapping link must not cause a failover (S14, S41).

Two parts, so the failure detector can be tested exactly with a fake clock:

- :class:`Tracker` (pure, in :mod:`wolfpack.node.heartbeat_tracker`): receive-side state.
  Accepts or rejects decoded heartbeats (unknown sender, wrong network, replay) and answers
  "who is up at time t".
- :class:`Membership` (shell): the sockets and ONE daemon thread running a selector loop that
  sends on schedule, receives, and notices time-outs. It uses no asyncio, so a busy event loop
  elsewhere in the daemon cannot delay a heartbeat into a false node failure. Once started,
  only that thread touches the sockets; :meth:`Membership.set_peers` hands changes to it.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from types import MappingProxyType

from wolfpack.errors import IllegalTransition, ValidationError, WolfpackError
from wolfpack.node import heartbeat_wire as wire
from wolfpack.node.heartbeat_socket import MembershipError, _bind, _Bound, receive_stamped
from wolfpack.node.heartbeat_tracker import (
    COUNTERS,
    Address,
    HeartbeatSettings,
    MembershipView,
    Path,
    PathView,
    PeerView,
    Tracker,
    Verdict,
    _check_paths,
    transitions,
)

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
    "next_incarnation",
]

_MIN_SECRET = 16  # same floor as wolfpack.node.secret.read_secret
_RECV_BYTES = 2048  # a heartbeat is < 400 bytes; anything longer is malformed anyway
_RECV_BATCH = 256  # datagrams read per network per round, so a flood cannot starve our sending
_JOIN_S = 2.0  # how long stop() and set_peers() wait for the thread
_LOG_EVERY_S = 10.0  # a repeating problem (a flood of bad packets) is logged this often at most
#: The loop wakes only to send (once per interval) and when a link's silence reaches the
#: suspicion time or the timeout, and reads every socket then; arriving heartbeats do not
#: wake it. Each datagram carries the time the kernel received it (SO_TIMESTAMPNS), so one
#: read late records the true arrival: a peer's silence is judged from when its heartbeat
#: came, not from when it was read. Issue 12: on an idle node most of the cost of
#: heartbeats was waking up (a round cost ~0.3 ms cold, 64 times a second with 15 peers);
#: now it is about 8 rounds a second whatever the node count.

#: the daemon's structured log: ``log(event, **fields)`` (wolfpack.node.daemon.JsonLog)
Log = Callable[..., None]


def next_incarnation(record: FilePath, now_ns: int) -> int:
    """This start's heartbeat incarnation: the wall clock in ns, but always above the last
    one recorded in ``record`` (written before it is used). Peers drop heartbeats of an
    incarnation lower than one they have seen, so a wall clock stepped back (NTP, a wrong
    RTC at boot) and a restart within that step would leave the node unheard until their
    own restart; the record keeps it growing across restarts and reboots."""
    try:
        last = int(record.read_text().strip())
    except (OSError, ValueError):
        last = 0
    value = max(now_ns, last + 1)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(f"{value}\n")
    tmp.replace(record)
    return value


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
        incarnation: int | None = None,
    ) -> None:
        # It must grow across restarts of the process: the monotonic clock would not; the
        # wall clock may be stepped back (the daemon gives next_incarnation's).
        self.incarnation = time.time_ns() if incarnation is None else incarnation
        wire.check(wire.Heartbeat(node_id, node, "-", self.incarnation, 0))
        if len(secret) < _MIN_SECRET:
            raise ValidationError.single("secret", f"must be at least {_MIN_SECRET} bytes")
        self.node, self.node_id = node, node_id
        self.settings = settings
        self._secret = secret
        self._accepted: tuple[bytes, ...] = (secret,)  # more during a key rotation
        self._clock = clock
        self._on_change = on_change
        self._log = log
        self._throttle: dict[tuple[str, str], tuple[float, int]] = {}  # (event, network) ->
        # (when last logged, how many since): owned by the thread
        self._paths = _check_paths(paths, node)
        self._tracker = Tracker(settings.timeout_s, settings.suspect_s)
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
        self._read_at = float("-inf")  # when the loop last read the sockets, by self._clock
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
            for network, path in self._paths.items():  # read on schedule, not when ready
                self._bound[network] = _bind(path)
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
        """Who is up, judged when the membership thread last read the sockets: heartbeats
        that came since may sit unread, and their silence says nothing yet (M3). The thread
        reads at every send and whenever a link's silence would reach the suspicion time or
        the timeout, so this is at most one interval old."""
        with self._lock:
            at = min(self._clock(), self._judged_at)
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
            if self._selector.select(wait):  # only the wake-up socket is registered
                self._drain_wake()

    def _open_rounds(self) -> None:
        now = self._clock()
        self._next_send = self._wake_at = self._read_at = now

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
        read_at, wall = self._clock(), time.time()
        for network in list(self._bound):
            self._receive(network, read_at, wall)
        self._read_at = read_at
        with self._lock:
            self._judged_at = read_at
        self._notice_changes(read_at)
        with self._lock:
            expiry = self._tracker.next_expiry(read_at)  # one already due: go round at once
        self._wake_at = self._next_send if expiry is None else min(self._next_send, expiry)
        return max(0.0, self._wake_at - self._clock())

    def set_suspect_s(self, seconds: float) -> bool:
        """Suspect a silent peer after ``seconds`` from now on (at most the timeout;
        :meth:`HeartbeatSettings.suspect_within`); True if that changed it."""
        with self._lock:
            seconds = min(seconds, self.settings.timeout_s)
            if abs(seconds - self._tracker.suspect_s) < 1e-9:
                return False
            self._tracker.suspect_s = seconds
        self._wake()  # the next expiry may now be sooner
        return True

    def set_keys(self, send: bytes, accept: tuple[bytes, ...]) -> None:
        """Sign with ``send`` from the next heartbeat on, accept any of ``accept`` (a key
        rotation: wolfpack.node.keyring). Whole-reference swaps: no lock needed."""
        if len(send) < _MIN_SECRET or any(len(k) < _MIN_SECRET for k in accept):
            raise ValidationError.single("secret", f"must be at least {_MIN_SECRET} bytes")
        self._accepted = (send, *(k for k in accept if k != send))
        self._secret = send

    def _decode(self, data: bytes) -> wire.Heartbeat:
        keys = self._accepted
        for key in keys[:-1]:
            try:
                return wire.decode(data, key)
            except wire.BadSignature:
                continue
        return wire.decode(data, keys[-1])

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

    def _arrival(self, now: float, wall: float, stamp: float | None) -> float:
        """When a datagram read at ``now`` (``wall`` on the wall clock) came, by our clock:
        its kernel stamp if that is consistent (not in the future, not before the previous
        read), else ``now`` (no stamp, or the wall clock was stepped: a peer then looks
        alive a little longer, never shorter)."""
        if stamp is None:
            return now
        age = wall - stamp
        return now - age if 0.0 <= age <= now - self._read_at else now

    def _receive(self, network: str, now: float, wall: float) -> None:
        sock = self._bound[network].sock
        for _ in range(_RECV_BATCH):
            try:
                data, source, stamp = receive_stamped(sock, _RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._log_some("heartbeat_receive_failed", network, error=str(exc))
                return
            arrived = self._arrival(now, wall, stamp)
            hb: wire.Heartbeat | None = None
            try:
                hb = self._decode(data)
            except wire.BadSignature:
                counter = "dropped_unsigned"
            except wire.MalformedPacket:
                counter = "dropped_malformed"
            with self._lock:
                if hb is not None:
                    counter = self._tracker.accept(hb, network, arrived).value
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

    def _notice_changes(self, now: float) -> None:
        """Tell listeners what changed, judged at ``now``: the moment the sockets were last
        read (a heartbeat that came after it sits unread; judging later would call its
        sender silent, and :meth:`view` would disagree with what listeners were told)."""
        with self._lock:
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
                old.sock.close()
                del self._bound[network]
        self._bound.update(fresh)
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
