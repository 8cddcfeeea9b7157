"""The cluster log after a node was fenced and came back still shows what happened before
(issue 13 item 3). node1 runs Web, is powered off (every process SIGKILLed) and its run_dir
wiped, as a reboot wipes the tmpfs at /run/wolfpack; it comes back. Its log file and its
resources' output live where the package puts them (log_file, resource_log_dir: on a real
node /var/log/wolfpack), so ``/api/v1/log`` still has node1's lines from before the fence,
and the probe application's output from then is still there."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from wolfpack.admin import tokens
from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.close()


def cluster_log(c: LocalCluster, via: str, token: str) -> list[dict[str, Any]]:
    r = httpx.get(
        c.api_url(via) + "/api/v1/log",
        params={"since": "10m", "node": "node1", "limit": "10000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        verify=c.ca_context() or True,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unreachable"] == []
    lines: list[dict[str, Any]] = body["lines"]
    return lines


def test_the_cluster_log_keeps_what_happened_before_a_fence(cluster: LocalCluster) -> None:
    c = cluster
    _, token = tokens.create(c.db, "reader", "read-only")
    c.start_all()
    c.add_app_group("Web", preferred=("node1", "node2"))
    wait_for(lambda: c.answer("Web") == "node1", timeout=30)
    output = c.log_dir("node1") / "resources" / "Web-app" / "output.log"
    assert output.exists() and output.stat().st_size > 0  # the start is written there
    assert not (c.run_dir("node1") / "resources" / "Web-app" / "output.log").exists()
    before = cluster_log(c, "node1", token)
    assert any(line["event"] == "started" for line in before)
    output_before = output.read_bytes()

    fenced_at = time.time()
    c.kill_node("node1")
    shutil.rmtree(c.run_dir("node1"))  # a reboot empties the tmpfs
    wait_for(lambda: c.answer("Web") == "node2", timeout=30)
    c.start_node("node1")
    wait_for(lambda: c.api_ready("node1"), timeout=30)

    after = cluster_log(c, "node2", token)  # asked of another node: the cluster log
    old = [line for line in after if float(line["ts"]) < fenced_at]
    assert old, "node1's lines from before the fence are gone"
    events = {line["event"] for line in old}
    assert "started" in events and "api_listening" in events
    assert all(line["source"] == "node1" for line in after)
    restarted = [line for line in after if line["event"] == "started" and line["ts"] > fenced_at]
    assert restarted, "and the lines of its new start follow them"
    assert output.read_bytes().startswith(output_before)  # the application's output too
