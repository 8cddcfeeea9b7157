"""The History tab of a group's Properties in a real browser (issue 12 item 1): a move made
through the API appears as a timeline with its phases on the right nodes, in a bar and in a
table; Refresh picks up the next one. Screenshot: docs/images/history.png."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from wolfpack.lab.localcluster import wait_for

from .conftest import Lab

pytestmark = [pytest.mark.etcd, pytest.mark.browser]


def moved(lab: Lab, target: str) -> dict[str, Any]:
    """Move Web to ``target`` through the API; the kept timeline of that move."""
    lab.api("/groups/Web/move", "POST", {"node": target})

    def kept() -> dict[str, Any] | None:
        doc = lab.api("/groups/Web/history")
        newest: dict[str, Any] | None = doc["timelines"][0] if doc["timelines"] else None
        ok = newest and newest["kind"] == "move" and newest["target"] == target
        return newest if ok else None

    found: dict[str, Any] = wait_for(kept, timeout=30)
    return found


def test_history_tab_shows_the_move_phase_by_phase(page: Page, lab: Lab) -> None:
    before = wait_for(lambda: lab.owner("Web"), timeout=30)
    target = next(n for n in ("node3", "node1", "node2") if n != before)
    first = moved(lab, target)
    lab.sign_in(page, lab.admin)
    lab.row(page, "group:Web").click()
    page.get_by_role("button", name="Properties").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="History").click()
    section = dialog.locator('section.timeline[data-kind="move"]').first
    expect(section.locator("h3")).to_contain_text(f"move {before} → {target} · complete")
    rows = section.locator("tbody tr")
    for phase, node in (("stopping", before), ("offline", before), ("online", target)):
        row = rows.locator(f'xpath=self::tr[@data-phase="{phase}"]').first
        expect(row.locator("td").nth(4)).to_have_text(node)
        expect(row.locator("td").nth(5)).to_have_text("Web-app")
    expect(rows).to_have_count(len(first["events"]))
    # the bar has one segment per phase, the list says each in milliseconds
    expect(section.locator(".phase-bar .phase")).to_have_count(len(first["phases_ms"]))
    ms = first["phases_ms"]["starting_to_online"]
    expect(section.locator('.phase-list [data-phase="starting_to_online"]')).to_contain_text(
        f"{ms} ms"
    )
    lab.shot(page, "history")
    # another move, then Refresh: it is the newest, on top
    back = moved(lab, before)
    dialog.get_by_role("button", name="Refresh").click()
    newest = dialog.locator("section.timeline").first
    expect(newest.locator("h3")).to_contain_text(f"move {target} → {before}")
    expect(newest.locator("tbody tr")).to_have_count(len(back["events"]))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_history_tab_for_a_read_only_token(page: Page, lab: Lab) -> None:
    lab.sign_in(page, lab.reader)
    lab.row(page, "group:Web").click()
    page.get_by_role("button", name="Properties").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="History").click()
    expect(dialog.locator("section.timeline").first).to_be_visible()
    expect(dialog.locator(".history-error")).to_have_count(0)
