"""The database wizard (S40): a PostgreSQL virtual server in one request.

Like SQL Server's cluster setup, it makes a group holding what a virtual server needs: an IP
Address, a Network Name on it, a Physical Disk for the data, and the PostgreSQL Server that
depends on both, its data directory on the disk (initialised by the first start that finds
it empty, and only on the mounted disk: see the PostgreSQL agent and docs/resource-types.md). The
binaries stay local on every node: before anything is written, the wizard checks each node
that may own the group for them, from what the node reported about itself (its inventory).

:func:`database_group` is pure: it returns the new configuration, or raises naming every
problem; the caller writes it in one validated transaction, so a refusal changes nothing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wolfpack.errors import AlreadyExistsError, FieldError, ValidationError
from wolfpack.model.builtin_types import IP_ADDRESS, NETWORK_NAME, PHYSICAL_DISK, POSTGRESQL
from wolfpack.model.config import ClusterConfig, Group, PropertyValue, Resource
from wolfpack.model.inventory import Inventory

#: Network Name properties a new name takes from the cluster's existing names (same DNS)
DNS_SETTINGS = ("zone", "server", "port", "key_file", "key_name", "ttl")


@dataclass(frozen=True)
class DatabaseSpec:
    name: str  # the group
    address: str  # the virtual server's IPv4 address
    device: str  # the shared disk's block device
    network: str | None = None  # default: the cluster network whose subnet holds address
    mountpoint: str | None = None  # default: /srv/<prefix>
    dns_name: str | None = None  # default: the prefix (lower-cased group name)
    preferred_owners: tuple[str, ...] = ()
    port: int = 5432
    description: str = ""
    #: Network Name properties (server, zone, key_file ...); unset ones come from the
    #: cluster's first existing Network Name, so the new name lands in the same DNS zone
    dns: Mapping[str, PropertyValue] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.name.lower().replace(" ", "-")


@dataclass(frozen=True)
class DatabaseGroup:
    config: ClusterConfig  # the whole configuration with the new group and resources
    group: Group
    resources: tuple[Resource, ...]  # in dependency order: disk, ip, name, database


def database_group(
    cfg: ClusterConfig, inventories: Mapping[str, Inventory], spec: DatabaseSpec
) -> DatabaseGroup:
    """The configuration with ``spec``'s database group added; ValidationError naming every
    bad field (``ip``, ``network``, ``nodes.node3`` ...) or AlreadyExistsError otherwise."""
    if spec.name in cfg.groups:
        raise AlreadyExistsError("group", spec.name)
    errors: list[FieldError] = []
    network = _network(cfg, spec, errors)
    errors += _binaries(cfg, inventories, spec.preferred_owners)
    p = spec.prefix
    names = {"disk": f"{p}-disk", "ip": f"{p}-ip", "name": f"{p}-name", "db": p}
    errors += [
        FieldError(f"resources.{n}", "already exists: choose another group name")
        for n in names.values()
        if n in cfg.resources
    ]
    if errors:
        raise ValidationError(errors)
    mountpoint = spec.mountpoint or f"/srv/{p}"
    group = Group(spec.name, spec.description, preferred_owners=spec.preferred_owners)
    resources = (
        Resource(
            names["disk"],
            PHYSICAL_DISK,
            spec.name,
            properties={"device": spec.device, "mountpoint": mountpoint},
        ),
        Resource(
            names["ip"],
            IP_ADDRESS,
            spec.name,
            properties={"address": spec.address, "network": network},
        ),
        Resource(
            names["name"],
            NETWORK_NAME,
            spec.name,
            dependencies=((names["ip"],),),
            properties={"name": spec.dns_name or p, **_dns_defaults(cfg), **spec.dns},
        ),
        Resource(
            names["db"],
            POSTGRESQL,
            spec.name,
            dependencies=((names["disk"],), (names["ip"],)),
            properties={
                "data_directory": f"{mountpoint.rstrip('/')}/data",
                "listen_address": spec.address,
                "port": spec.port,
                "initialize": True,
            },
        ),
    )
    new = dataclasses.replace(
        cfg,
        groups={**cfg.groups, spec.name: group},
        resources={**cfg.resources, **{r.name: r for r in resources}},
    )
    return DatabaseGroup(new, group, resources)


def _network(cfg: ClusterConfig, spec: DatabaseSpec, errors: list[FieldError]) -> str:
    if spec.network is not None and spec.network not in cfg.networks:
        known = ", ".join(sorted(cfg.networks)) or "none"
        errors.append(FieldError("network", f"no network {spec.network!r} (known: {known})"))
    try:
        address = ipaddress.IPv4Address(spec.address)
    except ValueError:
        errors.append(FieldError("ip", f"{spec.address!r} is not an IPv4 address"))
        return spec.network or ""
    if spec.network is not None:
        return spec.network
    holding = [n.name for n in cfg.networks.values() if address in ipaddress.IPv4Network(n.subnet)]
    if not holding:
        subnets = ", ".join(f"{n.name} {n.subnet}" for n in cfg.networks.values()) or "none"
        errors.append(
            FieldError("ip", f"{address} is on no cluster network ({subnets}); give --network")
        )
        return ""
    return sorted(holding)[0]


def _binaries(
    cfg: ClusterConfig, inventories: Mapping[str, Inventory], owners: Sequence[str]
) -> list[FieldError]:
    """S40: the binaries must be on every node that may own the group."""
    errors = []
    for node in owners or sorted(cfg.nodes):
        if node not in cfg.nodes:
            continue  # the configuration's own validation names unknown owners
        inventory = inventories.get(node)
        if inventory is None:
            errors.append(
                FieldError(
                    f"nodes.{node}",
                    "has not reported its software yet: start wolfpackd there, or leave "
                    "it out with --preferred-owners",
                )
            )
        elif not inventory.postgresql_versions:
            errors.append(
                FieldError(
                    f"nodes.{node}",
                    "has no PostgreSQL binaries (postgres and initdb in /usr/lib/postgresql/"
                    f"<version>/bin): install them there ('apt-get install postgresql'), "
                    f"restart wolfpackd on {node}, and run the wizard again",
                )
            )
    return errors


def _dns_defaults(cfg: ClusterConfig) -> dict[str, PropertyValue]:
    for res in sorted(cfg.resources.values(), key=lambda r: r.name):
        if res.type == NETWORK_NAME:
            return {k: v for k, v in res.properties.items() if k in DNS_SETTINGS}
    return {}
