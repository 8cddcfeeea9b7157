"""MSCS defaults (reference/wsfc.md §2) and that each one can be overridden (S35).

Wolfpack follows the Windows 2000 MSCS of the seed: failover threshold 10 in 6 hours
(``SDK:groups-failoverthreshold``: "Windows Server 2003 and Windows 2000 Server: the default
value is 10"; FailoverPeriod 6), failback prevented (AutoFailbackType 0), RestartAction 2
("restart and affect the group"), RestartThreshold 3 in RestartPeriod 900 000 ms (KB947712:
W2003 = 3 restarts in 15 minutes), PendingTimeout 180 000 ms, RestartDelay 500 ms, and on a
resource type LooksAlive 5000 ms / IsAlive 60000 ms; the resource itself uses its type's
values unless set. Networks default to the mixed role (S15: "mixed (default)").
"""

from __future__ import annotations

from typing import Any

import pytest

from wolfpack.model.builtin_types import (
    GENERIC_APPLICATION,
    IP_ADDRESS,
    NETWORK_NAME,
    PHYSICAL_DISK,
    builtin_types,
)
from wolfpack.model.codec import dump, parse_config
from wolfpack.model.config import (
    ClusterConfig,
    Failback,
    Group,
    Network,
    Node,
    Resource,
    ResourceType,
)
from wolfpack.model.plan import ActionKind, Code
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus, Snapshot
from wolfpack.model.states import FailbackMode, NetworkRole, NodeState, ResourceState, RestartAction
from wolfpack.model.validation import validate_config
from wolfpack.policy import plan

HOUR = 3600


# -- the defaults themselves -----------------------------------------------------------------


def test_group_defaults_are_mscs() -> None:
    """S38: "By default, groups are set not to fail back" (W2003:cc740098); 10 in 6 h."""
    g = Group("Web")
    assert g.failover_threshold == 10
    assert g.failover_period_s == 6 * HOUR
    assert g.failback.mode is FailbackMode.PREVENT
    assert (g.failback.window_start, g.failback.window_end) == (None, None)  # -1: no window
    assert g.failback.stability_delay_s > 0  # the flap guard S38 asks for is on by default
    assert g.preferred_owners == ()  # S37: none set = every node qualifies
    assert g.anti_affinity == ()


def test_resource_defaults_are_mscs() -> None:
    r = Resource("web-ip", IP_ADDRESS, "Web")
    assert r.restart_action is RestartAction.RESTART_AND_FAILOVER  # RestartAction 2
    assert r.restart_threshold == 3
    assert r.restart_period_s == 900  # 900000 ms
    assert r.restart_delay_ms == 500
    assert r.pending_timeout_s == 180  # 180000 ms, "Pending timeout 03:00"
    assert r.possible_owners is None  # all nodes (S28)
    assert r.dependencies == ()
    assert (r.looks_alive_ms, r.is_alive_ms) == (None, None)  # "use resource type value"


def test_resource_type_defaults_are_mscs() -> None:
    t = ResourceType("Custom", agent="ocf")
    assert (t.looks_alive_ms, t.is_alive_ms) == (5000, 60000)


@pytest.mark.parametrize("name", [IP_ADDRESS, NETWORK_NAME, PHYSICAL_DISK, GENERIC_APPLICATION])
def test_builtin_types_use_the_standard_poll_intervals(name: str) -> None:
    t = builtin_types()[name]
    assert (t.looks_alive_ms, t.is_alive_ms) == (5000, 60000)


def test_network_role_defaults_to_mixed() -> None:
    """S15: each interface role is mixed by default (client and cluster traffic)."""
    net = Network("public", "198.51.100.0/24")
    assert net.role is NetworkRole.MIXED
    assert net.role.carries_heartbeats and net.role.carries_clients


def test_parsing_a_minimal_config_gives_the_defaults() -> None:
    cfg = parse_config(
        {
            "nodes": {"node1": {"id": 1}},
            "groups": {"Web": {}},
            "resources": {"web-app": {"type": "T", "group": "Web"}},
            "types": {"T": {"agent": "ocf"}},
        }
    )
    assert cfg.groups["Web"] == Group("Web")
    assert cfg.resources["web-app"] == Resource("web-app", "T", "Web")
    assert cfg.types["T"].looks_alive_ms == 5000 and cfg.types["T"].is_alive_ms == 60000
    assert cfg.networks == {} and cfg.cluster.enforced_anti_affinity is False


# -- every default can be overridden (S35: "every setting of a group can be changed") ---------

