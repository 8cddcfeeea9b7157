"""A cluster past six nodes, built through cluster create and join (issue 10; WSFC's reach
64): ``wolfpack lab up --nodes 7``. The first six joins add an etcd member (the daemons keep
five voters and one learner); the seventh node is admitted without one, comes Up on the
voters' client URLs, and holds groups like any other (the Cluster Group moves to it, its
first preferred owner). Then ``lab down`` removes exactly what the lab made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from wolfpack.lab import formed, layout, world
from wolfpack.lab.driver import LabDriver

from .conftest import Machine, down_removes_everything, lab_skip_reason, wolfpack_cli

pytestmark = pytest.mark.netns

NODES = 7


@pytest.fixture(scope="module")
def large_lab(machine_before: Machine, lab_dir: Path) -> LabDriver:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    result = subprocess.run(
        [wolfpack_cli(), "lab", "up", "--dir", str(lab_dir), "--nodes", str(NODES)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return LabDriver(lab_dir)


def test_the_seventh_node_joins_without_an_etcd_member(large_lab: LabDriver) -> None:
    state = large_lab.state
    with world.in_admin(state):
        voters = formed.voters(state)
    assert voters == [(f"node{i}", i == 6) for i in range(1, 7)]  # node7: no member
    settings = yaml.safe_load(layout.installed(state, "node7").daemon_settings.read_text())
    assert "etcd_member" not in settings
    endpoints = set(settings["endpoints"].split(","))
    voters = {f"https://{world.public_address(f'node{i}')}:2379" for i in range(1, 6)}
    assert voters <= endpoints  # the learner's are not: a learner serves no requests
    assert f"https://{world.public_address('node6')}:2379" not in endpoints
    assert world.role_pid(state, "node7", "etcd") is None
    assert world.role_pid(state, "node6", "etcd") is not None
    log = (world.node_dir(state, "node1") / "wolfpackd.log").read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "join_without_member" and e.get("joiner") == "node7"
               for e in events)  # fmt: skip


def test_a_memberless_node_is_up_and_holds_the_cluster_group(large_lab: LabDriver) -> None:
    snap = large_lab.snapshot()
    assert all(snap.node(f"node{i}").state.value == "Up" for i in range(1, NODES + 1))
    assert large_lab.online_on("Cluster Group") == "node7"


def test_down_removes_everything(large_lab: LabDriver, machine_before: Machine) -> None:
    down_removes_everything(large_lab, machine_before, disks=2)
