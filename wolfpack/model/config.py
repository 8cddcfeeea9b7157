"""The configuration an administrator writes (the cluster database's config/ part), S17.

Frozen dataclasses: a configuration is a value; changes make a new one with
:func:`dataclasses.replace`. Defaults follow MSCS (docs/concepts.md): failover 10 in 6 h,
restart 3 in 900 s, pending timeout 180 s, failback prevented. Names of objects are the
keys of the mappings and must equal the object's own ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from wolfpack.model.states import FailbackMode, NetworkRole, RestartAction

PropertyValue = str | int | bool | list[str]

DEFAULT_FAILOVER_THRESHOLD = 10
DEFAULT_FAILOVER_PERIOD_S = 6 * 3600
DEFAULT_RESTART_THRESHOLD = 3
DEFAULT_RESTART_PERIOD_S = 900
DEFAULT_RESTART_DELAY_MS = 500
DEFAULT_PENDING_TIMEOUT_S = 180
DEFAULT_LOOKS_ALIVE_MS = 5000
DEFAULT_IS_ALIVE_MS = 60000
DEFAULT_FAILBACK_STABILITY_S = 60


@dataclass(frozen=True)
class ClusterSettings:
    name: str = "cluster"
    description: str = ""
    #: Local time of the cluster for failback windows, as minutes east of UTC.
    utc_offset_minutes: int = 0
    #: WSFC ClusterEnforcedAntiAffinity: True makes anti-affinity hard instead of soft.
    enforced_anti_affinity: bool = False
    #: WSFC ClusterGroupWaitDelay: how long a group not yet placed waits for a better node
    #: that is joining (MSCS: 120 s; shorter here, as nodes join in about a second).
    group_wait_delay_s: int = 30


@dataclass(frozen=True)
class Node:
    name: str
    id: int
    description: str = ""


@dataclass(frozen=True)
class Network:
    name: str
    subnet: str  # CIDR, e.g. 203.0.113.0/24
    role: NetworkRole = NetworkRole.MIXED
    description: str = ""


@dataclass(frozen=True)
class Interface:
    """A node's address on a network (S32: named by the administrator)."""

    name: str
    node: str
    network: str
    address: str


@dataclass(frozen=True)
class Failback:
    """S38. ``window_start``/``window_end`` are hours [start, end) in cluster local time and may
    wrap midnight (22-6). ``stability_delay_s``: the preferred owner must have been Up this
    long before a group returns to it, so a flapping node cannot bounce the group."""

    mode: FailbackMode = FailbackMode.PREVENT
    window_start: int | None = None
    window_end: int | None = None
    stability_delay_s: int = DEFAULT_FAILBACK_STABILITY_S


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""
    preferred_owners: tuple[str, ...] = ()  # S25/S37: ordered; empty = every node qualifies
    failover_threshold: int = DEFAULT_FAILOVER_THRESHOLD
    failover_period_s: int = DEFAULT_FAILOVER_PERIOD_S
    failback: Failback = field(default_factory=Failback)
    anti_affinity: tuple[str, ...] = ()  # AntiAffinityClassNames


@dataclass(frozen=True)
class Resource:
    name: str
    type: str
    group: str
    description: str = ""
    possible_owners: tuple[str, ...] | None = None  # S28: None = every node
    #: AND of ORs: ((A, B), (C,)) means (A or B) and C. Only resources of the same group.
    dependencies: tuple[tuple[str, ...], ...] = ()
    restart_action: RestartAction = RestartAction.RESTART_AND_FAILOVER
    restart_threshold: int = DEFAULT_RESTART_THRESHOLD
    restart_period_s: int = DEFAULT_RESTART_PERIOD_S
    restart_delay_ms: int = DEFAULT_RESTART_DELAY_MS
    pending_timeout_s: int = DEFAULT_PENDING_TIMEOUT_S
    looks_alive_ms: int | None = None  # None: the resource type's value
    is_alive_ms: int | None = None
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)

    @property
    def depends_on(self) -> frozenset[str]:
        """Every resource named anywhere in the dependency expression."""
        return frozenset(name for alternatives in self.dependencies for name in alternatives)


class PropertyKind(StrEnum):
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    IPV4 = "ipv4"
    HOSTNAME = "hostname"  # a DNS label or dotted name (becomes a host record)
    PATH = "path"  # an absolute path
    LIST = "list"  # a list of strings


@dataclass(frozen=True)
class PropertySpec:
    name: str
    kind: PropertyKind = PropertyKind.STRING
    required: bool = False
    default: PropertyValue | None = None
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    #: Its value is hidden from read-only API tokens (a password, a key: docs/security.md).
    secret: bool = False


@dataclass(frozen=True)
class ResourceType:
    """S26/S31: what kinds of resource the cluster knows and how to check their properties."""

    name: str
    agent: str
    description: str = ""
    looks_alive_ms: int = DEFAULT_LOOKS_ALIVE_MS
    is_alive_ms: int = DEFAULT_IS_ALIVE_MS
    properties: tuple[PropertySpec, ...] = ()
    #: Types a resource of this type must depend on (Network Name -> IP Address).
    required_dependencies: tuple[str, ...] = ()

    def spec(self, name: str) -> PropertySpec | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class ClusterConfig:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    nodes: Mapping[str, Node] = field(default_factory=dict)
    networks: Mapping[str, Network] = field(default_factory=dict)
    interfaces: Mapping[str, Interface] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    resources: Mapping[str, Resource] = field(default_factory=dict)
    types: Mapping[str, ResourceType] = field(default_factory=dict)

    @cached_property
    def resources_by_group(self) -> Mapping[str, tuple[Resource, ...]]:
        index: dict[str, list[Resource]] = {name: [] for name in self.groups}
        for res in sorted(self.resources.values(), key=lambda r: r.name):
            index.setdefault(res.group, []).append(res)
        return {g: tuple(rs) for g, rs in index.items()}

    @cached_property
    def nodes_by_id(self) -> tuple[Node, ...]:
        return tuple(sorted(self.nodes.values(), key=lambda n: n.id))

    def group_resources(self, group: str) -> tuple[Resource, ...]:
        return self.resources_by_group.get(group, ())

    def dependents(self, resource: str) -> tuple[str, ...]:
        """The resources that name ``resource`` in their dependencies, sorted."""
        return tuple(sorted(r.name for r in self.resources.values() if resource in r.depends_on))

    def dependency_relations(self, resource: str) -> tuple[str, ...]:
        """What ``resource`` depends on, then what depends on it: a resource with any may
        not change group (S36)."""
        return (*sorted(self.resources[resource].depends_on), *self.dependents(resource))
