"""How long one policy decision takes on a large cluster right after a node is lost.

    python bench/plan.py --nodes 64 --resources 10000 --json
    python bench/plan.py --matrix            # 3/16/64 nodes x 100/1,000/10,000 resources

Builds a cluster of N nodes and R/5 groups of five resources each (disk, IP, network name on
the IP, application on disk and IP, a monitor script on the application), every group online
on its preferred owner, then marks node1 Down (fenced) and times ``plan()``: the failover of
every group node1 owned, and failback/stability checks for all the others. Prints a table and,
with --json, a JSON object as the last line; --matrix also writes bench/results/plan.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from big_cluster import NOW
from big_cluster import build as build_steady

from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import NodeStatus, Snapshot
from wolfpack.model.states import NodeState
from wolfpack.policy import plan

RESULTS = Path(__file__).parent / "results" / "plan.json"


def build(nodes: int, resources: int) -> Snapshot:
    """The steady cluster of :func:`big_cluster.build` with node1 Down and fenced."""
    snap = build_steady(nodes, resources)
    down = {**snap.nodes, "node1": NodeStatus(NodeState.DOWN, since=NOW - 1, fenced=True)}
    return Snapshot(snap.config, down, snap.groups, snap.resources)


def measure(nodes: int, resources: int, runs: int) -> dict[str, float | int]:
    snap = build(nodes, resources)
    timings = []
    placed = 0
    for _ in range(runs):
        # A fresh config each run: plan() may cache per-config indexes, and the coordinator
        # decides on a freshly read snapshot every tick.
        snap = Snapshot(
            ClusterConfig(
                nodes=snap.config.nodes,
                groups=snap.config.groups,
                resources=snap.config.resources,
            ),
            snap.nodes,
            snap.groups,
            snap.resources,
        )
        t0 = time.perf_counter()
        result = plan(snap, NOW)
        timings.append((time.perf_counter() - t0) * 1000)
        placed = len(result.owners())
    return {
        "nodes": nodes,
        "groups": len(snap.config.groups),
        "resources": len(snap.config.resources),
        "runs": runs,
        "median_ms": round(statistics.median(timings), 3),
        "min_ms": round(min(timings), 3),
        "max_ms": round(max(timings), 3),
        "groups_failed_over": placed,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--resources", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    ap.add_argument("--matrix", action="store_true", help="3/16/64 x 100/1k/10k; write results")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    if args.matrix:
        rows = [measure(n, r, args.runs) for n in (3, 16, 64) for r in (100, 1000, 10000)]
        print(f"{'nodes':>5} {'groups':>6} {'resources':>9} {'median ms':>10} {'max ms':>8}")
        for row in rows:
            print(
                f"{row['nodes']:>5} {row['groups']:>6} {row['resources']:>9} "
                f"{row['median_ms']:>10} {row['max_ms']:>8}"
            )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "benchmark": "plan() after one node lost",
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
            "results": rows,
        }
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {RESULTS}")
        if args.json:
            print(json.dumps(report))
        return 0
    row = measure(args.nodes, args.resources, args.runs)
    print(
        f"plan(): {row['nodes']} nodes, {row['groups']} groups, {row['resources']} resources, "
        f"{row['groups_failed_over']} groups failed over: median {row['median_ms']} ms "
        f"(min {row['min_ms']}, max {row['max_ms']}, {row['runs']} runs)",
        file=sys.stderr if args.json else sys.stdout,
    )
    if args.json:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
