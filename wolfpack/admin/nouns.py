"""The configuration nouns (Get-ClusterNode, Get-ClusterGroup, ...): for each, the table
columns, the facts ``show`` adds beyond the configuration (observed state, the derived group
state) and what must hold before one is deleted. The CLI and the API both use these, so a
``wolfpack group show --json`` and ``GET /api/v1/groups/NAME`` are the same document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from wolfpack.admin.networks import (
    interface_details,
    interface_link,
    interface_state,
    network_details,
    network_state,
)
from wolfpack.admin.objects import Noun, flatten
from wolfpack.errors import RejectedError, ValidationError
from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import (
    ClusterConfig,
    Group,
    Interface,
    Network,
    Node,
    PropertySpec,
    Resource,
    ResourceType,
)
from wolfpack.model.dependencies import format_expression
from wolfpack.model.fsm import derived_state
from wolfpack.model.snapshot import Snapshot
from wolfpack.store.keys import StateKind

# -- nodes --------------------------------------------------------------------------------


def node_state(snap: Snapshot, node: Node) -> str | None:
    status = snap.nodes.get(node.name)
    return str(status.state) if status is not None else None


def _node_details(snap: Snapshot, node: Node) -> dict[str, Any]:
    status = snap.nodes.get(node.name)
    owned = sorted(g for g, st in snap.groups.items() if st.owner == node.name)
    details: dict[str, Any] = {"groups": owned}
    if status is not None:
        details["status"] = codec.dump(status, exclude_defaults=False)
    return details


def _node_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    owned = [g for g, st in snap.groups.items() if st.owner == name and g in cfg.groups]
    if owned:
        raise RejectedError(
            "NODE_OWNS_GROUPS",
            f"node {name!r} owns {', '.join(sorted(owned))}: move those groups away first",
        )


def _node_guarded_state(cfg: ClusterConfig, name: str) -> list[tuple[StateKind, str]]:
    """The node guard reads every group's owner."""
    return [("nodes", name), *(("groups", g) for g in sorted(cfg.groups))]


NODES: Final[Noun[Node]] = Noun(
    "nodes",
    "node",
    Node,
    columns=(("id", lambda s, n: n.id), ("name", lambda s, n: n.name), ("state", node_state)),
    details=_node_details,
    guard_delete=_node_guard,
    guarded_state=_node_guarded_state,
)

# -- networks and interfaces --------------------------------------------------------------

NETWORKS: Final[Noun[Network]] = Noun(
    "networks",
    "network",
    Network,
    columns=(
        ("name", lambda s, n: n.name),
        ("subnet", lambda s, n: n.subnet),
        ("role", lambda s, n: str(n.role)),
        ("state", network_state),
        (
            "interfaces",
            lambda s, n: sorted(
                i.name for i in s.config.interfaces.values() if i.network == n.name
            ),
        ),
    ),
    details=network_details,
)

INTERFACES: Final[Noun[Interface]] = Noun(
    "interfaces",
    "interface",
    Interface,
    columns=(
        ("name", lambda s, i: i.name),
        ("node", lambda s, i: i.node),
        ("network", lambda s, i: i.network),
        ("address", lambda s, i: i.address),
        ("state", interface_state),
        ("link", interface_link),
    ),
    details=interface_details,
)

# -- groups -------------------------------------------------------------------------------


def _group_details(snap: Snapshot, group: Group) -> dict[str, Any]:
    status = snap.groups.get(group.name)
    details: dict[str, Any] = {
        "state": str(derived_state(snap, group.name)),
        "owner": status.owner if status else None,
        "resources": [r.name for r in snap.config.group_resources(group.name)],
    }
    if status is not None:
        details["status"] = codec.dump(status, exclude_defaults=False)
    return details


def _group_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    held = [r.name for r in cfg.group_resources(name)]
    if held:
        raise ValidationError.single(
            f"groups.{name}",
            f"still holds resources {', '.join(held)}: delete them first",
        )


