"""Judging a lab chaos run (issue 9 item 4): pure functions over what was recorded.

* the client-observed outage of each fault: the gaps the clients of the groups it hit saw
  (:func:`fault_outage`), per kind as p50/p99 (:func:`per_kind`);
* committed rows lost: acknowledged by the database to the writer, absent at the end
  (:func:`lost_rows`);
* configuration changes nobody asked for: the exported configuration before and after,
  line by line (:func:`config_changes`);
* isolated nodes not fenced, split by whether they held a group (:func:`unfenced`): the
  coordinator fences a lost node only when it may still run something (policy/engine.py,
  ``_fence_lost_nodes``), so a node that held nothing staying unfenced is by design;
* the totals over runs that ``bench/results/chaos.json`` holds (:func:`totals`).

Overlapping faults share what clients saw: a gap is counted for every fault whose window
(injection to undo plus :data:`TAIL_S`, for the failback that follows a node's return) it
touches, among the faults that hit the gap's group. That attribution is approximate by
nature; the safety results (double owners, lost rows) are not.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "TAIL_S",
    "config_changes",
    "fault_outage",
    "lost_rows",
    "per_kind",
    "percentile",
    "totals",
    "unfenced",
]

#: after a fault is undone, how long the gaps it caused may still begin (failback)
TAIL_S = 10.0


def fault_outage(
    gaps: Mapping[str, Sequence[tuple[float, float]]],
    groups: Sequence[str],
    t_in: float,
    t_out: float,
    tail_s: float = TAIL_S,
) -> float:
    """The longest total outage any of ``groups``' clients saw in gaps (start, end) that
    touch [``t_in``, ``t_out`` + ``tail_s``]; 0.0 when none did."""
    worst = 0.0
    for group in groups:
        total = sum(e - s for s, e in gaps.get(group, ()) if e >= t_in and s <= t_out + tail_s)
        worst = max(worst, total)
    return worst


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def per_kind(faults: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """kind -> count, outage p50/p99/max (seconds) over the injected faults given (each
    with ``kind`` and ``outage_s``)."""
    by: dict[str, list[float]] = {}
    for f in faults:
        by.setdefault(str(f["kind"]), []).append(float(f["outage_s"]))
    out = {}
    for kind, values in sorted(by.items()):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        out[kind] = {
            "count": len(values),
            "outage_p50_s": None if p50 is None else round(p50, 3),
            "outage_p99_s": None if p99 is None else round(p99, 3),
            "outage_max_s": round(max(values), 3),
        }
    return out


def lost_rows(acknowledged: Iterable[int], present: Iterable[int]) -> list[int]:
    """The rows the database acknowledged as committed that are not there."""
    return sorted(set(acknowledged) - set(present))


def config_changes(before: str, after: str) -> list[str]:
    """The changed lines between two exported configurations ('-' before, '+' after)."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def unfenced(faults: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Isolations (every path cut) not fenced within their hold: ``holding`` the ones whose
    node owned a group when cut (each one worth looking into), ``idle`` the ones that held
    nothing (not fenced by design: nothing of theirs can start elsewhere)."""
    missed = [f for f in faults if f.get("fenced") is False]
    holding = sum(1 for f in missed if f.get("groups"))
    return {"holding": holding, "idle": len(missed) - holding}


def totals(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The top-level keys of chaos.json over every recorded run."""
    faults = [f for r in runs for f in r["faults"] if f.get("injected")]
    return {
        "run_count": len(runs),
        "faults_total": len(faults),
        "double_owners": sum(len(r["double_owners"]) for r in runs),
        "lost_rows": sum(len(r["lost_rows"]) for r in runs),
        "config_changes": sum(len(r["config_changes"]) for r in runs),
        "not_recovered": sum(1 for r in runs if r.get("recovered_s") is None),
        "rows_acknowledged": sum(int(r.get("rows_acknowledged", 0)) for r in runs),
        "unfenced_isolations": unfenced(faults),
        "per_kind": per_kind(faults),
    }
