"""What the lab's safety observer saw, as data, and how to judge it (pure; issue 8).

Presence read from the kernel now and then becomes intervals widened to the reads around
it that did not see it (:class:`Track`): an address first seen by a read that began at
``t0`` may have appeared just after the previous read began, and one last seen before a
read that did not see it may have lasted until that read ended. Overlaps across nodes are
computed on those widest intervals (:func:`overlaps`), so "no overlap" holds whatever
happened between two reads. A :class:`Record` holds every interval, every process run and
every read of the nodes' liveness keys; it travels as JSON from the observer's process.
Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADDRESS",
    "ANY",
    "INF",
    "KINDS",
    "MOUNT",
    "PROCESS",
    "Interval",
    "LeaseRun",
    "Overlap",
    "Record",
    "Run",
    "Track",
    "add_read",
    "covering",
    "overlaps",
    "timeline",
    "union",
]

PROCESS, ADDRESS, MOUNT = "process", "address", "mount"
KINDS = (PROCESS, ADDRESS, MOUNT)
#: a group is active on a node while any of its kinds is
ANY = "any"
INF = math.inf


@dataclass(frozen=True)
class Interval:
    """When something was present: ``start``/``end`` are the widest bounds (``-inf``:
    before the observer began, ``inf``: still present), ``seen_from``/``seen_to`` the first
    and last sighting."""

    start: float
    end: float
    seen_from: float
    seen_to: float

    def covers(self, t: float) -> bool:
        return self.start <= t <= self.end

    def describe(self, origin: float = 0.0) -> str:
        def at(x: float) -> str:
            return "before" if x == -INF else "now" if x == INF else f"{x - origin:+.3f}"

        return f"[{at(self.start)}, {at(self.end)}]"


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals merged where they share a moment, by start."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: (i.start, i.end)):
        if out and iv.start <= out[-1].end:
            last = out[-1]
            out[-1] = Interval(
                last.start,
                max(last.end, iv.end),
                min(last.seen_from, iv.seen_from),
                max(last.seen_to, iv.seen_to),
            )
        else:
            out.append(iv)
    return out


def covering(intervals: Sequence[Interval], t: float) -> Interval | None:
    """The merged interval present at ``t``, if any."""
    return next((iv for iv in union(intervals) if iv.covers(t)), None)


@dataclass(frozen=True)
class Overlap:
    """Two nodes that may both have held something of a group from ``start`` to ``end``."""

    group: str
    kind: str
    nodes: tuple[str, str]
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def describe(self, origin: float = 0.0) -> str:
        span = Interval(self.start, self.end, self.start, self.end).describe(origin)
        return f"{self.group} {self.kind} on {self.nodes[0]} and {self.nodes[1]}: {span}"


def overlaps(group: str, kind: str, by_node: Mapping[str, Sequence[Interval]]) -> list[Overlap]:
    """Every moment two nodes' intervals share (touching counts: zero is the allowance)."""
    found: list[Overlap] = []
    nodes = sorted(by_node)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            for x in union(by_node[a]):
                for y in union(by_node[b]):
                    start, end = max(x.start, y.start), min(x.end, y.end)
                    if start <= end:
                        found.append(Overlap(group, kind, (a, b), start, end))
    return sorted(found, key=lambda o: o.start)


class Track:
    """Presence of one thing from reads: ``observe(t0, t1, present)`` for a read made
    between ``t0`` and ``t1``; ``present=None`` for a read that failed (it says nothing)."""

    def __init__(self) -> None:
        self.closed: list[Interval] = []
        self._open: tuple[float, float, float] | None = None  # start, seen_from, seen_to
        self._absent_t0 = -INF

    def observe(self, t0: float, t1: float, present: bool | None) -> None:
        if present is None:
            return
        seen = (t0 + t1) / 2
        if present:
            start, first, _ = self._open or (self._absent_t0, seen, seen)
            self._open = (start, first, seen)
        else:
            if self._open is not None:
                start, first, last = self._open
                self.closed.append(Interval(start, t1, first, last))
                self._open = None
            self._absent_t0 = t0

    def intervals(self) -> list[Interval]:
        out = list(self.closed)
        if self._open is not None:
            start, first, last = self._open
            out.append(Interval(start, INF, first, last))
        return out


def timeline(
    rows: Mapping[tuple[str, str, str], Sequence[Interval]],
    events: Sequence[tuple[float, str]] = (),
    origin: float = 0.0,
) -> str:
    """(group, node, kind) -> intervals and events, by time, relative to ``origin``."""
    lines: list[tuple[float, str]] = [(t, f"  {text}") for t, text in events]
    for (group, node, kind), ivs in rows.items():
        for iv in union(ivs):
            lines.append((iv.seen_from, f"{group:<14} {node:<6} {kind:<8} {iv.describe(origin)}"))
    return "\n".join(f"{t - origin:+9.3f}  {text}" for t, text in sorted(lines, key=lambda r: r[0]))


