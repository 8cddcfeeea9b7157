"""Whole-configuration validation (DESIGN §5: "every bad input gets a clear message naming
the field, and changes nothing").

Each rule gets a bad configuration that must be refused with an error naming the exact field
path and saying what is wrong, next to a good configuration that passes. The base
configuration is the seed's cluster ``jean`` (S4, S5, S6): three nodes, a public and a
private network, and Web and SQL virtual servers each with disk, IP, name and service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from wolfpack.errors import DependencyCycleError, FieldError, ValidationError
from wolfpack.model.builtin_types import (
    IP_ADDRESS,
    NETWORK_NAME,
    PHYSICAL_DISK,
    POSTGRESQL,
    WEB_SERVER,
    builtin_types,
)
from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
    Failback,
    Group,
    Interface,
    Network,
    Node,
    PropertyKind,
    PropertySpec,
    Resource,
    ResourceType,
)
from wolfpack.model.states import FailbackMode, NetworkRole
from wolfpack.model.validation import (
    is_dns_label,
    is_hostname,
    property_problem,
    validate_config,
)


def jean() -> ClusterConfig:
    nodes = {f"node{i}": Node(f"node{i}", i) for i in (1, 2, 3)}
    networks = {
        "public": Network("public", "198.51.100.0/24"),
        "private": Network("private", "203.0.113.0/24", NetworkRole.PRIVATE),
    }
    interfaces = {
        f"node{i}-{net}": Interface(f"node{i}-{net}", f"node{i}", net, f"{prefix}.1{i}")
        for i in (1, 2, 3)
        for net, prefix in (("public", "198.51.100"), ("private", "203.0.113"))
    }
    groups = {
        "Cluster Group": Group("Cluster Group"),
        "Web": Group("Web", preferred_owners=("node2", "node1")),
        "SQL": Group("SQL", preferred_owners=("node1",)),
    }
    res = [
        Resource(
            "cluster-ip",
            IP_ADDRESS,
            "Cluster Group",
            properties={"address": "198.51.100.10", "network": "public"},
        ),
        Resource(
            "cluster-name",
            NETWORK_NAME,
            "Cluster Group",
            dependencies=(("cluster-ip",),),
            properties={"name": "jean"},
        ),
        Resource(
            "web-disk",
            PHYSICAL_DISK,
            "Web",
            properties={"device": "/dev/loop7", "mountpoint": "/srv/web"},
        ),
        Resource(
            "web-ip",
            IP_ADDRESS,
            "Web",
            possible_owners=("node1", "node2"),
            properties={"address": "198.51.100.20", "network": "public", "prefix_length": 24},
        ),
        Resource(
            "www",
            NETWORK_NAME,
            "Web",
            dependencies=(("web-ip",),),
            properties={"name": "www.cluster.test", "ttl": 30},
        ),
        Resource(
            "web",
            WEB_SERVER,
            "Web",
            dependencies=(("web-disk",), ("web-ip",)),
            properties={"docroot": "/srv/web/htdocs", "listen_address": "198.51.100.20"},
        ),
        Resource(
            "sql-disk",
            PHYSICAL_DISK,
            "SQL",
            properties={"device": "/dev/loop8", "mountpoint": "/srv/sql", "fstype": "xfs"},
        ),
        Resource(
            "sql-ip",
            IP_ADDRESS,
            "SQL",
            properties={"address": "198.51.100.30", "network": "public"},
        ),
        Resource(
            "sql",
            POSTGRESQL,
            "SQL",
            dependencies=(("sql-disk",), ("sql-ip",)),
            properties={
                "data_directory": "/srv/sql/data",
                "listen_address": "198.51.100.30",
                "port": 5432,
            },
        ),
    ]
    types = {**builtin_types(), "Flagged": FLAGGED}
    return ClusterConfig(
        ClusterSettings("jean"),
        nodes,
        networks,
        interfaces,
        groups,
        {r.name: r for r in res},
        types,
    )


#: A type with one property of every kind, to test each kind's check.
FLAGGED = ResourceType(
    "Flagged",
    agent="ocf",
    properties=(
        PropertySpec("enabled", PropertyKind.BOOL),
        PropertySpec("count", PropertyKind.INT, minimum=1, maximum=10),
        PropertySpec("address", PropertyKind.IPV4),
        PropertySpec("host", PropertyKind.HOSTNAME),
        PropertySpec("path", PropertyKind.PATH),
        PropertySpec("mode", PropertyKind.STRING, choices=("fast", "safe")),
        PropertySpec("label", PropertyKind.STRING),
        PropertySpec("tags", PropertyKind.LIST),
    ),
)


def errors_of(cfg: ClusterConfig) -> list[FieldError]:
    with pytest.raises(ValidationError) as info:
        validate_config(cfg)
    return list(info.value.errors)


def only_error(cfg: ClusterConfig) -> FieldError:
    errors = errors_of(cfg)
    assert len(errors) == 1, errors
    return errors[0]


def assert_error(cfg: ClusterConfig, field: str, *words: str) -> None:
    """``cfg`` is refused with exactly one error, on ``field``, mentioning each word."""
    error = only_error(cfg)
    assert error.field == field, error
    for word in words:
        assert word in error.message, error


def with_node(cfg: ClusterConfig, node: Node, key: str | None = None) -> ClusterConfig:
    return dataclasses.replace(cfg, nodes={**cfg.nodes, key or node.name: node})


def with_group(cfg: ClusterConfig, group: Group) -> ClusterConfig:
    return dataclasses.replace(cfg, groups={**cfg.groups, group.name: group})


def with_resource(cfg: ClusterConfig, res: Resource) -> ClusterConfig:
    return dataclasses.replace(cfg, resources={**cfg.resources, res.name: res})


def change_resource(cfg: ClusterConfig, name: str, **changes: Any) -> ClusterConfig:
    return with_resource(cfg, dataclasses.replace(cfg.resources[name], **changes))


def change_group(cfg: ClusterConfig, name: str, **changes: Any) -> ClusterConfig:
    return with_group(cfg, dataclasses.replace(cfg.groups[name], **changes))


def flagged(**properties: Any) -> ClusterConfig:
    return with_resource(jean(), Resource("f", "Flagged", "Web", properties=properties))


# -- the good configuration ------------------------------------------------------------------


def test_the_seed_cluster_is_valid() -> None:
    validate_config(jean())


def test_an_empty_cluster_is_valid() -> None:
    validate_config(ClusterConfig())


# -- cluster ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jean", "cluster-1", "J3", "a" * 63])
def test_cluster_name_dns_label_ok(name: str) -> None:
    """S10: the cluster name is a virtual computer name: one DNS label."""
    validate_config(dataclasses.replace(jean(), cluster=ClusterSettings(name)))


@pytest.mark.parametrize("name", ["", "-jean", "jean-", "je_an", "jean.test", "a" * 64, "jé"])
def test_cluster_name_must_be_a_dns_label(name: str) -> None:
    cfg = dataclasses.replace(jean(), cluster=ClusterSettings(name))
    assert_error(cfg, "cluster.name", "not a valid cluster name", "host name")


@pytest.mark.parametrize("minutes", [-841, 841])
def test_utc_offset_range(minutes: int) -> None:
    cfg = dataclasses.replace(jean(), cluster=ClusterSettings("jean", utc_offset_minutes=minutes))
    assert_error(cfg, "cluster.utc_offset_minutes", "-840", "840")


@pytest.mark.parametrize("delay", [-1, 3601])
def test_group_wait_delay_range(delay: int) -> None:
    """reference/wsfc.md §2.4 ClusterGroupWaitDelay: 0-3600 s."""
    cfg = dataclasses.replace(jean(), cluster=ClusterSettings("jean", group_wait_delay_s=delay))
    assert_error(cfg, "cluster.group_wait_delay_s", "0-3600")


@pytest.mark.parametrize("delay", [0, 3600])
def test_group_wait_delay_bounds_ok(delay: int) -> None:
    validate_config(
        dataclasses.replace(jean(), cluster=ClusterSettings("jean", group_wait_delay_s=delay))
    )


# -- nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("node_id", [1, 64])
def test_node_id_bounds_ok(node_id: int) -> None:
    validate_config(ClusterConfig(nodes={"n": Node("n", node_id)}))


@pytest.mark.parametrize("node_id", [0, -1, 65, 1000])
def test_node_id_must_be_1_to_64(node_id: int) -> None:
    """reference/wsfc.md §1: node ids 1...64 (DESIGN §1)."""
    assert_error(with_node(jean(), Node("node4", node_id)), "nodes.node4.id", "1-64", str(node_id))


def test_node_ids_are_unique() -> None:
    cfg = with_node(jean(), Node("node4", 2))
    assert_error(cfg, "nodes.node4.id", "id 2", "node2")


@pytest.mark.parametrize("name", ["node_4", "-node4", "node4-", "node.4", "", "n" * 64, "node 4"])
def test_node_name_must_be_a_dns_label(name: str) -> None:
    cfg = with_node(jean(), Node(name, 4))
    assert_error(cfg, f"nodes.{name}.name", "not a valid node name")


def test_at_most_64_nodes() -> None:
    nodes = {f"n{i}": Node(f"n{i}", i) for i in range(1, 66)}
    errors = errors_of(ClusterConfig(nodes=nodes))
    assert ("nodes", "a cluster has at most 64 nodes") in [(e.field, e.message) for e in errors]
    validate_config(ClusterConfig(nodes={k: v for k, v in nodes.items() if v.id <= 64}))


def test_object_name_must_equal_its_key() -> None:
    cfg = with_node(jean(), Node("node4", 4), key="node5")
    assert_error(cfg, "nodes.node5.name", "must equal its key 'node5'")


# -- groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Cluster Group", "SQL Server (MSSQLSERVER)", "Web", "웹 그룹"])
def test_group_names_are_free_text(name: str) -> None:
    """S19: groups can be renamed freely, e.g. "Cluster Group", "Disk Group 1"."""
    validate_config(with_group(jean(), Group(name)))


@pytest.mark.parametrize(
    "name", ["Web/SQL", "", " Web", "Web ", "tab\there", "x" * 65, "nul\x00", "del\x7f"]
)
def test_group_name_refused(name: str) -> None:
    cfg = with_group(jean(), Group(name))
    assert_error(cfg, f"groups.{name}.name", "not a valid name", "'/'")


def test_preferred_owners_must_be_known_nodes() -> None:
    """S25/S37: preferred owners are chosen from the cluster's nodes."""
    cfg = change_group(jean(), "Web", preferred_owners=("node2", "node9"))
    assert_error(cfg, "groups.Web.preferred_owners[1]", "unknown node 'node9'", "node1, node2")


