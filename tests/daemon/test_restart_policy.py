"""Restart policy against real daemons (S30; MSCS RestartThreshold/RestartPeriod): with
threshold N, the first N failures within the period restart the resource in place and
failure N+1 fails the whole group over (restart-and-failover).

Regression: the first Initiate Failure with threshold 1 used to fail the group over at
once (and a real crash mostly did too). The coordinator granted the restart, and its next
tick, woken by that very write, came before the owner had reported the restart (Online
Pending): the resource was still Failed, now with one restart inside the period, so the
grant for this failure was counted as an earlier restart and the threshold as reached.
Each case is repeated on fresh groups, so a lost race shows up as a failed assertion, not
as a rare flake; every wait is bounded and nothing here measures time.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wolfpack.cli.main import app
from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.lab.probe_app import overlaps
from wolfpack.model.states import ResourceState
from wolfpack.node.pidregistry import PidRegistry

pytestmark = pytest.mark.etcd

TRIES = 3  # fresh groups per case: each starts with an empty restart history
WAIT_S = 30.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path)
    try:
        c.start()
        c.start_all()
        yield c
    finally:
        c.close()


def initiate_failure(c: LocalCluster, group: str, *, wait: bool = True) -> None:
    """``wolfpack resource fail`` (Initiate Failure, FAIL_RESOURCE), as the web UI does."""
    env = {
        **c.client_env(),
        "WOLFPACK_PREFIX": c.keys.root,
        "WOLFPACK_SECRET_FILE": str(c.secret_file),
    }
    args = ["resource", "fail", f"{group}-app", "--json", *([] if wait else ["--no-wait"])]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output


def crash(c: LocalCluster, group: str) -> None:
    """SIGKILL the group's application: a PID node1 of this cluster started and registered."""
    flag = f"--port {c.ports[group]} ".encode()

    def app_pids() -> list[int]:
        pids = []
        for pid, _, label in PidRegistry(c.run_dir("node1")).alive():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if label == "resource" and flag in cmdline:
                pids.append(pid)
        return pids

    pids = wait_for(app_pids, timeout=WAIT_S)
    assert len(pids) == 1, f"one application process of {group} on node1, not {pids}"
    os.kill(pids[0], signal.SIGKILL)


def failovers_decided(c: LocalCluster, group: str) -> list[dict[str, object]]:
    """The coordinator's logged decisions to fail ``group`` over after a resource failure."""

    def fails_over(line: dict[str, object]) -> bool:
        actions, reasons = line.get("actions"), line.get("reasons")
        if line.get("event") != "plan" or not isinstance(actions, list):
            return False
        assert isinstance(reasons, list)
        return any(
            str(action).startswith(f"place-group {group} ") and reason == "FAILOVER_RESOURCE_FAILED"
            for action, reason in zip(actions, reasons, strict=True)
        )

    return [line for node in c.names for line in c.log_lines(node) if fails_over(line)]


def restarted_in_place(c: LocalCluster, group: str, restarts: int) -> None:
    """Wait until the resource runs on node1 again with ``restarts`` restarts recorded, or
    fail at once if the group left node1 instead."""

    def settled() -> str | None:
        snap = c.snapshot()
        st, gst = snap.resource(f"{group}-app"), snap.group(group)
        if gst.owner != "node1" or gst.failovers:
            return f"failed over to {gst.owner} (restarts {st.restarts}, failovers {gst.failovers})"
        if st.state is ResourceState.ONLINE and st.node == "node1" and len(st.restarts) == restarts:
            return "restarted" if c.answer(group) == "node1" else None
        return None

    outcome = wait_for(settled, timeout=WAIT_S)
    assert outcome == "restarted", f"{group}: failure {restarts} should restart in place; {outcome}"
    assert failovers_decided(c, group) == []


@pytest.mark.parametrize("threshold", [1, 3])
@pytest.mark.parametrize("fail", [initiate_failure, crash], ids=["initiate-failure", "crash"])
def test_first_failures_restart_in_place_then_the_group_fails_over(
    cluster: LocalCluster, fail: Callable[[LocalCluster, str], None], threshold: int
) -> None:
    """S30: failures 1..N restart on node1; failure N+1 moves the group to node2."""
    for attempt in range(TRIES):
        group = f"R{threshold}x{attempt}"
        cluster.add_app_group(
            group,
            preferred=("node1", "node2", "node3"),
            resource_options={"restart_threshold": threshold},
        )
        online_on(cluster, group, "node1")
        for failure in range(1, threshold + 1):
            fail(cluster, group)
            restarted_in_place(cluster, group, failure)
        fail(cluster, group)
        online_on(cluster, group, "node2")
        snap = cluster.snapshot()
        assert len(snap.group(group).failovers) == 1
        assert len(failovers_decided(cluster, group)) == 1
        assert overlaps(cluster.runs(group)) == [], f"{group} ran on two nodes at once"


def online_on(c: LocalCluster, group: str, node: str) -> None:
    def there() -> bool:
        st = c.snapshot().resource(f"{group}-app")
        return st.state is ResourceState.ONLINE and st.node == node and c.owner(group) == node

    wait_for(lambda: there() and c.answer(group) == node, timeout=WAIT_S)


def test_initiate_failure_while_online_pending_is_carried_out(cluster: LocalCluster) -> None:
    """Initiate Failure (S30 restart policy) while the resource is Online Pending: the
    coordinator marks it Failed and grants its restart; the start then completing must not
    overwrite that mark with Online. Once it did: the failure was lost (the application
    never restarted) while its restart grant still counted against the threshold."""
    cluster.add_app_group(
        "Slow",
        preferred=("node1", "node2"),
        check_delay_s=3.0,  # every start stays Online Pending for 3 s
        resource_options={"restart_threshold": 3},
    )
    online_on(cluster, "Slow", "node1")
    initiate_failure(cluster, "Slow", wait=False)

    def restarting() -> bool:
        st = cluster.snapshot().resource("Slow-app")
        return st.state is ResourceState.ONLINE_PENDING and len(st.restarts) == 1

    wait_for(restarting, timeout=WAIT_S)
    initiate_failure(cluster, "Slow", wait=False)  # during that start (or just after it)
    restarted_in_place(cluster, "Slow", 2)

    def processes() -> set[str]:
        return {line.split()[2] for line in cluster.runs("Slow")}

    # Each granted restart started the application anew: the first one and two restarts.
    wait_for(lambda: len(processes()) >= 3, timeout=WAIT_S)
    assert len(processes()) == 3
    assert overlaps(cluster.runs("Slow")) == []
