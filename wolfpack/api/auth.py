"""Who is asking: ``Authorization: Bearer <name>.<secret>`` checked against the hashed
tokens of the current cluster read (no extra store read per request). ``read-only`` may
use every GET; a change needs ``admin`` (403 otherwise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from wolfpack.admin import peer
from wolfpack.admin.tokens import Role, verify
from wolfpack.api.cache import Built, ClusterCache
from wolfpack.errors import AuthError, ForbiddenError, StoreUnavailable


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    @property
    def reader(self) -> bool:
        """Read-only: sees no secret property values (:mod:`wolfpack.admin.redact`)."""
        return self.role is not Role.ADMIN


async def current(request: Request) -> Built:
    cache: ClusterCache = request.app.state.cache
    return await cache.current_async()


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    if request.url.path.endswith("/events"):
        return request.query_params.get("token")  # EventSource cannot set headers
    return None


async def principal(request: Request) -> Principal:
    presented = _presented(request)
    if not presented:
        raise AuthError("no API token: send 'Authorization: Bearer NAME.SECRET'")
    now = request.app.state.clock()
    try:
        built = await current(request)
    except StoreUnavailable:
        # L5: only a caller with a token valid at the last read learns which etcd
        # endpoints failed and why; anyone else gets a generic 503
        last = request.app.state.cache.last()
        if last is None or verify(last.tokens, presented, now) is None:
            raise StoreUnavailable("the cluster database cannot be read now") from None
        raise
    token = verify(built.tokens, presented, now)
    if token is None:
        raise AuthError("the API token is not valid (unknown, deleted or mistyped)")
    who = Principal(token.name, token.role)
    request.state.principal = who
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role is not Role.ADMIN:
        raise ForbiddenError(f"token {who.name!r} is read-only: changes need an admin token")
    return who


Reader = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]


def reader_or_peer(path: str | None = None) -> Callable[[Request], Awaitable[str]]:
    """A dependency admitting a read-only (or better) token, or another node's credential
    (M9: signed for this node and ``path``, default the request's own): who asks."""

    async def who(request: Request) -> str:
        presented = request.headers.get(peer.HEADER)
        if presented is None:
            return (await principal(request)).name
        state = request.app.state
        keys = state.peer_keys() if state.peer_keys is not None else ()
        signed_for = path if path is not None else request.url.path
        sender = peer.verify(keys, presented, state.node, signed_for, state.clock())
        if sender is None:
            raise AuthError("the node credential is not valid (expired, another node's or forged)")
        return f"node:{sender}"

    return who
