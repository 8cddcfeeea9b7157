"""uvicorn's server, waking once a second when idle instead of ten times.

uvicorn's main loop sleeps 0.1 s between ticks, and a tick only refreshes the Date header
(once a second) and looks at ``should_exit``. In wolfpackd, which serves the API on every
node and is idle most of its life, those ten wake-ups a second were a tenth of the
daemon's idle CPU (issue 12: cost that grows gently). Here the loop ticks once a second,
the Date header is refreshed as often as before, and :meth:`QuietServer.request_exit` wakes
the loop at once, so stopping is no slower. Imported only when the API starts (uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

__all__ = ["TICK_S", "QuietServer"]

#: the idle tick: uvicorn's own refreshes the Date header every tenth tick of 0.1 s
TICK_S = 1.0
_TICKS_PER_DATE = 10  # uvicorn.Server.on_tick refreshes the Date header when counter % 10 == 0
_COUNTER_WRAP = 864000  # as uvicorn wraps its counter


class QuietServer(uvicorn.Server):
    """A :class:`uvicorn.Server` that ticks every :data:`TICK_S` and stops on request."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ticks = 0  # how many times the main loop woke up (tests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._exit = asyncio.get_running_loop(), asyncio.Event()
        if self.should_exit:  # asked before the loop was there
            self._exit.set()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + _TICKS_PER_DATE) % _COUNTER_WRAP  # every tick refreshes
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exit.wait(), TICK_S)
            self.ticks += 1
            should_exit = await self.on_tick(counter)

    def request_exit(self) -> None:
        """Stop serving (from any thread): uvicorn's graceful shutdown begins at once."""
        self.should_exit = True
        loop, event = self._loop, self._exit
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(event.set)
