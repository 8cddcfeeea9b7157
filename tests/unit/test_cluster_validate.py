"""The cluster validation judge (S1: validate every node before it is trusted with groups),
on fabricated facts: every check passes when all is well, and warns or fails, naming the
node and what to fix, when one thing is wrong."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Interface, Network, Node
from wolfpack.model.config import Resource as R
from wolfpack.model.node_facts import (
    AddressFact,
    ClockFact,
    DiskFact,
    EndpointFact,
    EtcdFact,
    FenceFact,
    HeardFact,
    NameFact,
    NodeFacts,
    ProgramFact,
    ReachFact,
    ValidationReport,
    WatchdogFact,
)
from wolfpack.model.states import NetworkRole
from wolfpack.policy import validate as v

NOW = 1_800_000_000.0
NODES = ("node1", "node2", "node3")
NUM = {"node1": 1, "node2": 2, "node3": 3}


def config(**changes: Any) -> ClusterConfig:
    interfaces = {}
    for n in NODES:
        i = NUM[n]
        interfaces[f"{n}-public"] = Interface(f"{n}-public", n, "public", f"198.51.100.1{i}")
        interfaces[f"{n}-private"] = Interface(f"{n}-private", n, "private", f"203.0.113.1{i}")
    resources = {
        "cluster-ip": R("cluster-ip", "IP Address", "Cluster Group",
                        properties={"address": "198.51.100.10", "network": "public"}),
        "cluster-name": R("cluster-name", "Network Name", "Cluster Group",
                          dependencies=(("cluster-ip",),), properties={"name": "jean"}),
        "web-disk": R("web-disk", "Physical Disk", "Web", possible_owners=("node2", "node3"),
                      properties={"device": "/dev/loop7", "mountpoint": "/srv/web"}),
        "web": R("web", "Web Server", "Web", possible_owners=("node2", "node3"),
                 properties={"docroot": "/srv/web", "listen_address": "198.51.100.20"}),
        "sql": R("sql", "PostgreSQL Server", "Web", possible_owners=("node1",),
                 properties={"data_directory": "/srv/sql", "listen_address": "198.51.100.30",
                             "bin_directory": "/usr/lib/postgresql/15/bin"}),
        "dummy": R("dummy", "OCF Resource Agent", "Web", possible_owners=("node1",),
                   properties={"agent": "heartbeat:Dummy"}),
        "app": R("app", "Generic Application", "Web", possible_owners=("node1",),
                 properties={"command": "/opt/app/bin/serve --port 80"}),
    }  # fmt: skip
    cfg = ClusterConfig(
        cluster=ClusterSettings("jean"),
        nodes={n: Node(n, NUM[n]) for n in NODES},
        networks={
            "public": Network("public", "198.51.100.0/24"),
            "private": Network("private", "203.0.113.0/24", NetworkRole.PRIVATE),
        },
        interfaces=interfaces,
        groups={"Cluster Group": Group("Cluster Group"), "Web": Group("Web")},
        resources=resources,
        types=builtin_types(),
    )
    return dataclasses.replace(cfg, **changes)


def healthy(cfg: ClusterConfig, node: str) -> NodeFacts:
    """What a node with nothing wrong reports, from what the judge asks of it."""
    want = v.expectations(cfg, node)
    i = NUM[node]
    return NodeFacts(
        node=node,
        clock=ClockFact(NOW + 0.05, "node1", NOW - 0.01, NOW + 0.01),
        addresses=(
            AddressFact("eth0", f"198.51.100.1{i}/24", True),
            AddressFact("eth1", f"203.0.113.1{i}/24", True),
        ),
        reach=tuple(ReachFact(p.network, p.peer, p.address, True, 0.2) for p in want.peers),
        names=tuple(NameFact(t.kind, t.name, t.expected or ("192.0.2.9",)) for t in want.names),
        disks=tuple(DiskFact(d.resource, d.device, d.device, True) for d in want.disks),
        programs=tuple(
            ProgramFact(p.resource, p.type, p.program, f"/usr/sbin/{p.program}")
            for p in want.programs
        ),
        etcd=EtcdFact(True, "https://203.0.113.11:2379", 3.0),
        fence=FenceFact("/usr/sbin/fence_ipmilan", True, "/usr/sbin/fence_ipmilan"),
        watchdog=WatchdogFact(True, "pid 42"),
        took_ms=120.0,
    )


def report_with(cfg: ClusterConfig, **node3: Any) -> ValidationReport:
    found: dict[str, NodeFacts | str] = {n: healthy(cfg, n) for n in NODES}
    found["node3"] = dataclasses.replace(healthy(cfg, "node3"), **node3)
    return v.judge(cfg, found, NOW)


def problems(report: ValidationReport) -> list[tuple[str, str, str, str]]:
    return [(r.check, r.node, r.verdict, r.code) for r in report.rows if r.verdict != "pass"]


def message(report: ValidationReport, code: str) -> str:
    return next(r.message for r in report.rows if r.code == code)


# -- what each node is asked to look at ------------------------------------------------------


def test_expectations_follow_the_configuration() -> None:
    """S1, S28: a node checks its peers on every shared network, the cluster's and nodes'
    names, and the disks and programs of the resources it may own, no others."""
    cfg = config()
    n3 = v.expectations(cfg, "node3")
    assert {(p.network, p.peer, p.address, p.source) for p in n3.peers} == {
        ("public", "node1", "198.51.100.11", "198.51.100.13"),
        ("public", "node2", "198.51.100.12", "198.51.100.13"),
        ("private", "node1", "203.0.113.11", "203.0.113.13"),
        ("private", "node2", "203.0.113.12", "203.0.113.13"),
    }
    cluster = n3.names[0]
    assert (cluster.kind, cluster.name, cluster.expected) == (
        "cluster",
        "jean.cluster.test",
        ("198.51.100.10",),
    )
    assert [(t.name, t.expected) for t in n3.names[1:2]] == [
        ("node1", ("198.51.100.11", "203.0.113.11"))
    ]
    assert [(d.resource, d.device) for d in n3.disks] == [("web-disk", "/dev/loop7")]
    assert {(p.resource, p.program) for p in n3.programs} == {
        ("web", "nginx"),
        ("web-disk", "e2fsck"),
    }
    n1 = v.expectations(cfg, "node1")
    assert n1.disks == ()
    assert {(p.resource, p.program) for p in n1.programs} == {
        ("sql", "/usr/lib/postgresql/15/bin/postgres"),
        ("dummy", "/usr/lib/ocf/resource.d/heartbeat/Dummy"),
        ("app", "/opt/app/bin/serve"),
    }


def test_a_network_with_role_none_is_not_probed() -> None:
    """S15: a network the cluster does not use is not checked between nodes."""
    cfg = config()
    cfg = dataclasses.replace(
        cfg,
        networks={
            **cfg.networks,
            "private": Network("private", "203.0.113.0/24", NetworkRole.NONE),
        },
    )
    assert {p.network for p in v.expectations(cfg, "node3").peers} == {"public"}


def test_the_cluster_name_without_a_network_name_is_the_bare_name() -> None:
    cfg = config()
    cfg = dataclasses.replace(
        cfg, resources={k: r for k, r in cfg.resources.items() if k != "cluster-name"}
    )
    assert v.cluster_name(cfg).name == "jean" and v.cluster_name(cfg).expected == ()


# -- the judge -----------------------------------------------------------------------------------


def test_all_well_passes_every_check_on_every_node() -> None:
    """S1: a healthy cluster gives a pass row for every check on every node."""
    cfg = config()
    report = v.judge(cfg, {n: healthy(cfg, n) for n in NODES}, NOW)
    assert problems(report) == []
    assert {(r.check, r.node) for r in report.rows} == {(c, n) for c in v.CHECKS for n in NODES}
    assert report.at == NOW and report.nodes == NODES and report.unasked == ()


def test_report_is_json_codable() -> None:
    """The CLI's --json and the API give the report and facts as plain JSON."""
    cfg = config()
    facts = healthy(cfg, "node3")
    assert codec.parse(NodeFacts, codec.dump(facts, exclude_defaults=False)) == facts
    report = v.judge(cfg, {"node3": facts}, NOW)
    assert codec.parse(ValidationReport, codec.dump(report)) == report


