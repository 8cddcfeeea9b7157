"""Membership: the pure failure detector with a fake clock, then real UDP on 127.0.0.1.

Timing assertions are deliberately loose (machines are noisy): a node must be declared down
within WAIT_S, and never before 0.8 x threshold x interval.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path as Path_

import pytest

from wolfpack.errors import IllegalTransition, ValidationError
from wolfpack.model.states import InterfaceState, NetworkState
from wolfpack.node.daemon import JsonLog
from wolfpack.node.heartbeat_wire import Heartbeat, encode
from wolfpack.node.membership import (
    COUNTERS,
    Address,
    HeartbeatSettings,
    Membership,
    MembershipError,
    MembershipView,
    Path,
    Tracker,
    Verdict,
    next_incarnation,
)

SECRET = b"test-cluster-secret-0123456789"
LO = "127.0.0.1"
NETS = ("private", "mixed")
WAIT_S = 3.0  # upper bound of every wait: nothing may hang
FAST = HeartbeatSettings(interval_s=0.025, threshold=20)  # 0.5 s, but a fine-grained cadence


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def hb(node: str = "b", network: str = "private", inc: int = 10, seq: int = 1) -> Heartbeat:
    return Heartbeat(2, node, network, inc, seq)


# -- Tracker: the failure detector, exact, with time as an argument --------------------------


def tracker(peers: Sequence[str] = ("b", "c"), nets: Sequence[str] = NETS) -> Tracker:
    t = Tracker(timeout_s=0.5)
    addr = (LO, 1)
    t.configure({n: Path(n, (LO, 0), dict.fromkeys(peers, addr)) for n in nets})
    return t


def test_a_peer_never_heard_is_down() -> None:
    view = tracker().view(0.0, {})
    assert not view.peers["b"].up and view.peers["b"].last_heard is None
    assert view.peers["b"].paths["private"].state is InterfaceState.FAILED
    assert set(view.networks.values()) == {NetworkState.DOWN}
    assert view.up() == frozenset()


def test_up_until_threshold_times_interval_of_silence_on_every_path() -> None:
    t = tracker()
    assert t.accept(hb("b", "private"), "private", 1.0) is Verdict.ACCEPTED
    assert t.accept(hb("b", "mixed"), "mixed", 1.2) is Verdict.ACCEPTED
    assert t.next_expiry(1.2) == pytest.approx(1.5)
    assert t.view(1.49, {}).peers["b"].up
    at_150 = t.view(1.5, {}).peers["b"]
    assert at_150.up and not at_150.paths["private"].up and at_150.paths["mixed"].up
    assert at_150.paths["private"].state is InterfaceState.FAILED
    assert at_150.last_heard == 1.2
    assert t.next_expiry(1.5) == pytest.approx(1.7)
    assert not t.view(1.7, {}).peers["b"].up
    assert t.next_expiry(1.7) is None


def test_a_peer_silent_on_every_path_for_the_suspicion_time_is_suspected_not_down() -> None:
    """The fencing grace overlaps the heartbeat timeout (docs/fencing.md): a peer silent on
    every path for suspect_s is suspected (left out of the published view) while still up;
    the suspicion is a change listeners hear of, and it ends with the next heartbeat."""
    t = Tracker(timeout_s=0.5, suspect_s=0.25)
    t.configure({n: Path(n, (LO, 0), {"b": (LO, 1)}) for n in NETS})
    t.accept(hb("b", "private"), "private", 1.0)
    t.accept(hb("b", "mixed"), "mixed", 1.2)
    assert t.next_expiry(1.2) == pytest.approx(1.25)  # private's suspicion: nothing changes
    assert not t.view(1.44, {}).peers["b"].suspected
    quiet = t.view(1.45, {}).peers["b"]
    assert quiet.suspected and quiet.up
    assert t.signature(1.44) != t.signature(1.45)
    assert t.next_expiry(1.45) == pytest.approx(1.5)
    assert t.accept(hb("b", "mixed", seq=2), "mixed", 1.46) is Verdict.ACCEPTED
    assert not t.view(1.46, {}).peers["b"].suspected


def test_one_silent_path_partitions_the_network_and_never_fails_the_node() -> None:
    t = tracker()
    for peer in ("b", "c"):
        for net in NETS:
            t.accept(hb(peer, net), net, 0.0)
    t.accept(hb("b", "private", seq=2), "private", 0.4)
    t.accept(hb("c", "private", seq=2), "private", 0.4)
    t.accept(hb("c", "mixed", seq=2), "mixed", 0.4)  # b is silent on mixed only
    view = t.view(0.6, {})
    assert view.up() == {"b", "c"}
    assert view.peers["b"].paths["mixed"].state is InterfaceState.FAILED
    assert view.networks == {"private": NetworkState.UP, "mixed": NetworkState.PARTITIONED}


def test_a_dead_node_does_not_make_every_network_look_partitioned() -> None:
    t = tracker()
    for net in NETS:
        t.accept(hb("b", net), net, 0.0)
        t.accept(hb("c", net), net, 0.4)
    view = t.view(0.6, {})
    assert view.up() == {"c"}
    assert set(view.networks.values()) == {NetworkState.UP}
    assert set(t.view(2.0, {}).networks.values()) == {NetworkState.DOWN}


def test_a_network_without_peers_is_up() -> None:
    assert tracker(peers=()).view(0.0, {}).networks == dict.fromkeys(NETS, NetworkState.UP)


def test_replays_and_older_incarnations_are_refused() -> None:
    t = tracker()

    def send(net: str, inc: int, seq: int, now: float) -> Verdict:
        return t.accept(hb("b", net, inc, seq), net, now)

    assert send("private", 10, 5, 0.0) is Verdict.ACCEPTED
    assert send("private", 10, 5, 0.1) is Verdict.REPLAY
    assert send("private", 10, 4, 0.1) is Verdict.REPLAY
    assert t.view(0.1, {}).peers["b"].last_heard == 0.0  # a replay refreshes nothing
    assert send("mixed", 10, 5, 0.1) is Verdict.ACCEPTED  # sequences are per network
    # The peer restarted: new incarnation, sequence starts again.
    assert send("private", 11, 1, 0.2) is Verdict.ACCEPTED
    assert t.view(0.2, {}).peers["b"].incarnation == 11
    # Its previous life is over on every network.
    assert send("private", 10, 6, 0.3) is Verdict.REPLAY
    assert send("mixed", 10, 6, 0.3) is Verdict.REPLAY
    assert send("mixed", 11, 1, 0.3) is Verdict.ACCEPTED


def test_gaps_in_a_paths_sequence_count_as_lost_heartbeats() -> None:
    """wolfpack_heartbeats_lost_total: per (peer, network), from the sender's sequence;
    a restart of the peer (new incarnation) is not a loss, a replay is not either."""
    t = tracker()

    def send(net: str, inc: int, seq: int) -> Verdict:
        return t.accept(hb("b", net, inc, seq), net, 0.0)

    assert send("private", 10, 1) is Verdict.ACCEPTED
    assert send("private", 10, 2) is Verdict.ACCEPTED
    assert send("private", 10, 6) is Verdict.ACCEPTED  # 3, 4, 5 never came
    assert send("private", 10, 6) is Verdict.REPLAY
    assert send("mixed", 10, 1) is Verdict.ACCEPTED
    assert send("mixed", 10, 3) is Verdict.ACCEPTED  # 2 lost here
    assert send("private", 11, 1) is Verdict.ACCEPTED  # restarted: counts from 1 again
    paths = t.view(0.0, {}).peers["b"].paths
    assert (paths["private"].lost, paths["mixed"].lost) == (3, 1)


def test_unknown_senders_and_wrong_networks_are_refused() -> None:
    t = tracker(peers=("b",), nets=("private",))
    assert t.accept(hb("zed"), "private", 0.0) is Verdict.UNKNOWN
    assert t.accept(hb("b", "mixed"), "private", 0.0) is Verdict.MALFORMED
    assert t.accept(hb("b", "mixed"), "mixed", 0.0) is Verdict.UNKNOWN


def test_configure_keeps_history_and_replay_protection() -> None:
    t = tracker()
    t.accept(hb("b", seq=7), "private", 0.0)
    t.configure({"private": Path("private", (LO, 0), {"b": (LO, 1)})})
    assert set(t.view(0.1, {}).peers) == {"b"} and t.view(0.1, {}).peers["b"].up
    t.configure({"private": Path("private", (LO, 0), {})})  # b leaves ...
    assert t.view(0.1, {}).peers == {}
    t.configure({"private": Path("private", (LO, 0), {"b": (LO, 1)})})  # ... and comes back
    assert t.accept(hb("b", seq=7), "private", 0.2) is Verdict.REPLAY
    assert t.accept(hb("b", seq=8), "private", 0.2) is Verdict.ACCEPTED


def test_a_restart_after_the_wall_clock_stepped_back_is_still_heard(tmp_path: Path_) -> None:
    """Issue 9 (chaos, clock jump): the incarnation is the wall clock, and peers drop a lower
    one than they saw. A node whose clock was stepped back 30 s and whose daemon restarts
    within those 30 s still gets a higher one (next_incarnation keeps a record), so it is
    heard, not taken for a replay and left silent until fenced."""
    record = tmp_path / "incarnation"
    first = next_incarnation(record, now_ns=1_000_000)
    again = next_incarnation(record, now_ns=1_000_000 - 30 * 10**9)  # restarted, clock -30 s
    assert first == 1_000_000 and again == first + 1
    assert next_incarnation(record, now_ns=5_000_000) == 5_000_000  # the clock is ahead again
    t = tracker()
    assert t.accept(hb("b", inc=first, seq=9), "private", 0.0) is Verdict.ACCEPTED
    assert t.accept(hb("b", inc=again, seq=1), "private", 0.1) is Verdict.ACCEPTED
    assert t.accept(hb("b", inc=first - 1, seq=1), "private", 0.2) is not Verdict.ACCEPTED
    record.write_text("garbage\n")  # unreadable: the clock alone
    assert next_incarnation(record, now_ns=7) == 7


def test_signature_changes_exactly_when_the_view_changes_state() -> None:
    t = tracker()
    before = t.signature(0.0)
    t.accept(hb(), "private", 0.0)
    up = t.signature(0.1)
    assert up != before
    t.accept(hb(seq=2), "private", 0.2)
    assert t.signature(0.3) == up  # only last_heard moved
    assert t.signature(0.8) not in (up, before)  # silent again (and known: incarnation 10)
    assert t.signature(0.9) == t.signature(0.8)


# -- settings and validation ----------------------------------------------------------------


def test_default_settings_detect_a_dead_node_in_half_a_second() -> None:
    assert HeartbeatSettings().timeout_s == pytest.approx(0.5)
    assert HeartbeatSettings().suspect_s == pytest.approx(0.25)
    assert HeartbeatSettings(0.1, threshold=3).suspect_s == pytest.approx(0.2)
    assert HeartbeatSettings(0.1, threshold=10).suspect_s == pytest.approx(0.5)
    assert HeartbeatSettings(0.1, threshold=1).suspect_s == pytest.approx(0.1)
    with pytest.raises(ValidationError) as info:
        HeartbeatSettings(interval_s=0, threshold=0)
    assert {e.field for e in info.value.errors} == {"interval_s", "threshold"}


def test_suspicion_comes_early_enough_for_the_grace_to_end_by_the_timeout() -> None:
    """issue 12: with a grace longer than timeout - suspect_s, a Down waited for the grace;
    the suspicion now starts that much earlier, down to one and a half intervals."""
    hb = HeartbeatSettings()  # 0.125 s x 4: timeout 0.5 s, suspicion 0.25 s
    assert hb.suspect_within(0.25) == pytest.approx(0.25)  # the grace ends at the timeout
    assert hb.suspect_within(0.1) == pytest.approx(0.25)  # never later than suspect_s
    assert hb.suspect_within(0.3) == pytest.approx(0.2)
    assert hb.suspect_within(0.41) == pytest.approx(0.1875)  # 1.5 intervals at the earliest
    assert hb.suspect_within(5.0) == pytest.approx(0.1875)
    assert HeartbeatSettings(0.1, threshold=1).suspect_within(5.0) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (Path("private", ("localhost", 0), {}), "paths[0].local"),
        (Path("private", (LO, 70000), {}), "paths[0].local"),
        (Path("private", (LO, 0), {"b": ("b.example", 3343)}), "paths[0].peers.b"),
        (Path("private", (LO, 0), {"b": (LO, 0)}), "paths[0].peers.b"),
        (Path("private", (LO, 0), {"b": ("::1", 3343)}), "paths[0].peers.b"),
        (Path("private", (LO, 0), {"a": (LO, 3343)}), "paths[0].peers.a"),
        (Path("", (LO, 0), {}), "paths[0].network"),
    ],
)
def test_bad_paths_are_refused_by_field(path: Path, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Membership("a", 1, SECRET, [path], FAST)
    assert field in {e.field for e in info.value.errors}


def test_duplicate_network_short_secret_and_long_name_are_refused() -> None:
    p = Path("private", (LO, 0), {})
    with pytest.raises(ValidationError, match="twice"):
        Membership("a", 1, SECRET, [p, p], FAST)
    with pytest.raises(ValidationError, match="secret"):
        Membership("a", 1, b"short", [p], FAST)
    with pytest.raises(ValidationError, match="node"):
        Membership("a" * 64, 1, SECRET, [p], FAST)


# -- real UDP on 127.0.0.1 ------------------------------------------------------------------


class Cluster:
    """Memberships on 127.0.0.1 with ports chosen by the kernel (no races for free ports)."""

    def __init__(self) -> None:
        self.members: dict[str, Membership] = {}
        self.sockets: list[socket.socket] = []
        self.events: dict[str, list[tuple[float, MembershipView]]] = {}

    def add(
        self,
        name: str,
        nets: Sequence[str] = NETS,
        settings: HeartbeatSettings = FAST,
        secret: bytes = SECRET,
        ports: dict[str, int] | None = None,
        log: Callable[..., None] = lambda event, **fields: None,
    ) -> Membership:
        events = self.events[name] = []

        def record(view: MembershipView) -> None:
            events.append((time.monotonic(), view))

        paths = [Path(n, (LO, (ports or {}).get(n, 0)), {}) for n in nets]
        m = Membership(
            name, len(self.members) + 1, secret, paths, settings, on_change=record, log=log
        )
        self.members[name] = m
        m.start()
        return m

    def connect(self) -> None:
        """Every member hears every other on each network both have."""
        addrs = {name: m.local_addresses for name, m in self.members.items()}
        for name, m in self.members.items():
            m.set_peers(paths_for(name, addrs))

    def udp(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(sock)
        sock.bind((LO, 0))
        sock.settimeout(WAIT_S)
        return sock

    def close(self) -> None:
        for m in self.members.values():
            m.stop()
        for sock in self.sockets:
            sock.close()


def paths_for(
    name: str, addrs: Mapping[str, Mapping[str, Address]], drop: tuple[str, str] = ("", "")
) -> list[Path]:
    """``name``'s paths to everyone in ``addrs``, leaving out the (peer, network) ``drop``."""
    return [
        Path(
            net,
            local,
            {
                peer: theirs[net]
                for peer, theirs in addrs.items()
                if peer != name and net in theirs and (peer, net) != drop
            },
        )
        for net, local in addrs[name].items()
    ]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


