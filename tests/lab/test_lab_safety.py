"""Issue 8's must-shows on the real demo lab (default settings): never two owners, judged
by an observer that reads processes, addresses and mounts per node namespace and the
nodes' liveness keys through etcd's majority (:mod:`wolfpack.lab.safety_observer`), not by
the cluster's own state.

One lab for the module, scenarios in file order (:mod:`wolfpack.lab.safety_scenarios`);
each undoes its fault on the way out (nft rules, SIGCONT, the fence agent, power). A
failure prints the scenario's measures, every failed check and the observer's timeline.
``bench/lab_safety.py`` runs the same scenarios several times and reports the numbers.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.lab import safety_scenarios as scenarios
from wolfpack.lab.daemons import fence_agent
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.safety_faults import nft_tables
from wolfpack.lab.safety_observer import SafetyObserver
from wolfpack.node.pidregistry import proc_stat

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def observer(demo_lab: LabDriver) -> Iterator[SafetyObserver]:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (run scripts/setup)")
    with scenarios.observer_for(demo_lab) as obs:
        yield obs


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="wpl-safety-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def passed(result: scenarios.Result) -> bool:
    print(result.report())  # shown with -s, and on failure
    return not result.failed


def test_an_application_slow_to_stop_never_runs_twice(
    demo_lab: LabDriver, observer: SafetyObserver
) -> None:
    """H1, H2 (issue 8's first reproduction): a Generic Application that takes 3 s to exit
    on SIGTERM, failed four times (restart threshold 3). Its runs never overlap, on one
    node or two; afterwards it is Online on the new node, where its one process runs, its
    status names that node and the plan has nothing for it."""
    r = scenarios.fail_slow_app(demo_lab, observer)
    assert passed(r), r.report()
    assert r.measures["failures_until_failover"] == 4
    assert r.measures["slow_overlap_s"] == 0 and r.measures["runs"] == 5


def test_a_frozen_daemon_is_fenced_before_its_lease_could_expire(
    demo_lab: LabDriver, observer: SafetyObserver, work: Path
) -> None:
    """H4, H5, M7: SIGSTOP of Web's owner's wolfpackd only. The survivors stop hearing it,
    the coordinator fences it (the lab agent powers it off) and only then revokes its lease:
    Web's processes, address and mount are gone before the quorum lets the lease go, Web is
    served by another node, and never from two."""
    r = scenarios.freeze_daemon(demo_lab, observer, work)
    assert passed(r), r.report()
    assert r.measures["fenced_by_power_off"] is True
    assert r.measures["web_elsewhere_s"] is not None


def test_a_frozen_daemon_nobody_can_fence_is_stopped_by_its_watchdog(
    demo_lab: LabDriver, observer: SafetyObserver, work: Path
) -> None:
    """H4, M7, C2: the same freeze with the fence device unreachable. The node's own
    watchdog kills Web's processes, removes its address and unmounts its disk by the node's
    deadline, before the quorum lets the lease expire; then Web moves."""
    r = scenarios.freeze_daemon(demo_lab, observer, work, fenced=False)
    assert passed(r), r.report()
    assert r.measures["fenced_by_power_off"] is False
    assert r.checks["its watchdog fired"] and r.checks["gone by the node's own deadline"]


def test_a_node_cut_from_etcd_stops_before_the_quorum_lets_its_lease_go(
    demo_lab: LabDriver, observer: SafetyObserver, work: Path
) -> None:
    """H4, M6, M7, H5 (issue 8's second reproduction): Web's owner cut from etcd (TCP 2379
    and 2380 dropped on its interfaces; its heartbeats still flow) for 15 s while its etcd
    member leads: that member acknowledges keep-alives until it finds it lost the quorum.
    Web's processes, address and mount are gone before the majority lets the lease go,
    Web is served by another node within 6 s of the cut, SQL answers throughout (the same
    postmaster) and no other node fences itself, before or after the cut heals."""
    r = scenarios.etcd_cut(demo_lab, observer, work)
    assert passed(r), r.report()
    assert r.measures["leader_at_cut"] == r.node
    assert r.measures["web_elsewhere_s"] <= scenarios.WEB_ELSEWHERE_S
    assert r.measures["sql_failed_tries"] == 0


def test_the_faults_are_all_undone(demo_lab: LabDriver, observer: SafetyObserver) -> None:
    """No nft rule left in any node namespace, no daemon stopped, the lab's own fence agent
    back, every node Up, and the observer saw every sample it took (a late observer would
    blur its intervals)."""
    state = demo_lab.reload()
    agent = fence_agent(state).read_text()
    assert "fence_client" in agent and "--power-wait" not in agent and "exit 1" not in agent
    for node in state.nodes:
        assert "wolfpack_lab_etcd_cut" not in nft_tables(demo_lab, node)
    daemons = [p for p in state.processes if p.role == "wolfpackd"]
    assert daemons and all(p.running for p in daemons)
    assert all((st := proc_stat(p.pid)) is not None and st.state != "T" for p in daemons)
    assert scenarios.settled(demo_lab)
    rec = observer.record()
    assert rec.errors == [] and rec.samples > 0
