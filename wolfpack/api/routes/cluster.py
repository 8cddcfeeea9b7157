"""The whole cluster in one document, the coordinator's plan, whoami, a group's failover
timelines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from wolfpack.api.auth import Reader, current
from wolfpack.api.routes.common import JSONBytes, db, json_response
from wolfpack.errors import NotFoundError
from wolfpack.model import codec, timeline
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


HISTORY = """The transition under way (`current`, null when none) and the last finished ones
(`timelines`, newest first, up to 20 per group): each with its events (phase, wall-clock
time `at`, `offset_ms` from the first event, `step_ms` from the one before, node, resource,
detail) and `phases_ms`, the time between consecutive milestones (requested, detected,
fenced, decided, offline, starting, online). Events on different nodes are compared by
wall clock (docs/troubleshooting.md, "Reading a failover timeline")."""


@router.get(
    "/api/v1/groups/{name}/history",
    summary="A group's failover timelines: where the time went",
    description=HISTORY,
)
async def group_history(request: Request, name: str, who: Reader) -> JSONBytes:
    snap = (await current(request)).snapshot
    if name not in snap.config.groups:
        raise NotFoundError("group", name)
    kept = await run_in_threadpool(db(request).timelines, name)
    return json_response(timeline.history_document(snap, name, kept))