def all_up(c: Cluster) -> bool:
    """Every member hears every other on every path (a peer is up on its first path heard;
    waiting for all of them keeps network-state assertions from racing the second path)."""
    everything_up = dict.fromkeys(NETS, NetworkState.UP)
    return all(
        m.view().up() == set(c.members) - {n} and m.view().networks == everything_up
        for n, m in c.members.items()
    )


def test_three_nodes_on_two_networks_see_each_other(cluster: Cluster) -> None:
    a, b, _ = (cluster.add(n) for n in "abc")
    cluster.connect()
    # A peer is up on its first path heard; the second path may follow a moment later.
    everything_up = dict.fromkeys(NETS, NetworkState.UP)
    assert wait_until(lambda: all_up(cluster) and a.view().networks == everything_up)
    view = a.view()
    assert view.networks == everything_up
    assert all(p.up for peer in view.peers.values() for p in peer.paths.values())
    assert view.peers["b"].incarnation == b.incarnation
    assert set(view.counters) == set(COUNTERS)
    assert view.counters["sent"] > 0 and view.counters["received"] > 0
    assert sum(v for k, v in view.counters.items() if k.startswith("dropped")) == 0
    assert any(v.up() == {"b", "c"} for _, v in cluster.events["a"])  # on_change told us


def test_a_stopped_node_is_down_after_threshold_times_interval(cluster: Cluster) -> None:
    a, _, c = (cluster.add(n) for n in "abc")
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    stopped_at = time.monotonic()
    c.stop()
    for name in "ab":
        events = cluster.events[name]

        def told(events: list[tuple[float, MembershipView]] = events) -> bool:
            return any(t > stopped_at and "c" not in v.up() for t, v in events)

        assert wait_until(told), f"{name} never said c is down"
        down_at, down = next((t, v) for t, v in events if t > stopped_at and "c" not in v.up())
        # silence counts from c's last heartbeat heard, not from stop(): a starved sender
        # on a loaded machine went quiet earlier (clocks converted: a few ms of slack)
        heard = down.peers["c"].last_heard
        assert heard is not None  # kept for the administrator
        assert FAST.timeout_s - 0.01 <= down_at - heard and down_at - stopped_at <= WAIT_S
    view = a.view()
    assert view.up() == {"b"}
    assert view.networks == dict.fromkeys(NETS, NetworkState.UP)  # a node failure, not a network


