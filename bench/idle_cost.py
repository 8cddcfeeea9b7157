"""What an idle cluster costs per node, and how it grows with the node count (issue 12).

    python bench/idle_cost.py --nodes 3 8 16 --seconds 10 [--json]

For each node count, builds the lab (``wolfpack lab up --nodes N``: cluster create and
join; every node's ``wolfpackd`` with its REST API, the first six each running an etcd
member as its child, the Cluster Group online, no other groups), waits until every node is
Up and the cluster has been quiet for ``--settle`` seconds, then reads every
``wolfpackd``'s CPU time (``utime + stime`` of the process itself from ``/proc/PID/stat``:
its resources and its etcd member are children and not counted) and resident memory
(``VmRSS``) at the start and end of ``--seconds``, and tears the lab down again.

Heartbeats go to every peer on every heartbeat network (8 per second per path by default),
so a node's cost has a fixed part and a part per peer. The model fitted over the runs,
least squares on the busiest daemon's CPU: ``cpu% = a + b x (nodes - 1)``, and the same for
resident memory; both are projected to 64 nodes (WSFC's maximum). The coordinator's daemon
(the holder of ``leases/coordinator``) is reported on its own: it also plans.

Prints a table, writes bench/results/idle_cost.json and .png, and with --json prints the
summary as the last line. The machine is shared: the load average before and after each
count is recorded, and a busy machine stretches CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

from wolfpack.errors import WolfpackError
from wolfpack.lab import access, demo, world
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.state import LabState
from wolfpack.model.states import NodeState
from wolfpack.store import KeySpace

RESULTS = Path(__file__).parent / "results" / "idle_cost.json"
PLOT = RESULTS.with_suffix(".png")
DEFAULT_DIR = Path("/tmp/wolfpack-lab-idle")
TARGETS = {"cpu_percent": 2.0, "rss_mb": 60.0}
PROJECT_TO = 64
BEFORE = {"cpu_percent_3_nodes": 1.5, "cpu_percent_8_nodes": 2.3, "coordinator_rss_mb": 69.5}
CLK_TCK = os.sysconf("SC_CLK_TCK")
WAIT_S = 120.0


def cpu_seconds(pid: int) -> float:
    """``utime + stime`` of the process (its threads included, its children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def coordinator(state: LabState) -> str | None:
    with world.in_admin(state):
        store = access.admin_store(state, timeout=2.0)
        try:
            kv = store.get(KeySpace(world.KEY_ROOT).coordinator)
        finally:
            store.close()
    return kv.value.decode() if kv is not None else None


def all_up(lab: LabDriver) -> bool:
    try:
        snap = lab.snapshot()
    except Exception:  # etcd busy: ask again
        return False
    return all(snap.node(n).state is NodeState.UP for n in lab.state.nodes)


def not_up(lab: LabDriver) -> str:
    try:
        snap = lab.snapshot()
    except Exception as exc:
        return f"the cluster did not answer ({exc})"
    states = {n: str(snap.node(n).state) for n in lab.state.nodes}
    return ", ".join(f"{n} {st}" for n, st in states.items() if st != str(NodeState.UP))


def measure(lab_dir: Path, nodes: int, seconds: float, settle: float) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    state, brought_up = world.up(lab_dir, nodes=nodes, progress=demo.say)
    try:
        lab = LabDriver(lab_dir)
        try:
            lab.wait(lambda: all_up(lab), WAIT_S, "every node Up")
        except TimeoutError as exc:  # say which nodes were not, and as what
            raise WolfpackError(f"{exc}: {not_up(lab)}") from exc
        time.sleep(settle)
        daemons = {p.host: p.pid for p in state.processes if p.role == "wolfpackd"}
        start = {node: cpu_seconds(pid) for node, pid in daemons.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu = {
            node: round(100 * (cpu_seconds(pid) - start[node]) / (time.monotonic() - t0), 2)
            for node, pid in daemons.items()
        }
        rss = {node: round(rss_mb(pid), 1) for node, pid in daemons.items()}
        holder = coordinator(state)
    finally:
        if brought_up:
            world.down(lab_dir, demo.say)
    result = {
        "nodes": nodes,
        "cpu_percent": cpu,
        "rss_mb": rss,
        "coordinator": holder,
        "cpu_percent_max": max(cpu.values()),
        "cpu_percent_mean": round(sum(cpu.values()) / len(cpu), 2),
        "rss_mb_max": max(rss.values()),
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
    }
    print(
        f"{nodes} nodes: CPU max {result['cpu_percent_max']} % (coordinator {holder}:"
        f" {cpu.get(holder or '', float('nan'))} %), RSS max {result['rss_mb_max']} MB",
        file=sys.stderr,
        flush=True,
    )
    return result


def plot(runs: list[dict[str, Any]], model: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cpu, ax_rss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, unit in ((ax_cpu, "cpu_percent", "% of a core"), (ax_rss, "rss_mb", "MB")):
        for run in runs:
            values = list(run[key].values())
            ax.scatter([run["nodes"]] * len(values), values, color="tab:blue", s=12)
        a, b = model[key]["a"], model[key]["b"]
        xs = [2, PROJECT_TO]
        ax.plot(xs, [a + b * (x - 1) for x in xs], "k--", label=f"{a:.2f} + {b:.4f} x (nodes-1)")
        ax.axhline(TARGETS[key], color="red", linestyle=":", label=f"target {TARGETS[key]:g}")
        ax.set_xlabel("nodes in the cluster")
        ax.set_ylabel(f"idle wolfpackd, {unit}")
        ax.legend(fontsize=8)
    fig.suptitle("Idle cost of every wolfpackd by cluster size (dots: measured; line: model)")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[3, 8, 16])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured interval (1-120)")
    ap.add_argument("--settle", type=float, default=10.0, help="quiet time before (0-120)")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not all(world.MIN_NODES <= n <= world.MAX_NODES for n in args.nodes):
        ap.error(f"--nodes must be {world.MIN_NODES} to {world.MAX_NODES}")
    if not (1 <= args.seconds <= 120 and 0 <= args.settle <= 120):
        ap.error("--seconds must be 1 to 120 and --settle 0 to 120")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    runs, failed = [], {}
    for n in args.nodes:
        try:
            runs.append(measure(args.dir, n, args.seconds, args.settle))
        except WolfpackError as exc:  # recorded: the counts that did come up still count
            print(f"{n} nodes: FAILED: {exc}", file=sys.stderr, flush=True)
            failed[str(n)] = str(exc)
    if not runs:
        print("no node count came up: nothing to write", file=sys.stderr)
        return 1
    model: dict[str, Any] = {}
    for key in ("cpu_percent", "rss_mb"):
        a, b = benchlib.fit([r["nodes"] - 1 for r in runs], [r[f"{key}_max"] for r in runs])
        projected = round(a + b * (PROJECT_TO - 1), 2)
        model[key] = {"a": round(a, 3), "b": round(b, 5), f"at_{PROJECT_TO}_nodes": projected}
    largest = max(runs, key=lambda r: r["nodes"])
    summary: dict[str, Any] = {
        "nodes_measured": [r["nodes"] for r in runs],
        "nodes_failed": failed,
        "cpu_percent_max_by_nodes": {str(r["nodes"]): r["cpu_percent_max"] for r in runs},
        "rss_mb_max_by_nodes": {str(r["nodes"]): r["rss_mb_max"] for r in runs},
        f"cpu_percent_at_{PROJECT_TO}_nodes": model["cpu_percent"][f"at_{PROJECT_TO}_nodes"],
        f"rss_mb_at_{PROJECT_TO}_nodes": model["rss_mb"][f"at_{PROJECT_TO}_nodes"],
        "met_at_largest": {
            "cpu_percent": largest["cpu_percent_max"] <= TARGETS["cpu_percent"],
            "rss_mb": largest["rss_mb_max"] <= TARGETS["rss_mb"],
        },
    }
    doc = {
        **summary,
        "targets": TARGETS,
        "before": BEFORE,
        "model": model,
        "runs": runs,
        "seconds": args.seconds,
        "settle_s": args.settle,
        "machine": benchlib.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    plot(runs, model)
    print(f"{'nodes':>5} {'CPU max %':>10} {'CPU mean %':>11} {'RSS max MB':>11}  coordinator")
    for r in runs:
        print(
            f"{r['nodes']:>5} {r['cpu_percent_max']:>10} {r['cpu_percent_mean']:>11}"
            f" {r['rss_mb_max']:>11}  {r['coordinator']}"
        )
    for key, m in model.items():
        print(f"model {key}: {m['a']} + {m['b']} x (nodes - 1) -> {m[f'at_{PROJECT_TO}_nodes']}"
              f" at {PROJECT_TO} nodes")  # fmt: skip
    print(f"wrote {RESULTS} and {PLOT}")
    if args.json:
        print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
