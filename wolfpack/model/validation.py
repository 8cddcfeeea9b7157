"""Whole-configuration validation: every problem, each naming its field.

Called before anything is written to the cluster database, so a bad request changes nothing.
Field paths look like ``groups.Web.preferred_owners[1]`` or ``resources.www.properties.name``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from wolfpack.errors import DependencyCycleError, FieldError, ValidationError
from wolfpack.model import data_safety
from wolfpack.model.config import (
    ClusterConfig,
    Group,
    PropertyKind,
    PropertyValue,
    Resource,
    ResourceType,
)
from wolfpack.model.dependencies import MAX_DEPTH, find_cycle, online_steps
from wolfpack.model.states import FailbackMode

MAX_NODES = 64
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NAME = re.compile(r"^[^/\x00-\x1f\x7f]{1,64}$")


def is_dns_label(name: str) -> bool:
    return bool(_LABEL.match(name))


def is_hostname(name: str) -> bool:
    name = name.rstrip(".")
    return 0 < len(name) <= 253 and all(is_dns_label(p) for p in name.split("."))


def check_object_name(field: str, name: str) -> Iterator[FieldError]:
    """Group and resource names: free text as in MSCS ("Cluster Group"), but no '/' or controls."""
    if not _NAME.match(name) or name != name.strip():
        yield FieldError(
            field,
            f"{name!r} is not a valid name: use 1-64 printable characters, no '/' and no "
            "leading or trailing spaces",
        )


def check_label(field: str, name: str, what: str) -> Iterator[FieldError]:
    if not is_dns_label(name):
        yield FieldError(
            field,
            f"{name!r} is not a valid {what}: it becomes a host name, so use 1-63 letters, "
            "digits and hyphens, not starting or ending with a hyphen",
        )


def validate_config(cfg: ClusterConfig) -> None:
    """Raise :class:`ValidationError` listing every problem in ``cfg``; return if it is sound."""
    errors = list(config_errors(cfg))
    cycle = find_cycle(_dependency_edges(cfg))
    if cycle is not None:
        raise DependencyCycleError(f"resources.{cycle[0]}.dependencies", cycle, errors)
    if errors:
        raise ValidationError(errors)


def _dependency_edges(cfg: ClusterConfig) -> dict[str, frozenset[str]]:
    """Dependencies between known resources; a self dependency is its own error, not a cycle."""
    return {
        r.name: (r.depends_on & cfg.resources.keys()) - {r.name} for r in cfg.resources.values()
    }


def config_errors(cfg: ClusterConfig) -> Iterator[FieldError]:
    yield from check_label("cluster.name", cfg.cluster.name, "cluster name")
    if not -14 * 60 <= cfg.cluster.utc_offset_minutes <= 14 * 60:
        yield FieldError("cluster.utc_offset_minutes", "must be between -840 and 840")
    if not 0 <= cfg.cluster.group_wait_delay_s <= 3600:
        yield FieldError("cluster.group_wait_delay_s", "must be 0-3600 seconds")
    for kind, objects in (
        ("nodes", cfg.nodes),
        ("networks", cfg.networks),
        ("interfaces", cfg.interfaces),
        ("groups", cfg.groups),
        ("resources", cfg.resources),
        ("types", cfg.types),
    ):
        for key, obj in objects.items():
            if getattr(obj, "name", key) != key:
                yield FieldError(f"{kind}.{key}.name", f"must equal its key {key!r}")
    yield from _node_errors(cfg)
    yield from _network_errors(cfg)
    for group in cfg.groups.values():
        yield from _group_errors(cfg, group)
    for res in cfg.resources.values():
        yield from _resource_errors(cfg, res)
    for rtype in cfg.types.values():
        yield from _type_errors(cfg, rtype)
    yield from _depth_errors(cfg)


def _node_errors(cfg: ClusterConfig) -> Iterator[FieldError]:
    if len(cfg.nodes) > MAX_NODES:
        yield FieldError("nodes", f"a cluster has at most {MAX_NODES} nodes")
    seen: dict[int, str] = {}
    for node in cfg.nodes.values():
        yield from check_label(f"nodes.{node.name}.name", node.name, "node name")
        if not 1 <= node.id <= MAX_NODES:
            yield FieldError(f"nodes.{node.name}.id", f"must be 1-{MAX_NODES}, got {node.id}")
        elif node.id in seen:
            yield FieldError(f"nodes.{node.name}.id", f"id {node.id} is already {seen[node.id]}")
        seen.setdefault(node.id, node.name)


def _network_errors(cfg: ClusterConfig) -> Iterator[FieldError]:
    subnets: dict[str, ipaddress.IPv4Network] = {}
    for net in cfg.networks.values():
        try:
            subnet = ipaddress.IPv4Network(net.subnet, strict=True)
        except ValueError as exc:
            yield FieldError(f"networks.{net.name}.subnet", f"not an IPv4 subnet: {exc}")
            continue
        # S21: a network is the interfaces on one subnet, so an address is in one network only
        other = next((n for n, s in subnets.items() if s.overlaps(subnet)), None)
        if other is not None:
            yield FieldError(
                f"networks.{net.name}.subnet",
                f"{subnet} overlaps network {other!r} ({subnets[other]})",
            )
        subnets[net.name] = subnet
    addresses: dict[str, str] = {}
    per_node_network: set[tuple[str, str]] = set()
    for itf in cfg.interfaces.values():
        f = f"interfaces.{itf.name}"
        if itf.node not in cfg.nodes:
            yield FieldError(f"{f}.node", f"unknown node {itf.node!r}")
        if itf.network not in cfg.networks:
            yield FieldError(f"{f}.network", f"unknown network {itf.network!r}")
        if (itf.node, itf.network) in per_node_network:
            yield FieldError(f, f"node {itf.node!r} already has an interface on {itf.network!r}")
        per_node_network.add((itf.node, itf.network))
        try:
            addr = ipaddress.IPv4Address(itf.address)
        except ValueError:
            yield FieldError(f"{f}.address", f"{itf.address!r} is not an IPv4 address")
            continue
        net_subnet = subnets.get(itf.network)
        if net_subnet is not None and addr not in net_subnet:
            yield FieldError(f"{f}.address", f"{addr} is not in {itf.network} ({net_subnet})")
        elif net_subnet is not None and net_subnet.prefixlen <= 30:  # /31 and /32: all hosts
            if addr == net_subnet.network_address:
                yield FieldError(f"{f}.address", f"{addr} is the network address of {net_subnet}")
            elif addr == net_subnet.broadcast_address:
                yield FieldError(f"{f}.address", f"{addr} is the broadcast address of {net_subnet}")
        if itf.address in addresses:
            yield FieldError(f"{f}.address", f"{addr} is already used by {addresses[itf.address]}")
        addresses.setdefault(itf.address, itf.name)


def _group_errors(cfg: ClusterConfig, g: Group) -> Iterator[FieldError]:
    f = f"groups.{g.name}"
    yield from check_object_name(f"{f}.name", g.name)
    yield from _owner_list_errors(cfg, f"{f}.preferred_owners", g.preferred_owners)
    if g.failover_threshold < 1:
        yield FieldError(f"{f}.failover_threshold", "must be a positive number of failovers")
    if g.failover_period_s < 1:
        yield FieldError(f"{f}.failover_period_s", "must be a positive number of seconds")
    fb = g.failback
    for which, hour in (("window_start", fb.window_start), ("window_end", fb.window_end)):
        if hour is not None and not 0 <= hour <= 23:
            yield FieldError(f"{f}.failback.{which}", f"must be an hour 0-23, got {hour}")
    if fb.mode is FailbackMode.WINDOW:
        if fb.window_start is None or fb.window_end is None:
            yield FieldError(f"{f}.failback", "mode 'window' needs window_start and window_end")
        elif fb.window_start == fb.window_end:
            yield FieldError(
                f"{f}.failback.window_end",
                "equals window_start, an empty window; use mode 'immediate' to allow any hour",
            )
    if fb.stability_delay_s < 0:
        yield FieldError(f"{f}.failback.stability_delay_s", "must not be negative")
    for i, cls in enumerate(g.anti_affinity):
        if not cls.strip():
            yield FieldError(f"{f}.anti_affinity[{i}]", "must not be empty")


def _owner_list_errors(
    cfg: ClusterConfig, field: str, owners: tuple[str, ...]
) -> Iterator[FieldError]:
    seen: set[str] = set()
    for i, node in enumerate(owners):
        if node not in cfg.nodes:
            known = ", ".join(sorted(cfg.nodes)) or "none"
            yield FieldError(f"{field}[{i}]", f"unknown node {node!r} (known nodes: {known})")
        if node in seen:
            yield FieldError(f"{field}[{i}]", f"node {node!r} is listed twice")
        seen.add(node)


def _resource_errors(cfg: ClusterConfig, r: Resource) -> Iterator[FieldError]:
    f = f"resources.{r.name}"
    yield from check_object_name(f"{f}.name", r.name)
    if "[" in r.name or "]" in r.name:
        yield FieldError(
            f"{f}.name",
            f"{r.name!r} contains a bracket: brackets enclose resource names in dependency "
            "expressions ('[Disk] and [IP]'), so a name cannot contain them",
        )
    if r.group not in cfg.groups:
        yield FieldError(f"{f}.group", f"unknown group {r.group!r}")
    rtype = cfg.types.get(r.type)
    if rtype is None:
        known = ", ".join(sorted(cfg.types)) or "none"
        yield FieldError(f"{f}.type", f"unknown resource type {r.type!r} (known: {known})")
    else:
        yield from _property_errors(f"{f}.properties", rtype, r)
        yield from data_safety.resource_errors(cfg, r)
    if r.possible_owners is not None:
        if not r.possible_owners:
            yield FieldError(f"{f}.possible_owners", "must name at least one node (omit for all)")
        yield from _owner_list_errors(cfg, f"{f}.possible_owners", r.possible_owners)
    for fld, value in (
        ("restart_threshold", r.restart_threshold),
        ("restart_period_s", r.restart_period_s),
        ("pending_timeout_s", r.pending_timeout_s),
    ):
        if value < 1:
            yield FieldError(f"{f}.{fld}", f"must be positive, got {value}")
    if r.restart_delay_ms < 0:
        yield FieldError(f"{f}.restart_delay_ms", "must not be negative")
    for fld, ms in (("looks_alive_ms", r.looks_alive_ms), ("is_alive_ms", r.is_alive_ms)):
        if ms is not None and ms < 10:
            yield FieldError(f"{f}.{fld}", f"must be at least 10 ms, got {ms}")
    yield from _dependency_errors(cfg, r)


def _dependency_errors(cfg: ClusterConfig, r: Resource) -> Iterator[FieldError]:
    f = f"resources.{r.name}.dependencies"
    for i, clause in enumerate(r.dependencies):
        if not clause:
            yield FieldError(f"{f}[{i}]", "an empty alternative list; remove it")
        for name in clause:
            dep = cfg.resources.get(name)
            if name == r.name:
                yield FieldError(f"{f}[{i}]", f"{r.name!r} cannot depend on itself")
            elif dep is None:
                yield FieldError(f"{f}[{i}]", f"unknown resource {name!r}")
            elif dep.group != r.group:
                yield FieldError(
                    f"{f}[{i}]",
                    f"{name!r} is in group {dep.group!r}, not {r.group!r}: dependencies must "
                    "stay inside one group",
                )
    rtype = cfg.types.get(r.type)
    for needed in rtype.required_dependencies if rtype else ():
        # Met only by a clause whose every alternative is of the needed type: with
        # ``[ip] or [disk]`` the resource could come online with the disk alone.
        if not any(
            clause and all(_type_of(cfg, n) == needed for n in clause) for clause in r.dependencies
        ):
            yield FieldError(
                f, f"{_a(r.type)} {r.type} resource must depend on {_a(needed)} {needed} resource"
            )


def _type_of(cfg: ClusterConfig, resource: str) -> str | None:
    res = cfg.resources.get(resource)
    return res.type if res is not None else None


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _depth_errors(cfg: ClusterConfig) -> Iterator[FieldError]:
    edges = _dependency_edges(cfg)
    if find_cycle(edges) is not None:
        return  # reported by validate_config as a DependencyCycleError
    for group, members in cfg.resources_by_group.items():
        group_edges = {r.name: edges.get(r.name, frozenset()) for r in members}
        if group_edges and len(online_steps(group_edges)) > MAX_DEPTH:
            yield FieldError(f"groups.{group}", f"dependency tree deeper than {MAX_DEPTH}")


def _type_errors(cfg: ClusterConfig, t: ResourceType) -> Iterator[FieldError]:
    """S26: a type a product adds must be as sound as a built-in one."""
    f = f"types.{t.name}"
    if not t.agent.strip():
        yield FieldError(f"{f}.agent", "must name the agent that runs resources of this type")
    for fld, ms in (("looks_alive_ms", t.looks_alive_ms), ("is_alive_ms", t.is_alive_ms)):
        if ms < 10:
            yield FieldError(f"{f}.{fld}", f"must be at least 10 ms, got {ms}")
    for i, needed in enumerate(t.required_dependencies):
        if needed not in cfg.types:
            yield FieldError(f"{f}.required_dependencies[{i}]", f"unknown resource type {needed!r}")
    seen: set[str] = set()
    for spec in t.properties:
        pf = f"{f}.properties.{spec.name}"
        if spec.name in seen:
            yield FieldError(pf, "defined twice")
        seen.add(spec.name)
        if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
            yield FieldError(pf, f"minimum {spec.minimum} is above maximum {spec.maximum}")
        if spec.default is not None:
            problem = property_problem(
                spec.kind, spec.default, spec.minimum, spec.maximum, spec.choices
            )
            if problem:
                yield FieldError(f"{pf}.default", problem)


def _property_errors(field: str, rtype: ResourceType, r: Resource) -> Iterator[FieldError]:
    for name in r.properties:
        if rtype.spec(name) is None:
            allowed = ", ".join(p.name for p in rtype.properties) or "none"
            yield FieldError(
                f"{field}.{name}", f"not a property of type {rtype.name!r} (allowed: {allowed})"
            )
    for spec in rtype.properties:
        value = r.properties.get(spec.name)
        if value is None:
            if spec.required:
                yield FieldError(f"{field}.{spec.name}", f"required by type {rtype.name!r}")
            continue
        problem = property_problem(spec.kind, value, spec.minimum, spec.maximum, spec.choices)
        if problem:
            yield FieldError(f"{field}.{spec.name}", problem)


def property_problem(
    kind: PropertyKind,
    value: PropertyValue,
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[str, ...] = (),
) -> str | None:
    """Why ``value`` is not a valid ``kind``, or None."""
    if kind is PropertyKind.BOOL:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind is PropertyKind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, got {value!r}"
        if minimum is not None and value < minimum:
            return f"must be at least {minimum}, got {value}"
        if maximum is not None and value > maximum:
            return f"must be at most {maximum}, got {value}"
        return None
    if kind is PropertyKind.LIST:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else f"must be a list of strings, got {value!r}"
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)}, got {value!r}"
    if kind is PropertyKind.IPV4:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return f"{value!r} is not an IPv4 address"
    elif kind is PropertyKind.HOSTNAME and not is_hostname(value):
        return f"{value!r} is not a valid DNS host name"
    elif kind is PropertyKind.PATH and not value.startswith("/"):
        return f"{value!r} is not an absolute path"
    elif kind is PropertyKind.STRING and not value.strip():
        return "must not be empty"
    return None
