"""create / list / show / set / delete of every configuration noun, with --json."""

from __future__ import annotations

from .conftest import Cli, Writer


def names(items: list[dict[str, object]]) -> list[object]:
    return [i["name"] for i in items]


def test_node_crud(cluster: Cli) -> None:
    assert cluster.json("node", "create", "node1", "--id", "1") == {
        "name": "node1",
        "id": 1,
        "description": "",
    }
    cluster.ok("node", "create", "node2", "--id", "2", "--description", "rack 2")
    assert names(cluster.json("node", "list")) == ["node1", "node2"]
    shown = cluster.json("node", "show", "node2")
    assert shown["description"] == "rack 2" and shown["groups"] == []
    assert "status" not in shown  # never heard from
    assert (
        cluster.json("node", "set", "node2", "--description", "rack 3")["description"] == "rack 3"
    )
    assert "node1" in cluster.ok("node", "list").stdout
    assert cluster.json("node", "delete", "node1")["name"] == "node1"
    assert names(cluster.json("node", "list")) == ["node2"]
    assert cluster.fails("node", "show", "node1", code=1)["type"] == "NotFoundError"
    assert cluster.fails("node", "create", "node2", "--id", "5", code=1)["type"] == (
        "AlreadyExistsError"
    )


def test_node_list_shows_observed_state(jean: Cli) -> None:
    nodes = jean.json("node", "list")
    assert [n["status"]["state"] for n in nodes] == ["Up", "Up", "Up"]
    table = jean.ok("node", "list").stdout
    assert "node3" in table and "Up" in table


def test_network_crud_and_set_role(cluster: Cli) -> None:
    created = cluster.json(
        "network", "create", "public", "--subnet", "198.51.100.0/24", "--role", "public"
    )
    assert created["role"] == "public"
    cluster.ok("network", "create", "private", "--subnet", "203.0.113.0/24")
    assert cluster.json("network", "show", "private")["role"] == "mixed"  # the default (S15)
    assert cluster.json("network", "set-role", "private", "private")["role"] == "private"
    changed = cluster.json("network", "set", "public", "--role", "mixed", "--description", "lan")
    assert changed["role"] == "mixed" and changed["description"] == "lan"
    assert names(cluster.json("network", "list")) == ["private", "public"]
    cluster.ok("network", "delete", "public")
    assert names(cluster.json("network", "list")) == ["private"]


def test_interface_crud(cluster: Cli) -> None:
    cluster.ok("node", "create", "node1", "--id", "1")
    cluster.ok("network", "create", "public", "--subnet", "198.51.100.0/24")
    made = cluster.json(
        "interface", "create", "node1-public",
        "--node", "node1", "--network", "public", "--address", "198.51.100.11",
    )  # fmt: skip
    assert made == {
        "name": "node1-public",
        "node": "node1",
        "network": "public",
        "address": "198.51.100.11",
    }
    (listed,) = cluster.json("interface", "list")
    assert {k: listed[k] for k in made} == made and listed["state"] == "Unavailable"
    assert cluster.json("interface", "show", "node1-public")["address"] == "198.51.100.11"
    assert cluster.json("network", "list")[0]["name"] == "public"
    assert "node1-public" in cluster.ok("network", "list").stdout
    cluster.ok("interface", "delete", "node1-public")
    assert cluster.json("interface", "list") == []


def test_group_create_with_every_setting(jean: Cli) -> None:
    group = jean.json(
        "group", "create", "Files",
        "--preferred-owners", "node3,node1",
        "--failover-threshold", "5",
        "--failover-period", "1h",
        "--failback", "immediate",
        "--stability-delay", "2m",
        "--anti-affinity", "storage,front",
        "--description", "file shares",
    )  # fmt: skip
    assert group == {
        "name": "Files",
        "description": "file shares",
        "preferred_owners": ["node3", "node1"],
        "failover_threshold": 5,
        "failover_period_s": 3600,
        "failback": {
            "mode": "immediate",
            "window_start": None,
            "window_end": None,
            "stability_delay_s": 120,
        },
        "anti_affinity": ["storage", "front"],
    }
    defaults = jean.json("group", "create", "Empty")
    assert defaults["failover_threshold"] == 10 and defaults["failover_period_s"] == 6 * 3600
    assert defaults["failback"]["mode"] == "prevent"


def test_group_set_changes_every_setting(jean: Cli) -> None:
    web = jean.json(
        "group", "set", "Web",
        "--failback-window", "22-6",
        "--preferred-owners", "node3,node2",
        "--failover-threshold", "3",
        "--failover-period", "7200s",
        "--stability-delay", "30s",
        "--anti-affinity", "web",
        "--description", "changed",
    )  # fmt: skip
    assert web["failback"] == {
        "mode": "window",
        "window_start": 22,
        "window_end": 6,
        "stability_delay_s": 30,
    }
    assert web["preferred_owners"] == ["node3", "node2"]
    assert (web["failover_threshold"], web["failover_period_s"]) == (3, 7200)
    assert web["anti_affinity"] == ["web"] and web["description"] == "changed"
    cleared = jean.json("group", "set", "Web", "--preferred-owners", "", "--failback", "prevent")
    assert cleared["preferred_owners"] == [] and cleared["failback"]["mode"] == "prevent"
    assert jean.json("group", "show", "Web")["preferred_owners"] == []


