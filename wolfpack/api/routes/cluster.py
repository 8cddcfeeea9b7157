"""The whole cluster in one document, the coordinator's plan, whoami, health, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from wolfpack.api.auth import Reader, current
from wolfpack.api.metrics import render
from wolfpack.api.routes.common import JSONBytes, json_response
from wolfpack.model import codec
from wolfpack.policy import explain, plan

router = APIRouter()


@router.get("/api/v1/cluster", summary="Everything in one document")
async def cluster(request: Request, who: Reader) -> JSONBytes:
    return JSONBytes((await current(request)).document)


@router.get("/api/v1/plan", summary="What the coordinator would do now, and why")
async def plan_now(request: Request, who: Reader) -> JSONBytes:
    built = await current(request)
    result = plan(built.snapshot, request.app.state.clock())
    data: dict[str, Any] = codec.dump(result, exclude_defaults=False)
    data["explain"] = explain(result)
    data["revision"] = built.revision
    return json_response(data)


@router.get("/api/v1/whoami", summary="The token's name and role")
async def whoami(who: Reader) -> JSONBytes:
    return json_response({"name": who.name, "role": str(who.role)})


@router.get("/healthz", summary="Liveness (no token needed)")
async def healthz(request: Request) -> JSONBytes:
    feed = request.app.state.feed
    cache = request.app.state.cache
    return json_response(
        {
            "ok": True,
            "node": request.app.state.node,
            "watching": not cache.always_read,  # false: every read goes to the store
            "revision": feed.revision,  # of the last change this node's watch saw
        }
    )


@router.get("/metrics", summary="Prometheus metrics (no token needed)")
def metrics(request: Request) -> Response:
    text, content_type = render(request.app.state.cache, request.app.state.request_stats)
    return Response(text, media_type=content_type)
