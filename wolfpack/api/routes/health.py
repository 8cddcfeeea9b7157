"""Health and metrics, without a token: ``/livez``, ``/readyz``, ``/healthz``, ``/metrics``.

Patroni's ``/liveness`` and ``/readiness`` are the anchor. *Live*: the daemon's component
threads and its watchdog run (a failing answer means: restart it). *Ready*: this node can
host groups now: it holds a valid lease, its heartbeats run, the cluster database answers
and the cluster does not count it Down. ``/healthz`` is readiness with every detail. A
failing check answers 503 with the reasons; an API without a daemon behind it (tests, the
in-process app) judges only what it can see: the database.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from wolfpack import __version__
from wolfpack.api.cache import ClusterCache
from wolfpack.api.metrics import render
from wolfpack.api.routes.common import JSONBytes, json_response
from wolfpack.errors import WolfpackError
from wolfpack.model.health import NodeHealth
from wolfpack.model.states import NodeState

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The answer of ``/livez``, ``/readyz`` and ``/healthz``."""

    ok: bool = Field(description="false: see problems; the status is then 503")
    node: str
    version: str
    problems: list[str] = Field(description="why the check fails (empty when ok)")
    watching: bool = Field(description="false: the API's store watch is down")
    revision: int = Field(description="of the last change this node's watch saw")
    state: str | None = Field(None, description="this node's state in the cluster database")
    lease_valid: bool | None = None
    lease_remaining_s: float | None = None
    watchdog_armed: bool | None = None
    heartbeats_listening: bool | None = None


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Health, "description": "The check fails: `problems` says why"},
}


def _health(request: Request, *, ready: bool) -> JSONBytes:
    state = request.app.state
    cache: ClusterCache = state.cache
    own: NodeHealth | None = state.health() if state.health is not None else None
    problems: list[str] = []
    body: dict[str, Any] = {
        "node": state.node,
        "version": __version__,
        "watching": not cache.always_read,  # false: every read goes to the store
        "revision": state.feed.revision,
    }
    if own is not None:
        problems += own.ready_problems() if ready else own.live_problems()
        body |= {
            "lease_valid": own.lease_valid,
            "lease_remaining_s": round(own.lease_remaining_s, 3),
            "watchdog_armed": own.watchdog_armed,
            "heartbeats_listening": own.heartbeats_listening,
        }
    if ready:
        try:
            snap = cache.current().snapshot
        except WolfpackError as exc:
            problems.append(f"the cluster database cannot be read: {exc}")
        else:
            if state.node in snap.config.nodes:
                node_state = snap.node(state.node).state
                body["state"] = str(node_state)
                if node_state is NodeState.DOWN:
                    problems.append("the cluster counts this node Down")
    body |= {"ok": not problems, "problems": problems}
    return json_response(body, 200 if not problems else 503)


@router.get(
    "/livez",
    summary="Liveness: the daemon's threads and watchdog run (no token needed)",
    response_model=Health,
    responses=HEALTH_RESPONSES,
)
def livez(request: Request) -> JSONBytes:
    return _health(request, ready=False)


@router.get(
    "/readyz",
    summary="Readiness: this node can host groups now (no token needed)",
    response_model=Health,
    responses=HEALTH_RESPONSES,
)
def readyz(request: Request) -> JSONBytes:
    return _health(request, ready=True)


@router.get(
    "/healthz",
    summary="Health: readiness with every detail (no token needed)",
    response_model=Health,
    responses=HEALTH_RESPONSES,
)
def healthz(request: Request) -> JSONBytes:
    return _health(request, ready=True)


@router.get(
    "/metrics",
    summary="Prometheus metrics (no token needed)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    state = request.app.state
    text, content_type = render(state.cache, state.request_stats, state.clock(), state.health)
    return Response(text, media_type=content_type)
