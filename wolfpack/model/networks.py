"""Network and interface states (WSFC), derived from every node's report (pure).

Nobody stores these states: each reader (the coordinator's policy, the CLI, the API, the web
UI) derives them from one snapshot with :func:`derive`, so they can never disagree with the
reports they come from or go stale when the node that would have written them dies.

An interface (one node on one network) is

- **Unavailable** when its node is not a live member (Down, or still Joining);
- **Failed** when its node reports the link lost (no carrier, set down, or no link holds
  its address: media sense, settled over the window), or, on a heartbeat network, when
  it talks to none of the other live interfaces there while some exist;
- **Unreachable** when it talks to some healthy interfaces on its network but not to all;
- **Up** otherwise.

Two interfaces *talk* when neither node's report says it does not hear the other (a node
without a report yet is no evidence either way). A network without heartbeats (role public
or none) has only its links to go by.

A network is **Unavailable** with no live interface, **Up** when every live interface is
Up, **Down** when every live one is Failed, and **Partitioned** otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from wolfpack.model.config import ClusterConfig, Interface
from wolfpack.model.links import LinkReport, NodeLinks
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import InterfaceState, NetworkState, NodeState

#: the resource agent whose resources need a network (the IP Address type)
IP_AGENT = "ip"
#: node states whose interfaces count (a paused node is still a member)
_LIVE = (NodeState.UP, NodeState.PAUSED)


@dataclass(frozen=True)
class InterfaceVerdict:
    state: InterfaceState
    reason: str = ""  # why it is not Up, for people
    report: LinkReport | None = None  # what its node said (None: nothing yet)


@dataclass(frozen=True)
class NetworkVerdict:
    state: NetworkState
    reason: str = ""


@dataclass(frozen=True)
class NetworkStates:
    interfaces: Mapping[str, InterfaceVerdict]  # by configured interface name
    networks: Mapping[str, NetworkVerdict]  # by network name

    def of_node(self, cfg: ClusterConfig, node: str, network: str) -> InterfaceVerdict | None:
        """The verdict of ``node``'s interface on ``network`` (None: it has none there)."""
        for itf in cfg.interfaces.values():
            if itf.node == node and itf.network == network:
                return self.interfaces.get(itf.name)
        return None


def derive_states(
    cfg: ClusterConfig, live: Iterable[str], reports: Mapping[str, NodeLinks]
) -> NetworkStates:
    """Every interface's and network's state, from the live nodes and their reports."""
    alive = frozenset(live)
    interfaces: dict[str, InterfaceVerdict] = {}
    networks: dict[str, NetworkVerdict] = {}
    for net in sorted(cfg.networks.values(), key=lambda n: n.name):
        members = sorted(
            (i for i in cfg.interfaces.values() if i.network == net.name), key=lambda i: i.name
        )
        verdicts = _network_interfaces(members, alive, reports, net.role.carries_heartbeats)
        interfaces.update(verdicts)
        networks[net.name] = _network_verdict(verdicts)
    for itf in cfg.interfaces.values():  # on a network that is not configured (invalid)
        interfaces.setdefault(itf.name, InterfaceVerdict(InterfaceState.UNAVAILABLE))
    return NetworkStates(MappingProxyType(interfaces), MappingProxyType(networks))


def _report(reports: Mapping[str, NodeLinks], itf: Interface) -> LinkReport | None:
    links = reports.get(itf.node)
    return links.interfaces.get(itf.name) if links is not None else None


def _network_interfaces(
    members: list[Interface],
    alive: frozenset[str],
    reports: Mapping[str, NodeLinks],
    heartbeats: bool,
) -> dict[str, InterfaceVerdict]:
    out: dict[str, InterfaceVerdict] = {}
    by_node: dict[str, Interface] = {}
    for itf in members:
        report = _report(reports, itf)
        if itf.node not in alive:
            out[itf.name] = InterfaceVerdict(InterfaceState.UNAVAILABLE, "its node is down", report)
        elif report is not None and not report.link.usable:
            why = report.link.text + (f" on {report.ifname}" if report.ifname else "")
            out[itf.name] = InterfaceVerdict(InterfaceState.FAILED, why, report)
        else:
            by_node.setdefault(itf.node, itf)
    candidates = {itf.node: itf for itf in by_node.values()}
    if not heartbeats or len(candidates) < 2:
        for itf in candidates.values():
            out[itf.name] = InterfaceVerdict(InterfaceState.UP, "", _report(reports, itf))
        return out
    heard = {n: _heard(reports, itf) for n, itf in candidates.items()}

    def talk(a: str, b: str) -> bool:
        ha, hb = heard[a], heard[b]
        return (ha is None or b in ha) and (hb is None or a in hb)

    isolated = {a for a in candidates if not any(talk(a, b) for b in candidates if b != a)}
    for node in sorted(isolated):
        itf = candidates[node]
        out[itf.name] = InterfaceVerdict(
            InterfaceState.FAILED, "talks to no other node on this network", _report(reports, itf)
        )
    healthy = [n for n in candidates if n not in isolated]
    for node in healthy:
        itf = candidates[node]
        unreached = sorted(b for b in healthy if b != node and not talk(node, b))
        if unreached:
            out[itf.name] = InterfaceVerdict(
                InterfaceState.UNREACHABLE,
                f"cannot reach {', '.join(unreached)} on this network",
                _report(reports, itf),
            )
        else:
            out[itf.name] = InterfaceVerdict(InterfaceState.UP, "", _report(reports, itf))
    return out


