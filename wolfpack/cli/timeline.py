"""Printing failover timelines (``wolfpack group history``) for a person."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from wolfpack.cli import output


def clock(ts: float) -> str:
    """Wall-clock time of day in UTC, to the millisecond (as ``wolfpack log``)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]


def heading(doc: Mapping[str, Any]) -> str:
    took = f"{doc['duration_ms'] / 1000:.3f} s"
    when = datetime.datetime.fromtimestamp(doc["started"], datetime.UTC)
    return (
        f"{doc['kind']} {doc['source'] or '-'} -> {doc['target']}, {doc['ending']}, {took}"
        f" (started {when:%Y-%m-%d %H:%M:%S} UTC; {doc['code'] or 'no reason code'})"
    )


def phases(doc: Mapping[str, Any]) -> str:
    parts = [f"{k.replace('_to_', ' -> ')} {v} ms" for k, v in doc["phases_ms"].items()]
    return "phases: " + (" | ".join(parts) if parts else "-")


def show(doc: Mapping[str, Any]) -> None:
    output.message(heading(doc))
    output.message(phases(doc))
    output.table(
        None,
        ("time (UTC)", "+ms", "step ms", "phase", "node", "resource", "detail"),
        (
            (clock(e["at"]), e["offset_ms"], e["step_ms"], e["phase"], e["node"], e["resource"],
             e["detail"])
            for e in doc["events"]
        ),
    )  # fmt: skip


def show_history(doc: Mapping[str, Any], limit: int) -> None:
    current = doc.get("current")
    timelines = list(doc.get("timelines", []))[:limit]
    if current is None and not timelines:
        output.message(f"{doc['group']}: no failover or move recorded yet")
        return
    if current is not None:
        output.message(f"{doc['group']}: under way")
        show(current)
    for i, timeline in enumerate(timelines):
        if i or current is not None:
            output.message("")
        show(timeline)
