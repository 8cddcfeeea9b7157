"""An observer, independent of every daemon, of where each group's probe application ran.

It follows the record files that :mod:`wolfpack.lab.probe_app` writes (a ``start`` line
with the process's kernel start time, a tick every 20 ms, a ``stop`` line on SIGTERM) and
opens a pidfd on every new process, so it learns the moment each one *exits* from the
kernel, not from the last tick. A run therefore spans from its ``start`` line to the exit
the observer saw: the widest interval it may have been active in. Two runs of one group
on different nodes whose spans touch are two owners (:func:`overlaps`), with no allowance;
two on one node are a group started twice.

A run whose exit was not seen (it was gone before the observer got its pidfd, or its PID
named another process by then) ends at its last line and is marked ``exit unseen`` in the
timeline, so a reader knows that end is a lower bound.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wolfpack.node.pidregistry import proc_stat

__all__ = ["ProbeObserver", "Run", "overlaps", "timeline"]


@dataclass
class Run:
    """One process of a group's probe application."""

    group: str
    node: str
    pid: int
    start: float  # monotonic: its start line (or first line, if the start line was lost)
    last: float  # monotonic: its latest line
    starttime: int = 0  # kernel start time (clock ticks since boot), from the start line
    stopped: bool = False  # it wrote its stop line (SIGTERM)
    exited: float | None = None  # monotonic: when the observer saw it exit
    watched: bool = False  # the observer holds (or held) a pidfd on exactly this process
    fd: int | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.watched and self.exited is None

    @property
    def end(self) -> float:
        """The latest moment it may have been active (now, if it still runs)."""
        if self.alive:
            return time.monotonic()
        return max(self.last, self.exited or 0.0)

    def describe(self) -> str:
        how = (
            "running"
            if self.alive
            else ("exited" if self.exited is not None else "exit unseen")
            + (" after SIGTERM" if self.stopped else "")
        )
        end = "now" if self.alive else f"{self.end:.3f}"
        return f"{self.node} pid {self.pid} {self.start:.3f}-{end} ({how})"


class ProbeObserver:
    """Follows the record files of ``groups`` (group -> path) from a thread of its own."""

    def __init__(self, groups: dict[str, Path], poll_s: float = 0.005) -> None:
        self.paths = dict(groups)
        self.poll_s = poll_s
        self._offsets = dict.fromkeys(groups, 0)
        self._partial = dict.fromkeys(groups, b"")
        self._runs: dict[tuple[str, str, int], Run] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe-observer", daemon=True)

    def start(self) -> ProbeObserver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for run in self._runs.values():
                if run.fd is not None:
                    os.close(run.fd)
                    run.fd = None

    def __enter__(self) -> ProbeObserver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw -------------------------------------------------------------------------
    def runs(self, group: str | None = None) -> list[Run]:
        """Every run (of ``group``), by start."""
        self.poll()
        with self._lock:
            chosen = [r for r in self._runs.values() if group is None or r.group == group]
        return sorted(chosen, key=lambda r: (r.start, r.pid))

    def alive(self, group: str) -> list[Run]:
        return [r for r in self.runs(group) if r.alive]

    def kill(self, run: Run, sig: int = signal.SIGKILL) -> bool:
        """Signal exactly that process (through its pidfd, so never a reused PID)."""
        with self._lock:
            if run.fd is None or run.exited is not None:
                return False
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(run.fd, sig)
                return True
        return False

    # -- following ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            with self._lock:
                fds = {r.fd: r for r in self._runs.values() if r.fd is not None}
            if not fds:
                self._stop.wait(self.poll_s)
                continue
            try:
                ready, _, _ = select.select(list(fds), [], [], self.poll_s)
            except (OSError, ValueError):  # an fd closed by stop() meanwhile
                continue
            now = time.monotonic()
            with self._lock:
                for fd in ready:
                    run = fds[fd]
                    if run.fd == fd:
                        run.exited = now
                        os.close(fd)
                        run.fd = None

    def poll(self) -> None:
        """Read what the record files gained since the last call."""
        for group, path in self.paths.items():
            # read under the lock: the test's thread polls too, and two readers of one
            # offset would take the same lines twice and then skip into the middle of one
            with self._lock:
                try:
                    with path.open("rb") as f:
                        f.seek(self._offsets[group])
                        data = f.read()
                except FileNotFoundError:
                    continue
                self._offsets[group] += len(data)
                data = self._partial[group] + data
                *lines, self._partial[group] = data.split(b"\n")
                for line in lines:
                    self._line(group, line.decode(errors="replace").split())

    def _line(self, group: str, parts: list[str]) -> None:
        if len(parts) < 3 or not parts[2].isdigit():
            return
        t, node, pid = float(parts[0]), parts[1], int(parts[2])
        run = self._runs.get((group, node, pid))
        if run is None:
            run = self._runs[(group, node, pid)] = Run(group, node, pid, t, t)
            if parts[3:4] == ["start"] and len(parts) == 5:
                run.starttime = int(parts[4])
            self._watch(run)
        run.start, run.last = min(run.start, t), max(run.last, t)
        if parts[3:4] == ["stop"]:
            run.stopped = True

    def _watch(self, run: Run) -> None:
        """Open a pidfd on the run's process, if it still is that process."""
        try:
            fd = os.pidfd_open(run.pid)
        except OSError:
            return  # gone already: its exit is unseen
        st = proc_stat(run.pid)
        if st is None or not st.running or (run.starttime and st.starttime != run.starttime):
            os.close(fd)  # exited (a zombie) or a reused PID
            return
        run.fd, run.watched = fd, True


def overlaps(runs: list[Run]) -> list[str]:
    """Pairs of runs of one group whose spans share any moment: two owners (on different
    nodes), or a group started twice on one node."""
    found = []
    ordered = sorted(runs, key=lambda r: r.start)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if a.group == b.group and b.start <= a.end:
                what = "two owners" if a.node != b.node else f"twice on {a.node}"
                found.append(f"{a.group} {what}: {a.describe()} while {b.describe()}")
    return found


def timeline(runs: list[Run], events: Sequence[tuple[float, str]] = ()) -> str:
    """Runs and events in the order they began, with the gap before each run's start
    (negative: it started before the previous run had ended)."""
    rows: list[tuple[float, str]] = list(events)
    last_end: dict[str, float] = {}
    for r in sorted(runs, key=lambda r: r.start):
        prev = last_end.get(r.group)
        gap = "" if prev is None else f" (gap {r.start - prev:+.3f} s)"
        rows.append((r.start, f"{r.group}: {r.describe()}{gap}"))
        last_end[r.group] = max(prev or 0.0, r.end)
    return "\n".join(f"{t:12.3f}  {text}" for t, text in sorted(rows, key=lambda row: row[0]))
