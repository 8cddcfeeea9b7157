"""What every benchmark does with its result: name the machine, print, write the JSON file,
and for the lab's client-observed outages, one table and one plot."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_results(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the machine (its load at the end: it is shared, and load stretches
    latency) and the time of measurement added, written to ``path`` as JSON; returned."""
    doc = {
        **doc,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def report(result: dict[str, Any], results: Path, *, as_json: bool) -> None:
    """One ``key: value`` line each (to stderr with ``as_json``), the JSON file, and with
    ``as_json`` the result as the last line of stdout."""
    out = sys.stderr if as_json else sys.stdout
    for key, value in result.items():
        print(f"{key:>26}: {value}", file=out)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print(json.dumps(result))


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares ``y = a + b x``; with one point, a flat line through it."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0-100) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def print_outages(results: Mapping[str, list[float]]) -> None:
    """Scenario, p50, max and every sample, one line each."""
    width = max([8, *(len(name) for name in results)])
    print(f"{'scenario':<{width}} {'p50 s':>7} {'max s':>7}  samples")
    for name, values in results.items():
        print(f"{name:<{width}} {percentile(values, 50):>7.3f} {max(values):>7.3f}  {values}")


def outage_plot(
    results: Mapping[str, list[float]],
    path: Path,
    *,
    targets: Mapping[str, float],
    title: str,
    baselines: Mapping[str, float] | None = None,
    ylabel: str = "client-observed outage (s)",
) -> None:
    """Each scenario's samples, its median (black) and its p50 target (red, dashed, from
    ``targets[NAME_p50_s]`` where there is one), with grey reference lines (label -> s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(names):
        ys = results[name]
        ax.scatter([i] * len(ys), ys, s=30, alpha=0.7)
        ax.hlines(statistics.median(ys), i - 0.25, i + 0.25, colors="black")
        target = targets.get(f"{name}_p50_s")
        if target is not None:
            ax.hlines(target, i - 0.35, i + 0.35, colors="red", linestyles="dashed")
    for (label, seconds), style in zip((baselines or {}).items(), (":", "-.", "--"), strict=False):
        ax.axhline(seconds, color="grey", linestyle=style, label=label)
    ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    if baselines:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
