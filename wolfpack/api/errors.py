"""The one place the exception tree becomes HTTP: ``{"error": {type, message, fields}}`` with
the status of the WolfpackError subclass (``http_status``). FastAPI's own request
validation (a path, query or typed body that does not fit) and Starlette's HTTP errors get
the same shape, so a client handles one error format."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from wolfpack.errors import StoreUnavailable, WolfpackError, error_document, to_document


def error_body(kind: str, message: str, fields: list[dict[str, str]] | None = None) -> Any:
    return {"error": error_document(kind, message, fields or ())}


def from_wolfpack(exc: WolfpackError) -> JSONResponse:
    body = {"error": to_document(exc)}
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if isinstance(exc, StoreUnavailable):
        headers = {"Retry-After": "1"}
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    async def on_wolfpack(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, WolfpackError)
        return from_wolfpack(exc)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [
            {"field": _location(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(error_body("ValidationError", text, fields), status_code=422)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # a body FastAPI cannot even decode: bad input, as any
            field = [{"field": "body", "message": str(exc.detail)}]
            return JSONResponse(
                error_body("ValidationError", f"body: {exc.detail}", field), status_code=422
            )
        kind = {404: "NotFoundError", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse(
            error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(WolfpackError, on_wolfpack)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http)
