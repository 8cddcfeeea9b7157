"""Taking a group offline ends a Failed resource Offline, with real daemons and etcd (S34;
WSFC: a failed resource is already terminated, so offline brings it to Offline).

Lab finding: a Generic Application whose every start fails (``/bin/false``) fails, restarts
and fails over between the nodes; ``wolfpack group offline`` then never settled (the
resource stayed Failed, since no node's planner stopped a resource that is not running),
and ``resource delete`` / ``group delete`` were refused with RESOURCE_ACTIVE. Every wait is
bounded; nothing here measures time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wolfpack.cli.main import app
from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.model.states import ResourceState

pytestmark = pytest.mark.etcd

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


def cli(c: LocalCluster, *args: str) -> Any:
    env = {
        **c.client_env(),
        "WOLFPACK_PREFIX": c.keys.root,
        "WOLFPACK_SECRET_FILE": str(c.secret_file),
    }
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def broken_group(c: LocalCluster, group: str, **group_options: object) -> None:
    """One Generic Application that exits at once: every start fails."""
    c.add_app_group(
        group,
        preferred=("node1", "node2", "node3"),
        group_options=group_options,
        resource_options={"properties": {"command": "/bin/false"}, "restart_threshold": 1},
    )


def offline_then_delete(c: LocalCluster, group: str) -> None:
    out = cli(c, "group", "offline", group, "--timeout", str(WAIT_S))
    assert out["state"] == "Offline", out  # was Failed after the CLI's grace period
    st = c.snapshot().resource(f"{group}-app")
    assert st.state is ResourceState.OFFLINE and st.failures >= 1
    cli(c, "resource", "delete", f"{group}-app")  # was refused: RESOURCE_ACTIVE
    cli(c, "group", "delete", group)
    assert group not in c.snapshot().config.groups


def test_offline_a_group_past_its_failover_threshold(cluster: LocalCluster) -> None:
    """The group gave up (failover threshold 1): it stays Failed until taken offline."""
    broken_group(cluster, "Stuck", failover_threshold=1)
    wait_for(lambda: cluster.snapshot().group("Stuck").failed_over_limit, timeout=WAIT_S)
    assert cluster.snapshot().resource("Stuck-app").state is ResourceState.FAILED
    offline_then_delete(cluster, "Stuck")


def test_offline_a_group_while_it_bounces(cluster: LocalCluster) -> None:
    """The reproduction: taken offline while it fails, restarts and fails over."""
    broken_group(cluster, "Bouncing")

    def failed_after_failover() -> bool:
        snap = cluster.snapshot()
        st = snap.resource("Bouncing-app")
        return bool(snap.group("Bouncing").failovers) and st.state is ResourceState.FAILED

    wait_for(failed_after_failover, timeout=WAIT_S)
    offline_then_delete(cluster, "Bouncing")