def test_preferred_owners_without_duplicates() -> None:
    cfg = change_group(jean(), "Web", preferred_owners=("node2", "node1", "node2"))
    assert_error(cfg, "groups.Web.preferred_owners[2]", "'node2' is listed twice")


@pytest.mark.parametrize(("field", "value"), [("failover_threshold", 0), ("failover_period_s", 0)])
def test_failover_threshold_and_period_positive(field: str, value: int) -> None:
    assert_error(change_group(jean(), "Web", **{field: value}), f"groups.Web.{field}", "positive")
    validate_config(change_group(jean(), "Web", **{field: 1}))


@pytest.mark.parametrize(("start", "end"), [(0, 23), (22, 6), (23, 0), (9, 17)])
def test_failback_window_ok(start: int, end: int) -> None:
    """S38: failback only between two hours; the window may wrap midnight."""
    fb = Failback(FailbackMode.WINDOW, start, end)
    validate_config(change_group(jean(), "Web", failback=fb))


@pytest.mark.parametrize(
    ("start", "end", "field", "bad"),
    [(24, 6, "window_start", 24), (-1, 6, "window_start", -1), (22, 24, "window_end", 24)],
)
def test_failback_window_hours_0_to_23(start: int, end: int, field: str, bad: int) -> None:
    fb = Failback(FailbackMode.WINDOW, start, end)
    cfg = change_group(jean(), "Web", failback=fb)
    assert_error(cfg, f"groups.Web.failback.{field}", "hour 0-23", str(bad))