OVERRIDES: dict[str, Any] = {
    "cluster": {"name": "jean"},
    "nodes": {"node1": {"id": 1}, "node2": {"id": 2}},
    "networks": {"private": {"subnet": "203.0.113.0/24", "role": "private"}},
    "groups": {
        "Web": {
            "preferred_owners": ["node2", "node1"],
            "failover_threshold": 2,
            "failover_period_s": 1800,
            "failback": {
                "mode": "window",
                "window_start": 22,
                "window_end": 6,
                "stability_delay_s": 300,
            },
            "anti_affinity": ["web"],
        }
    },
    "resources": {
        "web-app": {
            "type": "Slow",
            "group": "Web",
            "possible_owners": ["node2"],
            "restart_action": "restart",
            "restart_threshold": 1,
            "restart_period_s": 60,
            "restart_delay_ms": 0,
            "pending_timeout_s": 600,
            "looks_alive_ms": 1000,
            "is_alive_ms": 15000,
        }
    },
    "types": {"Slow": {"agent": "ocf", "looks_alive_ms": 20000, "is_alive_ms": 120000}},
}


def test_group_overrides() -> None:
    g = parse_config(OVERRIDES).groups["Web"]
    assert g.preferred_owners == ("node2", "node1")
    assert (g.failover_threshold, g.failover_period_s) == (2, 1800)
    assert g.failback == Failback(FailbackMode.WINDOW, 22, 6, 300)
    assert g.anti_affinity == ("web",)


def test_resource_overrides() -> None:
    r = parse_config(OVERRIDES).resources["web-app"]
    assert r.restart_action is RestartAction.RESTART_NO_FAILOVER
    assert (r.restart_threshold, r.restart_period_s, r.restart_delay_ms) == (1, 60, 0)
    assert r.pending_timeout_s == 600
    assert (r.looks_alive_ms, r.is_alive_ms) == (1000, 15000)
    assert r.possible_owners == ("node2",)


def test_type_and_network_overrides() -> None:
    cfg = parse_config(OVERRIDES)
    assert (cfg.types["Slow"].looks_alive_ms, cfg.types["Slow"].is_alive_ms) == (20000, 120000)
    assert cfg.networks["private"].role is NetworkRole.PRIVATE


def test_overridden_config_is_valid_and_dumps_only_the_overrides() -> None:
    cfg = parse_config(OVERRIDES)
    validate_config(cfg)
    out = dump(cfg)
    assert out["groups"]["Web"]["failover_threshold"] == 2
    assert out["resources"]["web-app"]["pending_timeout_s"] == 600
    assert parse_config(out) == cfg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("restart_action", "dont-restart"),
        ("restart_action", "restart-and-failover"),
    ],
)
def test_each_restart_action_parses(field: str, value: str) -> None:
    data = {"groups": {"G": {}}, "resources": {"r": {"type": "T", "group": "G", field: value}}}
    assert getattr(parse_config(data).resources["r"], field) == RestartAction(value)


# -- the defaults take effect in the policy --------------------------------------------------

NOW = 1_700_000_000.0


def _failover_snapshot(group: Group, failovers: tuple[float, ...]) -> Snapshot:
    """Group on node1, which is down and fenced; node2 is up and can take it."""
    cfg = ClusterConfig(
        nodes={n: _node(n) for n in ("node1", "node2")},
        groups={group.name: group},
        resources={"r": Resource("r", "T", group.name)},
        types={"T": ResourceType("T", "ocf")},
    )
    return Snapshot(
        cfg,
        nodes={"node1": NodeStatus(NodeState.DOWN, fenced=True), "node2": NodeStatus()},
        groups={group.name: GroupStatus(owner="node1", failovers=failovers)},
        resources={"r": ResourceStatus(ResourceState.ONLINE, node="node1")},
    )


def _node(name: str) -> Node:
    return Node(name, int(name[-1]))


def _kinds(s: Snapshot) -> set[ActionKind]:
    return {a.kind for a in plan(s, NOW).actions}


def test_default_failover_threshold_allows_ten_in_six_hours() -> None:
    """S30 + SDK:groups-failoverthreshold: 9 failovers in the period, the 10th is allowed;
    after 10 the group is left failed."""
    nine = tuple(NOW - 60 * i for i in range(1, 10))
    assert ActionKind.PLACE_GROUP in _kinds(_failover_snapshot(Group("G"), nine))
    ten = (*nine, NOW - 5 * HOUR)
    assert _kinds(_failover_snapshot(Group("G"), ten)) == {ActionKind.GROUP_FAILED}
    old = (*nine, NOW - 6 * HOUR - 1)  # outside the 6 h period: does not count
    assert ActionKind.PLACE_GROUP in _kinds(_failover_snapshot(Group("G"), old))


def test_overridden_failover_threshold_and_period() -> None:
    g = Group("G", failover_threshold=2, failover_period_s=HOUR)
    assert ActionKind.PLACE_GROUP in _kinds(_failover_snapshot(g, (NOW - 10,)))
    assert _kinds(_failover_snapshot(g, (NOW - 10, NOW - 20))) == {ActionKind.GROUP_FAILED}
    assert ActionKind.PLACE_GROUP in _kinds(_failover_snapshot(g, (NOW - 10, NOW - HOUR - 1)))


