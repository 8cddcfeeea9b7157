"""Failover speed and daemon footprint, on a local 3-node cluster (loopback only).

    python bench/failover.py --runs 10 --json

Each measurement is client-observed: a probe polls the group's application over HTTP every
10 ms and the clock runs from the fault to the first answer from the new place.

- node crash: SIGKILL of every process of the owner node (daemon, watchdog, application);
  default settings, the local test fence agent. The node is started again between runs.
- node crash without a fence agent: the survivors must wait for the lease to expire.
- resource restart: SIGKILL of the application process; restarted in place.
- move: an administrator's move to another node.
- rss_mb: the largest resident size of a wolfpackd; idle_cpu_pct: CPU of each wolfpackd
  over 10 s with nothing happening (the largest is reported).

Prints a table, writes bench/results/failover.json, and with --json prints a JSON object
as the last line. Bounded: every wait has a time limit.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.model.snapshot import IntentKind
from wolfpack.node.pidregistry import PidRegistry

RESULTS = Path(__file__).parent / "results" / "failover.json"
GROUP = "Bench"
# The benchmark fails the group over and restarts it many times in a row: lift the MSCS
# thresholds (10 failovers in 6 h, 3 restarts in 15 min) that would otherwise stop it.
UNLIMITED: dict[str, Any] = {
    "group_options": {"failover_threshold": 100000},
    "resource_options": {"restart_threshold": 100000},
}


def until_answer(c: LocalCluster, accept: set[str], timeout: float = 30) -> float:
    """Seconds until the application answers from a node in ``accept``."""
    t0 = time.monotonic()
    wait_for(lambda: c.answer(GROUP, timeout=0.05) in accept, timeout=timeout, interval=0.01)
    return time.monotonic() - t0


def current_owner(c: LocalCluster) -> str:
    owner = wait_for(lambda: c.answer(GROUP), timeout=30)
    assert owner is not None
    return owner


def app_pid(c: LocalCluster, node: str) -> int:
    entries = PidRegistry(c.run_dir(node)).alive()
    return next(pid for pid, _, label in entries if label == "resource")


def node_crashes(c: LocalCluster, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        owner = current_owner(c)
        survivors = set(c.names) - {owner}
        t0 = time.monotonic()
        c.kill_node(owner)
        until_answer(c, survivors)
        times.append(time.monotonic() - t0)
        c.start_node(owner)
        wait_for(lambda: c.all_up(), timeout=30)
    return times


def gone(pid: int) -> None:
    """Wait until the killed process has been reaped by its supervisor."""
    proc = Path(f"/proc/{pid}")
    wait_for(lambda: not proc.exists(), timeout=5, interval=0.002)


def restarts(c: LocalCluster, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        owner = current_owner(c)
        old = app_pid(c, owner)
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        gone(old)
        until_answer(c, {owner})
        times.append(time.monotonic() - t0)
        time.sleep(0.2)
    return times


def moves(c: LocalCluster, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        owner = current_owner(c)
        target = [n for n in c.names if n != owner][i % (len(c.names) - 1)]
        t0 = time.monotonic()
        c.db.add_intent(IntentKind.MOVE_GROUP, GROUP, target)
        until_answer(c, {target})
        times.append(time.monotonic() - t0)
    return times


def footprint(c: LocalCluster, idle_s: float = 10.0) -> tuple[float, float]:
    pids = [p.pid for p in c.daemons.values() if p.poll() is None]

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    before = {pid: cpu(pid) for pid in pids}
    time.sleep(idle_s)
    idle = max((cpu(pid) - before[pid]) / idle_s * 100 for pid in pids)
    return max(rss_mb(pid) for pid in pids), idle


def run(runs: int, workdir: Path) -> dict[str, float | int | str]:
    with LocalCluster(workdir / "fenced") as c:
        c.start_all()
        c.add_app_group(GROUP, preferred=tuple(c.names), **UNLIMITED)
        wait_for(lambda: c.answer(GROUP), timeout=30)
        rss, idle = footprint(c)
        crash = node_crashes(c, runs)
        restart = restarts(c, runs)
        move = moves(c, runs)
    with LocalCluster(workdir / "unfenced", fence="none") as c:
        c.start_all()
        c.add_app_group(GROUP, preferred=tuple(c.names), **UNLIMITED)
        wait_for(lambda: c.answer(GROUP), timeout=30)
        nofence = node_crashes(c, max(1, min(3, runs)))
    return {
        "runs": runs,
        "node_crash_p50_s": round(statistics.median(crash), 3),
        "node_crash_p99_s": round(benchlib.percentile(crash, 99), 3),
        "resource_restart_p50_s": round(statistics.median(restart), 3),
        "move_p50_s": round(statistics.median(move), 3),
        "node_crash_nofence_max_s": round(max(nofence), 3),
        "rss_mb": round(rss, 1),
        "idle_cpu_pct": round(idle, 2),
        "settings": "heartbeat 125 ms x 4, lease TTL 3 s (renew 1 s, margin 0.5 s), "
        "test fence agent",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.runs <= 100:
        ap.error("--runs must be 1-100")
    with tempfile.TemporaryDirectory(prefix="wolfpack-bench-") as tmp:
        result = run(args.runs, Path(tmp))
    result["machine"] = benchlib.machine()
    benchlib.report(result, RESULTS, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
