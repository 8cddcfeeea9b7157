"""Failover timelines made by real wolfpackd processes on a real etcd (issue 12 item 1): a
node powered off (SIGKILL of everything it runs), a resource that fails past its threshold,
and an administrator's move (S30, S37, S39). Each kept timeline must have its phases, in
time order, naming the nodes where they happened."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.lab.probe_app import overlaps
from wolfpack.model.snapshot import IntentKind
from wolfpack.node.pidregistry import PidRegistry

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("timeline"))
    try:
        c.start()
        c.start_all()
        # a second failure fails the group over (one restart in place); no failover limit
        c.add_app_group(
            "Web",
            preferred=("node1", "node2", "node3"),
            group_options={"failover_threshold": 1000},
            resource_options={"restart_threshold": 1},
        )
        wait_for(lambda: settled(c) == "node1", timeout=30)
        yield c
    finally:
        c.close()


def settled(c: LocalCluster) -> str | None:
    """Web's owner once it answers there and no transition is under way."""
    owner = c.answer("Web")
    snap = c.snapshot()
    if owner is None or snap.group("Web").transition is not None or owner != c.owner("Web"):
        return None
    return owner


def newest(c: LocalCluster, kind: str, source: str) -> dict[str, Any] | None:
    """The newest kept timeline, if it is the ``kind`` from ``source``."""
    kept = c.db.group_history("Web")["timelines"]
    if kept and kept[0]["kind"] == kind and kept[0]["source"] == source:
        found: dict[str, Any] = kept[0]
        return found
    return None


def check_order(tl: dict[str, Any]) -> list[str]:
    """The events are in time order (offsets never go back); returns their phases."""
    offsets = [e["offset_ms"] for e in tl["events"]]
    assert offsets == sorted(offsets), tl
    assert offsets[0] == 0 and tl["duration_ms"] >= offsets[-1]
    return [e["phase"] for e in tl["events"]]


def event(tl: dict[str, Any], phase: str) -> dict[str, Any]:
    found = [e for e in tl["events"] if e["phase"] == phase]
    assert found, f"no {phase} in {tl}"
    return found[0]


def test_power_off_timeline(cluster: LocalCluster) -> None:
    owner = wait_for(lambda: settled(cluster), timeout=30)
    cluster.kill_node(owner)
    new = wait_for(lambda: (s := settled(cluster)) != owner and s, timeout=30)
    tl = wait_for(lambda: newest(cluster, "failover", owner), timeout=10)
    phases = check_order(tl)
    assert tl["code"] == "FAILOVER_NODE_DOWN" and tl["ending"] == "complete"
    assert tl["target"] == new
    # the old owner: last heard on both heartbeat paths, found down, fenced by the agent
    heard = [e for e in tl["events"] if e["phase"] == "last-heard"]
    assert {e["detail"] for e in heard} == {"on heartbeat", "on client"}
    for phase in ("last-heard", "detected", "fencing", "fenced"):
        assert event(tl, phase)["node"] == owner, phase
    assert event(tl, "fenced")["detail"] == "the fence agent confirmed"
    # the new owner: started, online, complete
    for phase in ("starting", "online", "complete"):
        assert event(tl, phase)["node"] == new, phase
    assert event(tl, "online")["resource"] == "Web-app"
    order = ["detected", "fencing", "fenced", "decided", "starting", "online", "complete"]
    assert [p for p in phases if p in order] == order
    assert list(tl["phases_ms"]) == [
        "detected_to_fenced",
        "fenced_to_decided",
        "decided_to_starting",
        "starting_to_online",
    ]
    assert all(v >= 0 for v in tl["phases_ms"].values())
    cluster.start_node(owner)
    wait_for(lambda: cluster.all_up(), timeout=30)
    assert overlaps(cluster.runs("Web")) == []


def app_pid(c: LocalCluster, node: str) -> int | None:
    alive = PidRegistry(c.run_dir(node)).alive()
    return next((pid for pid, _, label in alive if label == "resource"), None)


def test_resource_failure_timeline(cluster: LocalCluster) -> None:
    """The app is killed, restarted in place once (its threshold), killed again."""
    owner = wait_for(lambda: settled(cluster), timeout=30)
    first = wait_for(lambda: app_pid(cluster, owner), timeout=10)
    os.kill(first, signal.SIGKILL)
    again = wait_for(lambda: (p := app_pid(cluster, owner)) != first and settled(cluster) and p, 30)
    os.kill(again, signal.SIGKILL)
    new = wait_for(lambda: (s := settled(cluster)) != owner and s, timeout=30)
    tl = wait_for(lambda: newest(cluster, "failover", owner), timeout=10)
    phases = check_order(tl)
    assert tl["code"] == "FAILOVER_RESOURCE_FAILED" and tl["target"] == new
    detected = event(tl, "detected")
    assert (detected["node"], detected["resource"]) == (owner, "Web-app")
    assert phases.index("detected") < phases.index("decided") < phases.index("starting")
    assert event(tl, "online")["node"] == new
    assert "fenced" not in phases  # a resource failure fences nobody


def test_move_timeline(cluster: LocalCluster) -> None:
    owner = wait_for(lambda: settled(cluster), timeout=30)
    target = next(n for n in cluster.names if n != owner)
    cluster.db.add_intent(IntentKind.MOVE_GROUP, "Web", target)
    wait_for(lambda: settled(cluster) == target, timeout=30)
    tl = wait_for(lambda: newest(cluster, "move", owner), timeout=10)
    phases = check_order(tl)
    assert tl["code"] == "MOVE_REQUESTED" and tl["target"] == target
    assert phases[:2] == ["requested", "decided"]
    for phase in ("stopping", "offline"):
        assert (event(tl, phase)["node"], event(tl, phase)["resource"]) == (owner, "Web-app")
    for phase in ("starting", "online", "complete"):
        assert event(tl, phase)["node"] == target
    assert list(tl["phases_ms"]) == [
        "requested_to_decided",
        "decided_to_offline",
        "offline_to_starting",
        "starting_to_online",
    ]
    # the coordinator said it in the cluster log too
    logged = [
        line
        for node in cluster.names
        for line in cluster.log_lines(node)
        if line.get("event") == "timeline" and line.get("kind") == "move"
    ]
    assert logged and logged[-1]["target"] == target
    assert set(logged[-1]["phases_ms"]) == set(tl["phases_ms"])  # type: ignore[arg-type]


def test_history_is_bounded_and_newest_first(cluster: LocalCluster) -> None:
    kept = cluster.db.group_history("Web")["timelines"]
    decided = [t["decided"] for t in kept]
    assert decided == sorted(decided, reverse=True)
    assert len(kept) <= 20
    assert kept[-1]["kind"] == "place"  # the initial placement, the first kept