def test_an_unreachable_peer_fails_networks_naming_both_ends() -> None:
    """S1, S14: a cut cable shows as node3 not reaching its peers on that network."""
    cfg = config()
    reach = tuple(
        dataclasses.replace(r, reachable=False, error="timed out") if r.network == "private" else r
        for r in healthy(cfg, "node3").reach
    )
    report = report_with(cfg, reach=reach)
    assert problems(report) == [("networks", "node3", "fail", "NETWORK_UNREACHABLE")] * 2
    text = message(report, "NETWORK_UNREACHABLE")
    assert "node3 cannot reach node1 at 203.0.113.11 on network private (timed out)" in text


def test_a_missing_address_and_a_link_down_fail() -> None:
    cfg = config()
    report = report_with(cfg, addresses=(AddressFact("eth0", "198.51.100.13/24", False),))
    assert sorted(problems(report)) == [
        ("networks", "node3", "fail", "ADDRESS_MISSING"),
        ("networks", "node3", "fail", "LINK_DOWN"),
    ]
    assert "node3 has no address 203.0.113.13 (interface node3-private" in message(
        report, "ADDRESS_MISSING"
    )


def test_a_single_heartbeat_network_warns() -> None:
    """S14: one heartbeat path means its failure alone looks like a dead node."""
    cfg = config()
    cfg = dataclasses.replace(
        cfg,
        networks={
            **cfg.networks,
            "private": Network("private", "203.0.113.0/24", NetworkRole.PUBLIC),
        },
    )
    cfg = dataclasses.replace(
        cfg,
        networks={
            **cfg.networks,
            "public": Network("public", "198.51.100.0/24", NetworkRole.PUBLIC),
        },
    )
    report = v.judge(cfg, {"node1": healthy(cfg, "node1")}, NOW)
    assert problems(report) == [("networks", "node1", "warn", "SINGLE_HEARTBEAT_PATH")]


