"""Model <-> plain data (YAML/JSON) at the boundary (DESIGN §5: every bad input gets a clear
message naming the field; S17: the wizard's settings are stored in the cluster database).

Round trips must be exact for configurations, snapshots (scenario files, ``wolfpack
snapshot``) and plans; output omits defaults so that a dumped snapshot reads like a
hand-written scenario; type errors become :class:`ValidationError` naming the field path.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.codec import dump, parse, parse_config, parse_plan, parse_snapshot
from wolfpack.model.config import ClusterConfig, Group, Node, Resource
from wolfpack.model.plan import Action, ActionKind, Code, Note, Plan, Reason
from wolfpack.model.snapshot import (
    GroupStatus,
    Intent,
    IntentKind,
    NodeStatus,
    ResourceStatus,
    Snapshot,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import NodeState, ResourceState, Wanted
from wolfpack.policy import plan

from .strategies import NOW, configs, snapshots
from .test_validation import jean

JEAN_YAML = """
cluster: {name: jean}
nodes:
  node1: {id: 1}
  node2: {id: 2}
groups:
  Cluster Group: {}
  Web: {preferred_owners: [node2, node1], failover_threshold: 3}
resources:
  web-ip:
    type: IP Address
    group: Web
    properties: {address: 198.51.100.20, network: public, prefix_length: 24}
  www:
    type: Network Name
    group: Web
    dependencies: [[web-ip]]
    properties: {name: www}
"""


def fields_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


# -- round trips -----------------------------------------------------------------------------


def test_config_round_trip_through_yaml_and_json() -> None:
    cfg = jean()
    data = dump(cfg)
    assert parse_config(data) == cfg
    assert parse_config(json.loads(json.dumps(data))) == cfg
    assert parse_config(yaml.safe_load(yaml.safe_dump(data))) == cfg


@settings(max_examples=50, deadline=None)
@given(configs())
def test_random_config_round_trip(cfg: ClusterConfig) -> None:
    assert parse_config(json.loads(json.dumps(dump(cfg)))) == cfg


@settings(max_examples=50, deadline=None)
@given(snapshots())
def test_snapshot_round_trip(snap: Snapshot) -> None:
    """DESIGN §2: "the coordinator can dump the snapshot it decided from, so any incident
    becomes a scenario": dumping and parsing gives the same snapshot, so the same plan."""
    again = parse_snapshot(json.loads(json.dumps(dump(snap))))
    assert again == snap
    assert plan(again, NOW) == plan(snap, NOW)


@settings(max_examples=50, deadline=None)
@given(snapshots())
def test_plan_round_trip(snap: Snapshot) -> None:
    p = plan(snap, NOW)
    assert parse_plan(json.loads(json.dumps(dump(p)))) == p


def test_handmade_snapshot_and_plan_round_trip() -> None:
    snap = Snapshot(
        parse_config(yaml.safe_load(JEAN_YAML)),
        nodes={"node1": NodeStatus(NodeState.DOWN, since=5.0, fenced=True), "node2": NodeStatus()},
        groups={
            "Web": GroupStatus(
                owner="node2",
                failovers=(1.0, 2.5),
                transition=Transition(TransitionKind.MOVE, "node2", "node1", 3.0),
            )
        },
        resources={
            "web-ip": ResourceStatus(ResourceState.ONLINE, "node2", 4.0, (1.0,), Wanted.OFFLINE)
        },
        intents=(Intent("i1", IntentKind.MOVE_GROUP, "Web", "node1", 9.0),),
        revision=42,
    )
    assert parse_snapshot(dump(snap)) == snap
    p = Plan(
        actions=(
            Action(
                ActionKind.PLACE_GROUP,
                "Web",
                Reason(Code.MOVE_REQUESTED, "move"),
                node="node1",
                source="node2",
                steps=(("web-ip",), ("www",)),
                intent="i1",
            ),
            Action(ActionKind.FENCE_NODE, "node1", Reason(Code.FENCE_NODE, "down"), node="node1"),
        ),
        notes=(Note("SQL", Reason(Code.FAILBACK_PREVENTED, "stays")),),
    )
    assert parse_plan(dump(p)) == p
    assert dump(p)["actions"][0]["reason"] == {"code": "MOVE_REQUESTED", "message": "move"}


