"""The fencing grace, sized from how fast etcd answers this node (a pure rule and a recorder).

A peer silent on every heartbeat path is Down only if it has not answered our view in etcd
within the grace (docs/fencing.md). A live peer answers within a few etcd round trips: our
view reaches it through its watch, it reads the views and writes its answer, the answer
reaches us through ours. So the grace need only cover those few round trips, with room for
a slow one, and a fixed grace is either too long on a fast etcd (every power-off failover
waits for it) or too short on a slow one (a live node is fenced). The grace in effect is

    min(CEILING x timeout, max(FLOOR_S, FACTOR x p99 of this node's recent etcd round trips))

measured on the lease keep-alives (every ``lease.renew_every_s``) and the view writes, where
``timeout`` is one heartbeat timeout (``interval_s x threshold``). The ceiling keeps a slow
spell of etcd from making every power-off wait for the lease to expire instead (measured:
after a power-off that took the etcd leader with it, graces reached 3 s): past it, a silent
peer that etcd is too slow to hear from is fenced rather than waited for, which costs at
most a needless failover, never a second owner. With too few samples yet (the first
seconds after a start) the grace is one heartbeat timeout. An explicit
``heartbeat.grace_s`` turns the adaptation off.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence

__all__ = ["CEILING", "FACTOR", "FLOOR_S", "MIN_SAMPLES", "WINDOW", "RoundTrips", "adaptive_grace"]

#: never less than this, however fast etcd is: a live peer must also be scheduled to answer
FLOOR_S = 0.25
#: an answer costs about four round trips (write, watch, read, write, watch); twice that
FACTOR = 8.0
#: never more than this many heartbeat timeouts (1 s at the defaults)
CEILING = 2.0
#: round trips kept (20 s of keep-alives at the default renewal, less with view writes), so
#: that a slow spell (an etcd leader election) lengthens the grace for a little while, then
#: ages out: a window of a minute kept the grace at its cap for the next three or four
#: failovers after a power-off that took the etcd leader with it
WINDOW = 40
#: fewer samples than this say nothing yet: the fallback holds
MIN_SAMPLES = 20


def adaptive_grace(samples: Sequence[float], *, fallback_s: float, ceiling_s: float) -> float:
    """The grace for these round-trip times, in seconds (see the module docstring)."""
    if len(samples) < MIN_SAMPLES:
        return fallback_s
    ordered = sorted(samples)
    p99 = ordered[math.ceil(0.99 * len(ordered)) - 1]
    return min(ceiling_s, max(FLOOR_S, FACTOR * p99))


class RoundTrips:
    """The recent etcd round trips of this node, and the grace they give.

    ``fixed_s`` (the administrator's ``heartbeat.grace_s``) is returned as it is."""

    def __init__(self, *, fallback_s: float, ceiling_s: float, fixed_s: float | None = None):
        self.fallback_s, self.ceiling_s, self.fixed_s = fallback_s, ceiling_s, fixed_s
        self._samples: deque[float] = deque(maxlen=WINDOW)
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(max(0.0, seconds))

    def grace(self) -> float:
        if self.fixed_s is not None:
            return self.fixed_s
        with self._lock:
            samples = list(self._samples)
        return adaptive_grace(samples, fallback_s=self.fallback_s, ceiling_s=self.ceiling_s)
