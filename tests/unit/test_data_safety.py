"""The configuration rules that keep shared data safe (wolfpack.model.data_safety): unsafe
mount options of a shared disk (H7), and PostgreSQL's ``initialize`` only on the group's
disk (M8). Refused by the configuration's validation, naming the property."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from wolfpack.model.config import ClusterConfig
from wolfpack.model.data_safety import effective_mount_options, mount_option_problem
from wolfpack.model.validation import validate_config

from .test_validation import assert_error, change_resource, jean


def with_properties(cfg: ClusterConfig, name: str, **changes: Any) -> ClusterConfig:
    res = cfg.resources[name]
    return change_resource(cfg, name, properties={**res.properties, **changes})


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("nobarrier", "nobarrier"),
        ("noatime,barrier=0", "barrier=0"),
        ("data=writeback", "data=writeback"),
        ("errors=continue", "errors=continue"),
        ("commit=60", "commit=60"),
        ("noatime,commit=6", "commit=6"),
        ("commit=soon", "commit=soon"),
    ],
)
def test_unsafe_mount_options_of_a_shared_disk_are_refused(options: str, named: str) -> None:
    """H7: the configuration refuses options that lose acknowledged writes at a fence or
    let a writer go on after ext4 found damage, naming the property and the option."""
    cfg = with_properties(jean(), "sql-disk", mount_options=options)
    assert_error(cfg, "resources.sql-disk.properties.mount_options", named, "shared disk")


@pytest.mark.parametrize(
    "options", ["noatime", "errors=panic", "errors=remount-ro,noatime", "commit=5", "commit=0"]
)
def test_safe_mount_options_are_accepted(options: str) -> None:
    """H7: errors=panic is the administrator's choice; commit up to 5 s is fine."""
    assert mount_option_problem(options) is None
    validate_config(with_properties(jean(), "sql-disk", mount_options=options))


@pytest.mark.parametrize(
    ("given", "mounted"),
    [
        ("", "errors=remount-ro"),
        ("noatime", "noatime,errors=remount-ro"),
        ("noatime,errors=panic", "noatime,errors=panic"),
        ("errors=remount-ro", "errors=remount-ro"),
    ],
)
def test_the_disk_is_mounted_errors_remount_ro_unless_panic_is_chosen(
    given: str, mounted: str
) -> None:
    """H7: MMP's alarm must stop the writer: errors=remount-ro unless errors= is chosen."""
    assert effective_mount_options(given) == mounted


def test_initialize_needs_a_disk_dependency() -> None:
    """M8: ``initialize: true`` without a Physical Disk to depend on could create an empty
    database on the node's own disk: refused, naming the property and what to do."""
    cfg = with_properties(jean(), "sql", initialize=True)
    validate_config(cfg)  # jean's sql depends on sql-disk, its data under /srv/sql
    no_disk = change_resource(cfg, "sql", dependencies=(("sql-ip",),))
    assert_error(
        no_disk, "resources.sql.properties.initialize", "depend on the Physical Disk", "false"
    )
    either = change_resource(cfg, "sql", dependencies=(("sql-disk", "sql-ip"),))
    assert_error(either, "resources.sql.properties.initialize", "shared disk")
    validate_config(
        change_resource(
            cfg,
            "sql",
            dependencies=(("sql-ip",),),
            properties={**cfg.resources["sql"].properties, "initialize": False},
        )
    )  # without initialize the data directory is only used, never made


@pytest.mark.parametrize("data", ["/var/lib/postgresql/data", "/srv/sql", "/srv/sqlother/data"])
def test_initialize_needs_the_data_directory_below_the_disk(data: str) -> None:
    """M8: the disk dependency must be the disk that holds the data directory."""
    cfg = with_properties(jean(), "sql", initialize=True, data_directory=data)
    assert_error(cfg, "resources.sql.properties.data_directory", data, "'sql-disk' at /srv/sql")


def test_a_custom_type_on_the_postgresql_agent_gets_the_rule_too() -> None:
    """M8: the rule follows the agent, not the type's name."""
    cfg = jean()
    own = dataclasses.replace(cfg.types["PostgreSQL Server"], name="My PostgreSQL")
    cfg = dataclasses.replace(cfg, types={**cfg.types, own.name: own})
    cfg = change_resource(cfg, "sql", type="My PostgreSQL", dependencies=(("sql-ip",),))
    assert_error(
        with_properties(cfg, "sql", initialize=True), "resources.sql.properties.initialize"
    )
