"""bench/coordinator_scale.py's building blocks at a tiny size (3 nodes, 20 resources, one
run) on the real etcd: the result has its shape and the lost node's groups really moved.
Its timings are the benchmark's to report, never asserted here."""

from __future__ import annotations

import importlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from wolfpack.store import KeySpace
from wolfpack.store.etcd_process import EtcdProcess

pytestmark = pytest.mark.etcd

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("coordinator_scale")


def test_one_tiny_failover_moves_every_group_of_the_lost_node(
    bench: Any, etcd_server: EtcdProcess
) -> None:
    keys = KeySpace(f"/scale-{uuid.uuid4().hex[:8]}/")
    row = bench.measure(etcd_server.store, keys, 3, 20, 1)
    json.dumps(row)  # it is what the JSON file holds
    for field in ("p50_s", "p99_s", "max_s", "requests_per_failover", "bytes_per_failover"):
        assert isinstance(row[field], int | float), field
    assert (row["nodes"], row["groups"], row["resources"], row["runs"]) == (3, 4, 20, 1)
    [sample] = row["samples"]
    assert sample["lost"] == "node1"
    assert sample["groups_moved"] == 2  # g00000 and g00003 prefer node1 first
    assert row["requests_per_failover"] > 0 and row["bytes_per_failover"] > 0
    assert row["per_failover_until_placed"]["by_method"].get("txn", 0) >= 2


def test_the_groups_really_get_another_owner(bench: Any, etcd_server: EtcdProcess) -> None:
    keys = KeySpace(f"/scale-{uuid.uuid4().hex[:8]}/")
    b = bench.Bench(etcd_server.store, keys, 3, 20)
    b.start()
    try:
        before = b.owners()
        lost = sorted(g for g, owner in before.items() if owner == "node1")
        sample = b.failover("node1")  # waits for the owners, then puts the state back
        assert sample.groups == len(lost) == 2
        placed = [
            action.split()
            for _, event, fields in b.events
            if event == "plan"
            for action in fields["actions"]
            if action.startswith("place-group")
        ]
        assert sorted(g for _, g, _ in placed) == lost
        assert all(node not in ("node1", "") for _, _, node in placed)
    finally:
        b.close()