@pytest.mark.parametrize(("start", "end"), [(None, 6), (22, None), (None, None)])
def test_window_mode_needs_both_hours(start: int | None, end: int | None) -> None:
    """SDK:groups-failbackwindowstart: both Start and End must be set for a window."""
    cfg = change_group(jean(), "Web", failback=Failback(FailbackMode.WINDOW, start, end))
    assert_error(cfg, "groups.Web.failback", "window_start and window_end")


def test_empty_window_refused() -> None:
    cfg = change_group(jean(), "Web", failback=Failback(FailbackMode.WINDOW, 5, 5))
    assert_error(cfg, "groups.Web.failback.window_end", "empty window", "immediate")


def test_negative_stability_delay_refused() -> None:
    fb = Failback(FailbackMode.IMMEDIATE, stability_delay_s=-1)
    assert_error(change_group(jean(), "Web", failback=fb), "groups.Web.failback.stability_delay_s")


def test_empty_anti_affinity_class_refused() -> None:
    cfg = change_group(jean(), "Web", anti_affinity=("web", " "))
    assert_error(cfg, "groups.Web.anti_affinity[1]", "empty")


# -- resources: group, type, owners, numbers -------------------------------------------------


def test_resource_name_refused() -> None:
    cfg = with_resource(jean(), Resource("a/b", PHYSICAL_DISK, "Web", properties=DISK))
    assert_error(cfg, "resources.a/b.name", "not a valid name")


