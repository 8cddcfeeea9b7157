"""How long a key rotation takes, and that nothing moves while it runs (issue 11 item 4).

    python bench/rotate_keys.py --runs 3 --json

Starts a LocalCluster (three wolfpackd, etcd over TLS with RBAC, the REST API on HTTPS)
with one group, then runs ``wolfpack cluster rotate-keys`` (its function, in-process)
``--runs`` times back to back with a 1 s overlap, sampling the group's owner every 50 ms
meanwhile. Reports per run the seconds each phase waited for every node's
acknowledgement, the total, and whether the owner ever changed (it must not).

Prints ``key: value`` lines, writes bench/results/rotate_keys.json, and with --json prints
a JSON object as the last line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib

from wolfpack.cli.rotate import rotate
from wolfpack.lab.localcluster import LocalCluster, wait_for

RESULTS = Path(__file__).parent / "results" / "rotate_keys.json"
OVERLAP_S = 1.0


def run(runs: int, workdir: Path) -> dict[str, Any]:
    with LocalCluster(workdir) as c:
        c.start_all(timeout=90)
        c.add_app_group("Web", preferred=tuple(c.names))
        wait_for(lambda: c.answer("Web") == "node1", timeout=90)
        owners: set[str | None] = set()
        stop = threading.Event()

        def observe() -> None:
            deadline = time.monotonic() + 600
            while not stop.is_set() and time.monotonic() < deadline:
                owners.add(c.owner("Web"))
                stop.wait(0.05)

        observer = threading.Thread(target=observe, daemon=True)
        observer.start()
        totals, phases = [], []
        for _ in range(runs):
            started = time.monotonic()
            report = rotate(c.db, c.secret_file, OVERLAP_S, 60.0)
            totals.append(time.monotonic() - started)
            phases.append(report["phase_seconds"])
        stop.set()
        observer.join(timeout=5)
    per_phase = {
        p: round(statistics.median(r[p] for r in phases), 3) for p in ("accept", "send", "done")
    }
    return {
        "runs": runs,
        "overlap_s": OVERLAP_S,
        "total_s_median": round(statistics.median(totals), 3),
        "total_s_max": round(max(totals), 3),
        "ack_wait_s_median": per_phase,
        "owners_seen": sorted(str(o) for o in owners),
        "owner_changed": len(owners) != 1,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="rotations (1-10)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.runs <= 10:
        ap.error("--runs must be 1-10")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wolfpack-bench-rotate-") as tmp:
        result = run(args.runs, Path(tmp))
    result["load_avg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    result["machine"] = benchlib.machine()
    benchlib.report(result, RESULTS, as_json=args.json)
    return 1 if result["owner_changed"] else 0


if __name__ == "__main__":
    sys.exit(main())
