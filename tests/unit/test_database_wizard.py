"""The database wizard (S40) as a pure function: what it builds, and every refusal."""

from __future__ import annotations

import pytest

from wolfpack.errors import AlreadyExistsError, ValidationError
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig, Group, Network, Node, Resource
from wolfpack.model.inventory import Inventory
from wolfpack.model.validation import validate_config
from wolfpack.wizards.database import DatabaseSpec, database_group

PG = Inventory("x", 1.0, ("15",), {})


def cluster() -> ClusterConfig:
    return ClusterConfig(
        nodes={n: Node(n, i) for i, n in enumerate(("node1", "node2", "node3"), start=1)},
        networks={
            "public": Network("public", "198.51.100.0/24"),
            "private": Network("private", "203.0.113.0/24"),
        },
        groups={"Cluster Group": Group("Cluster Group")},
        resources={
            "cluster-ip": Resource(
                "cluster-ip",
                "IP Address",
                "Cluster Group",
                properties={"address": "198.51.100.10", "network": "public"},
            ),
            "cluster-name": Resource(
                "cluster-name",
                "Network Name",
                "Cluster Group",
                dependencies=(("cluster-ip",),),
                properties={"name": "jean", "server": "198.51.100.2", "key_file": "/k.key"},
            ),
        },
        types=builtin_types(),
    )


def everyone(*missing: str) -> dict[str, Inventory]:
    return {n: PG for n in ("node1", "node2", "node3") if n not in missing}


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_builds_ip_name_disk_and_database_with_their_dependencies() -> None:
    spec = DatabaseSpec("SQL", "198.51.100.30", "/dev/loop7", preferred_owners=("node1",))
    made = database_group(cluster(), everyone(), spec)
    res = {r.name: r for r in made.resources}
    assert list(res) == ["sql-disk", "sql-ip", "sql-name", "sql"]
    assert res["sql-ip"].properties == {"address": "198.51.100.30", "network": "public"}
    assert res["sql-disk"].properties == {"device": "/dev/loop7", "mountpoint": "/srv/sql"}
    # the new name goes to the cluster's DNS server with its key (same zone as the cluster's)
    assert res["sql-name"].properties == {
        "name": "sql",
        "server": "198.51.100.2",
        "key_file": "/k.key",
    }
    assert res["sql-name"].dependencies == (("sql-ip",),)
    assert res["sql"].dependencies == (("sql-disk",), ("sql-ip",))
    assert res["sql"].properties["data_directory"] == "/srv/sql/data"
    assert res["sql"].properties["listen_address"] == "198.51.100.30"
    assert res["sql"].properties["initialize"] is True
    assert made.group.preferred_owners == ("node1",)
    validate_config(made.config)  # the whole result is a valid configuration (or raises)


def test_options_override_the_defaults() -> None:
    spec = DatabaseSpec(
        "Payroll DB",
        "203.0.113.40",
        "/dev/loop8",
        network="private",
        mountpoint="/data/payroll",
        dns_name="payroll",
        port=5433,
        dns={"server": "203.0.113.2"},
    )
    made = database_group(cluster(), everyone(), spec)
    res = {r.name: r for r in made.resources}
    assert set(res) == {"payroll-db-disk", "payroll-db-ip", "payroll-db-name", "payroll-db"}
    assert res["payroll-db-ip"].properties["network"] == "private"
    assert res["payroll-db-name"].properties["server"] == "203.0.113.2"
    assert res["payroll-db"].properties["port"] == 5433
    assert res["payroll-db"].properties["data_directory"] == "/data/payroll/data"
    validate_config(made.config)


def test_a_node_without_the_binaries_is_named() -> None:
    inventories = {**everyone(), "node3": Inventory("node3", 1.0, (), {})}
    with pytest.raises(ValidationError) as exc:
        database_group(cluster(), inventories, DatabaseSpec("SQL", "198.51.100.30", "/dev/x"))
    found = messages(exc)
    assert list(found) == ["nodes.node3"]
    assert "no PostgreSQL binaries" in found["nodes.node3"]


def test_a_node_that_never_reported_is_named_unless_it_is_no_owner() -> None:
    spec = DatabaseSpec("SQL", "198.51.100.30", "/dev/x")
    with pytest.raises(ValidationError) as exc:
        database_group(cluster(), everyone("node2"), spec)
    assert "not reported" in messages(exc)["nodes.node2"]
    # only the preferred owners may own it: node2 does not matter then
    owners = DatabaseSpec("SQL", "198.51.100.30", "/dev/x", preferred_owners=("node1", "node3"))
    assert database_group(cluster(), everyone("node2"), owners).group.name == "SQL"


def test_bad_address_and_unknown_network_are_named_together() -> None:
    with pytest.raises(ValidationError) as exc:
        database_group(cluster(), everyone(), DatabaseSpec("SQL", "10.1.2.3", "/dev/x"))
    assert "on no cluster network" in messages(exc)["ip"]
    with pytest.raises(ValidationError) as exc:
        database_group(
            cluster(), everyone("node1"), DatabaseSpec("SQL", "300.1.1.1", "/dev/x", network="lan")
        )
    assert set(messages(exc)) == {"ip", "network", "nodes.node1"}


def test_existing_group_or_resource_names_are_refused() -> None:
    cfg = cluster()
    with pytest.raises(AlreadyExistsError):
        database_group(cfg, everyone(), DatabaseSpec("Cluster Group", "198.51.100.30", "/dev/x"))
    taken = DatabaseSpec("Cluster", "198.51.100.30", "/dev/x")  # prefix "cluster"
    with pytest.raises(ValidationError) as exc:
        database_group(cfg, everyone(), taken)
    assert set(messages(exc)) == {"resources.cluster-ip", "resources.cluster-name"}