def test_builtin_types_round_trip() -> None:
    cfg = ClusterConfig(types=builtin_types())
    assert parse_config(json.loads(json.dumps(dump(cfg)))) == cfg


# -- names come from the mapping keys --------------------------------------------------------


def test_names_filled_from_keys() -> None:
    cfg = parse_config(yaml.safe_load(JEAN_YAML))
    assert cfg.nodes["node1"] == Node("node1", 1)
    assert cfg.groups["Cluster Group"].name == "Cluster Group"
    assert cfg.resources["www"].name == "www"
    assert cfg.resources["www"].dependencies == (("web-ip",),)
    assert cfg.groups["Web"].preferred_owners == ("node2", "node1")


def test_names_filled_inside_a_snapshot() -> None:
    snap = parse_snapshot({"config": {"nodes": {"node1": {"id": 1}}, "groups": {"Web": {}}}})
    assert snap.config.nodes["node1"].name == "node1"
    assert snap.config.groups["Web"] == Group("Web")


def test_a_name_that_differs_from_its_key_is_kept_for_validation_to_refuse() -> None:
    cfg = parse_config({"nodes": {"node1": {"name": "node2", "id": 1}}})
    assert cfg.nodes["node1"].name == "node2"


# -- output omits defaults -------------------------------------------------------------------


def test_dump_omits_defaults() -> None:
    cfg = ClusterConfig(
        nodes={"node1": Node("node1", 1)},
        groups={"Web": Group("Web")},
        resources={"r": Resource("r", "T", "Web")},
    )
    assert dump(cfg) == {
        "nodes": {"node1": {"name": "node1", "id": 1}},
        "groups": {"Web": {"name": "Web"}},
        "resources": {"r": {"name": "r", "type": "T", "group": "Web"}},
    }
    snap = Snapshot(cfg, nodes={"node1": NodeStatus()}, groups={"Web": GroupStatus()})
    assert dump(snap)["nodes"] == {"node1": {}}
    assert "intents" not in dump(snap) and "revision" not in dump(snap)


def test_dump_keeps_non_defaults_only() -> None:
    data = dump(Group("Web", failover_threshold=3))
    assert data == {"name": "Web", "failover_threshold": 3}


def test_dump_with_defaults() -> None:
    data = dump(Group("Web"), exclude_defaults=False)
    assert data["failover_threshold"] == 10
    assert data["failback"]["mode"] == "prevent"


def test_dump_is_plain_data() -> None:
    data = dump(jean())
    assert json.loads(json.dumps(data)) == data
    assert isinstance(data["groups"]["Web"]["preferred_owners"], list)


