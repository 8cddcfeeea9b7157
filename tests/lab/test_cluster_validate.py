"""``wolfpack cluster validate`` in the demo lab (S1, Test-Cluster): it passes when all is
well, and finds each fault made on node3, one at a time (wolfpack.lab.validate_faults),
naming node3 and the check: the cluster name not resolving, a clock 5 s off, a shared disk
and nginx missing on a possible owner, etcd unreachable from the node, and, last (a mended
private cable can take a while to carry etcd's traffic again), a network cut. The command
runs on the admin host, as an administrator would run it, and asks the nodes through their
REST APIs; every node's real daemon looks at itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from wolfpack.lab import validate_faults as faults
from wolfpack.lab import world
from wolfpack.lab.driver import LabDriver

from .conftest import lab_skip_reason

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=str(lab_skip_reason())),
]

NODE = "node3"
SETTLE_S = 120.0
#: after the cable is mended: etcd's member on node3 may take a while to rejoin
HEAL_S = 240.0

Fault = Callable[[LabDriver], AbstractContextManager[None]]


def validate(lab: LabDriver) -> tuple[int, dict[str, Any]]:
    result = lab.wolfpack("cluster", "validate", "--json", check=False)
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {result.stdout} {result.stderr}") from None
    return result.returncode, report


def failures(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["check"], r["node"], r["code"]) for r in report["rows"] if r["verdict"] == "fail"}


def trouble(report: dict[str, Any]) -> list[str]:
    """The rows that did not pass, one line each (what an assertion should show)."""
    return [
        f"{r['verdict']} {r['check']} {r['node']} {r['code']}: {r['message']}"
        for r in report["rows"]
        if r["verdict"] != "pass"
    ]


def passes(lab: LabDriver) -> bool:
    code, report = validate(lab)
    return code == 0 and not failures(report)


@pytest.fixture(scope="module")
def lab(demo_lab: LabDriver) -> Iterator[LabDriver]:
    """The demo lab with every node Up and the Cluster Group online (its name resolves)."""
    demo_lab.wait(
        lambda: all(demo_lab.snapshot().node(n).state.value == "Up" for n in demo_lab.state.nodes),
        SETTLE_S,
        "every node Up",
    )
    demo_lab.wait(lambda: demo_lab.online_on("Cluster Group"), SETTLE_S, "Cluster Group online")
    yield demo_lab


def test_all_well_passes(lab: LabDriver) -> None:
    """S1: a healthy lab validates: exit 0, every node answered, nothing failed."""
    lab.wait(lambda: passes(lab), 60.0, "validate passing", every_s=2.0)
    code, report = validate(lab)
    assert code == 0, trouble(report)
    assert report["nodes"] == ["node1", "node2", "node3"]
    answered = {r["node"] for r in report["rows"] if r["code"] == "NODE_ANSWERED"}
    assert answered == {"node1", "node2", "node3"}
    clocks = {r["node"]: r["code"] for r in report["rows"] if r["check"] == "clock"}
    assert clocks == dict.fromkeys(("node1", "node2", "node3"), "CLOCK_OK")
    assert {r["code"] for r in report["rows"] if r["check"] == "disks"} == {"DISKS_OK"}


FAULTS: list[tuple[str, Fault, str, str]] = [
    ("names", lambda lab: faults.names_unresolvable(lab.state, NODE), "names", "NAME_UNRESOLVED"),
    ("clock", lambda lab: faults.clock_skew(lab.state, NODE, 5.0), "clock", "CLOCK_SKEW"),
    ("disk", lambda lab: faults.disk_hidden(lab.state, NODE, "web"), "disks", "DISK_NOT_VISIBLE"),
    (
        "nginx",
        lambda lab: faults.program_hidden(lab.state, NODE, "/usr/sbin/nginx"),
        "programs",
        "PROGRAM_MISSING",
    ),
    ("etcd", lambda lab: faults.etcd_blocked(lab.state, NODE), "etcd", "ETCD_UNREACHABLE"),
]


@pytest.mark.parametrize(("fault", "make", "check", "code"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_on_node3_is_found_naming_it(
    lab: LabDriver, fault: str, make: Fault, check: str, code: str
) -> None:
    """S1: each fault fails validation (exit 1) with node3 and the check named; undone,
    validation passes again."""
    with make(lab):
        status, report = validate(lab)
    assert status == 1, trouble(report)
    assert (check, NODE, code) in failures(report), trouble(report)
    assert {node for _, node, _ in failures(report)} == {NODE}, trouble(report)
    row = next(r for r in report["rows"] if r["code"] == code)
    assert NODE in row["message"]
    lab.wait(lambda: passes(lab), 60.0, f"validate passing after the {fault} fault", every_s=2.0)


def test_a_cut_private_cable_is_found_from_both_ends(lab: LabDriver) -> None:
    """S1, S14: node3's private cable pulled: node3 reaches nobody on that network, and
    the others do not reach node3 there. Last: healing can take a while."""
    with faults.cable_cut(lab.state, NODE, "private"):
        status, report = validate(lab)
    assert status == 1, trouble(report)
    found = failures(report)
    assert ("networks", NODE, "NETWORK_UNREACHABLE") in found, trouble(report)
    assert ("networks", "node1", "NETWORK_UNREACHABLE") in found, trouble(report)
    unreachable = [r["message"] for r in report["rows"] if r["code"] == "NETWORK_UNREACHABLE"]
    nets = json.loads(lab.wolfpack("network", "list", "--json").stdout)
    private = next(n["name"] for n in nets if n["subnet"] == world.PRIVATE_SUBNET)
    expected = f"node1 cannot reach node3 at 203.0.113.13 on network {private}"
    assert any(expected in m for m in unreachable), unreachable
    lab.wait(lambda: passes(lab), HEAL_S, "validate passing after the cable is mended", every_s=5.0)
