"""The lab chaos suite, recorded (issue 9 items 3 and 4): runs of seeded, overlapping faults.

    python bench/chaos.py --runs 1 --faults 200 --seed 1 [--dir /run/wolfpack-lab] [--append]

Brings the lab and the demo's groups up if they are not (and takes the lab down afterwards
if it brought it up) and makes ``--runs`` runs of ``wolfpack lab chaos --faults N`` with
seeds ``--seed``, ``--seed``+1, ... (:mod:`wolfpack.lab.chaos_lab`). Writes
``bench/results/chaos.json`` after every run: the totals over all recorded runs as top-level
keys (``faults_total``, ``double_owners``, ``lost_rows``, ``config_changes``, ``per_kind``
with the count and the p50/p99 client-observed outage of each kind) and each run's document
under ``runs``; ``--append`` keeps the runs already in the file (several sessions add up).
Plots the outage per kind to ``bench/results/chaos.png`` (matplotlib). Exits 1 if a run
failed (a double owner, a lost row, a configuration change, no recovery).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from wolfpack.lab import chaos_lab, demo, world
from wolfpack.lab.chaos_lab_judge import totals
from wolfpack.lab.chaos_lab_plan import NOT_DONE
from wolfpack.lab.state import DEFAULT_DIR

RESULTS = Path(__file__).parent / "results" / "chaos.json"
PLOT = RESULTS.with_suffix(".png")


def write(runs: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        **totals(runs),
        "not_done": NOT_DONE,
        "how": "bench/chaos.py; outage: the longest total gap a client of a group the "
        "fault hit saw between its injection and 10 s after its undo (HTTP GET and SQL "
        "INSERT from the client host every 100 ms); overlapping faults share gaps",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": [{k: v for k, v in r.items() if k != "not_done"} for r in runs],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def plot(doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(doc["per_kind"])
    p50 = [doc["per_kind"][k]["outage_p50_s"] or 0.0 for k in kinds]
    p99 = [doc["per_kind"][k]["outage_p99_s"] or 0.0 for k in kinds]
    fig, ax = plt.subplots(figsize=(11, 5))
    xs = range(len(kinds))
    ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
    ax.bar([x + 0.2 for x in xs], p99, 0.4, label="p99")
    ax.set_xticks(list(xs), [f"{k}\n(n={doc['per_kind'][k]['count']})" for k in kinds],
                  rotation=45, ha="right", fontsize=8)  # fmt: skip
    ax.set_ylabel("client-observed outage (s)")
    ax.set_title(
        f"lab chaos: {doc['faults_total']} faults in {doc['run_count']} runs, double owners "
        f"{doc['double_owners']}, lost rows {doc['lost_rows']}, config changes "
        f"{doc['config_changes']}"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--faults", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--append", action="store_true", help="keep the runs already recorded")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 50:
        ap.error("--runs must be 1 to 50")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    runs: list[dict[str, Any]] = []
    if args.append and RESULTS.exists():
        runs = list(json.loads(RESULTS.read_text()).get("runs", []))
    state, brought_up = world.up(args.dir, progress=demo.say, faketime=True)  # clock jumps
    failed = False
    try:
        for i in range(args.runs):
            doc = chaos_lab.main_run(Path(state.dir), args.faults, args.seed + i,
                                     progress=demo.say)  # fmt: skip
            print(chaos_lab.summary(doc), flush=True)
            failed |= bool(doc["failed"])
            runs.append(doc)
            plot(write(runs))
    finally:
        if brought_up:
            world.down(args.dir, demo.say)
    print(f"wrote {RESULTS} and {PLOT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