DISK = {"device": "/dev/loop9", "mountpoint": "/mnt/x"}


@pytest.mark.parametrize("name", ["disk[1]", "a]b", "[x"])
def test_resource_name_without_brackets(name: str) -> None:
    """Brackets enclose names in WSFC dependency expressions (reference/wsfc.md §3.2), so a
    name with one could never be depended upon."""
    cfg = with_resource(jean(), Resource(name, PHYSICAL_DISK, "Web", properties=DISK))
    assert_error(cfg, f"resources.{name}.name", "bracket")


def test_group_name_may_contain_brackets() -> None:
    """Group names are not written in expressions."""
    validate_config(with_group(jean(), Group("Web [old]")))


def test_resource_group_must_exist() -> None:
    cfg = with_resource(jean(), Resource("x", PHYSICAL_DISK, "Mail", properties=DISK))
    assert_error(cfg, "resources.x.group", "unknown group 'Mail'")


def test_resource_type_must_exist_and_lists_the_known_ones() -> None:
    """S26/S31: the types are those the cluster knows; FTP is not among them."""
    cfg = with_resource(jean(), Resource("ftp", "FTP Server", "Web"))
    assert_error(cfg, "resources.ftp.type", "unknown resource type 'FTP Server'", IP_ADDRESS)


def test_possible_owners_must_be_known_nodes() -> None:
    """S28: possible owners are nodes of the cluster."""
    cfg = change_resource(jean(), "web-ip", possible_owners=("node1", "node7"))
    assert_error(cfg, "resources.web-ip.possible_owners[1]", "unknown node 'node7'")


def test_possible_owners_without_duplicates() -> None:
    cfg = change_resource(jean(), "web-ip", possible_owners=("node1", "node1"))
    assert_error(cfg, "resources.web-ip.possible_owners[1]", "listed twice")


def test_possible_owners_not_empty() -> None:
    cfg = change_resource(jean(), "web-ip", possible_owners=())
    assert_error(cfg, "resources.web-ip.possible_owners", "at least one node")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("restart_threshold", 0, ["positive"]),
        ("restart_period_s", 0, ["positive"]),
        ("pending_timeout_s", 0, ["positive"]),
        ("pending_timeout_s", -5, ["positive", "-5"]),
        ("restart_delay_ms", -1, ["negative"]),
        ("looks_alive_ms", 9, ["at least 10 ms"]),  # SDK: LooksAlivePollInterval >= 10
        ("is_alive_ms", 0, ["at least 10 ms"]),
    ],
)
def test_resource_numbers(field: str, value: int, words: list[str]) -> None:
    assert_error(change_resource(jean(), "web", **{field: value}), f"resources.web.{field}", *words)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("restart_threshold", 1),
        ("restart_delay_ms", 0),
        ("looks_alive_ms", 10),
        ("is_alive_ms", 10),
    ],
)
def test_resource_numbers_at_their_bounds_ok(field: str, value: int) -> None:
    validate_config(change_resource(jean(), "web", **{field: value}))


# -- resources: dependencies ----------------------------------------------------------------


def test_dependency_on_unknown_resource() -> None:
    cfg = change_resource(jean(), "web", dependencies=(("web-disk",), ("web-ip", "web-ip2")))
    assert_error(cfg, "resources.web.dependencies[1]", "unknown resource 'web-ip2'")


