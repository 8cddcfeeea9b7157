"""The cluster validation judge (S1, WSFC's Test-Cluster): pure.

:func:`expectations` says what a node must look at, from the configuration;
:func:`judge` compares what every node found (:class:`~wolfpack.model.node_facts.NodeFacts`,
or why it could not be asked) with the configuration and answers a
:class:`~wolfpack.model.node_facts.ValidationReport`: one row per check and node, ``pass``,
``warn`` or ``fail``, with a reason code and a message naming what to fix. No I/O, no clock:
the time of the report is an argument. docs/troubleshooting.md, "Reading a validation
report", explains every code.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterator, Mapping, Sequence

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.config import ClusterConfig, Resource
from wolfpack.model.node_facts import (
    CheckRow,
    DiskTarget,
    Expectations,
    NameTarget,
    NodeFacts,
    PeerTarget,
    ProgramTarget,
    ValidationReport,
)
from wolfpack.model.states import NetworkRole

PASS, WARN, FAIL = "pass", "warn", "fail"
#: the checks, in the order a report lists them
CHECKS = ("node", "networks", "names", "clock", "disks", "programs", "etcd", "fence", "watchdog")

#: a clock this far from the asking node's (after the measurement's own uncertainty) warns,
#: and this far fails: failback windows, lease deadlines judged locally and the cluster log
#: merged by time all assume clocks within a second
CLOCK_WARN_S = 1.0
CLOCK_FAIL_S = 2.0
#: one read of the cluster database from the node: the lease is renewed every 0.5 s
ETCD_WARN_MS = 100.0
ETCD_FAIL_MS = 1000.0
#: several heartbeat paths are recommended (S14, S23)
MIN_HEARTBEAT_NETWORKS = 2
DEFAULT_ZONE = "cluster.test"
DEFAULT_OCF_ROOT = "/usr/lib/ocf"


# -- what each node must look at --------------------------------------------------------------


def may_own(resource: Resource, node: str) -> bool:
    """S28: possible owners (None: every node)."""
    return resource.possible_owners is None or node in resource.possible_owners


def _prop(cfg: ClusterConfig, r: Resource, name: str) -> str:
    value = r.properties.get(name)
    if value is None and r.type in cfg.types:
        spec = next((p for p in cfg.types[r.type].properties if p.name == name), None)
        value = spec.default if spec is not None else None
    return "" if value is None else str(value)


def _agent(cfg: ClusterConfig, r: Resource) -> str:
    rtype = cfg.types.get(r.type)
    return rtype.agent if rtype is not None else ""


def cluster_name(cfg: ClusterConfig) -> NameTarget:
    """The cluster's name as clients resolve it: the Network Name resource named like the
    cluster (S10, S16), with its zone and the address of the IP Address it depends on."""
    for r in sorted(cfg.resources.values(), key=lambda r: r.name):
        if _agent(cfg, r) != "network-name" or _prop(cfg, r, "name") != cfg.cluster.name:
            continue
        zone = _prop(cfg, r, "zone") or DEFAULT_ZONE
        expected = [_prop(cfg, r, "address")] if _prop(cfg, r, "address") else []
        for alternatives in r.dependencies:
            for dep in alternatives:
                d = cfg.resources.get(dep)
                if d is not None and _agent(cfg, d) == "ip" and _prop(cfg, d, "address"):
                    expected.append(_prop(cfg, d, "address"))
        return NameTarget("cluster", f"{cfg.cluster.name}.{zone}", tuple(sorted(set(expected))))
    return NameTarget("cluster", cfg.cluster.name)


def _programs(cfg: ClusterConfig, r: Resource) -> Iterator[str]:
    agent = _agent(cfg, r)
    if agent == "nginx":
        yield "nginx"
    elif agent == "postgresql":
        bindir = _prop(cfg, r, "bin_directory")
        yield f"{bindir.rstrip('/')}/postgres" if bindir else "postgres"
    elif agent == "ocf":
        spec = _prop(cfg, r, "agent") or r.type.removeprefix("ocf:")
        provider, _, kind = spec.partition(":")
        root = (_prop(cfg, r, "ocf_root") or DEFAULT_OCF_ROOT).rstrip("/")
        yield f"{root}/resource.d/{provider}/{kind}"
    elif agent in ("application", "service") and _prop(cfg, r, "command"):
        try:
            argv = shlex.split(_prop(cfg, r, "command"))
        except ValueError:
            argv = []
        if argv:
            yield argv[0]
    elif agent == "script":
        yield _prop(cfg, r, "script")
    elif agent == "disk":
        yield "e2fsck"


def expectations(cfg: ClusterConfig, node: str) -> Expectations:
    """What ``node`` must look at: its peers on every network it shares with them, the
    cluster's and the nodes' names, the disks and programs of the resources it may own."""
    mine = {i.network: i for i in cfg.interfaces.values() if i.node == node}
    peers = []
    for i in sorted(cfg.interfaces.values(), key=lambda i: (i.network, i.node)):
        own = mine.get(i.network)
        network = cfg.networks.get(i.network)
        if own is None or i.node == node or network is None or network.role is NetworkRole.NONE:
            continue
        peers.append(PeerTarget(i.network, i.node, i.address, own.address))
    names = [cluster_name(cfg)]
    for n in sorted(cfg.nodes):
        addresses = sorted(i.address for i in cfg.interfaces.values() if i.node == n)
        names.append(NameTarget("node", n, tuple(addresses)))
    disks: list[DiskTarget] = []
    programs: list[ProgramTarget] = []
    for r in sorted(cfg.resources.values(), key=lambda r: r.name):
        if not may_own(r, node):
            continue
        if _agent(cfg, r) == "disk" and _prop(cfg, r, "device"):
            disks.append(DiskTarget(r.name, _prop(cfg, r, "device")))
        programs.extend(ProgramTarget(r.name, r.type, p) for p in _programs(cfg, r) if p)
    return Expectations(node, tuple(peers), tuple(names), tuple(disks), tuple(programs))


# -- the judge ----------------------------------------------------------------------------------


def _row(check: str, node: str, verdict: str, code: str, message: str) -> CheckRow:
    return CheckRow(check, node, verdict, code, message)


def _ip(address: str) -> str:
    try:
        return str(ipaddress.ip_interface(address).ip)
    except ValueError:
        return address


def check_networks(cfg: ClusterConfig, node: str, facts: NodeFacts) -> list[CheckRow]:
    rows = []
    have = {_ip(a.address): a for a in facts.addresses}
    for i in sorted(cfg.interfaces.values(), key=lambda i: i.name):
        if i.node != node:
            continue
        found = have.get(i.address)
        if found is None:
            rows.append(
                _row(
                    "networks",
                    node,
                    FAIL,
                    "ADDRESS_MISSING",
                    f"{node} has no address {i.address} (interface {i.name} on network "
                    f"{i.network}): configure it on the node, or correct the interface "
                    f"(wolfpack interface show {i.name})",
                )
            )
        elif not found.up:
            rows.append(
                _row(
                    "networks",
                    node,
                    FAIL,
                    "LINK_DOWN",
                    f"{node}'s {found.ifname} ({i.address}, network {i.network}) has no "
                    "carrier or is down: check its cable and switch port",
                )
            )
    heard = {h.network: set(h.peers) for h in facts.heard}
    for r in facts.reach:
        # heartbeats from the peer on that network prove the path, whatever a firewall
        # does to the TCP probe
        if not r.reachable and r.peer not in heard.get(r.network, ()):
            rows.append(
                _row(
                    "networks",
                    node,
                    FAIL,
                    "NETWORK_UNREACHABLE",
                    f"{node} cannot reach {r.peer} at {r.address} on network {r.network}"
                    f" ({r.error or 'no answer'}): check the cables, switch and "
                    "firewall between them",
                )
            )
    heartbeat = {
        i.network
        for i in cfg.interfaces.values()
        if i.node == node
        and i.network in cfg.networks
        and cfg.networks[i.network].role in (NetworkRole.MIXED, NetworkRole.PRIVATE)
    }
    if not any(i.node == node for i in cfg.interfaces.values()):
        rows.append(
            _row(
                "networks",
                node,
                FAIL,
                "NO_INTERFACES",
                f"{node} has no interface on any cluster network: add one "
                f"(wolfpack interface create {node}-NETWORK --node {node} ...)",
            )
        )
    elif len(heartbeat) < MIN_HEARTBEAT_NETWORKS and len(cfg.nodes) > 1:
        rows.append(
            _row(
                "networks",
                node,
                WARN,
                "SINGLE_HEARTBEAT_PATH",
                f"{node} has {len(heartbeat)} heartbeat network(s): with one path, its "
                "failure alone looks like a dead node (S14); add a second network "
                "with role private or mixed",
            )
        )
    if not rows:
        rows.append(
            _row(
                "networks",
                node,
                PASS,
                "NETWORKS_OK",
                f"{len(facts.addresses)} addresses; every peer reached",
            )
        )
    return rows


def check_names(node: str, facts: NodeFacts) -> list[CheckRow]:
    rows = []
    for n in facts.names:
        serious = n.kind == "cluster"
        if n.error or not n.addresses:
            what = "the cluster name" if serious else f"node name {n.name}"
            fix = (
                "register it in DNS (the cluster's Network Name resource does, while the "
                "Cluster Group is online) and check /etc/resolv.conf on the node"
                if serious
                else "add it to DNS or /etc/hosts"
            )
            rows.append(
                _row(
                    "names",
                    node,
                    FAIL if serious else WARN,
                    "NAME_UNRESOLVED" if serious else "NODE_NAME_UNRESOLVED",
                    f"{node} cannot resolve {what} {n.name!r} ({n.error or 'no address'}): {fix}",
                )
            )
    if not rows:
        rows.append(_row("names", node, PASS, "NAMES_OK", f"{len(facts.names)} names resolve"))
    return rows


def check_names_expected(
    node: str, facts: NodeFacts, targets: Sequence[NameTarget]
) -> list[CheckRow]:
    """Names that resolve, but not to any address the configuration gives them."""
    rows = []
    found = {(n.kind, n.name): n for n in facts.names}
    for t in targets:
        n = found.get((t.kind, t.name))
        if n is None or not n.addresses or not t.expected:
            continue
        if not set(n.addresses) & set(t.expected):
            rows.append(
                _row(
                    "names",
                    node,
                    WARN,
                    "NAME_MISMATCH",
                    f"{node} resolves {t.name!r} to {', '.join(n.addresses)}, not "
                    f"{', '.join(t.expected)}: correct the DNS record or "
                    "/etc/hosts entry",
                )
            )
    return rows


def check_clock(node: str, facts: NodeFacts) -> CheckRow:
    c = facts.clock
    if c.reference_sent <= 0 or c.reference_received < c.reference_sent:
        return _row(
            "clock",
            node,
            WARN,
            "CLOCK_UNMEASURED",
            f"{node}'s clock was not compared with another node's",
        )
    # NTP's reasoning: the node read its clock as it started (``took_ms`` before it
    # answered), one network leg after ``reference_sent``
    round_trip = c.reference_received - c.reference_sent
    one_way = (round_trip - min(facts.took_ms / 1000, round_trip)) / 2
    offset = c.wall - (c.reference_sent + one_way)
    uncertainty = one_way
    certain = abs(offset) - uncertainty
    way = "ahead of" if offset > 0 else "behind"
    text = f"{node}'s clock is {abs(offset):.2f} s {way} {c.reference_node or 'the reference'}'s"
    fix = ": synchronise every node with NTP (chrony or systemd-timesyncd)"
    if certain >= CLOCK_FAIL_S:
        return _row("clock", node, FAIL, "CLOCK_SKEW", text + fix)
    if certain >= CLOCK_WARN_S:
        return _row("clock", node, WARN, "CLOCK_DRIFT", text + fix)
    return _row("clock", node, PASS, "CLOCK_OK", f"{text} (±{uncertainty:.3f} s)")


def check_disks(node: str, facts: NodeFacts, targets: Sequence[DiskTarget]) -> list[CheckRow]:
    rows = []
    found = {(d.resource, d.device): d for d in facts.disks}
    for t in targets:
        d = found.get((t.resource, t.device))
        if d is None or not d.is_block:
            why = (
                "not checked"
                if d is None
                else d.error or f"{d.path or t.device} is no block device"
            )
            rows.append(
                _row(
                    "disks",
                    node,
                    FAIL,
                    "DISK_NOT_VISIBLE",
                    f"{node} cannot see {t.device} of Physical Disk {t.resource} ({why}), "
                    f"and it is a possible owner: attach the shared disk to {node}, or "
                    f"remove {node} from the possible owners (wolfpack resource set "
                    f"{t.resource} --possible-owners ...)",
                )
            )
    if not rows:
        rows.append(_row("disks", node, PASS, "DISKS_OK", f"{len(targets)} shared disks seen"))
    return rows


def check_programs(node: str, facts: NodeFacts, targets: Sequence[ProgramTarget]) -> list[CheckRow]:
    rows = []
    found = {(p.resource, p.program): p for p in facts.programs}
    for t in targets:
        p = found.get((t.resource, t.program))
        if p is None or not p.path:
            rows.append(
                _row(
                    "programs",
                    node,
                    FAIL,
                    "PROGRAM_MISSING",
                    f"{node} lacks {t.program} for {t.type} resource {t.resource}, and "
                    f"it is a possible owner: install it on {node}, or remove {node} from "
                    f"the possible owners (wolfpack resource set {t.resource} "
                    "--possible-owners ...)",
                )
            )
    if not rows:
        rows.append(_row("programs", node, PASS, "PROGRAMS_OK", f"{len(targets)} programs found"))
    return rows


def check_etcd(node: str, facts: NodeFacts) -> CheckRow:
    e = facts.etcd
    endpoints = facts.etcd_endpoints
    lost = [p for p in endpoints if not p.reachable]
    if endpoints and len(lost) == len(endpoints):
        errors = "; ".join(f"{p.url}: {p.error or 'no answer'}" for p in lost)
        return _row(
            "etcd",
            node,
            FAIL,
            "ETCD_UNREACHABLE",
            f"{node} cannot open a connection to any etcd endpoint ({errors}): a restarted "
            "daemon could not reach the cluster database; check the network to etcd and "
            "the firewall (docs/troubleshooting.md, etcd unreachable)",
        )
    if lost:
        return _row(
            "etcd",
            node,
            WARN,
            "ETCD_ENDPOINT_UNREACHABLE",
            f"{node} cannot reach {', '.join(p.url for p in lost)} "
            f"({lost[0].error or 'no answer'}): one etcd member fewer to fail over to; "
            "check that member and the network to it",
        )
    if e is None or not e.ok:
        error = "not checked" if e is None else e.error
        return _row(
            "etcd",
            node,
            FAIL,
            "ETCD_UNREACHABLE",
            f"{node} cannot read the cluster database at {e.endpoints if e else '?'} "
            f"({error}): without it the node cannot hold a lease and runs nothing; check "
            "the endpoints, certificates and the network to etcd"
            " (docs/troubleshooting.md, etcd unreachable)",
        )
    ms = e.latency_ms or 0.0
    if ms >= ETCD_FAIL_MS:
        return _row(
            "etcd",
            node,
            FAIL,
            "ETCD_SLOW",
            f"one read of the cluster database from {node} took {ms:.0f} ms: its lease "
            "(renewed every 0.5 s) is at risk; look at etcd's disk and network",
        )
    if ms >= ETCD_WARN_MS:
        return _row(
            "etcd",
            node,
            WARN,
            "ETCD_SLOW",
            f"one read of the cluster database from {node} took {ms:.0f} ms; expect a "
            "few ms on a LAN: look at etcd's disk and network",
        )
    return _row("etcd", node, PASS, "ETCD_OK", f"read in {ms:.1f} ms")


def check_fence(node: str, facts: NodeFacts) -> CheckRow:
    f = facts.fence
    if f is None:
        return _row("fence", node, WARN, "FENCE_UNKNOWN", f"{node} did not report its fence agent")
    if f.agent == "none":
        return _row(
            "fence",
            node,
            WARN,
            "FENCE_NONE",
            f"{node} runs without a fence agent: failover waits for a dead node's lease "
            "to expire (docs/fencing.md); set fence.agent in wolfpackd.yaml",
        )
    if not f.found:
        return _row(
            "fence",
            node,
            FAIL,
            "FENCE_AGENT_MISSING",
            f"{node}'s fence agent {f.agent} cannot be run ({f.detail}): install "
            "fence-agents or correct fence.agent in wolfpackd.yaml",
        )
    return _row("fence", node, PASS, "FENCE_OK", f"fence agent {f.agent}")


def check_watchdog(node: str, facts: NodeFacts) -> CheckRow:
    w = facts.watchdog
    if w is None or not w.running:
        detail = w.detail if w is not None else "not reported"
        return _row(
            "watchdog",
            node,
            FAIL,
            "WATCHDOG_NOT_RUNNING",
            f"{node}'s watchdog is not running ({detail}): a frozen daemon would keep "
            "its resources; restart wolfpackd on it",
        )
    return _row("watchdog", node, PASS, "WATCHDOG_OK", w.detail or "running")


def nodes_to_ask(cfg: ClusterConfig, asked: Sequence[str] | None, field: str) -> list[str]:
    """The nodes a validation asks: ``asked`` (each once, in order) or every node; a name
    that is not a node of the cluster is refused under ``field`` (``--node``, ``node``)."""
    names = list(dict.fromkeys(asked or sorted(cfg.nodes)))
    unknown = [n for n in names if n not in cfg.nodes]
    if unknown:
        raise ValidationError(
            [
                FieldError(field, f"{n!r} is not a node of cluster {cfg.cluster.name}")
                for n in unknown
            ]
        )
    return names


def judge(cfg: ClusterConfig, found: Mapping[str, NodeFacts | str], now: float) -> ValidationReport:
    """The report on the nodes in ``found``: each node's facts, or why it could not be
    asked (then its one row says so, and its checks are unknown)."""
    rows: list[CheckRow] = []
    for node in sorted(found):
        facts = found[node]
        if isinstance(facts, str):
            rows.append(
                _row(
                    "node",
                    node,
                    FAIL,
                    "NODE_NOT_ASKED",
                    f"{node} could not be asked ({facts}): is wolfpackd running there "
                    "and its REST API reachable? (wolfpack status)",
                )
            )
            continue
        want = expectations(cfg, node)
        rows.append(
            _row("node", node, PASS, "NODE_ANSWERED", f"answered in {facts.took_ms:.0f} ms")
        )
        rows += check_networks(cfg, node, facts)
        rows += check_names(node, facts) + check_names_expected(node, facts, want.names)
        rows.append(check_clock(node, facts))
        rows += check_disks(node, facts, want.disks)
        rows += check_programs(node, facts, want.programs)
        rows += [check_etcd(node, facts), check_fence(node, facts), check_watchdog(node, facts)]
    troubled = {(r.check, r.node) for r in rows if r.verdict != PASS}
    rows = [r for r in rows if r.verdict != PASS or (r.check, r.node) not in troubled]
    order = {c: i for i, c in enumerate(CHECKS)}
    rows.sort(key=lambda r: (order.get(r.check, len(order)), r.node))
    return ValidationReport(now, tuple(sorted(found)), tuple(rows))
