"""The CLI against running daemons: requests wait for their outcome (S34, S39), drain, join
with the cluster secret (S9, S20), status (S33)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from wolfpack.cli.main import app
from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path)
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node1", "node2"))
        wait_for(lambda: c.answer("Web") == "node1", timeout=20)
        yield c
    finally:
        c.close()


def run(c: LocalCluster, *args: str, secret: Path | None = None) -> Result:
    env = {
        **c.client_env(),
        "WOLFPACK_PREFIX": c.keys.root,
        "WOLFPACK_SECRET_FILE": str(secret or c.secret_file),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def run_json(c: LocalCluster, *args: str, code: int = 0) -> Any:
    result = run(c, *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_move_waits_until_the_group_runs_on_the_target(cluster: LocalCluster) -> None:
    out = run_json(cluster, "group", "move", "Web", "node2")
    assert out["code"] == "MOVE_REQUESTED"
    assert (out["owner"], out["state"]) == ("node2", "Online")
    assert cluster.answer("Web") == "node2"


def test_offline_then_online_through_the_cli(cluster: LocalCluster) -> None:
    out = run_json(cluster, "group", "offline", "Web")
    assert (out["owner"], out["state"]) == ("node1", "Offline")
    assert cluster.answer("Web") is None
    out = run_json(cluster, "group", "online", "Web")
    assert out["state"] == "Online" and cluster.answer("Web") == out["owner"]


def test_refused_request_says_why_and_exits_non_zero(cluster: LocalCluster) -> None:
    run_json(cluster, "node", "pause", "node3")
    wait_for(lambda: cluster.snapshot().node("node3").state.value == "Paused", timeout=10)
    error = run_json(cluster, "group", "move", "Web", "node3", code=1)["error"]
    assert error["type"] == "RejectedError" and "paused" in error["message"]
    run_json(cluster, "node", "resume", "node3")


def test_drain_moves_every_group_away_and_resume_takes_new_ones(cluster: LocalCluster) -> None:
    out = run_json(cluster, "node", "drain", "node1")
    assert out == {"node": "node1", "drained": True}
    assert cluster.owner("Web") == "node2" and cluster.answer("Web") == "node2"
    run_json(cluster, "node", "resume", "node1")
    wait_for(lambda: cluster.snapshot().node("node1").state.value == "Up", timeout=10)


def test_join_with_the_wrong_secret_is_refused_and_changes_nothing(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-cluster-secret-at-all\n")
    before = cluster.db.load_config()[0]
    result = run(cluster, "cluster", "join", "local", "--node", "node4", "--json", secret=wrong)
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["fields"][0]["field"] == "secret" and "wrong cluster secret" in error["message"]
    assert cluster.db.load_config()[0] == before


def test_join_with_the_secret_adds_the_node_with_the_next_id(cluster: LocalCluster) -> None:
    out = run_json(
        cluster, "cluster", "join", "local", "--node", "node4",
        "--interface", "heartbeat=127.0.1.4", "--interface", "client=127.0.2.4",
    )  # fmt: skip
    assert out == {"name": "node4", "id": 4, "description": ""}
    cfg = cluster.db.load_config()[0]
    assert cfg.interfaces["node4-heartbeat"].address == "127.0.1.4"
    # S9/S21: the new node's daemon starts; the others hear it and it can take a group.
    cluster.names.append("node4")
    cluster.start_node("node4")
    wait_for(lambda: cluster.snapshot().node("node4").state.value == "Up", timeout=20)
    out = run_json(cluster, "group", "move", "Web", "node4")
    assert (out["owner"], out["state"]) == ("node4", "Online")
    assert cluster.answer("Web") == "node4"


def test_status_shows_nodes_and_owners(cluster: LocalCluster) -> None:
    result = run(cluster, "status")
    assert result.exit_code == 0, result.output
    assert "node1" in result.output and "Web" in result.output and "Up" in result.output


def test_every_daemon_reports_its_software_and_the_db_wizard_uses_it(
    cluster: LocalCluster,
) -> None:
    """S40: each wolfpackd stores its inventory at start; the wizard checks every owner."""
    inventories = cluster.db.inventories()
    assert set(inventories) == {"node1", "node2", "node3"}
    assert all("15" in inv.postgresql_versions for inv in inventories.values())
    run_json(cluster, "network", "create", "public", "--subnet", "198.51.100.0/24")
    made = run_json(
        cluster, "db", "create", "SQL", "--ip", "198.51.100.30", "--disk", "/dev/wolfpack-none"
    )
    assert [r["name"] for r in made["resources"]] == ["sql-disk", "sql-ip", "sql-name", "sql"]