def test_a_node_without_interfaces_fails() -> None:
    cfg = config()
    cfg = dataclasses.replace(
        cfg, interfaces={k: i for k, i in cfg.interfaces.items() if i.node != "node3"}
    )
    report = v.judge(cfg, {"node3": healthy(cfg, "node3")}, NOW)
    assert ("networks", "node3", "fail", "NO_INTERFACES") in problems(report)


def test_the_cluster_name_not_resolving_fails() -> None:
    """S20: a joining node resolves the cluster name; S18: DNS holds it."""
    cfg = config()
    names = tuple(
        dataclasses.replace(n, addresses=(), error="Name or service not known")
        if n.kind == "cluster"
        else n
        for n in healthy(cfg, "node3").names
    )
    report = report_with(cfg, names=names)
    assert problems(report) == [("names", "node3", "fail", "NAME_UNRESOLVED")]
    assert "'jean.cluster.test' (Name or service not known)" in message(report, "NAME_UNRESOLVED")


def test_a_node_name_not_resolving_warns_and_a_wrong_address_warns() -> None:
    cfg = config()
    names = tuple(
        dataclasses.replace(n, addresses=(), error="no address")
        if n.name == "node1"
        else dataclasses.replace(n, addresses=("192.0.2.99",))
        if n.kind == "cluster"
        else n
        for n in healthy(cfg, "node3").names
    )
    report = report_with(cfg, names=names)
    assert sorted(problems(report)) == [
        ("names", "node3", "warn", "NAME_MISMATCH"),
        ("names", "node3", "warn", "NODE_NAME_UNRESOLVED"),
    ]