def test_a_shorter_suspicion_time_suspects_a_stopped_peer_sooner(cluster: Cluster) -> None:
    """set_suspect_s (the daemon follows the fencing grace with it): the stopped peer is
    suspected after the new, shorter time, well before the old one, and still up."""
    a, c = cluster.add("a"), cluster.add("c")
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    assert a.set_suspect_s(0.1) and not a.set_suspect_s(0.1)  # FAST's own: 0.25 s
    stopped_at = time.monotonic()
    c.stop()

    def suspected_at() -> float | None:
        return next((t for t, v in cluster.events["a"] if t > stopped_at
                     and v.peers["c"].suspected), None)  # fmt: skip

    assert wait_until(lambda: suspected_at() is not None)
    at = suspected_at()
    assert at is not None and 0.1 - FAST.interval_s <= at - stopped_at < FAST.suspect_s
    assert "c" in next(v for t, v in cluster.events["a"] if t == at).up()


def test_a_silent_path_fails_the_interface_and_never_the_node(cluster: Cluster) -> None:
    a, b, _ = (cluster.add(n) for n in "abc")
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    addrs = {name: m.local_addresses for name, m in cluster.members.items()}
    b.set_peers(paths_for("b", addrs, drop=("a", "mixed")))  # b stops sending to a on mixed

    def mixed_failed() -> bool:
        return a.view().peers["b"].paths["mixed"].state is InterfaceState.FAILED

    assert wait_until(mixed_failed)
    view = a.view()
    assert view.peers["b"].up and view.peers["b"].paths["private"].up
    assert view.networks == {"private": NetworkState.UP, "mixed": NetworkState.PARTITIONED}
    b_up = [v.peers["b"].up for _, v in cluster.events["a"]]
    assert all(b_up[b_up.index(True) :])  # once heard, never down meanwhile
    assert b.view().up() == {"a", "c"}

    b.set_peers(paths_for("b", addrs))  # repaired
    assert wait_until(lambda: a.view().networks["mixed"] is NetworkState.UP)


