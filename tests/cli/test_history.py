"""``wolfpack group history``: a group's failover timelines from the cluster database (issue
12 item 1). The statuses and the kept history are written to a real etcd as the daemons
write them; the daemon test (tests/daemon/test_timeline.py) makes real ones."""

from __future__ import annotations

from wolfpack.model.snapshot import (
    GroupStatus,
    Mark,
    NodeStatus,
    ResourceStatus,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.model.timeline import Ending, Event, History, Phase, Timeline
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB, encode

from .conftest import Cli

T0 = 1_800_000_000.0
S = ResourceState


def seed(cli: Cli) -> None:
    """Web moving from node2 to node3 now; one finished failover node1 -> node2 kept."""
    db = ClusterDB(cli.store(), KeySpace(cli.prefix))
    move = Transition(
        TransitionKind.MOVE, "node3", "node2", T0, "MOVE_REQUESTED", "asked", T0 - 0.1
    )
    db.write_status("groups", "Web", GroupStatus(owner="node3", transition=move))
    db.write_status(
        "resources",
        "web-ip",
        ResourceStatus(
            S.ONLINE_PENDING,
            "node3",
            trail=(
                Mark(S.OFFLINE_PENDING, "node2", T0 + 0.01),
                Mark(S.OFFLINE, "node2", T0 + 0.02),
                Mark(S.ONLINE_PENDING, "node3", T0 + 0.03),
            ),
        ),
    )
    db.write_status("nodes", "node2", NodeStatus(NodeState.UP))
    old = Timeline(
        "Web",
        TransitionKind.FAILOVER,
        "node2",
        T0 - 100,
        "node1",
        "FAILOVER_NODE_DOWN",
        "node1 is down",
        Ending.COMPLETE,
        T0 - 99,
        (
            Event(Phase.DETECTED, T0 - 100.4, "node1", detail="node1 down"),
            Event(Phase.FENCED, T0 - 100.2, "node1"),
            Event(Phase.DECIDED, T0 - 100),
            Event(Phase.STARTING, T0 - 99.9, "node2", "web-ip"),
            Event(Phase.ONLINE, T0 - 99.5, "node2", "web-ip"),
            Event(Phase.COMPLETE, T0 - 99, "node2"),
        ),
    )
    db.store.put(db.keys.history("Web"), encode(History((old,))))


def test_history_json_has_the_move_under_way_and_the_kept_failover(jean: Cli) -> None:
    seed(jean)
    doc = jean.json("group", "history", "Web")
    assert doc["group"] == "Web"
    now = doc["current"]
    assert (now["kind"], now["source"], now["target"], now["ending"]) == (
        "move",
        "node2",
        "node3",
        "in-progress",
    )
    assert [(e["phase"], e["node"]) for e in now["events"]] == [
        ("requested", ""),
        ("decided", ""),
        ("stopping", "node2"),
        ("offline", "node2"),
        ("starting", "node3"),
    ]
    assert now["phases_ms"] == {
        "requested_to_decided": 100,
        "decided_to_offline": 20,
        "offline_to_starting": 10,
    }
    [kept] = doc["timelines"]
    assert kept["ending"] == "complete" and kept["duration_ms"] == 1400
    assert kept["phases_ms"]["detected_to_fenced"] == 200
    assert jean.json("group", "history", "Web", "--limit", "1")["timelines"] == [kept]


def test_history_for_people_shows_phases_and_events(jean: Cli) -> None:
    seed(jean)
    out = jean.ok("group", "history", "Web").stdout
    assert "Web: under way" in out
    assert "move node2 -> node3, in-progress" in out
    assert "requested -> decided 100 ms" in out
    assert "failover node1 -> node2, complete, 1.400 s" in out
    assert "detected -> fenced 200 ms" in out
    for phase in ("stopping", "offline", "starting", "fenced", "complete"):
        assert phase in out


def test_a_group_never_moved_says_so_and_an_unknown_one_is_an_error(jean: Cli) -> None:
    assert "SQL: no failover or move recorded yet" in jean.ok("group", "history", "SQL").stdout
    assert jean.json("group", "history", "SQL") == {
        "group": "SQL",
        "current": None,
        "timelines": [],
    }
    error = jean.fails("group", "history", "Nope", code=1)
    assert error["type"] == "NotFoundError" and "Nope" in error["message"]