def test_dependencies_stay_within_one_group() -> None:
    """reference/wsfc.md §1.1: a group is the dependency boundary."""
    cfg = change_resource(jean(), "web", dependencies=(("web-disk",), ("sql-ip",)))
    assert_error(cfg, "resources.web.dependencies[1]", "'sql-ip' is in group 'SQL'", "one group")


def test_self_dependency() -> None:
    """Reported once, plainly, not also as a one-resource cycle."""
    cfg = change_resource(jean(), "web", dependencies=(("web-disk",), ("web",)))
    with pytest.raises(ValidationError) as info:
        validate_config(cfg)
    assert not isinstance(info.value, DependencyCycleError)
    assert info.value.errors == (
        FieldError("resources.web.dependencies[1]", "'web' cannot depend on itself"),
    )


def test_empty_alternative_list() -> None:
    cfg = change_resource(jean(), "web", dependencies=(("web-disk",), ()))
    assert_error(cfg, "resources.web.dependencies[1]", "empty")


def _chain(cfg: ClusterConfig, deps: dict[str, str]) -> ClusterConfig:
    for name in deps:
        cfg = with_resource(cfg, Resource(name, "Flagged", "Web"))
    for name, dep in deps.items():
        cfg = change_resource(cfg, name, dependencies=((dep,),))
    return cfg


def test_cycle_is_named() -> None:
    cfg = _chain(jean(), {"a": "b", "b": "c", "c": "a"})
    with pytest.raises(DependencyCycleError) as info:
        validate_config(cfg)
    assert info.value.cycle == ("a", "b", "c", "a")
    (error,) = info.value.errors
    assert error.field == "resources.a.dependencies"
    assert error.message == "dependency cycle: a -> b -> c -> a"


def test_cycle_with_other_errors_reports_all() -> None:
    cfg = _chain(jean(), {"a": "b", "b": "a"})
    cfg = change_group(cfg, "Web", failover_threshold=0)
    with pytest.raises(DependencyCycleError) as info:
        validate_config(cfg)
    assert info.value.cycle == ("a", "b", "a")
    fields = [e.field for e in info.value.errors]
    assert fields == ["resources.a.dependencies", "groups.Web.failover_threshold"]


def test_two_cycle_through_or_alternative() -> None:
    """An OR alternative is a dependency too: ``a`` needs ``[b] or [c]``, ``b`` needs ``a``."""
    cfg = _chain(jean(), {"a": "c", "b": "a", "c": "web-disk"})
    cfg = change_resource(cfg, "a", dependencies=(("b", "c"),))
    with pytest.raises(DependencyCycleError) as info:
        validate_config(cfg)
    assert info.value.cycle == ("a", "b", "a")


def test_deep_but_acyclic_tree_ok() -> None:
    names = [f"d{i:03d}" for i in range(100)]
    cfg = _chain(jean(), dict(zip(names[1:], names[:-1], strict=True)))
    cfg = with_resource(cfg, Resource(names[0], "Flagged", "Web"))
    validate_config(cfg)  # exactly 100 levels


def test_dependency_tree_deeper_than_100_refused() -> None:
    """MS-CMRP: the dependency tree is at most 100 deep."""
    names = [f"d{i:03d}" for i in range(101)]
    cfg = _chain(jean(), dict(zip(names[1:], names[:-1], strict=True)))
    cfg = with_resource(cfg, Resource(names[0], "Flagged", "Web"))
    assert_error(cfg, "groups.Web", "deeper than 100")


def test_network_name_must_depend_on_an_ip_address() -> None:
    """reference/wsfc.md §3.2: required dependencies of built-in types: Network Name -> IP
    Address (S10, S16)."""
    cfg = change_resource(jean(), "www", dependencies=())
    assert_error(cfg, "resources.www.dependencies", "Network Name", "IP Address")
    cfg = change_resource(jean(), "www", dependencies=(("web-disk",),))
    assert_error(cfg, "resources.www.dependencies", "must depend on an IP Address")


def test_network_name_may_depend_on_either_of_two_ip_addresses() -> None:
    """The multi-site case: ``[IP subnet1] or [IP subnet2]``."""
    ip2 = dataclasses.replace(
        jean().resources["web-ip"],
        name="web-ip2",
        properties={"address": "203.0.113.20", "network": "private"},
    )
    cfg = change_resource(with_resource(jean(), ip2), "www", dependencies=(("web-ip", "web-ip2"),))
    validate_config(cfg)


