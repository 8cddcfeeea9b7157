"""The web Cluster Administrator: static files (no build step) served by the REST API.

:data:`STATIC_DIR` holds them (package data); :func:`mount_ui` puts them on a FastAPI app at
``/ui/`` and sends ``/`` there. The browser code talks only to ``/api/v1`` (docs/web.md), so
any node's API serves the same UI.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount_ui(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve ``directory`` at ``/ui/`` (index.html for the directory) and redirect ``/``."""

    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.mount("/ui", StaticFiles(directory=directory, html=True), name="ui")
