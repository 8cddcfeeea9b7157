"""Bad input to every noun: a non-zero exit, an error naming the field, and NOTHING changed
(``config export --state`` is byte-identical before and after)."""

from __future__ import annotations

import pytest

from .conftest import Cli, fields

IP = ("--type", "IP Address", "--group", "Web")

CASES = [
    # (command line, exit code, a field the error must name)
    (("cluster", "set", "--utc-offset", "+15:00"), 2, "cluster.utc_offset_minutes"),
    (("cluster", "set", "--utc-offset", "noon"), 2, "cluster.utc_offset_minutes"),
    (("cluster", "set", "--name", "bad name"), 2, "cluster.name"),
    (("node", "create", "node4", "--id", "2"), 2, "nodes.node4.id"),
    (("node", "create", "node4", "--id", "65"), 2, "nodes.node4.id"),
    (("node", "create", "Node_4", "--id", "4"), 2, "nodes.Node_4.name"),
    (("node", "create", "node4"), 2, "--id"),
    (("node", "delete", "node2"), 2, "interfaces.node2-public.node"),
    (("node", "set", "node9", "--description", "x"), 1, None),
    (("network", "create", "storage", "--subnet", "10.0.0.0/33"), 2, "networks.storage.subnet"),
    (("network", "create", "storage", "--subnet", "10.0.0.0/8", "--role", "all"), 2, "--role"),
    (("network", "set", "public", "--subnet", "10.1.0.0/24"), 2, "interfaces.node1-public.address"),
    (("network", "set-role", "public", "everything"), 2, "role"),
    (("network", "delete", "private"), 2, "interfaces.node1-private.network"),
    (
        (
            "interface",
            "create",
            "node9-public",
            "--node",
            "node9",
            "--network",
            "public",
            "--address",
            "203.0.113.50",
        ),
        2,
        "interfaces.node9-public.address",
    ),
    (
        (
            "interface",
            "create",
            "node1-x",
            "--node",
            "node1",
            "--network",
            "nowhere",
            "--address",
            "198.51.100.99",
        ),
        2,
        "interfaces.node1-x.network",
    ),
    (
        ("group", "create", "Files", "--preferred-owners", "node9"),
        2,
        "groups.Files.preferred_owners[0]",
    ),
    (("group", "create", "Web"), 1, None),
    (("group", "create", "a/b"), 2, "groups.a/b.name"),
    (("group", "set", "Web", "--failback-window", "25-3"), 2, "groups.Web.failback.window_start"),
    (("group", "set", "Web", "--failback-window", "late"), 2, "groups.Web.failback.window_start"),
    (("group", "set", "Web", "--failback", "window"), 2, "groups.Web.failback"),
    (("group", "set", "Web", "--failover-period", "6x"), 2, "groups.Web.failover_period_s"),
    (("group", "set", "Web", "--failover-threshold", "0"), 2, "groups.Web.failover_threshold"),
    (
        ("group", "set", "Web", "--stability-delay", "-5s"),
        2,
        "groups.Web.failback.stability_delay_s",
    ),
    (
        ("group", "set", "Web", "--anti-affinity", "x", "--preferred-owners", "node2,node2"),
        2,
        "groups.Web.preferred_owners[1]",
    ),
    (("group", "delete", "Web"), 2, "groups.Web"),
    (
        (
            "resource",
            "create",
            "bad",
            *IP,
            "--prop",
            "address=300.1.1.1",
            "--prop",
            "network=public",
        ),
        2,
        "resources.bad.properties.address",
    ),
    (
        ("resource", "create", "bad", *IP, "--prop", "address=198.51.100.99"),
        2,
        "resources.bad.properties.network",
    ),
    (("resource", "create", "bad", "--type", "Floppy", "--group", "Web"), 2, "resources.bad.type"),
    (
        (
            "resource",
            "create",
            "bad",
            *IP[:2],
            "--group",
            "Nowhere",
            "--prop",
            "address=1.2.3.4",
            "--prop",
            "network=public",
        ),
        2,
        "resources.bad.group",
    ),
    (("resource", "create", "web", *IP), 1, None),
    (
        (
            "resource",
            "create",
            "name2",
            "--type",
            "Network Name",
            "--group",
            "Web",
            "--prop",
            "name=www2",
        ),
        2,
        "resources.name2.dependencies",
    ),
    (("resource", "set", "web", "--prop", "port=http"), 2, "resources.web.properties.port"),
    (("resource", "set", "web", "--prop", "port=99999"), 2, "resources.web.properties.port"),
    (("resource", "set", "web", "--prop", "colour=blue"), 2, "resources.web.properties.colour"),
    (("resource", "set", "web", "--prop", "noequals"), 2, "resources.web.properties"),
    (
        ("resource", "set", "web", "--possible-owners", "node9"),
        2,
        "resources.web.possible_owners[0]",
    ),
    (("resource", "set", "web", "--restart-action", "reboot"), 2, "--restart-action"),
    (("resource", "set", "web", "--restart-period", "soon"), 2, "resources.web.restart_period_s"),
    (("resource", "set", "web", "--looks-alive", "1ms"), 2, "resources.web.looks_alive_ms"),
    (
        ("resource", "set", "web", "--pending-timeout", "1500ms"),
        2,
        "resources.web.pending_timeout_s",
    ),
    (("resource", "depend", "web", "web-disk and web-ip"), 2, "resources.web.dependencies"),
    (("resource", "depend", "web", "[nothing]"), 2, "resources.web.dependencies[0]"),
    (("resource", "depend", "web", "[sql-disk]"), 2, "resources.web.dependencies[0]"),
    (("resource", "depend", "web-ip", "[web]"), 2, "resources.web.dependencies"),
    (("resource", "depend", "www", ""), 2, "resources.www.dependencies"),
    (("resource", "delete", "web-ip"), 2, "resources.web-ip"),
    (("resource", "show", "nothing"), 1, None),
]


@pytest.mark.parametrize(
    ("args", "code", "field"),
    CASES,
    ids=[" ".join(c[0][:3]) + f" #{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_names_the_field_and_changes_nothing(
    jean: Cli, args: tuple[str, ...], code: int, field: str | None
) -> None:
    before = jean.export()
    error = jean.fails(*args, code=code)
    if field is not None:
        assert field in fields(error), error
        assert error["message"]
    else:
        assert error["type"] in ("NotFoundError", "AlreadyExistsError")
    assert jean.export() == before


def test_every_bad_property_is_reported_at_once(jean: Cli) -> None:
    error = jean.fails(
        "resource", "set", "web", "--prop", "port=http", "--prop", "colour=blue",
        "--prop", "listen_address=nowhere",
    )  # fmt: skip
    assert set(fields(error)) == {
        "resources.web.properties.port",
        "resources.web.properties.colour",
        "resources.web.properties.listen_address",
    }


def test_a_dependency_cycle_is_named(jean: Cli) -> None:
    error = jean.fails("resource", "depend", "web-ip", "[web]")
    assert error["type"] == "DependencyCycleError"
    assert "web -> web-ip -> web" in error["message"]


def test_human_errors_go_to_stderr_and_name_the_field(jean: Cli) -> None:
    result = jean.run("group", "set", "Web", "--failover-threshold", "0")
    assert result.exit_code == 2
    assert "groups.Web.failover_threshold" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
