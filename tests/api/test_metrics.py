"""``/metrics`` of real wolfpackd processes on a real etcd, scraped before and after a real
failover (issue 13 item 4): the group's owner series follows it, ``failovers_total``
counts it, its duration is there, the dead node is Down; each node reports its own lease,
heartbeat paths, watchdog and check latency; a restart in place is counted; and the text
passes ``promtool check metrics`` (Debian's prometheus package)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.node.grace import FLOOR_S
from wolfpack.node.pidregistry import PidRegistry

pytestmark = pytest.mark.etcd

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(c: LocalCluster, node: str) -> tuple[str, Samples]:
    text = httpx.get(c.api_url(node) + "/metrics", timeout=10, verify=c.ca_context() or True).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name, frozenset(s.labels.items())] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def promtool_problems(text: str) -> str:
    """What ``promtool check metrics`` says about the exposition (empty: clean)."""
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return (done.stdout + done.stderr).strip() if done.returncode else ""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("metrics-cluster"))
    try:
        c.start()
        c.start_all()
        c.add_app_group(
            "Web",
            preferred=("node1", "node2", "node3"),
            resource_options={"looks_alive_ms": 200, "is_alive_ms": 400},
        )
        wait_for(lambda: c.answer("Web") == "node1", timeout=30)
        yield c
    finally:
        c.close()


def test_metrics_follow_a_failover(cluster: LocalCluster) -> None:
    c = cluster
    _, before = scrape(c, "node2")
    assert value(before, "wolfpack_group_owner", group="Web", node="node1") == 1
    assert value(before, "wolfpack_group_failovers_total", group="Web") == 0
    assert value(before, "wolfpack_group_last_failover_duration_seconds", group="Web") is None

    c.kill_node("node1")
    wait_for(lambda: c.answer("Web") == "node2" and c.owner("Web") == "node2", timeout=30)

    def settled() -> Samples | None:
        """Online on node2, and the coordinator has seen its failover complete (the next
        plan after the last resource came Online records its duration)."""
        _, s = scrape(c, "node3")
        online = value(s, "wolfpack_group_state", group="Web", state="Online") == 1
        owner = value(s, "wolfpack_group_owner", group="Web", node="node2")
        done = value(s, "wolfpack_group_last_failover_duration_seconds", group="Web")
        return s if online and owner and done is not None else None

    after = wait_for(settled, timeout=15)
    assert value(after, "wolfpack_group_owner", group="Web", node="node1") is None
    assert value(after, "wolfpack_group_failovers_total", group="Web") == 1
    assert value(after, "wolfpack_group_failovers_in_period", group="Web") == 1
    took = value(after, "wolfpack_group_last_failover_duration_seconds", group="Web")
    assert took is not None and 0 < took < 30
    assert value(after, "wolfpack_node_state", node="node1", state="Down") == 1
    assert value(after, "wolfpack_node_state", node="node2", state="Up") == 1
    assert value(after, "wolfpack_nodes_up") == 2
    labels = {"resource": "Web-app", "group": "Web", "type": "Generic Application"}
    assert value(after, "wolfpack_resource_state", **labels, state="Online") == 1
    # node3's own view: its lease, its watchdog, node2 heard, node1 silent
    assert value(after, "wolfpack_lease_valid") == 1
    remaining = value(after, "wolfpack_lease_remaining_seconds")
    assert remaining is not None and remaining > 0
    grace = value(after, "wolfpack_fencing_grace_seconds")  # sized from etcd's round trips
    assert grace is not None and FLOOR_S <= grace <= 3
    assert value(after, "wolfpack_watchdog_armed") == 1
    assert value(after, "wolfpack_heartbeat_path_up", peer="node2", network="heartbeat") == 1
    assert value(after, "wolfpack_heartbeat_path_up", peer="node1", network="heartbeat") == 0
    assert value(after, "wolfpack_heartbeats_lost_total", peer="node2", network="heartbeat") == 0
    assert (value(after, "wolfpack_heartbeat_packets_total", outcome="received") or 0) > 0
    # every node gives the same cluster-wide answer
    _, from_node2 = scrape(c, "node2")
    assert value(from_node2, "wolfpack_group_failovers_total", group="Web") == 1


def test_checks_and_restarts_are_counted_where_they_happen(cluster: LocalCluster) -> None:
    c = cluster
    owner = c.owner("Web")
    assert owner is not None
    check = {"resource": "Web-app", "check": "looks_alive"}
    wait_for(
        lambda: (
            (
                value(
                    scrape(c, owner)[1], "wolfpack_resource_check_duration_seconds_count", **check
                )
                or 0
            )
            > 2
        ),
        timeout=10,
    )
    _, here = scrape(c, owner)
    assert (value(here, "wolfpack_resource_check_duration_seconds_sum", **check) or 0) > 0
    others = [n for n in c.names if n != owner and c.api_ready(n)]
    _, elsewhere = scrape(c, others[0])
    assert value(elsewhere, "wolfpack_resource_check_duration_seconds_count", **check) is None

    restarts = {"resource": "Web-app", "group": "Web"}
    assert value(here, "wolfpack_resource_restarts_total", **restarts) == 0
    app = [p for p, _, label in PidRegistry(c.run_dir(owner)).alive() if label == "resource"]
    assert app, "the application runs on its owner"
    os.kill(app[0], signal.SIGKILL)
    wait_for(
        lambda: value(scrape(c, owner)[1], "wolfpack_resource_restarts_total", **restarts) == 1,
        timeout=15,
    )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool: apt install prometheus")
def test_promtool_finds_nothing_to_lint(cluster: LocalCluster) -> None:
    for node in c_names_up(cluster):
        text, _ = scrape(cluster, node)
        assert "wolfpack_group_state" in text
        assert promtool_problems(text) == "", node


def c_names_up(c: LocalCluster) -> list[str]:
    return [n for n in c.names if c.api_ready(n)]