@dataclass(frozen=True)
class Run:
    """One process of a group: from its kernel start time to its exit (``inf``: running)."""

    group: str
    node: str
    pid: int
    span: Interval


#: reads of a liveness key in a row that gave the same answer: (the lease it is on, 0 for
#: no key, None for failed reads; first read's start and end; last read's start and end)
LeaseRun = tuple["int | None", float, float, float, float]


def add_read(runs: list[LeaseRun], t0: float, t1: float, lease: int | None) -> None:
    """Add one read (begun at ``t0``, answered at ``t1``) to ``runs``."""
    if runs and runs[-1][0] == lease:
        value, f0, f1, _, _ = runs[-1]
        runs[-1] = (value, f0, f1, t0, t1)
    else:
        runs.append((lease, t0, t1, t0, t1))


@dataclass
class Record:
    """Everything an observer saw (see the module docstring)."""

    nodes: list[str]
    #: (group, node, kind) -> intervals; processes merged per group and node
    presence: dict[tuple[str, str, str], list[Interval]] = field(default_factory=dict)
    #: each process, for groups watched process by process
    runs: list[Run] = field(default_factory=list)
    #: node -> the reads of its liveness key through the majority's members
    leases: dict[str, list[LeaseRun]] = field(default_factory=dict)
    samples: int = 0
    longest_gap_s: float = 0.0  # between the starts of two samples: how sharp it is
    errors: list[str] = field(default_factory=list)

    # -- presence ---------------------------------------------------------------------------
    def intervals(self, group: str, node: str, kind: str) -> list[Interval]:
        """Merged intervals of ``kind`` (or :data:`ANY` kind) of ``group`` on ``node``."""
        if kind == ANY:
            return union(iv for k in KINDS for iv in self.presence.get((group, node, k), []))
        return union(self.presence.get((group, node, kind), []))

    def overlaps(self, group: str, kinds: Sequence[str] = (*KINDS, ANY)) -> list[Overlap]:
        out: list[Overlap] = []
        for kind in kinds:
            out += overlaps(group, kind, {n: self.intervals(group, n, kind) for n in self.nodes})
        return out

    def process_runs(self, group: str) -> list[Run]:
        return sorted((r for r in self.runs if r.group == group), key=lambda r: r.span.start)

    def timeline(
        self, groups: Sequence[str], events: Sequence[tuple[float, str]] = (), origin: float = 0.0
    ) -> str:
        rows = {(g, n, k): self.intervals(g, n, k) for g in groups for n in self.nodes
                for k in KINDS}  # fmt: skip
        return timeline({k: v for k, v in rows.items() if v}, events, origin)

    # -- leases -----------------------------------------------------------------------------
    def lease_at(self, node: str, t: float) -> int:
        """The lease ``node``'s key was on at the last successful read begun before ``t``."""
        held = [r[0] for r in self.leases.get(node, []) if r[1] <= t and r[0] is not None]
        return held[-1] if held else 0

    def expiry(self, node: str, lease: int) -> tuple[float, float] | None:
        """When the quorum let ``lease`` go: (start of the last read that still saw it, end
        of the first later read that saw no key or another lease); None while it holds."""
        last: float | None = None
        for value, _, first_end, last_start, _ in self.leases.get(node, []):
            if value == lease:
                last = last_start
            elif value is not None and last is not None:
                return last, first_end
        return None

    # -- as data ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def ivs(items: Sequence[Interval]) -> list[list[float]]:
            return [[i.start, i.end, i.seen_from, i.seen_to] for i in items]

        return {
            "nodes": self.nodes,
            "presence": [[*key, ivs(v)] for key, v in self.presence.items()],
            "runs": [[r.group, r.node, r.pid, *ivs([r.span])[0]] for r in self.runs],
            "leases": {n: [list(x) for x in reads] for n, reads in self.leases.items()},
            "samples": self.samples,
            "longest_gap_s": self.longest_gap_s,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Record:
        return cls(
            nodes=list(doc["nodes"]),
            presence={(g, n, k): [Interval(*x) for x in v] for g, n, k, v in doc["presence"]},
            runs=[Run(g, n, int(p), Interval(*x)) for g, n, p, *x in doc["runs"]],
            leases={
                n: [(v, float(a), float(b), float(c), float(d)) for v, a, b, c, d in r]
                for n, r in doc["leases"].items()
            },
            samples=int(doc["samples"]),
            longest_gap_s=float(doc["longest_gap_s"]),
            errors=list(doc["errors"]),
        )