def test_required_dependency_not_met_by_an_or_with_another_type() -> None:
    """``[web-ip] or [web-disk]`` lets the name come online with the disk alone, without any
    IP address: that does not meet the requirement."""
    cfg = change_resource(jean(), "www", dependencies=(("web-ip", "web-disk"),))
    assert_error(cfg, "resources.www.dependencies", "must depend on an IP Address")


# -- resources: property values against the type's schema ----------------------------------


def test_unknown_property_lists_the_allowed_ones() -> None:
    cfg = change_resource(
        jean(), "web-ip", properties={**jean().resources["web-ip"].properties, "mask": "x"}
    )
    assert_error(
        cfg,
        "resources.web-ip.properties.mask",
        "not a property of type 'IP Address'",
        "allowed: address, network, prefix_length",
    )


def test_required_property_missing() -> None:
    cfg = change_resource(jean(), "web-ip", properties={"network": "public"})
    assert_error(cfg, "resources.web-ip.properties.address", "required by type 'IP Address'")


@pytest.mark.parametrize(
    ("properties", "field", "words"),
    [
        ({"count": 0}, "count", ["at least 1", "0"]),
        ({"count": 11}, "count", ["at most 10", "11"]),
        ({"count": "5"}, "count", ["whole number"]),
        ({"count": True}, "count", ["whole number"]),  # a bool is not a number here
        ({"enabled": "yes"}, "enabled", ["true or false"]),
        ({"enabled": 1}, "enabled", ["true or false"]),
        ({"address": "198.51.100.256"}, "address", ["not an IPv4 address"]),
        ({"address": "2001:db8::1"}, "address", ["not an IPv4 address"]),
        ({"address": 5}, "address", ["must be a string"]),
        ({"host": "bad_name"}, "host", ["not a valid DNS host name"]),
        ({"host": "www..test"}, "host", ["not a valid DNS host name"]),
        ({"path": "srv/web"}, "path", ["not an absolute path"]),
        ({"mode": "slow"}, "mode", ["must be one of fast, safe", "'slow'"]),
        ({"label": "  "}, "label", ["must not be empty"]),
        ({"tags": "a,b"}, "tags", ["list of strings"]),
        ({"tags": ["a", 1]}, "tags", ["list of strings"]),
    ],
)
def test_property_kinds(properties: dict[str, Any], field: str, words: list[str]) -> None:
    assert_error(flagged(**properties), f"resources.f.properties.{field}", *words)


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"count": 1},
        {"count": 10},
        {"enabled": False},
        {"address": "203.0.113.5"},
        {"host": "www"},
        {"host": "sql.cluster.test."},
        {"path": "/"},
        {"mode": "safe"},
        {"label": "x"},
        {"tags": []},
        {"tags": ["a", "b"]},
    ],
)
def test_property_kinds_ok(properties: dict[str, Any]) -> None:
    validate_config(flagged(**properties))


def test_builtin_choices_and_ranges() -> None:
    """Physical Disk fstype is ext4 or xfs; an IP prefix is 1-32; a port 1-65535."""
    bad_fs = change_resource(jean(), "web-disk", properties={**DISK, "fstype": "ntfs"})
    assert_error(bad_fs, "resources.web-disk.properties.fstype", "ext4, xfs")
    props = dict(jean().resources["web-ip"].properties)
    bad_prefix = change_resource(jean(), "web-ip", properties={**props, "prefix_length": 33})
    assert_error(bad_prefix, "resources.web-ip.properties.prefix_length", "at most 32")
    sql = dict(jean().resources["sql"].properties)
    bad_port = change_resource(jean(), "sql", properties={**sql, "port": 0})
    assert_error(bad_port, "resources.sql.properties.port", "at least 1")


def test_network_name_property_is_a_host_name() -> None:
    cfg = change_resource(jean(), "www", properties={"name": "www_1"})
    assert_error(cfg, "resources.www.properties.name", "not a valid DNS host name")


