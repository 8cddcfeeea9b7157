"""A Network Name takes the address of the IP Address it depends on (S10, S16)."""

from __future__ import annotations

from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig, Group, Resource
from wolfpack.model.inheritance import effective_resource

IP = Resource(
    "web-ip", "IP Address", "Web", properties={"address": "198.51.100.20", "network": "pub"}
)


def cfg(*resources: Resource) -> ClusterConfig:
    return ClusterConfig(
        groups={"Web": Group("Web")},
        resources={r.name: r for r in (IP, *resources)},
        types=builtin_types(),
    )


def test_unset_property_comes_from_the_dependency() -> None:
    name = Resource(
        "www", "Network Name", "Web", dependencies=(("web-ip",),), properties={"name": "www"}
    )
    got = effective_resource(cfg(name), name)
    assert got.properties["address"] == "198.51.100.20"
    assert "network" not in got.properties  # not a Network Name property


def test_an_explicit_value_wins() -> None:
    name = Resource(
        "www", "Network Name", "Web", dependencies=(("web-ip",),),
        properties={"name": "www", "address": "198.51.100.99"},
    )  # fmt: skip
    assert effective_resource(cfg(name), name) is name


def test_without_dependencies_nothing_changes() -> None:
    app = Resource("app", "Generic Application", "Web", properties={"command": "true"})
    assert effective_resource(cfg(app), app) is app
