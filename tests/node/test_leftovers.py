"""M7: a restarted daemon ends what an earlier one left (cgroups with their processes,
``:wp`` addresses, mounts) unless its resource is Online here and adopted.

Node1's real resource manager on an in-memory cluster database; real processes in real
cgroups (a subtree unique to the test), a network namespace lab with a unique prefix, and
tmpfs mounts in a private mount namespace. Everything is removed at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wolfpack.lab.netns import Lab
from wolfpack.model.builtin_types import GENERIC_APPLICATION, IP_ADDRESS, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import Agent, create_agent
from wolfpack.resources.confine import Confinement
from wolfpack.resources.holdings import ADDRESS, CGROUP, Holdings
from wolfpack.resources.ip import NETNS_ENV

from .leftovers_node import context, manager
from .procs import WAIT, running, until

HERE = Path(__file__).resolve().parent
APP = {"type": GENERIC_APPLICATION, "properties": {"command": "sleep 300"}}


def started(name: str, spec: dict[str, Any], run_dir: Path, confine: Confinement | None) -> Agent:
    """Started by "the daemon before": an agent on node1's run directory."""
    rtype = builtin_types()[spec["type"]]
    res = Resource(name, spec["type"], "G", properties=spec["properties"])
    agent = create_agent(res, rtype, context(run_dir, confine))
    agent.start(timeout_s=WAIT)
    return agent


def cleaned(log: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    return {f["resource"]: f["why"] for e, f in log if e == "leftover_cleaned" and "resource" in f}


def test_leftover_cgroups_are_killed_unless_their_resource_is_adopted(
    confine: Confinement, tmp_path: Path
) -> None:
    """M7: a cgroup left by the daemon before, of a resource whose status names node2 or
    that is no longer configured, is killed and removed at start; one whose resource is
    Online here is adopted and keeps running."""
    run_dir = tmp_path / "run"
    before = {name: started(name, APP, run_dir, confine) for name in ("old", "here", "gone")}
    pids = {name: agent.pids()[0] for name, agent in before.items()}
    log: list[tuple[str, dict[str, Any]]] = []
    mgr = manager(
        {"old": APP, "here": APP}, {"old": "node2", "here": "node1"}, context(run_dir, confine), log
    )
    try:
        mgr._adopt_or_clean()
        assert until(lambda: not running(pids["old"]) and not running(pids["gone"]))
        assert running(pids["here"]) and "here" in mgr.running
        assert cleaned(log) == {
            "old": "its status names node2",
            "gone": "the resource is no longer configured",
        }
        groups = {g.path.name for g in confine.cgroups()}
        assert groups == {"here"}
        assert [h.resource for h in Holdings(run_dir).entries((CGROUP,))] == ["here"]
    finally:
        mgr._pool.shutdown()
        for agent in before.values():
            agent.stop(timeout_s=WAIT)
        for run in mgr.running.values():
            run.agent.stop(timeout_s=WAIT)
    assert not running(pids["here"])


VIPS = {"vip-old": "198.51.100.100", "vip-here": "198.51.100.101"}


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    prefix = f"wpt-{secrets.token_hex(3)}-"
    built = Lab(prefix)
    try:
        built.add_bridge("br-public")
        built.add_host("node1")
        built.connect("node1", "eth0", "br-public", "198.51.100.11/24")
        yield built
    finally:
        built.destroy()
    assert Lab.existing(prefix) == []


@pytest.mark.netns
def test_leftover_addresses_are_removed_unless_their_resource_is_adopted(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """M7: a ``:wp`` address of a resource whose status names node2 is removed at start
    (else DAD refuses it on node2); one whose resource is Online here is adopted."""
    monkeypatch.setenv(NETNS_ENV, lab.ns("node1"))  # the agents work in the lab's node1
    run_dir = tmp_path / "run"
    specs = {
        name: {"type": IP_ADDRESS, "properties": {"address": vip, "network": "public"}}
        for name, vip in VIPS.items()
    }
    for name, spec in specs.items():
        started(name, spec, run_dir, None)
    assert {h.resource for h in Holdings(run_dir).entries((ADDRESS,))} == set(VIPS)

    def addresses() -> list[str]:
        out = lab.ip("node1", ["-4", "-o", "addr", "show", "dev", "eth0"], what="addresses")
        return [line.split()[3] for line in out.splitlines()]

    log: list[tuple[str, dict[str, Any]]] = []
    mgr = manager(specs, {"vip-old": "node2", "vip-here": "node1"}, context(run_dir, None), log)
    try:
        mgr._adopt_or_clean()
    finally:
        mgr._pool.shutdown()
    assert cleaned(log) == {"vip-old": "its status names node2"}
    assert f"{VIPS['vip-old']}/24" not in addresses()
    assert f"{VIPS['vip-here']}/24" in addresses() and "vip-here" in mgr.running


def test_leftover_mounts_are_unmounted_unless_their_resource_is_adopted(tmp_path: Path) -> None:
    """M7: a mount recorded for a resource whose status names node2, or that is no longer
    configured, is unmounted at start (else MMP refuses it on node2); a mount nobody
    recorded is left alone."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    run = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            str(HERE / "leftovers_node.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["mounted"] == {"disk-old": False, "disk-gone": False, "unrelated": True}
    assert out["left"] == []
    whys = {f["resource"]: f["why"] for e, f in out["log"] if e == "leftover_cleaned"}
    assert whys == {
        "disk-old": "its status names node2",
        "disk-gone": "the resource is no longer configured",
    }
