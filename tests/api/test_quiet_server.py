"""The API's uvicorn loop wakes once a second when idle, and still stops at once (issue 12:
an idle wolfpackd's API thread woke ten times a second for nothing)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from wolfpack.api.server import ApiServer
from wolfpack.api.settings import ApiSection
from wolfpack.model.config import ClusterSettings
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[ApiServer]:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="quiet"))
    api = ApiServer(db, "node1", ApiSection(port=free_port(), tls=False), log=lambda *a, **k: None)
    api.start()
    try:
        assert api.wait_started(), "the API did not start"
        yield api
    finally:
        api.stop()


def test_an_idle_api_wakes_about_once_a_second(server: ApiServer) -> None:
    uvicorn_server = server._server
    ticks: list[float] = []
    on_tick = uvicorn_server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(time.monotonic())
        result: bool = await on_tick(counter)
        return result

    uvicorn_server.on_tick = counted
    time.sleep(2.5)
    assert 1 <= len(ticks) <= 4, f"{len(ticks)} ticks in 2.5 s (uvicorn's own: 25)"


def test_answers_carry_a_date_and_stop_is_prompt(server: ApiServer) -> None:
    reply = httpx.get(f"{server.url}/healthz", timeout=5)
    assert "date" in reply.headers
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 0.9, "stop waited for the idle tick"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=1)
