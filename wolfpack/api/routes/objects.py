"""``/api/v1/{kind}`` for every configuration noun: list, get, create, patch, delete.
Included last in the app: the more specific routes (``/api/v1/cluster``, ``/intents``,
``/tokens``, ``/log/local``...) must match first.

A body is the object's fields as in the configuration file. PATCH is a JSON merge patch
(RFC 7386) on the object's document: given fields change, nested mappings (``failback``,
``properties``) merge, ``null`` removes a field (back to its default) or a property. Every
write validates the whole configuration (422 names ``groups.Web.failover_threshold``) and
changes nothing when refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request

from wolfpack.admin.nouns import BY_KIND
from wolfpack.admin.objects import Noun, create_stored, delete_stored, modify_stored
from wolfpack.api.auth import Admin, Reader, current
from wolfpack.api.cache import Built
from wolfpack.api.routes.common import (
    JSONBytes,
    after_write,
    audit_ops,
    audited,
    change_from_cache,
    db,
    json_response,
    retry_conflicts,
    written,
)
from wolfpack.errors import FieldError, NotFoundError, ValidationError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig

router = APIRouter(prefix="/api/v1")

ObjectBody = Body(
    description="The object's fields as in the configuration file.",
    examples=[{"name": "Web", "preferred_owners": ["node1", "node2"]}],
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def parse_object(noun: Noun[Any], name: str, data: dict[str, Any]) -> Any:
    """The model object from a body; field errors are named ``kind.name.field``."""
    try:
        return codec.parse(noun.cls, data)
    except ValidationError as exc:
        prefix = f"{noun.kind}.{name}." if name else f"{noun.kind}."
        raise ValidationError(
            [
                FieldError(prefix + e.field if e.field else prefix[:-1], e.message)
                for e in exc.errors
            ]
        ) from None


def _document(built: Built, noun: Noun[Any], name: str, reader: bool = False) -> dict[str, Any]:
    try:
        return built.objects_for(reader)[noun.kind][name]
    except KeyError:
        raise NotFoundError(noun.label, name) from None


def _body_name(noun: Noun[Any], body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError.single(f"{noun.kind}.name", "required: the object's name")
    return name


KINDS = tuple(BY_KIND)
#: One set of routes for every kind (not one per kind: each route costs the daemon memory).
Kind = Annotated[
    str,
    Path(
        description="nodes, networks, interfaces, groups, resources or types",
        json_schema_extra={"enum": list(KINDS)},
    ),
]


def _noun(kind: str) -> Noun[Any]:
    try:
        return BY_KIND[kind]
    except KeyError:
        raise NotFoundError("kind of object", kind) from None


OBSERVED = """Each object is its configuration (every field, defaults included) plus what is
observed: nodes `status`, `groups`; groups `state`, `owner`, `resources`, `status`; resources
`state`, `node`, `status`; networks `state` (Up, Partitioned, Down, Unavailable), `reason`,
`interface_states`; interfaces `state` (Up, Unreachable, Failed, Unavailable), `reason`, and
`link` as its node reports it (`ifname`, `condition`: up, no-carrier, admin-down or missing,
`since`, `heard`: the peers heard on that network, null where no heartbeats run), or null
before any report (docs/membership.md)."""


@router.get("/{kind}", summary="List the objects of a kind", description=OBSERVED)
async def list_objects(request: Request, kind: Kind, who: Reader) -> JSONBytes:
    noun = _noun(kind)
    return JSONBytes((await current(request)).list_bytes(noun.kind, reader=who.reader))


@router.get("/{kind}/{name}", summary="One object", description=OBSERVED)
async def get_object(request: Request, kind: Kind, name: str, who: Reader) -> JSONBytes:
    return json_response(_document(await current(request), _noun(kind), name, who.reader))


@router.post("/{kind}", status_code=201, summary="Create an object")
def create_object(
    request: Request, kind: Kind, who: Admin, body: dict[str, Any] = ObjectBody
) -> JSONBytes:
    noun = _noun(kind)
    name = _body_name(noun, body)
    obj = parse_object(noun, name, body)
    also = audit_ops(request, 201)
    made, stored = change_from_cache(
        request,
        lambda read: create_stored(db(request), noun, name, lambda cfg: obj, also, read),
    )
    audited(request)
    response = written(request, noun, made, stored)
    response.status_code = 201
    return response


@router.patch("/{kind}/{name}", summary="Change an object (JSON merge patch)")
def patch_object(
    request: Request, kind: Kind, name: str, who: Admin, body: dict[str, Any] = ObjectBody
) -> JSONBytes:
    noun = _noun(kind)
    if "name" in body and body["name"] != name:
        raise ValidationError.single(
            f"{kind}.{name}.name", "cannot be changed: create a new object instead"
        )

    def edit(cfg: ClusterConfig, obj: Any) -> Any:
        merged = merge_patch(codec.dump(obj, exclude_defaults=False), body)
        return parse_object(noun, name, merged)

    also = audit_ops(request, 200)
    changed, stored = change_from_cache(
        request, lambda read: modify_stored(db(request), noun, name, edit, also, read)
    )
    audited(request)
    return written(request, noun, changed, stored)


@router.delete("/{kind}/{name}", summary="Delete an object")
def delete_object(request: Request, kind: Kind, name: str, who: Admin) -> JSONBytes:
    noun = _noun(kind)
    also = audit_ops(request, 200)
    removed = retry_conflicts(lambda: delete_stored(db(request), noun, name, also))
    audited(request)
    after_write(request)
    return json_response(codec.dump(removed, exclude_defaults=False))
