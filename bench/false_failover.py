"""False failovers under a lossy heartbeat path and busy cores (issue 12).

    python bench/false_failover.py --minutes 10 --settings defaults tuned [--lossy network] [--json]

For each of ``--settings`` (``defaults``: the daemon's own heartbeat, 125 ms x 4;
``tuned``: bench/compare.py's ``heartbeat: {interval_s: 0.05, threshold: 4}``) it builds the
demo lab with those settings and its Web and SQL groups, then for ``--minutes``:

- drops 30 % of the heartbeats arriving on every node's private interface (nftables in the
  node's namespace, UDP to the heartbeat port: each heartbeat on that path is lost once at
  30 %; the public path is left clean, so no node is really lost). ``--lossy network``
  drops 30 % of *every* packet arriving there instead, etcd's raft and client traffic
  included (results in false_failover-network.json): that measures etcd on a lossy
  network as much as Wolfpack;
- runs a CPU hog on every node (``sh -c 'while :; do :; done'`` in the node's namespaces,
  bounded by ``timeout``): three hogs on two cores keep both busy;
- probes Web from the client host every 100 ms, and reads the cluster every second.

A false failover is a group moving when nobody caused it (its failover counter going up or
its owner changing, counted once per move); a healthy node going Down or being fenced is
counted too (``nodes_down_or_fenced``). The target is 0 of both for every setting. Also
recorded: the longest gap the client saw and how often an interface or network left Up (a
lossy path may show as Unreachable; that alone moves nothing).

Prints a table, writes bench/results/false_failover.json, and with --json prints the
summary as the last line. Bounded: every wait has a limit, the hogs end by themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
from compare import WOLFPACK_TUNED

from wolfpack.lab import demo, world
from wolfpack.lab.chaos_lab_faults import Injector
from wolfpack.lab.driver import LabDriver
from wolfpack.model.networks import derive
from wolfpack.model.snapshot import Snapshot

RESULTS = {
    "heartbeats": Path(__file__).parent / "results" / "false_failover.json",
    "network": Path(__file__).parent / "results" / "false_failover-network.json",
}
DEFAULT_DIR = Path("/tmp/wolfpack-lab-false-failover")
SETTINGS: dict[str, dict[str, dict[str, Any]] | None] = {
    "defaults": None,
    "tuned": WOLFPACK_TUNED,
}
LOSS_PERCENT = 30
LOSSY_NETWORK = "private"
URL = "http://www.cluster.test/"
READ_EVERY_S = 1.0
HOG = "while :; do :; done"


def _picture(snap: Snapshot) -> dict[str, Any]:
    """What a false failover would change: owners, failover counters, node states."""
    return {
        "owners": {g: snap.group(g).owner for g in demo.GROUPS},
        "failovers": {g: snap.group(g).failovers_total for g in demo.GROUPS},
        "nodes": {n: (snap.node(n).state.value, snap.node(n).fenced) for n in snap.config.nodes},
    }


def _not_up(snap: Snapshot) -> set[str]:
    view = derive(snap)
    return {
        f"{kind} {name}: {v.state.value}"
        for kind, states in (("interface", view.interfaces), ("network", view.networks))
        for name, v in states.items()
        if v.state.value != "Up"
    }


def hogs(lab: LabDriver, seconds: float) -> list[subprocess.Popen[bytes]]:
    """One busy loop per node, on that node, ending by itself after ``seconds``."""
    return [
        subprocess.Popen(
            [*world.enter(lab.state, node), "timeout", str(int(seconds)), "sh", "-c", HOG],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for node in lab.state.nodes
    ]


def watch(lab: LabDriver, seconds: float, work: Path, lossy: str) -> dict[str, Any]:
    """The lossy path and the hogs for ``seconds``; every change nobody caused."""
    inj = Injector(lab.dir, note=lambda line: print(line, file=sys.stderr))
    first = lab.wait(lambda: _settled(lab), 120, "Web and SQL online, every node Up")
    changes: list[dict[str, Any]] = []
    left_up: dict[str, int] = {}
    reads = failed_reads = 0
    port = world.HEARTBEAT_PORT if lossy == "heartbeats" else None
    undos = [inj.packet_loss(n, LOSSY_NETWORK, LOSS_PERCENT, inbound_only=True, udp_port=port)
             for n in lab.state.nodes]  # fmt: skip
    started = hogs(lab, seconds + 5)
    try:
        with lab.probe("http", URL, work / "web.jsonl", "--interval", "0.1",
                       "--duration", str(int(seconds) + 60)) as probe:  # fmt: skip
            t0 = time.monotonic()
            before, seen = first, set[str]()
            while time.monotonic() - t0 < seconds:
                time.sleep(READ_EVERY_S)
                try:
                    snap = lab.snapshot()
                except Exception:  # etcd slow under the hogs: counted, read again
                    failed_reads += 1
                    continue
                reads += 1
                now = _picture(snap)
                if now != before:
                    changes.append({"at_s": round(time.monotonic() - t0, 1), "was": before,
                                    "now": now})  # fmt: skip
                    print(f"  CHANGE at {changes[-1]['at_s']} s: {now}", file=sys.stderr)
                    before = now
                states = _not_up(snap)
                for s in states - seen:
                    left_up[s.split(":")[0]] = left_up.get(s.split(":")[0], 0) + 1
                seen = states
            gaps = probe.gaps(t0)
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            proc.wait(timeout=10)
        for undo in undos:
            undo()
    moved = sum(
        max(
            c["now"]["failovers"][g] - c["was"]["failovers"][g],
            int(c["now"]["owners"][g] != c["was"]["owners"][g]),
        )
        for c in changes
        for g in demo.GROUPS
    )  # a move counts once: its failover counter and its owner change together
    nodes_lost = sum(
        1
        for c in changes
        for n, (state, fenced) in c["now"]["nodes"].items()
        if (state, fenced) != tuple(c["was"]["nodes"].get(n, ("Up", False)))
        and (state != "Up" or fenced)
    )
    return {
        "false_failovers": moved,
        "nodes_down_or_fenced": nodes_lost,
        "changes": changes,
        "left_up": left_up,
        "longest_gap_s": round(max((g.seconds for g in gaps), default=0.0), 3),
        "reads": reads,
        "failed_reads": failed_reads,
        "seconds": seconds,
    }


def _settled(lab: LabDriver) -> dict[str, Any] | None:
    try:
        snap = lab.snapshot()
    except Exception:
        return None
    now = _picture(snap)
    online = all(lab.online_on(g) for g in demo.GROUPS)
    every_up = all(s == ("Up", False) for s in now["nodes"].values())
    return now if online and every_up else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="per setting (0.5 to 30)")
    ap.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    ap.add_argument(
        "--lossy", choices=sorted(RESULTS), default="heartbeats",
        help="what loses 30 %%: the heartbeats on the path, or all its traffic",
    )  # fmt: skip
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 0.5 <= args.minutes <= 30:
        ap.error("--minutes must be 0.5 to 30")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    runs: dict[str, dict[str, Any]] = {}
    for name in args.settings:
        print(f"== {name}: {args.minutes:g} min, {LOSS_PERCENT} % of the {args.lossy} lost on "
              f"the {LOSSY_NETWORK} path, a CPU hog on every node", file=sys.stderr)  # fmt: skip
        state, brought_up = world.up(args.dir, progress=demo.say,
                                     daemon_settings=SETTINGS[name])  # fmt: skip
        try:
            demo.install(state)
            with tempfile.TemporaryDirectory(prefix="wpf-bench-") as tmp:
                runs[name] = watch(LabDriver(args.dir), args.minutes * 60, Path(tmp), args.lossy)
        finally:
            if brought_up:
                world.down(args.dir, demo.say)
    summary = {
        f"{key}_{name}": r[key]
        for name, r in runs.items()
        for key in ("false_failovers", "nodes_down_or_fenced")
    }
    doc = {
        **summary,
        "target": 0,
        "met": all(v == 0 for v in summary.values()),
        "minutes": args.minutes,
        "loss_percent": LOSS_PERCENT,
        "lossy_network": LOSSY_NETWORK,
        "lossy": args.lossy,
        "settings": {name: SETTINGS[name] for name in runs},
        "runs": runs,
    }
    doc = benchlib.write_results(RESULTS[args.lossy], doc)
    print(f"{'setting':<10} {'false failovers':>16} {'nodes lost':>11} {'longest gap s':>14}")
    for name, r in runs.items():
        print(f"{name:<10} {r['false_failovers']:>16} {r['nodes_down_or_fenced']:>11} "
              f"{r['longest_gap_s']:>14}")  # fmt: skip
    print(f"wrote {RESULTS[args.lossy]}")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
