"""One store watch per API: every change invalidates the cluster cache and goes to the SSE
subscribers (each an asyncio queue on the server's event loop).

The watch starts at the revision after a read, so no change between the read and the
watch is missed; on a store error it re-reads and watches again, and until then the cache
reads the store on every request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from wolfpack.admin.events import describe
from wolfpack.api.cache import ClusterCache
from wolfpack.store.base import Watch

QUEUE_SIZE = 1000


class Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def push(self, event: dict[str, Any]) -> None:
        """Called on the loop's thread."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream tells the client to re-read everything


class ChangeFeed:
    def __init__(
        self,
        cache: ClusterCache,
        *,
        log: Callable[..., None] | None = None,
        retry_s: float = 0.5,
    ) -> None:
        self.cache = cache
        self.db = cache.db
        self._log = log
        self._retry_s = retry_s
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Watch | None = None
        self.revision = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="api-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.cancel()  # wakes the thread now rather than at its next poll
        if self._thread is not None:
            self._thread.join(timeout=5)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscriber:
        sub = Subscriber(loop)
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.push, event)
            except RuntimeError:
                self.unsubscribe(sub)  # its loop is closed

    def _run(self) -> None:
        while not self._stop.is_set():
            self.cache.always_read = True
            try:
                watch = self._watch = self.db.watch(self.db.revision() + 1)
                self.cache.invalidate()
                self.cache.always_read = False
                with watch:
                    while not self._stop.is_set():
                        event = watch.get(timeout=0.5)
                        if event is None:
                            continue
                        self.cache.invalidate(event.mod_revision)
                        self.revision = event.mod_revision
                        self._publish(describe(self.db.root, event))
            except Exception as exc:  # whatever broke, never leave the cache unwatched
                self.cache.always_read = True
                if self._log is not None:
                    self._log("api_watch_error", error=str(exc) or type(exc).__name__)
                self._stop.wait(self._retry_s)
        self.cache.always_read = True