GROUPS: Final[Noun[Group]] = Noun(
    "groups",
    "group",
    Group,
    columns=(
        ("name", lambda s, g: g.name),
        ("owner", lambda s, g: s.group(g.name).owner),
        ("state", lambda s, g: str(derived_state(s, g.name))),
        ("preferred owners", lambda s, g: list(g.preferred_owners)),
        ("resources", lambda s, g: len(s.config.group_resources(g.name))),
    ),
    details=_group_details,
    guard_delete=_group_guard,
)

# -- resources ----------------------------------------------------------------------------


def resource_status(snap: Snapshot, name: str) -> tuple[str, str | None]:
    status = snap.resource(name)
    return str(status.state), status.node


def _resource_details(snap: Snapshot, res: Resource) -> dict[str, Any]:
    state, node = resource_status(snap, res.name)
    details: dict[str, Any] = {"state": state, "node": node}
    status = snap.resources.get(res.name)
    if status is not None:
        details["status"] = codec.dump(status, exclude_defaults=False)
    return details


def _resource_rows(res: Resource) -> list[tuple[str, Any]]:
    rows = flatten(codec.dump(res, exclude_defaults=False))
    return [(k, format_expression(res.dependencies) if k == "dependencies" else v) for k, v in rows]


def _resource_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    dependents = cfg.dependents(name)
    if dependents:
        raise ValidationError.single(
            f"resources.{name}",
            f"{', '.join(dependents)} depend on it: change their dependencies first "
            "(wolfpack resource depend NAME EXPR)",
        )
    state, node = resource_status(snap, name)
    if snap.resource(name).state.active:
        raise RejectedError(
            "RESOURCE_ACTIVE", f"resource {name!r} is {state} on {node}: take it offline first"
        )


RESOURCES: Final[Noun[Resource]] = Noun(
    "resources",
    "resource",
    Resource,
    columns=(
        ("name", lambda s, r: r.name),
        ("type", lambda s, r: r.type),
        ("group", lambda s, r: r.group),
        ("state", lambda s, r: resource_status(s, r.name)[0]),
        ("node", lambda s, r: resource_status(s, r.name)[1]),
        ("depends on", lambda s, r: format_expression(r.dependencies)),
    ),
    details=_resource_details,
    guard_delete=_resource_guard,
    rows=_resource_rows,
)

# -- resource types -----------------------------------------------------------------------


def describe_spec(spec: PropertySpec) -> str:
    parts = [str(spec.kind), "required" if spec.required else f"default {spec.default!r}"]
    if spec.minimum is not None or spec.maximum is not None:
        parts.append(f"range {spec.minimum}..{spec.maximum}")
    if spec.choices:
        parts.append("one of " + "/".join(spec.choices))
    text = ", ".join(parts)
    return f"{text}: {spec.description}" if spec.description else text


def _type_rows(rtype: ResourceType) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("name", rtype.name),
        ("agent", rtype.agent),
        ("description", rtype.description),
        ("looks_alive_ms", rtype.looks_alive_ms),
        ("is_alive_ms", rtype.is_alive_ms),
        ("required_dependencies", list(rtype.required_dependencies)),
    ]
    return rows + [(f"properties.{p.name}", describe_spec(p)) for p in rtype.properties]


def _type_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    if name in builtin_types():
        raise RejectedError(
            "BUILTIN_TYPE", f"{name!r} is a built-in resource type: it cannot be deleted"
        )
    users = sorted(r.name for r in cfg.resources.values() if r.type == name)
    if users:
        raise ValidationError.single(
            f"types.{name}",
            f"resources {', '.join(users)} are of this type: delete them first",
        )


TYPES: Final[Noun[ResourceType]] = Noun(
    "types",
    "resource type",
    ResourceType,
    columns=(
        ("name", lambda s, t: t.name),
        ("agent", lambda s, t: t.agent),
        ("properties", lambda s, t: [p.name + ("*" if p.required else "") for p in t.properties]),
        ("description", lambda s, t: t.description),
    ),
    rows=_type_rows,
    guard_delete=_type_guard,
)

#: Every noun by its kind (the API's ``/api/v1/{kind}``), in the cluster document's order.
BY_KIND: Final[Mapping[str, Noun[Any]]] = {
    n.kind: n for n in (NODES, NETWORKS, INTERFACES, GROUPS, RESOURCES, TYPES)
}
