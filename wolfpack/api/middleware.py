"""What every request goes through (plain ASGI, cheap on the read path):

* a body limit: a change's body is read up to ``max_body_bytes`` (413 beyond, by
  Content-Length or by counting), then replayed to the route;
* metrics: requests by method, route and status, and latency by route;
* the audit log: every change (POST, PATCH, PUT, DELETE), refused ones included, is recorded
  before its answer is sent, so a client that has its answer finds the record. A route that
  stores its record in its own transaction (configuration changes, requests) marks the
  request ``audited``; every other outcome is recorded here.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wolfpack.admin.audit import AuditLog, summary
from wolfpack.api.errors import error_body
from wolfpack.api.metrics import RequestStats

CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SUMMARY_BYTES = 512


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def _respond(send: Send, status: int, body: Any) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class ApiMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        node: str,
        audit: AuditLog,
        metrics: RequestStats,
        max_body_bytes: int,
    ) -> None:
        self.app, self.node, self.audit, self.metrics = app, node, audit, metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        started = time.perf_counter()
        status = [500]
        body = b""
        if method in CHANGES:
            read = await self._read_body(scope, receive)
            if read is None:
                status[0] = 413
                await self._audit(scope, 413, b"")
                await _respond(
                    send,
                    413,
                    error_body(
                        "PayloadTooLarge",
                        f"the request body is over {self.max_body_bytes} bytes",
                        [{"field": "body", "message": "too large"}],
                    ),
                )
                self._observe(scope, method, 413, started)
                return
            body = read
            receive = _replay(body, receive)
            scope.setdefault("state", {})["audit_body"] = summary(body, SUMMARY_BYTES)

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
        name = getattr(who, "name", "-")
        role = str(getattr(who, "role", "-"))
        text = summary(body, SUMMARY_BYTES)
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
