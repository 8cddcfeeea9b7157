"""``/api/v1/events``: Server-Sent Events, one ``event: change`` per store change under the
cluster root (configuration, state, requests), a ``: keepalive`` comment when idle, and
``event: resync`` when this client fell too far behind (re-read everything)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from wolfpack.api.auth import Reader, current
from wolfpack.api.feed import ChangeFeed

router = APIRouter(prefix="/api/v1")


@router.get("/events", summary="Server-Sent Events of every change (token also as ?token=)")
async def events(request: Request, who: Reader) -> StreamingResponse:
    feed: ChangeFeed = request.app.state.feed
    keepalive: float = request.app.state.keepalive_s
    sub = feed.subscribe(asyncio.get_running_loop())  # first: no change is missed after hello
    revision = (await current(request)).revision

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'revision': revision})}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=keepalive)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if sub.overflowed:
                    sub.overflowed = False
                    yield "event: resync\ndata: {}\n\n"
                yield f"event: change\ndata: {json.dumps(event)}\n\n"
        finally:
            feed.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
