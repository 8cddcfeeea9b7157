"""A node's addresses matched to the cluster's networks by subnet (pure, S21).

``wolfpack cluster create`` and ``cluster join`` send the node's own IPv4 addresses (with
their prefix lengths, as ``ip -4 addr`` shows them). Each address inside a cluster network's
subnet becomes the node's interface there (``<node>-<network>``); an address on a segment
the cluster does not know yet becomes a new network (role ``mixed``, named ``networkN``),
as WSFC forms a network from every subnet its nodes share. A joining node none of whose
addresses is on a known network cannot exchange heartbeats with anyone: that is an error
naming its addresses and the cluster's subnets, and nothing is changed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wolfpack.errors import AlreadyExistsError, ValidationError
from wolfpack.model.config import ClusterConfig, Interface, Network, Node
from wolfpack.model.validation import MAX_NODES


@dataclass(frozen=True)
class HostAddress:
    """One IPv4 address of a host, as its kernel has it (``198.51.100.11/24`` on eth0)."""

    address: str
    prefix: int
    ifname: str = ""

    @property
    def interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.address}/{self.prefix}")

    def __str__(self) -> str:
        where = f" on {self.ifname}" if self.ifname else ""
        return f"{self.address}/{self.prefix}{where}"


@dataclass(frozen=True)
class Matched:
    """What a node's addresses give: its interfaces and the networks that are new."""

    interfaces: tuple[Interface, ...]
    new_networks: tuple[Network, ...]


def usable(addresses: Iterable[HostAddress], ignore: Iterable[str] = ()) -> list[HostAddress]:
    """The addresses a cluster network can use: IPv4, not link-local, not in ``ignore``
    (the cluster's own virtual addresses, which move between nodes). The loopback interface
    is left out where addresses are read (tests use 127.0.x.y as nodes' addresses)."""
    skip = set(ignore)
    out = []
    for a in addresses:
        try:
            itf = a.interface
        except ValueError:
            continue
        if itf.ip.is_link_local or a.address in skip:
            continue
        out.append(a)
    return out


def match_networks(
    cfg: ClusterConfig,
    node: str,
    addresses: Sequence[HostAddress],
    *,
    ignore: Iterable[str] = (),
) -> Matched:
    """``node``'s interfaces on the cluster's networks, and new networks for segments the
    cluster has not seen (S21). The first address on a network wins (a second one on the
    same network, such as a virtual address, is not an interface). Raises
    :class:`ValidationError` (field ``interfaces``) when no address is usable, or when the
    cluster has networks and no address is on any of them."""
    candidates = usable(addresses, ignore)
    if not candidates:
        shown = ", ".join(str(a) for a in addresses) or "none"
        raise ValidationError.single(
            "interfaces",
            f"{node} has no usable IPv4 address (found: {shown}): give it a fixed address on "
            "each cluster network",
        )
    subnets = {n.name: ipaddress.IPv4Network(n.subnet) for n in cfg.networks.values()}
    taken = {name for name in cfg.networks}
    interfaces: dict[str, Interface] = {}
    new: dict[str, Network] = {}
    for a in candidates:
        network = next((n for n, s in sorted(subnets.items()) if a.interface.ip in s), None)
        if network is None:
            network = _next_name(taken)
            taken.add(network)
            subnet = a.interface.network
            subnets[network] = subnet
            new[network] = Network(network, str(subnet))
        if network not in interfaces:
            name = f"{node}-{network}"
            interfaces[network] = Interface(name, node, network, a.address)
    if cfg.networks and not any(n in cfg.networks for n in interfaces):
        known = ", ".join(f"{n.name} {n.subnet}" for n in sorted(cfg.networks.values(),
                                                               key=lambda n: n.name))  # fmt: skip
        shown = ", ".join(str(a) for a in candidates)
        raise ValidationError.single(
            "interfaces",
            f"none of {node}'s addresses ({shown}) is on a cluster network ({known}): connect "
            "it to at least one of them, with an address in its subnet",
        )
    return Matched(tuple(interfaces.values()), tuple(new.values()))


def _next_name(taken: set[str]) -> str:
    return next(f"network{i}" for i in range(1, len(taken) + 2) if f"network{i}" not in taken)


def with_node(
    cfg: ClusterConfig,
    node: str,
    addresses: Sequence[HostAddress],
    *,
    node_id: int = 0,
    ignore: Iterable[str] = (),
) -> tuple[ClusterConfig, Matched]:
    """``cfg`` with ``node`` added (id ``node_id``, or the lowest free one), its interfaces
    and any new networks; :class:`AlreadyExistsError` if the node exists."""
    if node in cfg.nodes:
        raise AlreadyExistsError("node", node)
    used = {n.id for n in cfg.nodes.values()}
    node_id = node_id or next((i for i in range(1, MAX_NODES + 1) if i not in used), 0)
    if node_id in used:
        raise ValidationError.single("id", f"node id {node_id} is taken; leave it out")
    if not node_id:
        raise ValidationError.single("nodes", f"a cluster has at most {MAX_NODES} nodes")
    matched = match_networks(cfg, node, addresses, ignore=ignore)
    changed = dataclasses.replace(
        cfg,
        nodes={**cfg.nodes, node: Node(node, node_id)},
        networks={**cfg.networks, **{n.name: n for n in matched.new_networks}},
        interfaces={**cfg.interfaces, **{i.name: i for i in matched.interfaces}},
    )
    return changed, matched


def without_node(cfg: ClusterConfig, node: str) -> ClusterConfig:
    """``cfg`` with ``node`` evicted: the node, its interfaces, and its name in every
    preferred-owners and possible-owners list. A resource that only ``node`` may own is an
    error naming it (give it other possible owners first); networks stay."""
    if node not in cfg.nodes:
        return cfg
    stranded = [r.name for r in cfg.resources.values() if r.possible_owners == (node,)]
    if stranded:
        raise ValidationError.single(
            f"resources.{stranded[0]}.possible_owners",
            f"only {node} may own {', '.join(stranded)}: give other possible owners first",
        )
    groups = {
        name: dataclasses.replace(
            g, preferred_owners=tuple(o for o in g.preferred_owners if o != node)
        )
        for name, g in cfg.groups.items()
    }
    resources = {
        name: r
        if r.possible_owners is None
        else dataclasses.replace(
            r, possible_owners=tuple(o for o in r.possible_owners if o != node)
        )
        for name, r in cfg.resources.items()
    }
    return dataclasses.replace(
        cfg,
        nodes={n: v for n, v in cfg.nodes.items() if n != node},
        interfaces={n: i for n, i in cfg.interfaces.items() if i.node != node},
        groups=groups,
        resources=resources,
    )
