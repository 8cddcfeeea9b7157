"""Administrator requests: group move/online/offline, resource online/offline/fail/move
(intents for the coordinator, 202), node pause/resume/drain, and the requests' outcomes."""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request

from wolfpack.admin import requests
from wolfpack.admin.nouns import BY_KIND
from wolfpack.api.auth import Admin, Reader, current
from wolfpack.api.routes.common import (
    JSONBytes,
    after_write,
    audit_ops,
    audited,
    cache,
    db,
    json_response,
    retry_conflicts,
    written,
)
from wolfpack.errors import NotFoundError
from wolfpack.model import codec
from wolfpack.model.rename import Renamable
from wolfpack.model.snapshot import IntentKind, NodeAdmin

router = APIRouter(prefix="/api/v1")


class MoveGroup(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    node: str | None = pydantic.Field(None, description="Target node; null for the best one.")


class ChangeGroup(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    group: str = pydantic.Field(description="The group the resource should belong to (S36).")


def _submit(request: Request, kind: IntentKind, subject: str, target: str | None) -> JSONBytes:
    """The one check of a request (the CLI over the API sends it unchecked), judged on the
    cached snapshot when it is current, and recorded with its audit record."""
    snapshot = cache(request).latest().snapshot if cache(request).fresh() else None
    intent = db(request).add_intent(
        kind,
        subject,
        target,
        check=requests.checker(kind, subject, target),
        snapshot=snapshot,
        also=audit_ops(request, 202),
    )
    audited(request)
    cache(request).invalidate()
    return json_response(requests.intent_document(intent, None), 202)


@router.post("/groups/{name}/move", status_code=202, summary="Move a group (Move-ClusterGroup)")
def move_group(request: Request, name: str, who: Admin, body: MoveGroup | None = None) -> JSONBytes:
    return _submit(request, IntentKind.MOVE_GROUP, name, body.node if body else None)


@router.post("/groups/{name}/online", status_code=202, summary="Bring a group online")
def online_group(request: Request, name: str, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.ONLINE_GROUP, name, None)


@router.post("/groups/{name}/offline", status_code=202, summary="Take a group offline")
def offline_group(request: Request, name: str, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.OFFLINE_GROUP, name, None)


@router.post("/resources/{name}/online", status_code=202, summary="Bring a resource online")
def online_resource(request: Request, name: str, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.ONLINE_RESOURCE, name, None)


@router.post("/resources/{name}/offline", status_code=202, summary="Take a resource offline")
def offline_resource(request: Request, name: str, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.OFFLINE_RESOURCE, name, None)


@router.post("/resources/{name}/fail", status_code=202, summary="Initiate a resource failure")
def fail_resource(request: Request, name: str, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.FAIL_RESOURCE, name, None)


@router.post("/resources/{name}/move", status_code=202, summary="Change a resource's group")
def move_resource(request: Request, name: str, body: ChangeGroup, who: Admin) -> JSONBytes:
    return _submit(request, IntentKind.CHANGE_GROUP, name, body.group)


def _node_admin(request: Request, name: str, admin: NodeAdmin) -> JSONBytes:
    db(request).write_node_admin(name, admin)
    after_write(request)
    body = {"node": name, "paused": admin.paused, "draining": admin.draining}
    return json_response({**body, "maintenance": admin.maintenance}, 202)


@router.post("/nodes/{name}/pause", status_code=202, summary="Pause a node")
def pause_node(request: Request, name: str, who: Admin) -> JSONBytes:
    return _node_admin(request, name, NodeAdmin(paused=True))


@router.post("/nodes/{name}/resume", status_code=202, summary="Resume a node")
def resume_node(request: Request, name: str, who: Admin) -> JSONBytes:
    return _node_admin(request, name, NodeAdmin())


@router.post("/nodes/{name}/drain", status_code=202, summary="Drain a node")
def drain_node(request: Request, name: str, who: Admin) -> JSONBytes:
    return _node_admin(request, name, NodeAdmin(paused=True, draining=True))


@router.post(
    "/nodes/{name}/maintenance", status_code=202, summary="Put a node in maintenance (unmanaged)"
)
def maintain_node(request: Request, name: str, who: Admin) -> JSONBytes:
    return _node_admin(request, name, NodeAdmin(paused=True, maintenance=True))


class Rename(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = pydantic.Field(description="The new name.", min_length=1, max_length=253)


def _rename(request: Request, kind: Renamable, name: str, body: Rename) -> JSONBytes:
    noun = BY_KIND[kind]
    also = audit_ops(request, 200)
    stored = retry_conflicts(lambda: db(request).rename(kind, name, body.name, also=also))
    audited(request)
    return written(request, noun, noun.get(stored, body.name), stored)


@router.post(
    "/groups/{name}/rename",
    summary="Rename a group (its resources stay where they run)",
    description="Refused (409) while the group moves or fails over or a request names it.",
)
def rename_group(request: Request, name: str, body: Rename, who: Admin) -> JSONBytes:
    return _rename(request, "groups", name, body)


@router.post(
    "/resources/{name}/rename",
    summary="Rename a resource",
    description="Refused (409) while the resource may run (take it offline first) or a "
    "request names it; dependents' expressions follow the new name.",
)
def rename_resource(request: Request, name: str, body: Rename, who: Admin) -> JSONBytes:
    return _rename(request, "resources", name, body)


def _all_intents(built: Any) -> list[dict[str, Any]]:
    pending = [requests.intent_document(i, None) for i in built.snapshot.intents]
    done = [
        {"id": iid, "status": str(out.status), "outcome": codec.dump(out, exclude_defaults=False)}
        for iid, out in sorted(built.outcomes.items())
    ]
    return pending + done


@router.get("/intents", summary="Requests and their outcomes")
async def list_intents(request: Request, who: Reader) -> JSONBytes:
    return json_response(_all_intents(await current(request)))


@router.get("/intents/{intent_id}", summary="One request and its outcome")
async def get_intent(request: Request, intent_id: str, who: Reader) -> JSONBytes:
    for doc in _all_intents(await current(request)):
        if doc["id"] == intent_id:
            return json_response(doc)
    raise NotFoundError("request", intent_id)
