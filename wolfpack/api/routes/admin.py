"""Tokens (admin only; the secret is shown once) and the audit log."""

from __future__ import annotations

import pydantic
from fastapi import APIRouter, Query, Request

from wolfpack.admin import audit, tokens
from wolfpack.api.auth import Admin, Reader
from wolfpack.api.routes.common import JSONBytes, after_write, db, json_response
from wolfpack.model.durations import duration

router = APIRouter(prefix="/api/v1")


class NewToken(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = pydantic.Field(description="Letters, digits, '-', '_'; up to 63.")
    role: tokens.Role = tokens.Role.READ_ONLY


@router.post("/tokens", status_code=201, summary="Make a token (its secret is shown once)")
def create_token(request: Request, body: NewToken, who: Admin) -> JSONBytes:
    token, text = tokens.create(db(request), body.name, body.role, clock=request.app.state.clock)
    after_write(request)
    return json_response({**token.public(), "token": text}, 201)


@router.get("/tokens", summary="The tokens (never their secrets)")
def list_tokens(request: Request, who: Admin) -> JSONBytes:
    return json_response([t.public() for t in tokens.list_tokens(db(request))])


@router.delete("/tokens/{name}", summary="Delete a token: it stops working at once")
def delete_token(request: Request, name: str, who: Admin) -> JSONBytes:
    removed = tokens.delete(db(request), name)
    after_write(request)
    return json_response(removed.public())


def since_seconds(text: str, field: str) -> float:
    """``10m``, ``1h``, ``2d`` or seconds: how far back (the CLI's parser: one meaning)."""
    return float(duration(text, field))


@router.get("/audit", summary="Audit records of API changes")
def list_audit(
    request: Request,
    who: Reader,
    since: str = Query("1h", description="How far back: e.g. 10m, 1h, 2d."),
    limit: int = Query(1000, ge=1, le=10_000),
) -> JSONBytes:
    start = request.app.state.clock() - since_seconds(since, "since")
    records = audit.list_records(db(request), start, limit)
    return json_response([r.as_dict() for r in records])
