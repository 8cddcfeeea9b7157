"""What the heartbeats alone cost a node, and how that grows with the node count (issue 12).

    python bench/heartbeat_cost.py --nodes 3 8 16 32 64 --seconds 10 [--tree NAME=PATH ...] [--json]

For each node count N, starts N processes on this machine, each running one
:class:`wolfpack.node.membership.Membership` (the heartbeat thread of ``wolfpackd``, nothing
else) with the default settings on two heartbeat networks on loopback addresses
(127.87.1.i and 127.87.2.i, one per node and network, as the lab's nodes have one address
per network). Once every process hears all its peers, each reads its own CPU time
(``utime + stime``, /proc/self/stat) over ``--seconds`` and reports it with its counters.
The lab (bench/idle_cost.py) cannot form 16 nodes on two cores; this isolates the part of
the idle cost that grows with the cluster, and projects it to 64 nodes (WSFC's maximum).

``--tree NAME=PATH`` runs the processes from another checkout (its ``wolfpack`` package),
so a change is measured side by side with the code before it, in one run; the ratio of
the two is what to compare (the machine is shared). The default is this checkout.

Traffic stays on 127.0.0.0/8. Every process is started here and ended by its PID; each
also stops by itself after its measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

RESULTS = Path(__file__).parent / "results" / "heartbeat_cost.json"
PLOT = RESULTS.with_suffix(".png")
HERE = Path(__file__).resolve().parent.parent
PORT = 47391
NETWORKS = ("hb1", "hb2")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROJECT_TO = 64
#: how long every process may take to hear all its peers
FORM_S = 60.0


def address(network_index: int, node: int) -> str:
    return f"127.87.{network_index + 1}.{node}"


def own_cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def worker(me: int, nodes: int, seconds: float, start_at: float) -> None:
    """One node's heartbeats: wait until all peers are heard, measure, print one JSON line."""
    from wolfpack.node.membership import HeartbeatSettings, Membership
    from wolfpack.node.membership import Path as HbPath

    paths = [
        HbPath(
            net,
            (address(k, me), PORT),
            {f"n{i}": (address(k, i), PORT) for i in range(1, nodes + 1) if i != me},
        )
        for k, net in enumerate(NETWORKS)
    ]
    m = Membership(f"n{me}", me, b"s" * 32, paths, HeartbeatSettings())
    m.start()
    deadline = time.monotonic() + FORM_S
    while len(m.view().up()) < nodes - 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    formed = len(m.view().up()) == nodes - 1
    # every process measures over the same wall-clock window
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, t0, c0 = own_cpu_seconds(), time.monotonic(), dict(m.counters)
    time.sleep(seconds)
    cpu1, t1, c1 = own_cpu_seconds(), time.monotonic(), dict(m.counters)
    up_at_end = len(m.view().up())
    m.stop()
    print(
        json.dumps(
            {
                "node": me,
                "formed": formed,
                "up_at_end": up_at_end,
                "cpu_percent": 100 * (sum(cpu1) - sum(cpu0)) / (t1 - t0),
                "system_percent": 100 * (cpu1[1] - cpu0[1]) / (t1 - t0),
                "sent_per_s": (c1["sent"] - c0["sent"]) / (t1 - t0),
                "received_per_s": (c1["received"] - c0["received"]) / (t1 - t0),
            }
        ),
        flush=True,
    )


def run_count(tree: Path, nodes: int, seconds: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{HERE / 'bench'}"}
    start_at = time.time() + min(FORM_S, 5.0 + 0.3 * nodes)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                str(i),
                "--nodes",
                str(nodes),
                "--seconds",
                str(seconds),
                "--start-at",
                str(start_at),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tree,
        )
        for i in range(1, nodes + 1)
    ]
    rows = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=FORM_S + seconds + 30)
            rows.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    cpu = [r["cpu_percent"] for r in rows]
    return {
        "nodes": nodes,
        "formed": all(r["formed"] for r in rows),
        "cpu_percent_mean": round(sum(cpu) / len(cpu), 3),
        "cpu_percent_max": round(max(cpu), 3),
        "system_percent_mean": round(sum(r["system_percent"] for r in rows) / len(rows), 3),
        "sent_per_s_mean": round(sum(r["sent_per_s"] for r in rows) / len(rows), 1),
        "received_per_s_mean": round(sum(r["received_per_s"] for r in rows) / len(rows), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[3, 8, 16, 32])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.nodes[0], args.seconds, args.start_at)
        return
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(HERE)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for nodes in args.nodes:  # trees interleaved per count: they share the machine's mood
        for name, tree in trees.items():
            row = run_count(Path(tree).resolve(), nodes, args.seconds)
            runs[name].append(row)
            out = sys.stderr if args.json else sys.stdout
            print(
                f"{name:>8} {nodes:>3} nodes: cpu {row['cpu_percent_mean']:.2f} % mean, "
                f"{row['cpu_percent_max']:.2f} % max, "
                f"{row['system_percent_mean']:.2f} % in the kernel; "
                f"{row['sent_per_s_mean']:.0f} sent/s, "
                f"{row['received_per_s_mean']:.0f} received/s; formed {row['formed']}; "
                f"load {row['load_average_1m']}",
                file=out,
                flush=True,
            )
    models = {}
    for name, rows in runs.items():
        a, b = benchlib.fit([r["nodes"] - 1 for r in rows], [r["cpu_percent_mean"] for r in rows])
        models[name] = {
            "a": round(a, 3),
            "b_per_peer": round(b, 4),
            f"at_{PROJECT_TO}_nodes": round(a + b * (PROJECT_TO - 1), 2),
        }
    result: dict[str, Any] = {
        "model_cpu_percent": models,
        "runs": runs,
        "seconds": args.seconds,
        "trees": trees,
    }
    if len(trees) == 2:
        (n1, r1), (n2, r2) = runs.items()
        result[f"ratio_{n2}_to_{n1}"] = {
            str(x["nodes"]): round(y["cpu_percent_mean"] / x["cpu_percent_mean"], 3)
            for x, y in zip(r1, r2, strict=True)
            if x["cpu_percent_mean"]
        }
    doc = benchlib.write_results(RESULTS, result)
    plot(runs)
    print(
        json.dumps(
            {
                "model_cpu_percent": models,
                **{k: v for k, v in doc.items() if k.startswith("ratio_")},
            }
        )
    )


def plot(runs: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in runs.items():
        ax.plot([r["nodes"] for r in rows], [r["cpu_percent_mean"] for r in rows], "o-", label=name)
    ax.set_xlabel("nodes")
    ax.set_ylabel("heartbeat CPU per node, % of a core")
    ax.set_title("Heartbeats only: 2 networks, default interval")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)


if __name__ == "__main__":
    main()
