"""Wolfpack vs keepalived vs Pacemaker: the same power-off, seen by the same client.

    flock /tmp/wolfpack-lab.lock .venv/bin/python bench/compare.py --runs 10 [--json]

Issue 12, item 3. One command measures every system, one after the other, each in the same
lab topology built from Wolfpack's lab code (network namespaces: node1..3 on a public
198.51.100.0/24 and a private 203.0.113.0/24 bridge, a client host on the public one, no
uplink, no default route), in its defaults and in its fastest documented tuning:

- **Wolfpack** (:mod:`bench.lab_failover`'s ``web_poweroff``, reused as it is): the demo's
  Web group (IP Address 198.51.100.20, Network Name, Physical Disk, nginx) on node2 with
  the lab fence agent. ``defaults``: wolfpackd's (heartbeat every 125 ms, Down after 4
  silent intervals: 0.5 s); ``tuned``: ``heartbeat: {interval_s: 0.05, threshold: 4}``
  in every node's wolfpackd.yaml (0.2 s; the grace follows, 0.2 s).
- **keepalived** (:mod:`compare_keepalived`): a VRRP instance moving 198.51.100.20, nginx
  running on every node. ``defaults``: ``advert_int 1``; ``tuned``: VRRPv3, ``advert_int
  0.1``.
- **Pacemaker + Corosync** (:mod:`compare_pacemaker`): a group of ``ocf:heartbeat:IPaddr2``
  (198.51.100.20) and ``ocf:heartbeat:nginx``, Corosync over knet (UDP) on the private
  network, ``no-quorum-policy`` left at its default. ``defaults`` and ``tuned`` run
  **without fencing** (``stonith-enabled=false``: a lost node is assumed off at once);
  ``defaults``: Corosync's token of 3000 ms (+650 ms token_coefficient for the third
  node); ``tuned``: ``token: 1000`` and ``token_coefficient: 0``; ``fenced``: the defaults'
  timings with a stonith device whose agent does the lab's power-off
  (:mod:`compare_fence`), compared with Wolfpack's defaults, which fence too.

The fault is the same for all: :func:`wolfpack.lab.power.power_off` of the node that serves
the address (every process of its network namespace SIGKILLed, its addresses flushed, its
links down). The probe is the same: :mod:`wolfpack.lab.probe_client` on the client host,
an HTTP GET started every 50 ms (Wolfpack's through the lab DNS name ``www.cluster.test``,
which always names 198.51.100.20; the peers' of ``http://198.51.100.20/``), each page
naming the node that served it. A run's outage is what the client saw: from the last answer
of the powered-off node to the first answer of another (tries overlap, so the resolution is
the 50 ms interval). Between runs the node is powered on again and the system left to
settle (not measured).

Prints a table (p50, p99 and the ratio Wolfpack p50 / peer p50 per configuration), writes
bench/results/compare.json and compare.png, and prints as its last stdout line a JSON
object with ``ratio_keepalived_defaults``, ``ratio_pacemaker_defaults`` and
``ratio_keepalived_tuned`` (Wolfpack's p50 divided by the peer's; below 1: Wolfpack is
faster); compare.json has every ratio (``ratio_pacemaker_tuned``, ``ratio_pacemaker_fenced``).
Each peer lab's node logs are copied to /tmp/wolfpack-compare-logs before it is removed.
A system that cannot run here is recorded as missing with the reason, never given a number.
Bounded: every wait has a time limit, and ``--budget-s`` stops starting new runs.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import benchlib
import compare_keepalived
import compare_pacemaker
import lab_failover
from compare_lab import URL, WAIT_S, PeerLab, install_peers, say

from wolfpack.errors import WolfpackError
from wolfpack.lab import demo, world
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.state import LabState

RESULTS = Path(__file__).parent / "results" / "compare.json"
PLOT = RESULTS.with_suffix(".png")
LABS = Path("/tmp/wolfpack-compare")
CONFIGS = ("defaults", "tuned", "fenced")
SYSTEMS = ("wolfpack", "keepalived", "pacemaker")
#: each system's configurations; a peer's is compared with Wolfpack's of the same name, and
#: Pacemaker's ``fenced`` with Wolfpack's defaults (which fence)
SYSTEM_CONFIGS = {
    "wolfpack": ("defaults", "tuned"),
    "keepalived": ("defaults", "tuned"),
    "pacemaker": ("defaults", "tuned", "fenced"),
}
BASELINE = {"defaults": "defaults", "tuned": "tuned", "fenced": "defaults"}
#: Wolfpack's fastest documented setting (docs/daemon.md; settings.py allows 0.01 s x 3)
WOLFPACK_TUNED: dict[str, dict[str, Any]] = {"heartbeat": {"interval_s": 0.05, "threshold": 4}}
SETTLE_S = lab_failover.SETTLE_S


class Peer(Protocol):
    def up(self) -> None: ...
    def start(self, node: str) -> None: ...
    def settled(self) -> str: ...


PeerFactory = Callable[[PeerLab, str], Peer]


def peer_factories() -> dict[str, PeerFactory]:
    return {"keepalived": compare_keepalived.Keepalived, "pacemaker": compare_pacemaker.Pacemaker}


def poweroff_run(driver: LabDriver, owner: str, power_off: Callable[[], None], work: Path) -> float:
    """One run: the probe running, ``owner`` powered off, until another node answers."""
    with driver.probe("http", URL, work / "probe.jsonl") as probe:
        time.sleep(SETTLE_S)
        t_fault = time.monotonic()
        power_off()
        driver.wait(
            lambda: any(a != owner for a in probe.answers_since(t_fault)),
            WAIT_S,
            f"a page from another node than {owner}",
        )
        time.sleep(SETTLE_S)
    return lab_failover.outage(probe, t_fault, f"{owner} powered off").seconds


def measure_peer(
    system: str, config: str, factory: PeerFactory, runs: int, work: Path, deadline: float
) -> list[float]:
    samples: list[float] = []
    with PeerLab(LABS / f"{system}-{config}", system) as lab:
        peer = factory(lab, config)
        peer.up()
        driver = lab.driver()
        for i in range(runs):
            if time.monotonic() > deadline:
                say(f"{system} {config}: budget spent after {i} runs")
                break
            owner = peer.settled()
            seconds = poweroff_run(driver, owner, functools.partial(lab.power_off, owner), work)
            samples.append(round(seconds, 3))
            say(f"{system} {config} run {i + 1}: {seconds:.3f} s")
            lab.power_on(owner, peer.start)
    return samples


def measure_wolfpack(config: str, runs: int, work: Path, deadline: float) -> list[float]:
    lab_dir = LABS / f"wolfpack-{config}"
    if LabState.exists(lab_dir):
        world.down(lab_dir, say)
    settings = WOLFPACK_TUNED if config == "tuned" else None
    state, _ = world.up(lab_dir, progress=say, daemon_settings=settings)
    samples: list[float] = []
    try:
        demo.install(state)
        lab = LabDriver(lab_dir)
        lab.lift_failover_thresholds(demo.GROUPS)
        for i in range(runs):
            if time.monotonic() > deadline:
                say(f"wolfpack {config}: budget spent after {i} runs")
                break
            run = lab_failover.web_poweroff(lab, work)
            samples.append(round(run.seconds, 3))
            say(f"wolfpack {config} run {i + 1}: {run.seconds:.3f} s")
    finally:
        world.down(lab_dir, say)
    return samples


def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, values in samples.items():
        if values:
            p50, p99 = benchlib.percentile(values, 50), benchlib.percentile(values, 99)
            out[name] = {"p50_s": p50, "p99_s": p99, "runs": len(values)}
    return out


def ratios(stats: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """Wolfpack's p50 over each peer's, configuration by configuration (None: not measured)."""
    out: dict[str, float | None] = {}
    for system in SYSTEMS[1:]:
        for config in SYSTEM_CONFIGS[system]:
            ours = stats.get(f"wolfpack_{BASELINE[config]}")
            theirs = stats.get(f"{system}_{config}")
            ok = ours is not None and theirs is not None and theirs["p50_s"] > 0
            value = ours["p50_s"] / theirs["p50_s"] if ok else None  # type: ignore[index]
            out[f"ratio_{system}_{config}"] = None if value is None else round(value, 3)
    return out


def print_table(
    stats: dict[str, dict[str, float]], missing: dict[str, str], ratio: dict[str, float | None]
) -> None:
    print(
        f"{'system':<12} {'config':<9} {'p50 s':>7} {'p99 s':>7} {'runs':>5} {'Wolfpack/peer':>14}"
    )
    for system in SYSTEMS:
        for config in SYSTEM_CONFIGS[system]:
            name = f"{system}_{config}"
            if name in missing:
                print(f"{system:<12} {config:<9} missing: {missing[name]}")
                continue
            if name not in stats:
                continue
            row = stats[name]
            r = ratio.get(f"ratio_{name}")
            shown = "-" if system == "wolfpack" else ("n/a" if r is None else f"{r:.2f}")
            print(
                f"{system:<12} {config:<9} {row['p50_s']:>7.3f} {row['p99_s']:>7.3f}"
                f" {int(row['runs']):>5} {shown:>14}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="(the last line is JSON anyway)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    ap.add_argument("--budget-s", type=float, default=3600.0, help="start no run after this")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the other configurations' samples from the existing compare.json",
    )
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 50:
        ap.error("--runs must be 1 to 50")
    if not 60 <= args.budget_s <= 4 * 3600:
        ap.error("--budget-s must be 60 to 14400")
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    configs = [c for c in CONFIGS if c in args.configs.split(",")]
    if not systems or not configs:
        ap.error(
            f"--systems: some of {', '.join(SYSTEMS)}; --configs: some of {', '.join(CONFIGS)}"
        )
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    deadline = time.monotonic() + args.budget_s
    samples: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    installed: list[str] = []
    if set(systems) - {"wolfpack"}:
        installed = install_peers()
    factories = peer_factories()
    with tempfile.TemporaryDirectory(prefix="wpc-bench-") as tmp:
        work = Path(tmp)
        for system in systems:
            for config in (c for c in SYSTEM_CONFIGS[system] if c in configs):
                name = f"{system}_{config}"
                say(f"{system}, {config}: {args.runs} power-offs")
                try:
                    if system == "wolfpack":
                        samples[name] = measure_wolfpack(config, args.runs, work, deadline)
                    else:
                        samples[name] = measure_peer(
                            system, config, factories[system], args.runs, work, deadline
                        )
                except (WolfpackError, TimeoutError, RuntimeError, OSError) as exc:
                    missing[name] = f"{type(exc).__name__}: {exc}"
                    say(f"{name} failed: {missing[name]}")
                if not samples.get(name):
                    samples.pop(name, None)
                    missing.setdefault(name, "no run finished")
    with contextlib.suppress(OSError):
        LABS.rmdir()  # only if empty: every lab removed itself
    if args.merge and RESULTS.exists():
        old = json.loads(RESULTS.read_text())
        redone = set(samples) | set(missing)
        samples = {**{k: v for k, v in old["samples_s"].items() if k not in redone}, **samples}
        missing = {**{k: v for k, v in old["missing"].items() if k not in redone}, **missing}
    order = [f"{s}_{c}" for s in SYSTEMS for c in SYSTEM_CONFIGS[s]]
    samples = {name: samples[name] for name in order if name in samples}
    stats = summary(samples)
    ratio = ratios(stats)
    print_table(stats, missing, ratio)
    doc: dict[str, Any] = {
        **ratio,
        "stats": stats,
        "samples_s": samples,
        "missing": missing,
        "runs": args.runs,
        "settings": {
            "wolfpack_tuned": WOLFPACK_TUNED,
            "keepalived": compare_keepalived.CONFIGS,
            "corosync_totem": {k: v[0] for k, v in compare_pacemaker.CONFIGS.items()},
            "pacemaker_fenced": {k: v[1] for k, v in compare_pacemaker.CONFIGS.items()},
        },
        "probe_interval_s": 0.05,
        "installed": installed,
    }
    doc = benchlib.write_results(RESULTS, doc)
    if samples:
        benchlib.outage_plot(
            {name.replace("_", "\n"): values for name, values in samples.items()},
            PLOT,
            targets={},
            title="The same power-off, seen by the same client (black: median)",
        )
    print(f"wrote {RESULTS}" + (f" and {PLOT}" if samples else ""))
    keys = ("ratio_keepalived_defaults", "ratio_pacemaker_defaults", "ratio_keepalived_tuned")
    print(json.dumps({k: ratio.get(k) for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
