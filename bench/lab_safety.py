"""Never two owners, measured in the lab (issue 8): the safety scenarios, several runs each.

    python bench/lab_safety.py --runs 3 [--dir /run/wolfpack-lab] [--json]

Brings the lab and the demo's groups up if they are not (and takes the lab down afterwards
if it brought it up), lifts the demo groups' failover threshold (many failovers in a row),
and runs each scenario of :mod:`wolfpack.lab.safety_scenarios` ``--runs`` times, judged by
the safety observer (processes, addresses and mounts per node namespace; the nodes'
liveness keys read through etcd's majority):

- fail_slow_app: a Generic Application that takes 3 s to exit on SIGTERM, failed until
  its group fails over (restart threshold 3);
- freeze_daemon: SIGSTOP of Web's owner's wolfpackd (the lab agent fences it, confirming
  0.1 s after the off: safety_scenarios.POWER_WAIT_S);
- freeze_unfenced: the same, with the fence device unreachable (its watchdog acts);
- etcd_cut: Web's owner cut from etcd for 15 s while its etcd member leads;
- etcd_cut_follower: the same while another member leads.

Times are seconds after the fault: when each kind of Web's resources was gone from the
faulted node (upper bounds), when the quorum let its lease go (the start of the last read
that still saw it: a lower bound), the node's own deadline (from its watchdog's log), when
a client first got Web from another node, and the longest time SQL (on another node) went
without answering. Prints a table, writes bench/results/lab_safety.json, and prints a JSON
summary as its last line with --json. Exits 1 if any check of any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wolfpack.lab import demo, safety_scenarios, world
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.safety_observer import PERIOD_S, SafetyObserver
from wolfpack.lab.safety_scenarios import Result
from wolfpack.lab.state import DEFAULT_DIR

RESULTS = Path(__file__).parent / "results" / "lab_safety.json"
CUT_S = 15.0

Scenario = Callable[[LabDriver, SafetyObserver, Path, int], Result]
SCENARIOS: dict[str, Scenario] = {
    "fail_slow_app": lambda lab, obs, work, i: safety_scenarios.fail_slow_app(
        lab, obs, group=f"slow{i}"
    ),
    "freeze_daemon": lambda lab, obs, work, i: safety_scenarios.freeze_daemon(lab, obs, work),
    "freeze_unfenced": lambda lab, obs, work, i: safety_scenarios.freeze_daemon(
        lab, obs, work, fenced=False
    ),
    "etcd_cut": lambda lab, obs, work, i: safety_scenarios.etcd_cut(
        lab, obs, work, cut_s=CUT_S, leader_on_victim=True
    ),
    "etcd_cut_follower": lambda lab, obs, work, i: safety_scenarios.etcd_cut(
        lab, obs, work, cut_s=CUT_S, leader_on_victim=False
    ),
}
COLUMNS = (
    ("overlap", "overlap_ms"),
    ("proc", "gone_process_s"),
    ("addr", "gone_address_s"),
    ("mount", "gone_mount_s"),
    ("deadline", "node_deadline_s"),
    ("quorum", "quorum_expiry_s"),
    ("margin", "margin_s"),
    ("web_else", "web_elsewhere_s"),
    ("sql_gap", "sql_longest_gap_s"),
)


def row(r: Result) -> dict[str, Any]:
    """The table's numbers for one run."""
    m = r.measures
    overlap = sum(v for k, v in m.items() if k.endswith("_overlap_s") and isinstance(v, float))
    margins = [v for k, v in m.items() if k.startswith("margin_") and v is not None]
    return {
        **{key: m.get(key) for _, key in COLUMNS},
        "overlap_ms": round(overlap * 1000, 1),
        "margin_s": min(margins, default=None),
    }


def cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary(results: dict[str, list[Result]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, runs in results.items():
        rows = [row(r) for r in runs]

        def worst(
            key: str, pick: Callable[[list[float]], float], rows: list[dict[str, Any]] = rows
        ) -> float | None:
            values = [x[key] for x in rows if x[key] is not None]
            return pick(values) if values else None

        out[name] = {
            "runs": len(runs),
            "failed_checks": sum(len(r.failed) for r in runs),
            "max_overlap_ms": worst("overlap_ms", max),
            "min_margin_before_quorum_expiry_s": worst("margin_s", min),
            "max_web_elsewhere_s": worst("web_elsewhere_s", max),
            "max_sql_gap_s": worst("sql_longest_gap_s", max),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    args = ap.parse_args(argv)
    chosen = [s for s in args.scenarios.split(",") if s]
    if not 1 <= args.runs <= 20:
        ap.error("--runs must be 1 to 20")
    if unknown := [s for s in chosen if s not in SCENARIOS]:
        ap.error(f"--scenarios: unknown {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    started = time.monotonic()
    state, brought_up = world.up(args.dir, progress=demo.say)
    results: dict[str, list[Result]] = {name: [] for name in chosen}
    try:
        demo.install(state)
        lab = LabDriver(args.dir)
        lab.lift_failover_thresholds(demo.GROUPS)
        with safety_scenarios.observer_for(lab) as obs, tempfile.TemporaryDirectory() as tmp:
            for i in range(1, args.runs + 1):
                for name in chosen:
                    try:
                        r = SCENARIOS[name](lab, obs, Path(tmp), i)
                    except (TimeoutError, RuntimeError):
                        print(lab.wolfpack("status", check=False).stdout, file=sys.stderr)
                        print(lab.wolfpack("plan", "--explain", check=False).stdout,
                              file=sys.stderr)  # fmt: skip
                        raise
                    results[name].append(r)
                    verdict = "ok" if not r.failed else f"FAILED {r.failed}"
                    print(f"{name} run {i}: {verdict} {json.dumps(row(r))}", file=sys.stderr)
                    if r.failed:
                        print(r.report(), file=sys.stderr)
            observed = obs.record()
    finally:
        if brought_up:
            world.down(args.dir, demo.say)
    doc: dict[str, Any] = {
        "summary": summary(results),
        "runs": {name: [r.as_json() for r in runs] for name, runs in results.items()},
        "observer": {
            "samples": observed.samples,
            "longest_gap_s": round(observed.longest_gap_s, 3),
            "period_s": PERIOD_S,
        },
        "cut_s": CUT_S,
        "took_s": round(time.monotonic() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'scenario':<18} {'run':>3} " + " ".join(f"{h:>8}" for h, _ in COLUMNS) + "  failed")
    for name, runs in results.items():
        for i, r in enumerate(runs, 1):
            cells = row(r)
            line = " ".join(f"{cell(cells[key]):>8}" for _, key in COLUMNS)
            print(f"{name:<18} {i:>3} {line}  {len(r.failed)}")
    print(f"wrote {RESULTS}")
    if args.json:
        print(json.dumps(doc["summary"]))
    return 1 if any(r.failed for runs in results.values() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