def test_group_list_and_show_derive_state_from_resources(jean: Cli, write: Writer) -> None:
    groups = {g["name"]: g for g in jean.json("group", "list")}
    assert set(groups) == {"Cluster Group", "SQL", "Web"}
    assert groups["Web"]["state"] == "Offline" and groups["Web"]["owner"] is None
    assert groups["Web"]["resources"] == ["web", "web-disk", "web-ip", "www"]
    state = """
state:
  groups:
    Web: {owner: node2}
  resources:
    web-ip: {state: Online, node: node2}
    web-disk: {state: Online, node: node2}
"""
    jean.ok("config", "import", write(state))
    shown = jean.json("group", "show", "Web")
    assert shown["owner"] == "node2"
    assert shown["state"] == "PartialOnline"  # two of four resources online
    human = jean.ok("group", "list").stdout
    assert "PartialOnline" in human and "node2" in human


def test_group_delete(jean: Cli) -> None:
    jean.ok("group", "create", "Empty")
    assert jean.json("group", "delete", "Empty")["name"] == "Empty"
    assert "Empty" not in names(jean.json("group", "list"))


def test_resource_create_converts_properties_by_type(jean: Cli) -> None:
    ip = jean.json(
        "resource", "create", "web-ip2", "--type", "IP Address", "--group", "Web",
        "--prop", "address=198.51.100.21", "--prop", "network=public", "--prop", "prefix_length=25",
        "--possible-owners", "node2,node3",
        "--restart-action", "restart",
        "--restart-threshold", "5",
        "--restart-period", "10m",
        "--pending-timeout", "90s",
        "--looks-alive", "2s",
        "--is-alive", "30000",
    )  # fmt: skip
    assert ip["properties"] == {
        "address": "198.51.100.21",
        "network": "public",
        "prefix_length": 25,
    }
    assert ip["possible_owners"] == ["node2", "node3"]
    assert ip["restart_action"] == "restart"
    assert (ip["restart_threshold"], ip["restart_period_s"], ip["pending_timeout_s"]) == (
        5,
        600,
        90,
    )
    assert (ip["looks_alive_ms"], ip["is_alive_ms"]) == (2000, 30000)
    app = jean.json(
        "resource", "create", "app", "--type", "Generic Application", "--group", "Web",
        "--prop", "command=/usr/bin/app --serve", "--prop", "environment=A=1,B=2",
        "--depends", "[web-disk] and ([web-ip] or [web-ip2])",
    )  # fmt: skip
    assert app["properties"]["environment"] == ["A=1", "B=2"]
    assert app["dependencies"] == [["web-disk"], ["web-ip", "web-ip2"]]
    shown = jean.ok("resource", "show", "app").stdout
    assert "[web-disk] and ([web-ip] or [web-ip2])" in shown  # not eaten as markup


def test_resource_list_show_set_depend_delete(jean: Cli) -> None:
    listed = {r["name"]: r for r in jean.json("resource", "list")}
    assert len(listed) == 10 and listed["web"]["state"] == "Offline"
    web = jean.json("resource", "set", "web", "--prop", "port=8080", "--description", "nginx")
    assert web["properties"]["port"] == 8080 and web["description"] == "nginx"
    removed = jean.json("resource", "set", "web", "--prop", "port=")
    assert "port" not in removed["properties"]
    cleared = jean.json("resource", "set", "web", "--looks-alive", "3s")
    assert cleared["looks_alive_ms"] == 3000
    assert jean.json("resource", "set", "web", "--looks-alive", "")["looks_alive_ms"] is None
    depended = jean.json("resource", "depend", "web", "[web-disk]")
    assert depended["dependencies"] == [["web-disk"]]
    assert jean.json("resource", "show", "web")["dependencies"] == [["web-disk"]]
    jean.ok("resource", "depend", "www", "[web-ip]")
    assert jean.json("resource", "delete", "web")["name"] == "web"
    assert "web" not in names(jean.json("resource", "list"))
    assert jean.json("group", "show", "Web")["resources"] == ["web-disk", "web-ip", "www"]


def test_resource_delete_refuses_an_online_resource(jean: Cli, write: Writer) -> None:
    state = "state:\n  resources:\n    web: {state: Online, node: node2}\n"
    jean.ok("config", "import", write(state))
    error = jean.fails("resource", "delete", "web", code=1)
    assert error["type"] == "RejectedError" and "offline" in error["message"]
    assert "web" in names(jean.json("resource", "list"))


def test_node_delete_refuses_a_node_that_owns_groups(jean: Cli, write: Writer) -> None:
    jean.ok("config", "import", write("state:\n  groups:\n    SQL: {owner: node1}\n"))
    error = jean.fails("node", "delete", "node1", code=1)
    assert "SQL" in error["message"]
