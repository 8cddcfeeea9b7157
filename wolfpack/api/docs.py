"""The interactive API documentation, served from the package itself: clusters are often
offline, and FastAPI's own ``/docs`` loads Swagger UI from a CDN.

The Swagger UI and ReDoc bundles come from the ``fastapi-offline`` distribution (pinned in
pyproject.toml; only its static files are used, never its app factory). ``/docs`` is Swagger
UI (try requests: "Authorize" takes the bearer token), ``/redoc`` the reference view.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"


def assets_dir() -> Path | None:
    """Where the Swagger UI and ReDoc bundles are installed (found without importing)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / "static"
    return found if (found / "swagger-ui-bundle.js").is_file() else None


def install(app: FastAPI, title: str) -> None:
    """``/docs`` and ``/redoc`` from local files; without the bundles, neither (never a CDN)."""
    static = assets_dir()
    if static is None:
        return
    app.mount(ASSETS_URL, StaticFiles(directory=static), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
