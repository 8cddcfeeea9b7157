"""What the route modules share: the cached cluster read, JSON responses of pre-encoded
bytes, the database handle, and a retry of a configuration change on a concurrent write."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from wolfpack.admin.objects import Noun
from wolfpack.api.cache import Built, ClusterCache, encode
from wolfpack.errors import ConflictError
from wolfpack.model.config import ClusterConfig
from wolfpack.store.base import Op
from wolfpack.store.repository import ClusterDB, DatabaseRead

T = TypeVar("T")
CONFLICT_RETRIES = 5


class JSONBytes(Response):
    media_type = "application/json"


def json_response(data: Any, status_code: int = 200) -> JSONBytes:
    return JSONBytes(encode(data), status_code=status_code)


def cache(request: Request) -> ClusterCache:
    found: ClusterCache = request.app.state.cache
    return found


def db(request: Request) -> ClusterDB:
    return cache(request).db


def after_write(request: Request) -> Built:
    """The cluster as this node's own write left it (read your writes)."""
    c = cache(request)
    c.invalidate()
    return c.current()


def written(request: Request, noun: Noun[Any], obj: Any, stored: ClusterConfig) -> JSONBytes:
    """The document of an object just written: its configuration as stored, its observed
    state from the newest cached read (a configuration write does not change state), so
    the answer needs no second read of the database."""
    c = cache(request)
    c.invalidate()
    snap = dataclasses.replace(c.latest().snapshot, config=stored)
    return json_response(noun.document(snap, obj))


def audit_ops(request: Request, status: int) -> list[Op]:
    """This change's audit record, to be stored in the change's own transaction: a change
    is never stored without its record, and the answer waits for one write, not two.
    :func:`audited` after the transaction; if it fails, the middleware records the error."""
    state = request.app.state
    who = request.state.principal
    _, put = state.audit.prepare(
        state.node,
        who.name,
        str(who.role),
        request.method,
        request.url.path,
        status,
        getattr(request.state, "audit_body", ""),
    )
    return [put]


def audited(request: Request) -> None:
    request.state.audited = True
    request.app.state.audit.written()


def retry_conflicts(change: Callable[[], T]) -> T:
    """A change built from the current configuration is safe to re-apply when another
    writer got in first (ConflictError: nothing was written); give up after a few tries."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            return change()
        except ConflictError:
            if attempt == CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def change_from_cache(request: Request, change: Callable[[DatabaseRead | None], T]) -> T:
    """Run a configuration change from the cached read when it is current (one etcd
    request fewer); if someone wrote first, again from fresh reads (``retry_conflicts``)."""
    built = cache(request).fresh()
    if built is not None:
        try:
            return change(built.read)
        except ConflictError:
            pass
    return retry_conflicts(lambda: change(None))
