"""How long ``wolfpack status`` takes against the lab, as its admin host runs it (issue 12
item 4; target: median <= 0.25 s).

    flock /tmp/wolfpack-lab.lock python bench/cli_status.py --runs 10 [--dir DIR] [--json]

Brings the lab and the demo's groups up in ``--dir`` if they are not (and the lab down
afterwards if it brought it up). Then runs the real command, the ``wolfpack`` script beside
this Python, with the lab's administrator environment (three etcd members over TLS, client
certificate, etcd user), ``--runs`` times each way:

- ``status`` and ``status --json``: the process alone, started from this process's thread
  moved into the admin host's network namespace; wall time around the child process, from
  fork to exit (what an administrator waits for at the prompt);
- ``status_netns_exec``: ``ip netns exec <admin> wolfpack status``, what ``wolfpack lab
  exec admin -- wolfpack status`` runs (plus ``ip``'s own mounts), for comparison;
- ``python_startup``: ``python -c pass`` there, the floor no change to Wolfpack can go under;
- ``import_share``: from three more runs under ``python -X importtime``, the share of the
  wall time spent importing modules (the import timing itself slows those runs a little);
- with ``--compare CMD``: the same runs of another ``wolfpack`` command (an older tree's),
  taken in turn with the measured one so that both see the same load, under ``compare_``.

Wolfpack is byte-compiled first, as the .deb does (scripts/build-deb): this machine's
sessions set ``PYTHONDONTWRITEBYTECODE``, and without ``.pyc`` files every run would compile
Wolfpack's modules from source again (about 0.1 s of CPU), which no installed copy does.

Prints ``key: value`` lines, writes bench/results/cli_status.json and prints it as the last
line with ``--json``. Every child process has a time limit.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

import wolfpack
from wolfpack.lab import demo, world
from wolfpack.lab.layout import lab_env, netns_exec
from wolfpack.lab.state import LabState

RESULTS = Path(__file__).parent / "results" / "cli_status.json"
DEFAULT_DIR = Path("/tmp/wolfpack-lab-cli-status")
TARGETS = {"status_p50_s": 0.25}
#: the same benchmark with the CLI of db78f21, before issue 12 item 4 (the read path without
#: the write path's imports, no etcd3gw/requests/cryptography, the kept etcd token): medians
#: of 10, 2026-12-06T00:23Z, load average 9.4 then 6.7 from other sessions
BEFORE: dict[str, float] = {
    "status_p50_s": 0.641,
    "status_json_p50_s": 0.644,
    "status_netns_exec_p50_s": 0.642,
    "import_share": 0.62,
}
RUN_TIMEOUT_S = 30.0
IMPORTTIME_RUNS = 3


def _env(state: LabState, tokens: Path) -> dict[str, str]:
    # the etcd token kept between commands: where the bench cleans up, not ~/.cache
    env = {
        **os.environ,
        **lab_env(state),
        "COLUMNS": "120",
        "WOLFPACK_ETCD_TOKEN_CACHE": str(tokens),
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.pop("WOLFPACK_API", None)  # the database path, as the lab's admin host is set up
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Seconds from start to exit of ``argv``; a failure raises with its output."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return seconds, done


def import_seconds(stderr: str) -> float:
    """The import time ``-X importtime`` reports: the sum of the top-level imports'
    cumulative times (a nested import is inside its parent's)."""
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  ") and cumulative.strip().isdigit():
            total_us += int(cumulative)
    return total_us / 1e6


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(statistics.median(samples), 3),
        "p90_s": round(benchlib.percentile(samples, 90), 3),
        "min_s": round(min(samples), 3),
    }


def measure(state: LabState, runs: int, wolfpack: str, compare: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wp-status-tokens-") as tokens:
        return _measure(_env(state, Path(tokens)), state, runs, wolfpack, compare)


def _measure(
    env: dict[str, str], state: LabState, runs: int, wolfpack: str, compare: str | None
) -> dict[str, Any]:
    commands = {"": wolfpack, **({"compare_": compare} if compare else {})}
    samples: dict[str, list[float]] = {"python_startup": []}
    shares: list[float] = []
    with world.in_admin(state):  # children forked from this thread start in the admin host
        for cmd in commands.values():
            timed([cmd, "status"], env)  # warm the page cache, not measured
        for _ in range(runs):
            for prefix, cmd in commands.items():
                for name, args in (("status", ["status"]), ("status_json", ["status", "--json"])):
                    seconds = timed([cmd, *args], env)[0]
                    samples.setdefault(prefix + name, []).append(seconds)
            samples["python_startup"].append(timed([sys.executable, "-c", "pass"], env)[0])
        for _ in range(IMPORTTIME_RUNS):
            argv = [sys.executable, "-X", "importtime", wolfpack, "status"]
            seconds, done = timed(argv, env)
            shares.append(import_seconds(done.stderr) / seconds)
    for _ in range(runs):
        argv = [*netns_exec(state, "admin"), wolfpack, "status"]
        samples.setdefault("status_netns_exec", []).append(timed(argv, env)[0])
    stats = {f"{name}_{k}": v for name, vs in samples.items() for k, v in summary(vs).items()}
    return {
        **stats,
        "import_share": round(statistics.median(shares), 2),
        "samples_s": {name: [round(v, 3) for v in values] for name, values in samples.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="runs of each command (1 to 100)")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--wolfpack",
        default=str(Path(sys.executable).parent / "wolfpack"),
        help="the wolfpack command to time (default: the one beside this Python)",
    )
    ap.add_argument("--compare", help="another wolfpack command to time in turn with it")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 100:
        ap.error("--runs must be 1 to 100")
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    compileall.compile_dir(Path(wolfpack.__file__).parent, quiet=1)  # as the .deb is
    state, brought_up = world.up(args.dir, progress=demo.say)
    try:
        demo.install(state)
        load_before = os.getloadavg()[0]
        measured = measure(state, args.runs, args.wolfpack, args.compare)
        load_after = os.getloadavg()[0]
    finally:
        if brought_up:
            world.down(args.dir, demo.say)
    result: dict[str, Any] = {
        **measured,
        "targets": TARGETS,
        "met": {k: measured[k] <= v for k, v in TARGETS.items()},
        "before": BEFORE,
        "runs": args.runs,
        "command": args.wolfpack,
        "compared_with": args.compare,
        "machine": benchlib.machine(),
        # the machine is shared: its load says how much the numbers are stretched
        "load_average_1m": {"before": load_before, "after": load_after},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    benchlib.report(result, RESULTS, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
