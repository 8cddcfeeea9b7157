"""Security headers on every answer (L4, issue 11): the web Cluster Administrator loads
only its own files, cannot be framed (clickjacking), and no browser guesses a content type
or sends our URLs to anyone else.

The UI is static files with no inline script or style (DOM building and ``textContent``
only), so its policy allows nothing but this origin. Swagger UI and ReDoc (``/docs``,
``/redoc``) start from an inline script, so theirs allows inline script and style too, still
only from this origin. JSON answers get the strictest policy: they are never rendered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_DOCS = ("/docs", "/redoc", "/docs-assets/")


def policy_for(path: str) -> str:
    if path.startswith(_DOCS):
        return DOCS_POLICY
    if path == "/" or path.startswith("/ui"):
        return UI_POLICY
    return API_POLICY


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, tls: bool = False) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"content-security-policy", policy_for(scope.get("path", "")).encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if self.tls:  # browsers that reached us over HTTPS never try plain HTTP again
            extra.append((b"strict-transport-security", b"max-age=31536000"))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)
