"""``wolfpack db create`` (S40) against a real etcd: it builds the group in one transaction,
and a refusal (binaries missing on a node, a bad address) names the field, changes nothing."""

from __future__ import annotations

from wolfpack.model.inventory import Inventory
from wolfpack.store.keys import KeySpace
from wolfpack.store.repository import ClusterDB

from .conftest import Cli, fields


def report(cli: Cli, **versions: tuple[str, ...]) -> None:
    """Store inventories as the nodes' daemons would at start."""
    store = cli.store()
    try:
        db = ClusterDB(store, KeySpace(cli.prefix))
        for node, found in versions.items():
            db.write_inventory(Inventory(node, 1.0, found, {"nginx": "/usr/sbin/nginx"}))
    finally:
        store.close()


def test_db_create_builds_the_virtual_server_group(jean: Cli) -> None:
    report(jean, node1=("15",), node2=("15",), node3=("15",))
    made = jean.json(
        "db", "create", "Payroll", "--ip", "198.51.100.40", "--disk", "/dev/loop9",
        "--preferred-owners", "node3,node1",
    )  # fmt: skip
    assert made["group"]["preferred_owners"] == ["node3", "node1"]
    assert [r["name"] for r in made["resources"]] == [
        "payroll-disk", "payroll-ip", "payroll-name", "payroll",
    ]  # fmt: skip
    db = jean.json("resource", "show", "payroll")
    assert db["type"] == "PostgreSQL Server" and db["group"] == "Payroll"
    assert db["dependencies"] == [["payroll-disk"], ["payroll-ip"]]
    assert db["properties"]["data_directory"] == "/srv/payroll/data"
    name = jean.json("resource", "show", "payroll-name")
    assert name["properties"]["name"] == "payroll"
    assert (
        "created group HR: hr-disk"
        in jean.ok("db", "create", "HR", "--ip", "198.51.100.41", "--disk", "/dev/loop10").stdout
    )


def test_db_create_refuses_when_a_node_lacks_the_binaries_and_changes_nothing(jean: Cli) -> None:
    report(jean, node1=("15",), node2=())  # node2 has none, node3 never reported
    before = jean.export()
    error = jean.fails("db", "create", "Payroll", "--ip", "198.51.100.40", "--disk", "/dev/x")
    assert error["type"] == "ValidationError"
    assert fields(error) == ["nodes.node2", "nodes.node3"]
    assert "install them there" in error["fields"][0]["message"]
    error = jean.fails("db", "create", "Payroll", "--ip", "10.0.0.1", "--disk", "/dev/x")
    assert "ip" in fields(error)
    assert (
        jean.fails("db", "create", "SQL", "--ip", "198.51.100.40", "--disk", "/dev/x", code=1)[
            "type"
        ]
        == "AlreadyExistsError"
    )
    assert jean.export() == before