def _heard(reports: Mapping[str, NodeLinks], itf: Interface) -> frozenset[str] | None:
    report = _report(reports, itf)
    if report is None or report.heard is None:
        return None  # no evidence (no report yet, or the node sends no heartbeats here)
    return frozenset(report.heard)


def _network_verdict(verdicts: Mapping[str, InterfaceVerdict]) -> NetworkVerdict:
    live = {n: v for n, v in verdicts.items() if v.state is not InterfaceState.UNAVAILABLE}
    if not live:
        return NetworkVerdict(NetworkState.UNAVAILABLE, "no live node has an interface on it")
    states = {v.state for v in live.values()}
    if states == {InterfaceState.UP}:
        return NetworkVerdict(NetworkState.UP)
    if states == {InterfaceState.FAILED}:
        return NetworkVerdict(NetworkState.DOWN, "no live node can use it")
    bad = sorted(n for n, v in live.items() if v.state is not InterfaceState.UP)
    return NetworkVerdict(NetworkState.PARTITIONED, f"not Up: {', '.join(bad)}")


def live_nodes(snap: Snapshot) -> frozenset[str]:
    """Configured nodes whose state counts for their interfaces."""
    return frozenset(n for n in snap.config.nodes if snap.node(n).state in _LIVE)


_last: tuple[Snapshot, NetworkStates] | None = None


def derive(snap: Snapshot) -> NetworkStates:
    """:func:`derive_states` of one snapshot; the last one is kept, since every row of a
    listing (and every eligibility question of one plan) asks about the same snapshot."""
    global _last
    last = _last
    if last is not None and last[0] is snap:
        return last[1]
    states = derive_states(snap.config, live_nodes(snap), snap.links)
    _last = (snap, states)
    return states


def resource_network(cfg: ClusterConfig, resource: str) -> str | None:
    """The cluster network an IP Address resource is on (its ``network`` property)."""
    res = cfg.resources.get(resource)
    if res is None:
        return None
    rtype = cfg.types.get(res.type)
    if rtype is None or rtype.agent != IP_AGENT:
        return None
    network = res.properties.get("network")
    return network if isinstance(network, str) and network in cfg.networks else None


def group_networks(cfg: ClusterConfig, group: str) -> frozenset[str]:
    """The networks a group's clients reach it on: those of its IP Address resources."""
    found = (resource_network(cfg, r.name) for r in cfg.group_resources(group))
    return frozenset(n for n in found if n is not None)


def changes(
    before: NetworkStates | None, after: NetworkStates, cfg: ClusterConfig
) -> list[tuple[str, dict[str, object]]]:
    """What changed between two derivations, as log events (event, fields)."""
    out: list[tuple[str, dict[str, object]]] = []
    old_nets = before.networks if before is not None else {}
    old_ifs = before.interfaces if before is not None else {}
    for name, verdict in after.networks.items():
        was = old_nets.get(name)
        if was is None or was.state is not verdict.state:
            out.append(
                (
                    "network_state",
                    {
                        "network": name,
                        "state": str(verdict.state),
                        "was": str(was.state) if was is not None else None,
                        "reason": verdict.reason,
                    },
                )
            )
    for name, v in after.interfaces.items():
        was_if = old_ifs.get(name)
        if was_if is None or was_if.state is not v.state:
            itf = cfg.interfaces.get(name)
            out.append(
                (
                    "interface_state",
                    {
                        "interface": name,
                        "node": itf.node if itf is not None else None,
                        "network": itf.network if itf is not None else None,
                        "state": str(v.state),
                        "was": str(was_if.state) if was_if is not None else None,
                        "reason": v.reason,
                    },
                )
            )
    return out
