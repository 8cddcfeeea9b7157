"""``wolfpack cluster`` and ``type``, endpoint resolution and the exit codes."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, fields


def test_create_show_and_set(cli: Cli) -> None:
    assert cli.json("cluster", "create", "jean", "--description", "demo")["name"] == "jean"
    shown = cli.json("cluster", "show")
    assert shown == {
        "name": "jean",
        "description": "demo",
        "utc_offset_minutes": 0,
        "enforced_anti_affinity": False,
        "group_wait_delay_s": 30,
    }
    changed = cli.json(
        "cluster", "set", "--utc-offset", "+02:00", "--enforced-anti-affinity", "--description", "x"
    )
    assert changed["utc_offset_minutes"] == 120
    assert changed["enforced_anti_affinity"] is True
    assert cli.json("cluster", "show")["description"] == "x"
    assert cli.json("cluster", "set", "--soft-anti-affinity")["enforced_anti_affinity"] is False
    human = cli.ok("cluster", "show").stdout
    assert "jean" in human and "utc_offset_minutes" in human and "120" in human


def test_create_twice_is_refused(cluster: Cli) -> None:
    error = cluster.fails("cluster", "create", "other", code=1)
    assert error["type"] == "AlreadyExistsError"
    assert "jean" in error["message"]
    assert cluster.json("cluster", "show")["name"] == "jean"


def test_bad_cluster_name_names_the_field_and_creates_nothing(cli: Cli) -> None:
    error = cli.fails("cluster", "create", "not a label")
    assert fields(error) == ["cluster.name"]
    missing = cli.fails("cluster", "show", code=1)
    assert "cluster create" in missing["message"]


def test_commands_on_an_empty_database_say_how_to_create_a_cluster(cli: Cli) -> None:
    result = cli.run("node", "list")
    assert result.exit_code == 1
    assert "wolfpack cluster create" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_database_exits_3_and_says_how_to_fix_it(cli: Cli) -> None:
    cli.endpoint = "https://127.0.0.1:9"  # discard port: nothing listens
    error = cli.fails("group", "list", code=3)
    assert error["type"] == "StoreUnavailable"
    assert "--endpoint" in error["message"] and "127.0.0.1:9" in error["message"]
    human = cli.run("status")
    assert human.exit_code == 3
    assert "WOLFPACK_ENDPOINT" in human.stderr
    assert "Traceback" not in human.output


def test_endpoint_option_beats_the_environment(cluster: Cli) -> None:
    good = cluster.endpoint
    result = cluster.run(
        "--endpoint",
        good,
        "cluster",
        "show",
        "--json",
        env={"WOLFPACK_ENDPOINT": "https://127.0.0.1:9"},
    )
    assert result.exit_code == 0, result.output
    assert '"jean"' in result.stdout


def test_endpoint_from_the_config_file(cluster: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"endpoint: {cluster.endpoint}\n")
    env = {"WOLFPACK_ENDPOINT": "", "WOLFPACK_CONFIG": str(config)}
    assert cluster.run("cluster", "show", env=env).exit_code == 0
    config.write_text("endpoint: https://127.0.0.1:9\n")
    assert cluster.run("cluster", "show", env=env).exit_code == 3


def test_prefixes_isolate_clusters(cluster: Cli) -> None:
    other = Cli(cluster.endpoint, cluster.etcd_env)
    assert other.fails("cluster", "show", code=1)["type"] == "NoClusterError"
    other.ok("cluster", "create", "second")
    assert cluster.json("cluster", "show")["name"] == "jean"


def test_types_list_and_show_with_their_schema(cluster: Cli) -> None:
    types = {t["name"]: t for t in cluster.json("type", "list")}
    assert {
        "IP Address",
        "Network Name",
        "Physical Disk",
        "Web Server",
        "PostgreSQL Server",
    } <= set(types)
    address = {p["name"]: p for p in types["IP Address"]["properties"]}
    assert address["address"]["kind"] == "ipv4" and address["address"]["required"] is True
    name = cluster.json("type", "show", "Network Name")
    assert name["required_dependencies"] == ["IP Address"]
    human = cluster.ok("type", "show", "Physical Disk").stdout
    assert "properties.mountpoint" in human and "required" in human
    assert cluster.fails("type", "show", "FTP Server", code=1)["type"] == "NotFoundError"


def test_usage_errors_are_json_with_json(cluster: Cli) -> None:
    error = cluster.fails("node", "create", "node1", "--id", "one")
    assert error["type"] == "UsageError"
    assert fields(error) == ["--id"]
