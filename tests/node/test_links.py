"""The link monitor on a real network namespace and a real etcd (S41, media sense).

The test makes one namespace of its own (unique prefix, deleted even on failure) holding a
veth pair: ``eth0`` is the node's interface, ``peer`` plays the switch port. Setting the
peer down takes eth0's carrier away, as a pulled cable does. Nothing of the host's own
network is touched.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from wolfpack.lab.localcluster import wait_for
from wolfpack.model import codec
from wolfpack.model.links import LinkCondition, NodeLinks
from wolfpack.node.links import LinkMonitor, Own, condition_of
from wolfpack.store import Compare, EtcdStore, KeySpace
from wolfpack.store.etcd_process import EtcdProcess

pytestmark = [
    pytest.mark.etcd,
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

WINDOW_S = 0.5
Monitor = tuple[LinkMonitor, EtcdStore, KeySpace]
ADDRESS = "198.51.100.11"
OWN = [
    Own("node1-public", "public", ADDRESS, heartbeats=True),
    Own("node1-private", "private", "203.0.113.11", heartbeats=True),  # on no link here
]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"wpn-{secrets.token_hex(3)}-node1"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer")
        ip("-n", name, "addr", "add", f"{ADDRESS}/24", "dev", "eth0")
        for dev in ("eth0", "peer", "lo"):
            ip("-n", name, "link", "set", dev, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, why: str) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), why))


@pytest.fixture
def monitor(etcd: EtcdProcess, netns: str) -> Iterator[Monitor]:
    store = etcd.store(timeout=5.0)
    keys = KeySpace(f"/links-{secrets.token_hex(4)}/")
    lease = store.lease_grant(30)
    liveness = keys.node_lease("node1")
    store.put(liveness, b"node1", lease=lease)
    heard = {"public": ["node2"], "private": []}
    mon = LinkMonitor(
        store,
        keys,
        "node1",
        window_s=WINDOW_S,
        heard=lambda: heard,
        lease=lambda: lease,
        guard=lambda: Compare(liveness, "lease", "==", lease),
        netns=netns,
    )
    mon.set_interfaces(OWN)
    mon.start()
    try:
        yield mon, store, keys
    finally:
        mon.stop()
        store.lease_revoke(lease)
        store.delete(keys.root, prefix=True)
        store.close()


def stored(store: EtcdStore, keys: KeySpace) -> NodeLinks | None:
    kv = store.get(keys.links("node1"))
    return None if kv is None else codec.parse(NodeLinks, json.loads(kv.value))


def link_of(store: EtcdStore, keys: KeySpace, name: str = "node1-public") -> LinkCondition | None:
    links = stored(store, keys)
    return None if links is None else links.interfaces[name].link


def test_the_report_names_each_link_its_condition_and_the_peers_heard(monitor: Monitor) -> None:
    _, store, keys = monitor
    links = wait_for(lambda: stored(store, keys), timeout=10)
    public, private = links.interfaces["node1-public"], links.interfaces["node1-private"]
    assert (public.ifname, public.link, public.heard) == ("eth0", LinkCondition.UP, ("node2",))
    assert (private.ifname, private.link, private.heard) == ("", LinkCondition.MISSING, ())
    kv = store.get(keys.links("node1"))
    assert kv is not None and kv.lease != 0  # it lives and dies with the node's lease


def test_a_cut_cable_fails_the_watcher_after_the_window(monitor: Monitor, netns: str) -> None:
    mon, store, keys = monitor
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    time.sleep(0.2)
    cut = time.monotonic()
    ip("-n", netns, "link", "set", "peer", "down")
    wait_for(lambda: lost.calls, timeout=10)
    (when, why), *_ = lost.calls
    assert when - cut >= WINDOW_S * 0.9  # not before the window...
    assert "no carrier" in why and "eth0" in why
    wait_for(lambda: link_of(store, keys) is LinkCondition.NO_CARRIER, timeout=5)
    time.sleep(WINDOW_S * 2)
    assert len(lost.calls) == 1  # ...and once per loss
    ip("-n", netns, "link", "set", "peer", "up")
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)


def test_a_flap_shorter_than_the_window_causes_nothing(monitor: Monitor, netns: str) -> None:
    mon, store, keys = monitor
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    revision = store.get(keys.links("node1")).mod_revision  # type: ignore[union-attr]
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    ip("-n", netns, "link", "set", "peer", "down")
    time.sleep(WINDOW_S * 0.4)
    ip("-n", netns, "link", "set", "peer", "up")
    time.sleep(WINDOW_S * 3)
    assert lost.calls == []
    kv = store.get(keys.links("node1"))
    assert kv is not None and kv.mod_revision == revision  # nothing was even written


def test_admin_down_and_a_removed_address_are_losses_too(monitor: Monitor, netns: str) -> None:
    mon, store, keys = monitor
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    ip("-n", netns, "link", "set", "eth0", "down")
    wait_for(lambda: link_of(store, keys) is LinkCondition.ADMIN_DOWN, timeout=10)
    assert lost.calls and "set down" in lost.calls[0][1]
    ip("-n", netns, "link", "set", "eth0", "up")
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    ip("-n", netns, "addr", "del", f"{ADDRESS}/24", "dev", "eth0")
    wait_for(lambda: link_of(store, keys) is LinkCondition.MISSING, timeout=10)


def test_an_unwatched_resource_is_not_called(monitor: Monitor, netns: str) -> None:
    mon, store, keys = monitor
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    mon.unwatch("web-ip")
    ip("-n", netns, "link", "set", "peer", "down")
    wait_for(lambda: link_of(store, keys) is LinkCondition.NO_CARRIER, timeout=10)
    assert lost.calls == []


def test_without_its_lease_the_node_writes_nothing(etcd: EtcdProcess, netns: str) -> None:
    store = etcd.store(timeout=5.0)
    keys = KeySpace(f"/links-{secrets.token_hex(4)}/")
    liveness = keys.node_lease("node1")
    store.put(liveness, b"someone else")  # not on our lease: the guard fails
    mon = LinkMonitor(
        store, keys, "node1", window_s=WINDOW_S, lease=lambda: 7,
        guard=lambda: Compare(liveness, "lease", "==", 7), netns=netns,
    )  # fmt: skip
    mon.set_interfaces(OWN)
    mon.start()
    try:
        time.sleep(1.0)
        assert store.get(keys.links("node1")) is None
        assert mon.published is None
    finally:
        mon.stop()
        store.delete(keys.root, prefix=True)
        store.close()


@pytest.mark.parametrize(
    ("flags", "condition"),
    [
        (0x1 | 0x10000, LinkCondition.UP),
        (0x1, LinkCondition.NO_CARRIER),
        (0x10000, LinkCondition.ADMIN_DOWN),
        (0, LinkCondition.ADMIN_DOWN),
    ],
)
def test_condition_from_flags(flags: int, condition: LinkCondition) -> None:
    assert condition_of(flags) is condition


def test_a_link_flapping_again_and_again_never_counts(monitor: Monitor, netns: str) -> None:
    """Media-sense bounce: down 0.2 s, up 0.2 s, five times (each drop shorter than the
    window): nothing fails and nothing is written; a drop that then lasts does count."""
    mon, store, keys = monitor
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    revision = store.get(keys.links("node1")).mod_revision  # type: ignore[union-attr]
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    for _ in range(5):
        ip("-n", netns, "link", "set", "peer", "down")
        time.sleep(WINDOW_S * 0.4)
        ip("-n", netns, "link", "set", "peer", "up")
        time.sleep(WINDOW_S * 0.4)
    time.sleep(WINDOW_S * 2)
    assert lost.calls == []
    assert store.get(keys.links("node1")).mod_revision == revision  # type: ignore[union-attr]
    ip("-n", netns, "link", "set", "peer", "down")
    wait_for(lambda: lost.calls, timeout=10)


def test_a_watch_begun_during_a_loss_waits_for_the_window_from_the_loss(
    monitor: Monitor, netns: str
) -> None:
    """The monitor keeps every link's history: a resource that starts watching while its
    link is down (it started just before the cable was pulled) fails when the loss has
    lasted the window, not at once and not a window later."""
    mon, store, keys = monitor
    wait_for(lambda: link_of(store, keys) is LinkCondition.UP, timeout=10)
    cut = time.monotonic()
    ip("-n", netns, "link", "set", "peer", "down")
    time.sleep(WINDOW_S * 0.4)
    lost = Recorder()
    mon.watch("web-ip", "eth0", lost)
    wait_for(lambda: lost.calls, timeout=10)
    assert lost.calls[0][0] - cut >= WINDOW_S * 0.9
