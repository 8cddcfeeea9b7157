"""Stopping everything at a self-fence: in which order (pure), and how fast (threads).

A node that lost its lease has until the deadline (``margin_s`` after it noticed) before
another node may start its groups. So every group is stopped at the same time, and within a
group dependents first (the application before its disk and its IP address, so the
application gets its graceful stop instead of losing its disk under it). Each stop gets the
time left before the deadline, and a stop that overruns it does not hold up the next layer:
by then another node may start the group, so what is left is stopped anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from wolfpack.model.config import Resource

#: every stop gets at least this long, even past the deadline (a kill is quick)
MIN_STOP_S = 0.1
#: without a deadline (shutdown), each stop gets this long
DEFAULT_STOP_S = 10.0


def stop_layers(resources: Mapping[str, Resource]) -> dict[str, list[list[str]]]:
    """Per group, the given resources in layers to stop one after the other, dependents
    first: a resource is in a later layer than every given resource that depends on it, and
    the members of one layer do not depend on each other. Unknown dependencies (not given,
    so not running) are ignored; a cycle (refused by validation) ends up in the last layer."""
    out: dict[str, list[list[str]]] = {}
    groups = sorted({r.group for r in resources.values()})
    for group in groups:
        members = {n: r for n, r in resources.items() if r.group == group}
        left = set(members)
        layers: list[list[str]] = []
        while left:
            # stoppable now: nothing still left depends on it
            layer = sorted(n for n in left if not any(n in members[o].depends_on for o in left))
            if not layer:
                layer = sorted(left)
            layers.append(layer)
            left -= set(layer)
        out[group] = layers
    return out


def run_stops(
    layers: Mapping[str, list[list[str]]],
    stop: Callable[[str, float], None],
    *,
    until: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Stop every group in parallel, layer after layer, a layer's members in parallel;
    ``stop(name, timeout_s)`` (which must not raise) gets the time left before ``until``
    (``DEFAULT_STOP_S`` without one), at least ``MIN_STOP_S``. Returns the names whose stop
    had not returned when its time was up (their threads go on)."""
    late: list[str] = []
    lock = threading.Lock()

    def budget() -> float:
        if until is None:
            return DEFAULT_STOP_S
        return max(MIN_STOP_S, until - clock())

    def one_group(group_layers: list[list[str]]) -> None:
        for layer in group_layers:
            timeout = budget()
            threads = [
                threading.Thread(target=stop, args=(n, timeout), name=f"stop {n}") for n in layer
            ]
            for t in threads:
                t.daemon = True
                t.start()
            ends = time.monotonic() + timeout + MIN_STOP_S
            for name, t in zip(layer, threads, strict=True):
                t.join(timeout=max(0.0, ends - time.monotonic()))
                if t.is_alive():
                    with lock:
                        late.append(name)

    groups = [
        threading.Thread(target=one_group, args=(ls,), name=f"stop group {g}", daemon=True)
        for g, ls in sorted(layers.items())
    ]
    for t in groups:
        t.start()
    for t in groups:
        t.join()  # bounded: each layer's wait is bounded, and there are finitely many
    return sorted(late)
