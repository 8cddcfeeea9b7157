"""plan() speed of two source trees side by side: did a change make the policy slower?

    python bench/plan_compare.py --old /path/to/old/checkout --rounds 10 --json

Runs ``bench/plan.py`` (this tree's copy, so both trees get the same benchmark) once per
configuration and round for each tree, with ``PYTHONPATH`` pointing at that tree, in
A-B-B-A order so that a machine getting busier or quieter weighs on both alike. Per
configuration it reports each tree's median of the per-round medians and the smallest time
seen, the ratios new/old of both, and the noise: how far apart the per-round medians of one
tree lie (interquartile range over median, the larger of the two trees). A ratio within
1 +- noise is no measurable change. Prints a table, writes bench/results/plan_compare.json,
and with --json prints the JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import benchlib

HERE = Path(__file__).parent
BENCH = HERE / "plan.py"
RESULTS = HERE / "results" / "plan_compare.json"
#: (nodes, resources): the corners and the middle of plan.py's matrix
CONFIGS = ((3, 100), (16, 1000), (64, 1000), (3, 10000), (64, 10000))
#: one run of plan.py: building 10,000 resources and 7 plans take a few seconds at most
RUN_TIMEOUT_S = 120


def run_once(tree: Path, nodes: int, resources: int, runs: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, str(BENCH), "--nodes", str(nodes), "--resources", str(resources)]
    done = subprocess.run(
        [*argv, "--runs", str(runs), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"plan.py failed on {tree}: {done.stderr.strip()[-500:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def spread(values: list[float]) -> float:
    """Interquartile range over median: how far apart repeated measurements lie."""
    if len(values) < 4:
        return (max(values) - min(values)) / statistics.median(values)
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / statistics.median(values)


def compare(old: Path, new: Path, rounds: int, runs: int) -> list[dict[str, Any]]:
    rows = []
    for nodes, resources in CONFIGS:
        medians: dict[str, list[float]] = {"old": [], "new": []}
        mins: dict[str, list[float]] = {"old": [], "new": []}
        outcome: dict[str, set[int]] = {"old": set(), "new": set()}
        for i in range(rounds):
            order = (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old))
            for name, tree in order:
                row = run_once(tree, nodes, resources, runs)
                medians[name].append(float(row["median_ms"]))
                mins[name].append(float(row["min_ms"]))
                outcome[name].add(int(row["groups_failed_over"]))
        old_median = statistics.median(medians["old"])
        new_median = statistics.median(medians["new"])
        rows.append(
            {
                "nodes": nodes,
                "resources": resources,
                "rounds": rounds,
                "old_median_ms": round(old_median, 3),
                "new_median_ms": round(new_median, 3),
                "ratio_median": round(new_median / old_median, 3),
                "old_min_ms": round(min(mins["old"]), 3),
                "new_min_ms": round(min(mins["new"]), 3),
                "ratio_min": round(min(mins["new"]) / min(mins["old"]), 3),
                "noise": round(max(spread(medians["old"]), spread(medians["new"])), 3),
                # the same decisions: both trees fail over as many groups
                "same_outcome": outcome["old"] == outcome["new"] and len(outcome["old"]) == 1,
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the other checkout (the baseline)")
    ap.add_argument("--new", type=Path, default=HERE.parent, help="default: this checkout")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=7, help="plan() calls per plan.py run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = ap.parse_args()
    if args.rounds < 2 or args.runs < 5:
        ap.error("--rounds must be at least 2 and --runs at least 5")
    for tree in (args.old, args.new):
        if not (tree / "wolfpack" / "policy").is_dir():
            ap.error(f"{tree} is not a Wolfpack checkout")
    rows = compare(args.old.resolve(), args.new.resolve(), args.rounds, args.runs)
    out = sys.stderr if args.json else sys.stdout
    print(
        f"{'nodes':>5} {'resources':>9} {'old ms':>8} {'new ms':>8} {'ratio':>6} "
        f"{'min ratio':>9} {'noise':>6}",
        file=out,
    )
    for r in rows:
        print(
            f"{r['nodes']:>5} {r['resources']:>9} {r['old_median_ms']:>8} {r['new_median_ms']:>8} "
            f"{r['ratio_median']:>6} {r['ratio_min']:>9} {r['noise']:>6}",
            file=out,
        )
    result = {
        "benchmark": "plan() after one node lost, two trees side by side (bench/plan.py)",
        "old": str(args.old),
        "new": str(args.new),
        "machine": benchlib.machine(),
        "load_average": list(os.getloadavg()),
        "results": rows,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}", file=out)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
