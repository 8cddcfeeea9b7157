"""The whole cluster in one document, the coordinator's plan, whoami."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wolfpack.api.auth import Reader, current
from wolfpack.api.routes.common import JSONBytes, json_response
from wolfpack.model import codec
from wolfpack.policy import explain, plan

router = APIRouter()


@router.get("/api/v1/cluster", summary="Everything in one document")
async def cluster(request: Request, who: Reader) -> JSONBytes:
    return JSONBytes((await current(request)).document_for(who.reader))


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
