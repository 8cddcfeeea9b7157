"""``wolfpack plan`` and ``status`` on the seed's demo cluster (examples/jean.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import Cli, Writer, fields

NOW = "1767229200"  # an hour after every node came up

# Web's owner node2 is lost; everything else runs where it should.
NODE2_LOST = """
state:
  nodes:
    node2: {state: Down, since: 1767228000, fenced: %s}
  groups:
    Cluster Group: {owner: node1}
    SQL: {owner: node1}
    Web: {owner: node2}
"""


def placements(plan: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {
        a["subject"]: (a["node"], a.get("source"), a["reason"]["code"])
        for a in plan["actions"]
        if a["kind"] == "place-group"
    }


def test_plan_places_web_on_node2_and_sql_on_node1(jean: Cli) -> None:
    plan = jean.json("plan", "--now", NOW)
    assert placements(plan) == {
        "Cluster Group": ("node1", None, "PLACE_INITIAL"),
        "SQL": ("node1", None, "PLACE_INITIAL"),
        "Web": ("node2", None, "PLACE_INITIAL"),
    }
    web = next(a for a in plan["actions"] if a["subject"] == "Web")
    assert web["steps"] == [["web-disk", "web-ip"], ["web", "www"]]  # dependencies first
    explained = jean.ok("plan", "--explain", "--now", NOW).stdout
    assert "place Web on node2" in explained and "place SQL on node1" in explained
    assert "PLACE_INITIAL" in explained
    table = jean.ok("plan", "--now", NOW).stdout
    assert "place-group" in table and "node2" in table


def test_web_fails_over_to_node1_when_node2_is_down_and_fenced(jean: Cli, write: Writer) -> None:
    jean.ok("config", "import", write(NODE2_LOST % "true"))
    plan = jean.json("plan", "--now", NOW)
    # node list of Web: node2 (preferred), then node1, node3 by id -> next after node2 is node1
    assert placements(plan) == {"Web": ("node1", "node2", "FAILOVER_NODE_DOWN")}
    explained = jean.ok("plan", "--explain", "--now", NOW).stdout
    assert "place Web on node1 (from node2)" in explained
    assert "the next node after node2" in explained


def test_an_unfenced_lost_node_is_fenced_first(jean: Cli, write: Writer) -> None:
    jean.ok("config", "import", write(NODE2_LOST % "false"))
    plan = jean.json("plan", "--now", NOW)
    assert (plan["actions"][0]["kind"], plan["actions"][0]["subject"]) == ("fence-node", "node2")
    assert placements(plan) == {}  # Web waits: never two owners
    assert {(n["subject"], n["reason"]["code"]) for n in plan["notes"]} == {
        ("Web", "AWAITING_FENCE")
    }
    started = {a["subject"] for a in plan["actions"] if a["kind"] == "start-group"}
    assert started == {"Cluster Group", "SQL"}  # node1's groups start their resources


def test_assume_down_is_a_what_if(jean: Cli) -> None:
    plan = jean.json("plan", "--now", NOW, "--assume-down", "node2")
    assert placements(plan)["Web"] == ("node1", None, "PLACE_INITIAL")
    both = jean.json("plan", "--now", NOW, "--assume-down", "node1", "--assume-down", "node2")
    assert {g: p[0] for g, p in placements(both).items()} == {
        "Cluster Group": "node3",
        "SQL": "node3",
        "Web": "node3",
    }
    assert jean.json("node", "show", "node2")["status"]["state"] == "Up"  # nothing written
    assert jean.fails("plan", "--assume-down", "node9", code=1)["type"] == "NotFoundError"


def test_plan_from_a_dumped_snapshot_is_the_same(jean: Cli, write: Writer, tmp_path: Path) -> None:
    jean.ok("config", "import", write(NODE2_LOST % "true"))
    path = tmp_path / "incident.yaml"
    jean.ok("snapshot", "dump", str(path))
    from_store = jean.json("plan", "--now", NOW)
    elsewhere = Cli("http://127.0.0.1:9")  # --from needs no cluster database
    assert elsewhere.json("plan", "--from", str(path), "--now", NOW) == from_store


def test_plan_from_a_scenario_file_uses_its_time(cli: Cli, write: Writer) -> None:
    scenario = """
description: Web's owner node1 is lost and fenced.
covers: [S30]
now: 1700000000
snapshot:
  config:
    nodes: {node1: {id: 1}, node2: {id: 2}}
    groups: {Web: {preferred_owners: [node1, node2]}}
    resources:
      web-ip: {group: Web}
  nodes: {node1: {state: Down, fenced: true, since: 1699999990}, node2: {state: Up}}
  groups: {Web: {owner: node1}}
"""
    plan = Cli("http://127.0.0.1:9").json("plan", "--from", write(scenario))
    assert placements(plan) == {"Web": ("node2", "node1", "FAILOVER_NODE_DOWN")}


def test_plan_from_a_bad_file_names_it(cli: Cli, write: Writer) -> None:
    path = write("config:\n  nodes:\n    n1: {id: one}\n")
    assert fields(cli.fails("plan", "--from", path)) == ["config.nodes.n1.id"]


def test_status_shows_nodes_and_groups_like_cluster_administrator(jean: Cli, write: Writer) -> None:
    jean.ok("config", "import", write(NODE2_LOST % "true"))
    status = jean.json("status")
    assert status["cluster"] == "jean"
    nodes = {n["name"]: n for n in status["nodes"]}
    assert nodes["node1"]["groups"] == ["Cluster Group", "SQL"]
    assert nodes["node2"]["state"] == "Down" and nodes["node2"]["groups"] == ["Web"]
    groups = {g["name"]: g for g in status["groups"]}
    assert groups["Web"]["owner"] == "node2" and groups["Web"]["state"] == "Offline"
    assert [r["name"] for r in groups["SQL"]["resources"]] == [
        "sql",
        "sql-disk",
        "sql-ip",
        "sql-name",
    ]
    assert jean.json("cluster", "status") == status
    human = jean.ok("status").stdout
    assert "Cluster jean" in human and "Down" in human and "Cluster Group" in human
