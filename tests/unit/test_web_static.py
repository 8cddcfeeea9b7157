"""The web Cluster Administrator's files: shipped as package data, every reference between
them resolves, and mount_ui serves them (no browser needed; tests/browser drives one)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from wolfpack.web import STATIC_DIR, mount_ui

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()
)


def test_every_static_file_is_package_data() -> None:
    """A wheel must carry the UI: each file matches a package-data pattern of wolfpack.web."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["wolfpack.web"]
    assert FILES, "no static files found"
    missing = [f for f in FILES if not any(fnmatch(f, p) for p in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_every_reference_between_the_files_resolves() -> None:
    """index.html's stylesheet and script, and every JS module import, exist."""
    html = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:href|src)="([^":]+)"', html)
    assert "app.css" in refs and "js/app.js" in refs
    for ref in refs:
        assert (STATIC_DIR / ref).is_file(), ref
    for module in (STATIC_DIR / "js").glob("*.js"):
        for target in re.findall(r'from "(\./[^"]+)"', module.read_text()):
            assert (module.parent / target).is_file(), f"{module.name} imports {target}"


def test_mount_ui_serves_the_files_and_sends_the_root_there() -> None:
    app = FastAPI()
    mount_ui(app)
    client = TestClient(app)
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    index = client.get("/ui/")
    assert index.status_code == 200 and "Wolfpack" in index.text
    script = client.get("/ui/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/ui/nothing-here.js").status_code == 404
