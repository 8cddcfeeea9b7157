"""A token bucket per client address for change requests (H8): a flood of changes, with or
without a valid token, cannot grow the cluster database faster than ``rate`` records a
second per client, so etcd stays out of its NOSPACE alarm. Reads are not limited."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: clients remembered at once; the least recently seen is forgotten beyond it
MAX_CLIENTS = 4096


class RateLimit:
    """``rate`` changes a second per client, ``burst`` at once; ``rate`` 0: no limit."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self.refused = 0

    def allow(self, client: str) -> float:
        """0.0 if ``client`` may make a change now (and it is counted), else the seconds
        until it may."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            if wait == 0.0:
                tokens -= 1.0
            else:
                self.refused += 1
            self._buckets[client] = (tokens, now)  # re-inserted: the most recently seen last
            if len(self._buckets) > MAX_CLIENTS:
                del self._buckets[next(iter(self._buckets))]
            return wait
