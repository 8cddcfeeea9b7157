"""What every request goes through (plain ASGI, cheap on the read path):

* a body limit: a change's body is read up to ``max_body_bytes`` (413 beyond, by
  Content-Length or by counting), then replayed to the route;
* metrics: requests by method, route and status, and latency by route;
* the audit log: every change (POST, PATCH, PUT, DELETE) made with a valid token, refused
  ones included, is recorded before its answer is sent, so a client that has its answer
  finds the record. A route that stores its record in its own transaction (configuration
  changes, requests) marks the request ``audited``; every other outcome is recorded here.
  A change without a valid token (401), over the size or nesting limits, or over the rate
  limit writes nothing to the cluster database (H8): it is counted (``unrecorded``, and in
  the request metrics by status), so nobody can wipe the audit log or fill etcd from outside;
* a rate limit on changes per client address (429 with ``Retry-After``, :mod:`ratelimit`);
* a nesting limit: a body nested deeper than :data:`MAX_JSON_DEPTH` is refused with 422
  before anything parses it (a deep body used to end in a ``RecursionError`` and a 500).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wolfpack.admin.audit import AuditLog, summary
from wolfpack.api.errors import error_body
from wolfpack.api.metrics import RequestStats
from wolfpack.api.ratelimit import RateLimit

CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SUMMARY_BYTES = 512
#: deeper than any document Wolfpack takes (a configuration is about 5 levels deep)
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deep ``body``'s arrays and objects nest (0: a scalar), without parsing it."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    steps = (1 if c in b"[{" else -1 for c in brackets)
    return max(accumulate(steps, initial=0))


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def _respond(
    send: Send,
    status: int,
    body: Any,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": raw})


def _secret_names(scope: Scope) -> frozenset[str]:
    """The property names the cluster's types mark secret, from the last read (no I/O)."""
    app = scope.get("app")
    cache = getattr(getattr(app, "state", None), "cache", None)
    return cache.secret_names() if cache is not None else frozenset()


class ApiMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        node: str,
        audit: AuditLog,
        metrics: RequestStats,
        max_body_bytes: int,
        limit: RateLimit | None = None,
    ) -> None:
        self.app, self.node, self.audit, self.metrics = app, node, audit, metrics
        self.max_body_bytes = max_body_bytes
        self.limit = limit or RateLimit(0, 0)
        #: changes not written to the audit log: no valid token, too large, too deep, too many
        self.unrecorded = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        started = time.perf_counter()
        status = [500]
        body = b""
        if method in CHANGES:
            client = scope.get("client")
            wait = self.limit.allow(str(client[0]) if client else "-")
            if wait:
                retry = str(max(1, math.ceil(wait)))
                await self._refuse(scope, send, started, 429, "TooManyRequests",
                                   f"too many changes from this address: retry in {retry} s",
                                   "rate", [(b"retry-after", retry.encode())])  # fmt: skip
                return
            read = await self._read_body(scope, receive)
            if read is None:
                await self._refuse(scope, send, started, 413, "PayloadTooLarge",
                                   f"the request body is over {self.max_body_bytes} bytes",
                                   "too large")  # fmt: skip
                return
            if json_depth(read) > MAX_JSON_DEPTH:
                await self._refuse(scope, send, started, 422, "ValidationError",
                                   f"the request body nests deeper than {MAX_JSON_DEPTH} levels",
                                   f"nested deeper than {MAX_JSON_DEPTH} levels")  # fmt: skip
                return
            body = read
            receive = _replay(body, receive)
            scope.setdefault("state", {})["audit_body"] = summary(
                body, SUMMARY_BYTES, _secret_names(scope)
            )

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if method in CHANGES and not scope.get("state", {}).get("audited"):
                    await self._audit(scope, status[0], body)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._observe(scope, method, status[0], started)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        started: float,
        status: int,
        kind: str,
        message: str,
        why: str,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Answer before the route, and write nothing to etcd: counted only (H8)."""
        self.unrecorded += 1
        await _respond(send, status, error_body(kind, message, [{"field": "body", "message": why}]),
                       headers)  # fmt: skip
        self._observe(scope, scope["method"], status, started)

    def _observe(self, scope: Scope, method: str, status: int, started: float) -> None:
        self.metrics.observe(method, _route(scope), status, time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the limit."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _audit(self, scope: Scope, status: int, body: bytes) -> None:
        who = scope.get("state", {}).get("principal")
        if who is None:  # no valid token: counted, never stored (H8)
            self.unrecorded += 1
            return
        name = getattr(who, "name", "-")
        role = str(getattr(who, "role", "-"))
        text = summary(body, SUMMARY_BYTES, _secret_names(scope))
        path = scope.get("path", "")
        try:
            await run_in_threadpool(
                self.audit.record, self.node, name, role, scope["method"], path, status, text
            )
        except Exception:  # the audit store failing must not hide the answer
            self.audit.failures += 1


def _replay(body: bytes, original: Receive) -> Receive:
    """The body read up front, then the client's own messages (its disconnect)."""
    sent = [False]

    async def receive() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