def _restart_snapshot(res: Resource, restarts: tuple[float, ...]) -> Snapshot:
    cfg = ClusterConfig(
        nodes={n: _node(n) for n in ("node1", "node2")},
        groups={"G": Group("G")},
        resources={res.name: res},
        types={"T": ResourceType("T", "ocf")},
    )
    return Snapshot(
        cfg,
        nodes={"node1": NodeStatus(), "node2": NodeStatus()},
        groups={"G": GroupStatus(owner="node1")},
        resources={
            res.name: ResourceStatus(ResourceState.FAILED, "node1", NOW - 1, restarts=restarts)
        },
    )


def test_default_restart_threshold_three_in_fifteen_minutes() -> None:
    """KB947712 (W2003): 3 restarts in 15 minutes on the same node, then the group fails
    over (RestartAction 2 "affect the group")."""
    res = Resource("r", "T", "G")
    two = (NOW - 100, NOW - 200)
    restart = plan(_restart_snapshot(res, two), NOW).actions
    assert [a.reason.code for a in restart] == [Code.RESTART_RESOURCE]
    three = (*two, NOW - 800)
    over = plan(_restart_snapshot(res, three), NOW).actions
    assert [(a.kind, a.node) for a in over] == [(ActionKind.PLACE_GROUP, "node2")]
    assert over[0].reason.code is Code.FAILOVER_RESOURCE_FAILED
    old = (*two, NOW - 901)  # outside the 900 s period
    assert [a.reason.code for a in plan(_restart_snapshot(res, old), NOW).actions] == [
        Code.RESTART_RESOURCE
    ]


def test_overridden_restart_policy() -> None:
    once = Resource("r", "T", "G", restart_threshold=1, restart_period_s=60)
    assert plan(_restart_snapshot(once, (NOW - 30,)), NOW).actions[0].kind is (
        ActionKind.PLACE_GROUP
    )
    assert plan(_restart_snapshot(once, (NOW - 61,)), NOW).actions[0].kind is (
        ActionKind.RESTART_RESOURCES
    )
    no_failover = Resource("r", "T", "G", restart_action=RestartAction.RESTART_NO_FAILOVER)
    p = plan(_restart_snapshot(no_failover, (NOW - 2, NOW - 3, NOW - 4)), NOW)
    assert p.actions == ()
    assert [n.reason.code for n in p.notes] == [Code.RESTART_THRESHOLD_EXCEEDED]
    never = Resource("r", "T", "G", restart_action=RestartAction.DONT_RESTART)
    p = plan(_restart_snapshot(never, ()), NOW)
    assert p.actions == () and [n.reason.code for n in p.notes] == [Code.RESTART_DISABLED]


def _pending_snapshot(res: Resource, since: float) -> Snapshot:
    """Pending since ``since``, as the coordinator saw it (M1: its own clock)."""
    s = _restart_snapshot(res, ())
    status = ResourceStatus(ResourceState.ONLINE_PENDING, "node1", since, pending_seen=since)
    return Snapshot(s.config, s.nodes, s.groups, {res.name: status})


def test_default_pending_timeout_is_three_minutes() -> None:
    res = Resource("r", "T", "G")
    assert plan(_pending_snapshot(res, NOW - 179), NOW).actions == ()
    timed_out = plan(_pending_snapshot(res, NOW - 180), NOW).actions
    assert [(a.kind, a.reason.code) for a in timed_out] == [
        (ActionKind.FAIL_RESOURCES, Code.PENDING_TIMEOUT)
    ]


def test_overridden_pending_timeout() -> None:
    res = Resource("r", "T", "G", pending_timeout_s=600)
    assert plan(_pending_snapshot(res, NOW - 300), NOW).actions == ()
    assert plan(_pending_snapshot(res, NOW - 600), NOW).actions[0].kind is ActionKind.FAIL_RESOURCES


def test_default_failback_is_prevented() -> None:
    """S38 / AutoFailbackType 0: the preferred owner is back and stable, the group stays."""
    cfg = ClusterConfig(
        nodes={n: _node(n) for n in ("node1", "node2")},
        groups={"G": Group("G", preferred_owners=("node1", "node2"))},
        resources={"r": Resource("r", "T", "G")},
    )
    s = Snapshot(
        cfg,
        nodes={"node1": NodeStatus(since=NOW - 10 * HOUR), "node2": NodeStatus()},
        groups={"G": GroupStatus(owner="node2")},
        resources={"r": ResourceStatus(ResourceState.ONLINE, "node2")},
    )
    p = plan(s, NOW)
    assert p.actions == ()
    assert [n.reason.code for n in p.notes] == [Code.FAILBACK_PREVENTED]
    allowed = Group(
        "G", preferred_owners=("node1", "node2"), failback=Failback(FailbackMode.IMMEDIATE)
    )
    s2 = Snapshot(
        ClusterConfig(cfg.cluster, cfg.nodes, groups={"G": allowed}, resources=cfg.resources),
        s.nodes,
        s.groups,
        s.resources,
    )
    assert [(a.kind, a.node) for a in plan(s2, NOW).actions] == [(ActionKind.PLACE_GROUP, "node1")]
