"""``wolfpack config export|import`` and ``snapshot dump``: files in, files out."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import JEAN, Cli, Writer, fields


def test_export_reads_like_the_hand_written_file(jean: Cli) -> None:
    exported = yaml.safe_load(jean.ok("config", "export").stdout)
    source = yaml.safe_load(JEAN.read_text())
    assert exported["cluster"] == source["cluster"]
    assert exported["nodes"] == source["nodes"]
    assert exported["groups"]["Web"] == source["groups"]["Web"]
    assert exported["resources"]["web"] == source["resources"]["web"]
    assert "types" not in exported  # the built-in types are implied
    assert "state" not in exported  # only with --state


def test_export_import_round_trip(jean: Cli, tmp_path: Path) -> None:
    path = tmp_path / "jean.yaml"
    assert jean.json("config", "export", "--state", str(path)) == {"written": str(path)}
    copy = Cli(jean.endpoint, jean.etcd_env)
    copy.ok("config", "import", str(path))
    assert copy.export() == jean.export()
    state = yaml.safe_load(copy.export())["state"]
    assert state["nodes"]["node2"] == {"since": 1767225600.0}  # Up is the default state


def test_export_json(jean: Cli) -> None:
    doc = json.loads(jean.ok("config", "export", "--json").stdout)
    assert doc["resources"]["www"]["dependencies"] == [["web-ip"]]


def test_import_merges_without_replace(jean: Cli, write: Writer) -> None:
    extra = "groups:\n  Files: {preferred_owners: [node3]}\n"
    jean.ok("config", "import", write(extra))
    groups = [g["name"] for g in jean.json("group", "list")]
    assert groups == ["Cluster Group", "Files", "SQL", "Web"]
    assert jean.json("cluster", "show")["name"] == "jean"  # no cluster section: unchanged


def test_import_replace_removes_what_the_file_lacks(jean: Cli, write: Writer) -> None:
    small = "cluster: {name: small}\nnodes:\n  node1: {id: 1}\ngroups:\n  G: {}\n"
    result = jean.json("config", "import", "--replace", write(small))
    assert result["cluster"]["name"] == "small"
    assert [n["name"] for n in jean.json("node", "list")] == ["node1"]
    assert jean.json("resource", "list") == []
    assert [g["name"] for g in jean.json("group", "list")] == ["G"]
    # the statuses of the removed objects went too; node1's, a kept object's, stays (H3)
    assert set(yaml.safe_load(jean.export())["state"]) == {"nodes"}
    assert set(yaml.safe_load(jean.export())["state"]["nodes"]) == {"node1"}
    assert len(jean.json("type", "list")) >= 9  # built-in types stay


def test_import_creates_the_cluster_in_an_empty_database(cli: Cli) -> None:
    out = cli.ok("config", "import", str(JEAN)).stdout
    assert "jean" in out and "10 resources" in out
    assert cli.json("cluster", "show")["name"] == "jean"


def test_a_bad_file_changes_nothing_and_names_every_field(jean: Cli, write: Writer) -> None:
    before = jean.export()
    bad = """
groups:
  Web: {failover_threshold: lots}
  Files: {preferred_owners: [node9]}
state:
  nodes:
    node7: {state: Up}
    node1: {state: Sleeping}
"""
    error = jean.fails("config", "import", "--replace", write(bad))
    assert "groups.Web.failover_threshold" in fields(error)
    assert "state.nodes.node1.state" in fields(error)
    assert jean.export() == before
    semantic = "groups:\n  Files: {preferred_owners: [node9]}\nstate:\n  nodes:\n    node7: {}\n"
    error = jean.fails("config", "import", write(semantic))
    assert set(fields(error)) == {"groups.Files.preferred_owners[0]", "state.nodes.node7"}
    assert jean.export() == before


def test_unreadable_files_are_named(jean: Cli, write: Writer, tmp_path: Path) -> None:
    before = jean.export()
    broken = write("nodes: [unclosed\n")
    assert fields(jean.fails("config", "import", broken)) == [broken]
    missing = str(tmp_path / "missing.yaml")
    assert fields(jean.fails("config", "import", missing)) == [missing]
    assert fields(jean.fails("config", "import", write("- a list\n"))) == [
        str(tmp_path / "file1.yaml")
    ]
    assert jean.export() == before


def test_snapshot_dump_is_a_loadable_snapshot(jean: Cli, tmp_path: Path) -> None:
    doc = yaml.safe_load(jean.ok("snapshot", "dump").stdout)
    assert doc["config"]["cluster"]["name"] == "jean"
    assert set(doc["nodes"]) == {"node1", "node2", "node3"}
    assert doc["revision"] > 0
    path = tmp_path / "snap.yaml"
    assert jean.json("snapshot", "dump", str(path)) == {"written": str(path)}
    assert yaml.safe_load(path.read_text())["config"] == doc["config"]