@pytest.mark.parametrize(
    ("offset", "verdict", "code"),
    [
        (0.3, "pass", "CLOCK_OK"),
        (-1.2, "warn", "CLOCK_DRIFT"),
        (5.0, "fail", "CLOCK_SKEW"),
        (-2.5, "fail", "CLOCK_SKEW"),
    ],
)
def test_clock_offsets_against_the_thresholds(offset: float, verdict: str, code: str) -> None:
    """S1: clocks; the thresholds are CLOCK_WARN_S and CLOCK_FAIL_S, after the measurement's
    own uncertainty (half the round trip)."""
    cfg = config()
    clock = ClockFact(NOW + offset, "node1", NOW - 0.05, NOW + 0.05)
    report = report_with(cfg, clock=clock, took_ms=0.0)
    row = next(r for r in report.rows if r.check == "clock" and r.node == "node3")
    assert (row.verdict, row.code) == (verdict, code)
    if verdict == "fail" and offset > 0:
        assert "node3's clock is 5.00 s ahead of node1's" in row.message


def test_a_slow_round_trip_does_not_make_a_skew() -> None:
    """1.5 s off, measured over a 4 s round trip, may be no offset at all: pass."""
    cfg = config()
    report = report_with(cfg, clock=ClockFact(NOW + 1.5, "node1", NOW - 2, NOW + 2))
    assert problems(report) == []


def test_the_time_the_node_took_is_not_counted_as_network() -> None:
    """The node reads its clock as it starts, then probes for 4 s: a 1.5 s skew still
    shows (one network leg of 50 ms), and without the skew nothing does."""
    cfg = config()
    sent, received = NOW - 2.05, NOW + 2.05
    skewed = ClockFact(sent + 0.05 + 1.5, "node1", sent, received)
    report = report_with(cfg, clock=skewed, took_ms=4000.0)
    assert problems(report) == [("clock", "node3", "warn", "CLOCK_DRIFT")]
    fine = ClockFact(sent + 0.05, "node1", sent, received)
    assert problems(report_with(cfg, clock=fine, took_ms=4000.0)) == []


def test_an_unmeasured_clock_warns() -> None:
    cfg = config()
    report = report_with(cfg, clock=ClockFact(NOW))
    assert problems(report) == [("clock", "node3", "warn", "CLOCK_UNMEASURED")]


def test_a_shared_disk_missing_on_a_possible_owner_fails() -> None:
    """S6, S24, S28: every possible owner of a Physical Disk must see its device."""
    cfg = config()
    report = report_with(cfg, disks=(DiskFact("web-disk", "/dev/loop7", error="No such file"),))
    assert problems(report) == [("disks", "node3", "fail", "DISK_NOT_VISIBLE")]
    text = message(report, "DISK_NOT_VISIBLE")
    assert "node3 cannot see /dev/loop7 of Physical Disk web-disk (No such file)" in text
    assert "--possible-owners" in text


def test_a_disk_that_is_no_block_device_or_was_not_checked_fails() -> None:
    cfg = config()
    report = report_with(cfg, disks=(DiskFact("web-disk", "/dev/loop7", "/tmp/x", False),))
    assert "/tmp/x is no block device" in message(report, "DISK_NOT_VISIBLE")
    assert problems(report_with(cfg, disks=())) == [("disks", "node3", "fail", "DISK_NOT_VISIBLE")]


def test_a_disk_on_a_node_that_may_not_own_it_is_not_asked_for() -> None:
    """S28: node1 is not a possible owner of web-disk: not seeing it is fine."""
    cfg = config()
    facts = dataclasses.replace(healthy(cfg, "node1"), disks=())
    assert problems(v.judge(cfg, {"node1": facts}, NOW)) == []


def test_a_missing_program_on_a_possible_owner_fails() -> None:
    """S40: binaries local on every node that may run the resource."""
    cfg = config()
    programs = tuple(
        dataclasses.replace(p, path="") if p.program == "nginx" else p
        for p in healthy(cfg, "node3").programs
    )
    report = report_with(cfg, programs=programs)
    assert problems(report) == [("programs", "node3", "fail", "PROGRAM_MISSING")]
    assert "node3 lacks nginx for Web Server resource web" in message(report, "PROGRAM_MISSING")