@pytest.mark.parametrize(
    ("name", "label", "host"),
    [
        ("www", True, True),
        ("a-b", True, True),
        ("a.b", False, True),
        ("a.b.", False, True),
        ("-ab", False, False),
        ("ab-", False, False),
        ("a_b", False, False),
        ("", False, False),
        ("a" * 63, True, True),
        ("a" * 64, False, False),
        (".".join(["a" * 63] * 4), False, False),  # 255 characters
    ],
)
def test_dns_name_checks(name: str, label: bool, host: bool) -> None:
    """RFC 1123: labels of letters, digits and hyphens, 1-63 long; names up to 253."""
    assert (is_dns_label(name), is_hostname(name)) == (label, host)


def test_property_problem_without_bounds() -> None:
    assert property_problem(PropertyKind.INT, -5) is None
    assert property_problem(PropertyKind.STRING, "x") is None


# -- networks and interfaces -----------------------------------------------------------------


def with_interface(cfg: ClusterConfig, itf: Interface) -> ClusterConfig:
    return dataclasses.replace(cfg, interfaces={**cfg.interfaces, itf.name: itf})


@pytest.mark.parametrize(
    "subnet", ["198.51.100.1/24", "198.51.100.0/33", "storage", "2001:db8::/64"]
)
def test_network_subnet_must_be_an_ipv4_subnet(subnet: str) -> None:
    cfg = dataclasses.replace(
        jean(), networks={**jean().networks, "storage": Network("storage", subnet)}
    )
    assert_error(cfg, "networks.storage.subnet", "not an IPv4 subnet")


def test_interface_address_in_its_subnet() -> None:
    """S21: networks are formed from interfaces on the same subnet."""
    cfg = with_interface(jean(), Interface("node1-public", "node1", "public", "203.0.113.99"))
    assert_error(cfg, "interfaces.node1-public.address", "not in public", "198.51.100.0/24")


def test_interface_address_is_ipv4() -> None:
    cfg = with_interface(jean(), Interface("node1-public", "node1", "public", "node1"))
    assert_error(cfg, "interfaces.node1-public.address", "not an IPv4 address")


def test_interface_known_node_and_network() -> None:
    cfg = with_interface(jean(), Interface("node9-public", "node9", "public", "198.51.100.19"))
    assert_error(cfg, "interfaces.node9-public.node", "unknown node 'node9'")
    cfg = with_interface(jean(), Interface("node1-backup", "node1", "backup", "192.168.0.1"))
    assert_error(cfg, "interfaces.node1-backup.network", "unknown network 'backup'")


def test_one_interface_per_node_per_network() -> None:
    """reference/wsfc.md §2.6: only one NIC per node per subnet is used."""
    cfg = with_interface(jean(), Interface("node1-public2", "node1", "public", "198.51.100.99"))
    assert_error(
        cfg, "interfaces.node1-public2", "node 'node1' already has an interface on 'public'"
    )


def test_interface_addresses_unique() -> None:
    cfg = dataclasses.replace(
        jean(),
        nodes={**jean().nodes, "node4": Node("node4", 4)},
    )
    cfg = with_interface(cfg, Interface("node4-public", "node4", "public", "198.51.100.11"))
    assert_error(cfg, "interfaces.node4-public.address", "already used by node1-public")


# -- several errors at once ------------------------------------------------------------------


def test_every_error_is_reported_at_once() -> None:
    """DESIGN §5: the administrator sees every problem in one answer."""
    cfg = jean()
    cfg = with_node(cfg, Node("node_4", 99))
    cfg = change_group(cfg, "Web", preferred_owners=("node8",), failover_threshold=0)
    cfg = change_resource(cfg, "www", dependencies=(("sql-ip",),), properties={"name": "-x"})
    cfg = with_interface(cfg, Interface("node1-public", "node1", "public", "10.0.0.1"))
    errors = errors_of(cfg)
    fields = {e.field for e in errors}
    assert {
        "nodes.node_4.name",
        "nodes.node_4.id",
        "groups.Web.preferred_owners[0]",
        "groups.Web.failover_threshold",
        "resources.www.dependencies[0]",
        "resources.www.properties.name",
        "interfaces.node1-public.address",
    } <= fields
    message = str(ValidationError(errors))
    assert "groups.Web.failover_threshold: must be a positive number" in message


def test_validation_does_not_change_the_config() -> None:
    cfg = jean()
    before = dataclasses.replace(cfg)
    bad = change_group(cfg, "Web", failover_threshold=0)
    with pytest.raises(ValidationError):
        validate_config(bad)
    validate_config(cfg)
    assert cfg == before