def test_a_closed_network_socket_partitions_but_keeps_the_node_up(cluster: Cluster) -> None:
    a, b, _ = (cluster.add(n) for n in "abc")
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    addrs = {name: dict(m.local_addresses) for name, m in cluster.members.items()}
    del addrs["b"]["private"]  # b's private interface is gone: socket closed, nothing sent
    b.set_peers(paths_for("b", addrs))
    assert set(b.local_addresses) == {"mixed"}
    assert wait_until(lambda: a.view().networks["private"] is NetworkState.PARTITIONED)
    assert a.view().up() == {"b", "c"}
    assert a.view().peers["b"].paths["private"].state is InterfaceState.FAILED
    assert b.view().up() == {"a", "c"}


def test_a_sender_with_the_wrong_secret_is_never_up(cluster: Cluster) -> None:
    a = cluster.add("a")
    cluster.add("b")
    cluster.add("c", secret=b"not-the-cluster-secret-at-all")
    cluster.connect()
    assert wait_until(lambda: "b" in a.view().up())
    assert wait_until(lambda: a.counters["dropped_unsigned"] >= 10)
    assert "c" not in a.view().up()
    assert not any("c" in v.up() for _, v in cluster.events["a"])


def test_dropped_packets_and_peer_changes_go_to_the_json_log(cluster: Cluster) -> None:
    """Membership logs through the daemon's JSON log (S41: a flood of bad packets is visible,
    once per interval, not once per packet); the stdlib logging it used was never set up."""
    stream = io.StringIO()
    a = cluster.add("a", nets=("private",), log=JsonLog("a", stream))
    attacker = cluster.udp()
    a.set_peers([Path("private", (LO, 0), {"b": attacker.getsockname()})])
    private = a.local_addresses["private"]
    for seq in range(1, 6):
        attacker.sendto(encode(hb("b", "private", seq=seq), b"wrong-secret-wrong-secret"), private)
    attacker.sendto(encode(hb("b", "private"), SECRET), private)  # genuine: b is up
    assert wait_until(lambda: a.counters["dropped_unsigned"] == 5 and "b" in a.view().up())

    def events() -> list[dict[str, object]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    assert wait_until(lambda: any(e["event"] == "peer_up" for e in events()))
    dropped = [e for e in events() if e["event"] == "heartbeat_dropped_unsigned"]
    assert len(dropped) == 1  # the next four are counted, not logged
    assert dropped[0]["node"] == "a" and dropped[0]["network"] == "private"
    host, port = attacker.getsockname()
    assert dropped[0]["source"] == f"{host}:{port}"
    assert [e["peer"] for e in events() if e["event"] == "peer_up"] == ["b"]


def test_a_replayed_captured_packet_is_dropped_and_refreshes_nothing(cluster: Cluster) -> None:
    a = cluster.add("a", nets=("private",))
    b = cluster.add("b", nets=("private",))
    sniffer = cluster.udp()
    a_addr, b_addr = a.local_addresses["private"], b.local_addresses["private"]
    a.set_peers([Path("private", (LO, 0), {"b": b_addr})])
    b.set_peers([Path("private", (LO, 0), {"a": sniffer.getsockname()})])  # b -> sniffer

    captured = sniffer.recv(2048)
    sniffer.sendto(captured, a_addr)  # forwarded once: genuine
    assert wait_until(lambda: "b" in a.view().up())
    heard = a.view().peers["b"].last_heard
    b.stop()  # from now on only the attacker talks
    for n in (1, 2):
        sniffer.sendto(captured, a_addr)
        assert wait_until(lambda n=n: a.counters["dropped_replay"] == n)  # type: ignore[misc]
    assert a.view().peers["b"].last_heard == heard
    assert a.counters["received"] == 1


def test_junk_misrouted_and_unknown_packets_are_counted(cluster: Cluster) -> None:
    a = cluster.add("a")
    attacker = cluster.udp()
    a.set_peers(
        [Path(n, (LO, 0), {"b": attacker.getsockname()}) for n in NETS]
    )  # ports stay: same local
    private = a.local_addresses["private"]
    attacker.sendto(b"WPHB garbage", private)
    attacker.sendto(encode(hb("b", "mixed"), SECRET), private)  # mixed's packet on private
    attacker.sendto(encode(hb("zed", "private"), SECRET), private)
    attacker.sendto(encode(hb("b", "private"), b"wrong-secret-wrong-secret"), private)
    assert wait_until(
        lambda: (
            a.counters["dropped_malformed"] == 2
            and a.counters["dropped_unknown"] == 1
            and a.counters["dropped_unsigned"] == 1
        )
    )
    assert a.view().up() == frozenset()


def test_a_restarted_peer_with_a_new_incarnation_is_accepted(cluster: Cluster) -> None:
    a = cluster.add("a")
    b = cluster.add("b")
    cluster.connect()
    assert wait_until(lambda: "b" in a.view().up())
    first = b.incarnation
    ports = {n: port for n, (_, port) in b.local_addresses.items()}
    b.stop()
    assert wait_until(lambda: "b" not in a.view().up())
    b2 = cluster.add("b", ports=ports)  # same addresses; sequence starts again at 1
    b2.set_peers([Path(n, (LO, ports[n]), {"a": a.local_addresses[n]}) for n in NETS])
    assert b2.incarnation > first
    assert wait_until(lambda: "b" in a.view().up())
    assert a.view().peers["b"].incarnation == b2.incarnation
    assert a.counters["dropped_replay"] == 0


def test_start_twice_stop_twice_and_rebind_errors(cluster: Cluster) -> None:
    a = cluster.add("a", nets=("private",))
    with pytest.raises(IllegalTransition):
        a.start()
    taken = cluster.udp().getsockname()
    with pytest.raises(MembershipError, match="cannot bind"):
        a.set_peers([Path("private", (LO, 0), {}), Path("mixed", taken, {})])
    assert set(a.local_addresses) == {"private"}  # nothing changed
    blocked = Membership("x", 9, SECRET, [Path("private", taken, {})], FAST)
    with pytest.raises(MembershipError):
        blocked.start()
    blocked.stop()
    a.stop()
    a.stop()
    assert a.local_addresses == {}
    with pytest.raises(IllegalTransition):
        a.start()


def test_set_peers_before_start_and_from_the_callback(cluster: Cluster) -> None:
    a = cluster.add("a", nets=("private",))
    late_paths: list[list[Path]] = []

    def join_late(view: MembershipView) -> None:
        if late_paths:
            b.set_peers(late_paths.pop())  # from b's own thread: must not deadlock

    b = Membership("b", 2, SECRET, [Path("private", (LO, 0), {})], FAST, on_change=join_late)
    cluster.members["b"] = b
    b.set_peers([Path("private", (LO, 0), {"a": a.local_addresses["private"]})])  # not started
    assert set(b.view().peers) == {"a"}
    b.start()
    late_paths.append([Path("private", (LO, 0), {"a": a.local_addresses["private"], "c": (LO, 9)})])
    a.set_peers([Path("private", (LO, 0), {"b": b.local_addresses["private"]})])
    assert wait_until(lambda: "a" in b.view().up())
    assert wait_until(lambda: set(b.view().peers) == {"a", "c"})


def test_a_failing_callback_does_not_stop_heartbeats(cluster: Cluster) -> None:
    calls = threading.Event()

    refused: list[Exception] = []

    def broken(view: MembershipView) -> None:
        calls.set()
        try:
            b.stop()  # would join its own thread
        except IllegalTransition as exc:
            refused.append(exc)
        raise RuntimeError("listener bug")

    a = cluster.add("a", nets=("private",))
    b = Membership("b", 2, SECRET, [Path("private", (LO, 0), {})], FAST, on_change=broken)
    cluster.members["b"] = b
    b.start()
    cluster.connect()
    assert wait_until(lambda: calls.is_set() and "b" in a.view().up() and "a" in b.view().up())
    sent = b.counters["sent"]
    assert wait_until(lambda: b.counters["sent"] > sent + 5)
    assert refused


def test_idle_heartbeats_use_little_cpu(cluster: Cluster) -> None:
    for n in "abc":
        cluster.add(n, settings=HeartbeatSettings())
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(1.0)
    used = (time.process_time() - cpu) / (time.monotonic() - wall)
    assert used < 0.25, f"{used:.0%} of a CPU for three idle nodes: a busy loop?"


def test_arriving_packets_do_not_wake_the_loop(cluster: Cluster) -> None:
    """Issue 12 (cost that grows gently): the loop wakes to send, once per interval, and when
    a link's silence ends, never because a packet came: 500 datagrams in half a second are
    read in about four rounds, not one round per packet (with N peers that was O(N^2) work
    per second) nor one per 1/8 interval (64 a second, the cost of an idle node)."""
    a = cluster.add("a", settings=HeartbeatSettings())  # 125 ms, no peers: no expiries
    flood = cluster.udp()
    rounds = [0]
    real_round = a._round

    def counted() -> float:
        rounds[0] += 1
        return real_round()

    a._round = counted  # type: ignore[method-assign]
    private = a.local_addresses["private"]
    began = time.monotonic()
    for _ in range(500):
        flood.sendto(b"WPHB garbage", private)
        time.sleep(0.001)
    assert wait_until(lambda: a.counters["dropped_malformed"] == 500)
    elapsed = time.monotonic() - began
    assert rounds[0] <= elapsed / 0.125 + 3, f"{rounds[0]} rounds in {elapsed:.2f} s"


def test_a_heartbeat_read_late_counts_from_when_it_arrived(cluster: Cluster) -> None:
    """The kernel stamps each datagram (SO_TIMESTAMPNS): a heartbeat that sat 0.3 s in the
    socket before the loop read it was heard when it came, so a peer's silence is measured
    from its last heartbeat, not from the last read (a late read would otherwise make a
    dead peer look alive that much longer, and delay every failover)."""
    a = Membership("a", 1, SECRET, [Path("private", (LO, 0), {"b": (LO, 9)})], FAST)
    cluster.members["a"] = a
    a._open()  # rounds run by hand
    a._open_rounds()
    sender = cluster.udp()
    sender.sendto(encode(hb("b", "private"), SECRET), a.local_addresses["private"])
    sent = time.monotonic()
    time.sleep(0.3)
    a._round()
    read = time.monotonic()
    heard = a.view().peers["b"].paths["private"].last_heard
    assert heard is not None
    assert heard - sent < 0.1 < read - heard, (heard - sent, read - heard)


def test_m3_a_stalled_loop_reads_its_sockets_before_judging(cluster: Cluster) -> None:
    """M3: a's daemon stalls for 2 s (four timeouts) while b's heartbeats sit unread in a's
    socket. Nothing judges b Down meanwhile (another thread asking a's view included); when
    a's loop runs again it reads the socket before judging, and for one timeout after the
    stall silence is no evidence (``listening()`` is False)."""
    b = cluster.add("b", nets=("private",))
    now = [1000.0]
    events: list[str] = []
    a = Membership(
        "a",
        1,
        SECRET,
        [Path("private", (LO, 0), {"b": b.local_addresses["private"]})],
        FAST,
        clock=lambda: now[0],
        log=lambda event, **fields: events.append(event),
    )
    cluster.members["a"] = a
    a._open()  # the loop's rounds are run by hand, with the fake clock
    a._open_rounds()
    b.set_peers([Path("private", (LO, 0), {"a": a.local_addresses["private"]})])

    def run_for(seconds: float) -> None:
        for _ in range(round(seconds / FAST.interval_s)):
            time.sleep(FAST.interval_s)
            now[0] += FAST.interval_s
            a._round()

    run_for(1.0)
    assert a.view().up() == {"b"} and a.listening()
    time.sleep(0.3)  # b keeps sending: its heartbeats queue up unread in a's socket
    now[0] += 2.0  # the stall, as a's clock sees it
    assert a.view().up() == {"b"}  # asked from another thread before the loop ran again
    a._round()
    assert a.view().up() == {"b"}
    assert "peer_down" not in events
    assert "membership_stalled" in events
    assert not a.listening()  # one timeout of "silence is no evidence"
    run_for(2 * FAST.timeout_s)
    assert a.listening() and a.view().up() == {"b"}


def test_a_peer_is_judged_when_the_sockets_were_read_not_later(cluster: Cluster) -> None:
    """S3/M3: the loop reads a's socket just before b's silence would reach the timeout, and
    is then held up (preempted) past it. Judging at the later moment would call b Down while
    b's next heartbeat may sit unread, and tell listeners something :meth:`view` (judged at
    the read) disagrees with (CI of 0bca6cf: a said c was down, then its view had c up).
    Judged at the read: no Down that round; the next round, which reads first, says it."""
    now = [1000.0]
    told: list[frozenset[str]] = []
    a = Membership(
        "a",
        1,
        SECRET,
        [Path("private", (LO, 0), {"b": (LO, 9)})],
        FAST,
        clock=lambda: now[0],
        on_change=lambda view: told.append(view.up()),
    )
    cluster.members["a"] = a
    a._open()  # rounds run by hand, with the fake clock
    a._open_rounds()
    cluster.udp().sendto(encode(hb("b", "private"), SECRET), a.local_addresses["private"])
    time.sleep(0.05)  # in a's socket
    a._round()
    assert a.view().up() == {"b"} and told[-1] == {"b"}
    heard = a.view().peers["b"].last_heard
    assert heard is not None
    now[0] = heard + FAST.timeout_s - 0.01  # the round reads just before the timeout ...
    receive = a._receive

    def held_up_after_reading(network: str, at: float, wall: float) -> None:
        receive(network, at, wall)
        now[0] += 0.05  # ... and is preempted past it before judging

    a._receive = held_up_after_reading  # type: ignore[method-assign]
    wait = a._round()
    assert told[-1] == {"b"}, "Down told for a moment after the sockets were read"
    assert a.view().up() == {"b"}
    assert wait == 0.0  # the timeout already passed: go round again at once
    a._receive = receive  # type: ignore[method-assign]
    a._round()
    assert told[-1] == frozenset() and a.view().up() == frozenset()


def test_key_rotation_phases_keep_every_peer_up(cluster: Cluster) -> None:
    """Issue 11 item 4 (wolfpack.node.keyring's phases): a accepts both secrets and still
    signs with the old; b switches to signing with the new one; then both keep only the
    new. No peer is ever seen down, and the old secret is refused at the end."""
    new = b"the-next-cluster-secret-01234567"
    a, b = cluster.add("a"), cluster.add("b")
    cluster.connect()
    assert wait_until(lambda: all_up(cluster))
    marks = {n: len(cluster.events[n]) for n in "ab"}
    a.set_keys(SECRET, (SECRET, new))  # accept
    b.set_keys(SECRET, (SECRET, new))
    b.set_keys(new, (new, SECRET))  # send: b first, a still on the old one
    time.sleep(FAST.interval_s * FAST.threshold * 2)
    a.set_keys(new, (new, SECRET))
    a.set_keys(new, (new,))  # done
    b.set_keys(new, (new,))
    time.sleep(FAST.interval_s * FAST.threshold * 2)
    assert all_up(cluster)
    assert all(v.up() == {"b"} for _, v in cluster.events["a"][marks["a"] :]), "a lost b"
    assert all(v.up() == {"a"} for _, v in cluster.events["b"][marks["b"] :]), "b lost a"
    before = a.counters["dropped_unsigned"]
    old = cluster.add("b-old", secret=SECRET)
    addrs = {n: m.local_addresses for n, m in cluster.members.items()}
    a.set_peers(paths_for("a", addrs))
    old.set_peers(paths_for("b-old", addrs))
    assert wait_until(lambda: a.counters["dropped_unsigned"] > before)
    assert "b-old" not in a.view().up()
    with pytest.raises(ValidationError):
        a.set_keys(b"short", (b"short",))
