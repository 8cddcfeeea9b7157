"""Client-observed Web outage in the seed's two-node cluster with a witness (issue 10; S7,
S13, S14), as root:

    python bench/lab_two_node.py --runs 10 --json [--dir /tmp/wpl-two-node]

Builds ``wolfpack lab up --nodes 2 --witness`` (node1 and node2 formed with ``cluster
create`` and ``cluster join``, the witness with ``witness join``) and the demo's groups if
the lab is not up (and takes it down afterwards if it built it). Each run is
bench/lab_failover.py's ``web_poweroff``: Web's owner, its preferred node2, is powered off
while a probe on the client host fetches http://www.cluster.test/ every 50 ms; node1, with
the witness's vote, keeps the quorum, fences node2 and starts Web; the outage is from the
last answer of node2 to the first of node1. node2 is powered on and Web moved home between
runs (not measured).

Prints a table and where the time went, writes bench/results/lab_two_node.json and
lab_two_node.png, and prints a JSON object as its last stdout line (with --json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
from lab_failover import per_phase, print_phases, web_poweroff

from wolfpack.lab import demo, world
from wolfpack.lab.driver import LabDriver

RESULTS = Path(__file__).parent / "results" / "lab_two_node.json"
PLOT = RESULTS.with_suffix(".png")
TARGETS = {"web_poweroff_p50_s": 1.5}
DEFAULT_DIR = Path("/tmp/wpl-two-node")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 50:
        ap.error("--runs must be 1 to 50")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    t_build = time.monotonic()
    state, brought_up = world.up(args.dir, 2, progress=demo.say, witness=True)
    seconds: list[float] = []
    phases: list[dict[str, float]] = []
    try:
        demo.install(state)
        build_s = time.monotonic() - t_build
        lab = LabDriver(args.dir)
        lab.lift_failover_thresholds(demo.GROUPS)
        with tempfile.TemporaryDirectory(prefix="wpl-bench-") as tmp:
            for i in range(args.runs):
                try:
                    run = web_poweroff(lab, Path(tmp))
                except (TimeoutError, RuntimeError):
                    print(lab.wolfpack("status", check=False).stdout, file=sys.stderr)
                    raise
                seconds.append(round(run.seconds, 3))
                if run.phases:
                    phases.append(run.phases)
                print(f"web_poweroff run {i + 1}: {run.seconds:.3f} s", file=sys.stderr)
    finally:
        if brought_up:
            world.down(args.dir, demo.say)
    spent = per_phase(phases)
    print_phases({"web_poweroff": spent})
    summary = {
        "web_poweroff_p50_s": benchlib.percentile(seconds, 50),
        "web_poweroff_p99_s": benchlib.percentile(seconds, 99),
    }
    doc: dict[str, Any] = {
        **summary,
        "targets": TARGETS,
        "met": {k: summary[k] <= v for k, v in TARGETS.items()},
        "runs": args.runs,
        "samples_s": {"web_poweroff": seconds},
        "phases_s": spent,
        "phase_samples_s": phases,
        "probe_interval_s": 0.05,
        "lab": "two nodes (cluster create + cluster join) and a witness (witness join)",
        "build_s": round(build_s, 1) if brought_up else None,
    }
    doc = benchlib.write_results(RESULTS, doc)
    benchlib.outage_plot(
        {"web_poweroff": seconds},
        PLOT,
        targets=TARGETS,
        title="Two nodes + witness: Web outage (black: median, red: target)",
    )
    benchlib.print_outages({"web_poweroff": seconds})
    print(f"wrote {RESULTS} and {PLOT}")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