CASES: list[Callable[[ClusterConfig], ClusterConfig]] = [
    lambda c: with_node(c, Node("node4", 0)),
    lambda c: change_group(c, "Web", failover_period_s=0),
    lambda c: change_resource(c, "web", group="Nope"),
]


@pytest.mark.parametrize("case", CASES)
def test_validation_error_is_a_422(case: Callable[[ClusterConfig], ClusterConfig]) -> None:
    with pytest.raises(ValidationError) as info:
        validate_config(case(jean()))
    assert info.value.http_status == 422


@pytest.mark.parametrize(
    ("address", "what"), [("198.51.100.0", "network address"), ("198.51.100.255", "broadcast")]
)
def test_interface_address_not_the_subnets_own(address: str, what: str) -> None:
    cfg = with_interface(jean(), Interface("node1-public", "node1", "public", address))
    assert_error(cfg, "interfaces.node1-public.address", what)


def test_point_to_point_subnet_addresses_ok() -> None:
    """RFC 3021: in a /31 both addresses are hosts."""
    cfg = ClusterConfig(
        nodes={"n1": Node("n1", 1), "n2": Node("n2", 2)},
        networks={"link": Network("link", "192.0.2.0/31")},
        interfaces={
            "n1-link": Interface("n1-link", "n1", "link", "192.0.2.0"),
            "n2-link": Interface("n2-link", "n2", "link", "192.0.2.1"),
        },
    )
    validate_config(cfg)


@pytest.mark.parametrize("subnet", ["198.51.100.0/24", "198.51.100.128/25", "198.51.0.0/16"])
def test_networks_do_not_overlap(subnet: str) -> None:
    """S21/S32: a network is the set of interfaces on one subnet, so two networks cannot
    share addresses: an interface would belong to both."""
    cfg = dataclasses.replace(
        jean(), networks={**jean().networks, "storage": Network("storage", subnet)}
    )
    assert_error(cfg, "networks.storage.subnet", "overlaps", "public")


# -- resource types --------------------------------------------------------------------------


def with_type(cfg: ClusterConfig, rtype: ResourceType) -> ClusterConfig:
    return dataclasses.replace(cfg, types={**cfg.types, rtype.name: rtype})


def test_custom_type_ok() -> None:
    """S26: products add their own types."""
    t = ResourceType(
        "Mail Server",
        agent="ocf",
        looks_alive_ms=10,
        properties=(PropertySpec("port", PropertyKind.INT, default=25, minimum=1, maximum=65535),),
        required_dependencies=(IP_ADDRESS,),
    )
    validate_config(with_type(jean(), t))


@pytest.mark.parametrize(
    ("rtype", "field", "words"),
    [
        (ResourceType("T", agent=""), "types.T.agent", ["must name"]),
        (ResourceType("T", agent="ocf", looks_alive_ms=0), "types.T.looks_alive_ms", ["10 ms"]),
        (ResourceType("T", agent="ocf", is_alive_ms=9), "types.T.is_alive_ms", ["10 ms"]),
        (
            ResourceType("T", agent="ocf", required_dependencies=("Quorum Disk",)),
            "types.T.required_dependencies[0]",
            ["unknown resource type 'Quorum Disk'"],
        ),
        (
            ResourceType(
                "T", "ocf", properties=(PropertySpec("n", PropertyKind.INT, minimum=5, maximum=1),)
            ),
            "types.T.properties.n",
            ["minimum 5", "maximum 1"],
        ),
        (
            ResourceType(
                "T", "ocf", properties=(PropertySpec("n", PropertyKind.INT, default="x"),)
            ),
            "types.T.properties.n.default",
            ["whole number"],
        ),
        (
            ResourceType(
                "T",
                "ocf",
                properties=(PropertySpec("a", PropertyKind.STRING), PropertySpec("a")),
            ),
            "types.T.properties.a",
            ["twice"],
        ),
    ],
)
def test_custom_type_refused(rtype: ResourceType, field: str, words: list[str]) -> None:
    assert_error(with_type(jean(), rtype), field, *words)


def test_builtin_types_are_valid() -> None:
    validate_config(ClusterConfig(types=builtin_types()))
