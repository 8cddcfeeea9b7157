"""A real cluster (etcd + three wolfpackd serving the API and the UI on 127.0.0.1) and
Debian's chromium driven by Playwright. Never ``playwright install``: the browser is
/usr/bin/chromium (scripts/setup installs it)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from wolfpack.admin import tokens
from wolfpack.lab.localcluster import LocalCluster, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
#: ``WOLFPACK_SCREENSHOTS=1`` refreshes docs/images/; otherwise they go to a temporary
#: directory, so a test run leaves the work tree as it was.
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}

expect.set_options(timeout=30_000)


class Lab:
    """The cluster ``jean`` (S19) with the seed's Web group, two tokens and API helpers."""

    def __init__(self, cluster: LocalCluster, images: Path) -> None:
        self.cluster = cluster
        self.images = images
        _, self.admin = tokens.create(cluster.db, "alice", "admin")
        _, self.reader = tokens.create(cluster.db, "watcher", "read-only")
        self.url = cluster.api_url("node1") + "/"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Ask node2's API (the browser talks to node1's: every node gives the same answer)."""
        request = urllib.request.Request(
            self.cluster.api_url("node2") + "/api/v1" + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.reader if method == 'GET' else self.admin}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10, context=self.cluster.ca_context()) as r:
            return json.loads(r.read())

    def app_command(self, group: str) -> str:
        """A Generic Application command line like LocalCluster.add_app_group's (probe app)."""
        port = free_port()
        self.cluster.ports[group] = port
        return (
            f"{sys.executable} -m wolfpack.lab.probe_app --port {port} "
            f"--address 127.0.0.1 --record {self.cluster.record(group)}"
        )

    def owner(self, group: str) -> str | None:
        owner: str | None = self.api(f"/groups/{group}")["owner"]
        return owner

    # -- the browser side --------------------------------------------------------------
    def sign_in(self, page: Page, token: str) -> None:
        page.goto(self.url)
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#live-dot")).to_have_attribute("data-sse", "open")

    @staticmethod
    def row(page: Page, item: str) -> Locator:
        """The clickable row of a tree item (its element id is ``ti-`` + the item id)."""
        return page.locator(f'[id="ti-{item}"] > .tree-row')

    def shot(self, page: Page, name: str) -> None:
        self.images.mkdir(parents=True, exist_ok=True)
        path = self.images / f"{name}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 0


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run scripts/setup (apt package chromium)")
    cluster = LocalCluster(tmp_path_factory.mktemp("web-cluster"), name="jean")
    try:
        cluster.start()
        cluster.start_all()
        cluster.add_app_group("Web", preferred=("node2", "node3", "node1"))
        wait_for(lambda: cluster.answer("Web") == "node2", timeout=30)
        refresh = os.environ.get("WOLFPACK_SCREENSHOTS") == "1"
        yield Lab(cluster, DOC_IMAGES if refresh else tmp_path_factory.mktemp("screenshots"))
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, ignore_https_errors=True)  # cluster CA
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
