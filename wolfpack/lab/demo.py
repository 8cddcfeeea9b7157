"""The demo: the seed's cluster ``jean`` on this machine's loopback, and a short tour.

    python -m wolfpack.lab.demo up   --endpoint URL --workdir DIR   # start it, then the tour
    python -m wolfpack.lab.demo down --workdir DIR                  # stop its processes

Three nodes (three ``wolfpackd``), two groups as in the seed, Active/Active (S5, S6): Web
prefers node2 and SQL prefers node1. Until the lab milestone gives them real IP addresses,
names, disks, nginx and PostgreSQL, each group runs one Generic Application that answers HTTP
with the name of the node it runs on. The tour moves Web, powers node1 off (SQL fails over),
fails a resource (it restarts in place) and powers node1 on again; the daemons keep running
afterwards for you to try the CLI.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.node.pidregistry import PidRegistry

GROUPS = {"Web": ("node2", "node3", "node1"), "SQL": ("node1", "node3", "node2")}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def wolfpack(cluster: LocalCluster, *args: str) -> None:
    env = {
        **os.environ,
        "WOLFPACK_ENDPOINT": cluster.endpoint,
        "WOLFPACK_PREFIX": cluster.keys.root,
    }
    cli = Path(sys.executable).parent / "wolfpack"
    subprocess.run([str(cli), *args], env=env, check=False)


def answers(cluster: LocalCluster) -> str:
    return ", ".join(f"{g} answers from {cluster.answer(g) or '(nobody)'}" for g in GROUPS)


def up(endpoint: str, workdir: Path) -> LocalCluster:
    cluster = LocalCluster(workdir, name="jean", endpoint=endpoint)
    cluster.start()
    say("starting wolfpackd on node1, node2, node3 (heartbeats on 127.0.1.x and 127.0.2.x)")
    cluster.start_all()
    # SQL fails back to node1 (immediately, after a 5 s flap guard); Web keeps the default,
    # failback prevented, so it stays wherever it was moved.
    cluster.add_app_group("Web", preferred=GROUPS["Web"])
    cluster.add_app_group(
        "SQL",
        preferred=GROUPS["SQL"],
        group_options={"failback": {"mode": "immediate", "stability_delay_s": 5}},
    )
    wait_for(lambda: all(cluster.answer(g) for g in GROUPS), timeout=60)
    (workdir / "ports").write_text(" ".join(f"{g}={p}" for g, p in cluster.ports.items()) + "\n")
    return cluster


def tour(cluster: LocalCluster) -> None:
    say(f"the cluster is up, Active/Active: {answers(cluster)}")
    wolfpack(cluster, "status")
    say("wolfpack group move Web node3   (offline on node2, online on node3, S39)")
    wolfpack(cluster, "group", "move", "Web", "node3")
    say("powering node1 off (SIGKILL of every process it runs): SQL fails over")
    t0 = time.monotonic()
    cluster.kill_node("node1")
    wait_for(lambda: cluster.answer("SQL") not in (None, "node1"), timeout=30, interval=0.01)
    say(f"SQL answers again after {time.monotonic() - t0:.2f} s: {answers(cluster)}")
    say("wolfpack resource fail SQL-app   (Initiate Failure: restarted in place)")
    wolfpack(cluster, "resource", "fail", "SQL-app")
    say("powering node1 on again: with failback 'immediate' and a 5 s stability delay, SQL")
    say("returns to its preferred owner once node1 has been up for 5 s (S38)")
    cluster.start_node("node1")
    wait_for(lambda: cluster.answer("SQL") == "node1", timeout=60)
    say(f"failed back: {answers(cluster)}")
    wolfpack(cluster, "plan", "--explain")


def down(workdir: Path) -> None:
    """Stop every process the demo's nodes recorded, by PID (daemons, watchdogs, apps)."""
    run_root = workdir / "run"
    for node_dir in sorted(run_root.iterdir()) if run_root.is_dir() else []:
        killed = PidRegistry(node_dir).kill_all(signal.SIGKILL)
        if killed:
            print(f"stopped {node_dir.name}: pids {', '.join(map(str, killed))}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wolfpack.lab.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("action", choices=("up", "down"))
    ap.add_argument("--endpoint", default="http://127.0.0.1:23790")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wolfpack-demo/cluster"))
    args = ap.parse_args(argv)
    if args.action == "down":
        down(args.workdir)
        return 0
    cluster = up(args.endpoint, args.workdir)
    tour(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