# -- type errors name the field --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (
            {"groups": {"W": {"failover_threshold": "ten"}}},
            "groups.W.failover_threshold",
            ["integer"],
        ),
        (
            {"groups": {"W": {"failover_threshold": 1.5}}},
            "groups.W.failover_threshold",
            ["integer"],
        ),
        (
            {"groups": {"W": {"failback": {"mode": "sometimes"}}}},
            "groups.W.failback.mode",
            ["prevent"],
        ),
        ({"groups": {"W": {"preferred_owners": "node1"}}}, "groups.W.preferred_owners", ["tuple"]),
        ({"nodes": {"n1": {"id": "one"}}}, "nodes.n1.id", ["integer"]),
        ({"nodes": {"n1": {}}}, "nodes.n1.id", ["required"]),
        ({"nodes": {"n1": 5}}, "nodes.n1", ["dictionary"]),
        ({"networks": {"p": {"subnet": "x", "role": "all"}}}, "networks.p.role", ["mixed"]),
        ({"resources": {"r": {"group": "W"}}}, "resources.r.type", ["required"]),
        (
            {"resources": {"r": {"type": "T", "group": "W", "restart_action": "maybe"}}},
            "resources.r.restart_action",
            ["restart-and-failover"],
        ),
        (
            {"resources": {"r": {"type": "T", "group": "W", "dependencies": [["a"], "b"]}}},
            "resources.r.dependencies.1",
            ["tuple"],
        ),
    ],
)
def test_type_errors_name_the_field(data: dict[str, Any], field: str, words: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_config(data)
    assert field in fields_of(info)
    message = next(e.message for e in info.value.errors if e.field == field)
    for word in words:
        assert word in message


def test_snapshot_type_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_snapshot(
            {
                "config": {"groups": {"W": {"failover_threshold": "x"}}},
                "nodes": {"n1": {"state": "up"}},
                "resources": {"r": {"state": "Running"}},
                "intents": [{"id": "i", "kind": "move", "subject": "W"}],
            }
        )
    assert set(fields_of(info)) == {
        "config.groups.W.failover_threshold",
        "nodes.n1.state",
        "resources.r.state",
        "intents.0.kind",
    }


def test_plan_type_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_plan({"actions": [{"kind": "explode", "subject": "W", "reason": {"code": "X"}}]})
    assert set(fields_of(info)) == {
        "actions.0.kind",
        "actions.0.reason.code",
        "actions.0.reason.message",
    }


def test_not_a_mapping_names_the_type() -> None:
    with pytest.raises(ValidationError) as info:
        parse_config([1, 2])
    assert fields_of(info) == ["ClusterConfig"]


# -- unknown keys and lax conversions --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "hint"),
    [
        (
            {"groups": {"W": {"failover_treshold": 5}}},
            "groups.W.failover_treshold",
            "failover_threshold",
        ),
        (
            {"groups": {"W": {"failback": {"windowstart": 3}}}},
            "groups.W.failback.windowstart",
            "window_start",
        ),
        ({"nodez": {}}, "nodez", "nodes"),
        ({"nodes": {"n1": {"id": 1, "ip": "x"}}}, "nodes.n1.ip", ""),
        (
            {"resources": {"r": {"type": "T", "group": "W", "posible_owners": ["n1"]}}},
            "resources.r.posible_owners",
            "possible_owners",
        ),
    ],
)
def test_unknown_keys_are_refused(data: dict[str, Any], field: str, hint: str) -> None:
    """A typo must not be silently ignored: the administrator would believe the threshold
    was changed (S35) while the default still applies."""
    with pytest.raises(ValidationError) as info:
        parse_config(data)
    (error,) = info.value.errors
    assert error.field == field
    assert "unknown field" in error.message
    assert hint in error.message


def test_unknown_keys_in_a_snapshot_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        parse_snapshot(
            {
                "config": {"groups": {"W": {"owner": "n1"}}},
                "groups": {"W": {"ownr": "n1"}},
                "nodes": {"n1": {"state": "Up", "fence": True}},
            }
        )
    assert set(fields_of(info)) == {"config.groups.W.owner", "groups.W.ownr", "nodes.n1.fence"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"groups": {"W": {"failover_threshold": True}}}, "groups.W.failover_threshold"),
        ({"nodes": {"n1": {"id": False}}}, "nodes.n1.id"),
        ({"groups": {"W": {"failback": {"window_start": True}}}}, "groups.W.failback.window_start"),
    ],
)
def test_true_is_not_a_number(data: dict[str, Any], field: str) -> None:
    """YAML ``failover_threshold: yes`` is a mistake, not 1."""
    with pytest.raises(ValidationError) as info:
        parse_config(data)
    assert fields_of(info) == [field]


def test_bad_property_value_is_one_clear_error() -> None:
    """A property value is a string, a whole number, true/false or a list of strings; a bad
    one gets one error on its own path, not one per alternative."""
    with pytest.raises(ValidationError) as info:
        parse_config(
            {"resources": {"r": {"type": "T", "group": "W", "properties": {"a": 1.5, "b": None}}}}
        )
    assert info.value.errors == (
        FieldError(
            "resources.r.properties.a",
            "must be a string, a whole number, true or false, or a list of strings; got 1.5",
        ),
        FieldError(
            "resources.r.properties.b",
            "must be a string, a whole number, true or false, or a list of strings; got None",
        ),
    )


def test_property_values_keep_their_kind() -> None:
    props = {"s": "true", "i": 5, "b": True, "l": ["a", "b"], "n": "5"}
    cfg = parse_config({"resources": {"r": {"type": "T", "group": "W", "properties": props}}})
    got = cfg.resources["r"].properties
    assert got == props
    assert type(got["b"]) is bool and type(got["i"]) is int and type(got["s"]) is str


def test_parse_generic_objects() -> None:
    assert parse(NodeStatus, {"state": "Paused"}) == NodeStatus(NodeState.PAUSED)
    with pytest.raises(ValidationError) as info:
        parse(NodeStatus, {"state": "Sleeping"})
    assert fields_of(info) == ["state"]