@pytest.mark.parametrize(
    ("fact", "verdict", "code"),
    [
        (EtcdFact(False, "https://e:2379", error="connection refused"), "fail", "ETCD_UNREACHABLE"),
        (EtcdFact(True, "https://e:2379", 250.0), "warn", "ETCD_SLOW"),
        (EtcdFact(True, "https://e:2379", 1500.0), "fail", "ETCD_SLOW"),
        (None, "fail", "ETCD_UNREACHABLE"),
    ],
)
def test_etcd_from_the_node(fact: EtcdFact | None, verdict: str, code: str) -> None:
    """S12: without the cluster database a node cannot join or run anything."""
    report = report_with(config(), etcd=fact)
    assert problems(report) == [("etcd", "node3", verdict, code)]


@pytest.mark.parametrize(
    ("fact", "verdict", "code"),
    [
        (FenceFact("none", True), "warn", "FENCE_NONE"),
        (FenceFact("/usr/sbin/fence_x", False, "not found"), "fail", "FENCE_AGENT_MISSING"),
        (None, "warn", "FENCE_UNKNOWN"),
    ],
)
def test_the_fence_agent(fact: FenceFact | None, verdict: str, code: str) -> None:
    report = report_with(config(), fence=fact)
    assert problems(report) == [("fence", "node3", verdict, code)]


def test_a_watchdog_not_running_fails() -> None:
    report = report_with(config(), watchdog=WatchdogFact(False, "exited"))
    assert problems(report) == [("watchdog", "node3", "fail", "WATCHDOG_NOT_RUNNING")]
    assert "(exited)" in message(report, "WATCHDOG_NOT_RUNNING")


def test_a_node_that_could_not_be_asked_is_one_failed_row() -> None:
    """S1: a node that does not answer is named, and its checks are not guessed."""
    cfg = config()
    found: dict[str, NodeFacts | str] = {n: healthy(cfg, n) for n in ("node1", "node2")}
    found["node3"] = "connection refused"
    report = v.judge(cfg, found, NOW)
    assert problems(report) == [("node", "node3", "fail", "NODE_NOT_ASKED")]
    assert [r.check for r in report.rows if r.node == "node3"] == ["node"]
    assert report.unasked == ("node3",)


def test_no_etcd_endpoint_reachable_fails_and_one_lost_warns() -> None:
    """S12: a node that can open no connection to any etcd member could not start again."""
    lost = EndpointFact("https://127.0.0.1:2379", False, error="timed out")
    alive = EndpointFact("https://203.0.113.11:2379", True, 1.0)
    report = report_with(config(), etcd_endpoints=(lost, dataclasses.replace(lost, url="b")))
    assert problems(report) == [("etcd", "node3", "fail", "ETCD_UNREACHABLE")]
    assert "https://127.0.0.1:2379: timed out" in message(report, "ETCD_UNREACHABLE")
    report = report_with(config(), etcd_endpoints=(lost, alive))
    assert problems(report) == [("etcd", "node3", "warn", "ETCD_ENDPOINT_UNREACHABLE")]


def test_heartbeats_heard_on_a_network_prove_the_path_a_tcp_probe_missed() -> None:
    """S14: a firewall dropping TCP to the heartbeat port is no cut cable: the peer's
    heartbeats arrive on that network, so the network passes; not heard, it fails."""
    cfg = config()
    reach = tuple(
        dataclasses.replace(r, reachable=False, error="timed out") if r.network == "private" else r
        for r in healthy(cfg, "node3").reach
    )
    heard = (HeardFact("private", ("node1", "node2")), HeardFact("public", ("node1", "node2")))
    assert problems(report_with(cfg, reach=reach, heard=heard)) == []
    only_node2 = (HeardFact("private", ("node2",)),)
    report = report_with(cfg, reach=reach, heard=only_node2)
    assert problems(report) == [("networks", "node3", "fail", "NETWORK_UNREACHABLE")]
    assert "cannot reach node1" in message(report, "NETWORK_UNREACHABLE")
