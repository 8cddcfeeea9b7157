"""Validate Cluster… in a real browser (S1, issue 10 item 5: WSFC's Validate Configuration
report): from the cluster's toolbar a read-only token runs it; while the nodes are asked the
page shows progress; the report has a row for each node, and a failure injected cheaply (a
Generic Application whose program is missing, node3 its only possible owner) is a failed
row on node3, listed before the checks that passed; Rerun after the fix no longer shows it.
Screenshot: docs/images/validate-cluster.png."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from .conftest import Lab

pytestmark = [pytest.mark.etcd, pytest.mark.browser]

NODES = ("node1", "node2", "node3")
MISSING = "/nonexistent/wolfpack-validate-missing"
RANK = {"unreachable": 0, "failed": 1, "warning": 2, "ok": 3}


@pytest.fixture()
def missing_program(lab: Lab) -> Iterator[str]:
    """A resource whose program no node has, node3 its only possible owner; in a group taken
    offline first, so nothing tries to start it. Removed afterwards, whatever happens."""
    lab.api("/groups", "POST", {"name": "Checked"})
    try:
        lab.api("/groups/Checked/offline", "POST", {})
        lab.api("/resources", "POST", {
            "name": "checked-app", "type": "Generic Application", "group": "Checked",
            "possible_owners": ["node3"], "properties": {"command": f"{MISSING} --serve"},
        })  # fmt: skip
        yield "checked-app"
    finally:
        for path in ("/resources/checked-app", "/groups/Checked"):
            with contextlib.suppress(OSError):  # HTTPError included: already gone
                lab.api(path, "DELETE")


def test_validate_cluster_report_names_the_failure_on_its_node(
    page: Page, lab: Lab, missing_program: str
) -> None:
    held: list[Route] = []
    page.route("**/api/v1/cluster/validation", lambda route: held.append(route))
    lab.sign_in(page, lab.reader)  # any token may validate: it changes nothing
    lab.row(page, "cluster").click()
    page.get_by_role("button", name="Validate Cluster…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Validate Cluster jean")).to_be_visible()
    # while the nodes are asked (the request held here): progress, Rerun disabled
    expect(dialog.locator(".validation-progress progress")).to_be_visible()
    expect(dialog.get_by_role("button", name="Rerun")).to_be_disabled()
    page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()  # then no longer held: Rerun below goes straight through
    page.unroute("**/api/v1/cluster/validation")

    summary = dialog.locator(".validation-summary")
    expect(summary).to_contain_text("3 nodes")
    expect(summary).to_contain_text("failed")
    expect(summary).to_contain_text("took")
    expect(summary).to_have_attribute("data-outcome", "failed")
    report = dialog.locator("table.validation-report")
    for node in NODES:  # every node answered
        row = report.locator(f'tr[data-check="node"][data-node="{node}"]')
        expect(row).to_have_attribute("data-status", "ok")
        expect(row).to_contain_text("NODE_ANSWERED")
    failed = report.locator('tr[data-check="programs"][data-node="node3"][data-status="failed"]')
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("PROGRAM_MISSING")
    expect(failed).to_contain_text(f"node3 lacks {MISSING} for Generic Application resource")
    expect(failed).to_contain_text(missing_program)
    for node in ("node1", "node2"):  # not possible owners: nothing missing there
        row = report.locator(f'tr[data-check="programs"][data-node="{node}"]')
        expect(row).to_have_attribute("data-status", "ok")
    expect(failed.locator(".validation-status")).to_have_css("color", "rgb(198, 40, 40)")
    # failed rows first: the checks by their worst row, and within each check
    worst = page.evaluate(
        """() => [...document.querySelectorAll('table.validation-report tbody')].map((b) =>
             [...b.querySelectorAll('tr[data-status]')].map((r) => r.dataset.status))"""
    )
    ranks = [[RANK[s] for s in rows] for rows in worst]
    assert all(rows == sorted(rows) for rows in ranks), worst
    assert [min(r) for r in ranks] == sorted(min(r) for r in ranks), worst
    assert ranks[0][0] <= RANK["failed"], worst
    failed.scroll_into_view_if_needed()
    lab.shot(page, "validate-cluster")

    # fixed (the resource removed), then Rerun: the failure is gone, every node still there
    lab.api(f"/resources/{missing_program}", "DELETE")
    dialog.get_by_role("button", name="Rerun").click()
    expect(failed).to_have_count(0)
    programs = report.locator('tr[data-check="programs"]')
    expect(programs).to_have_count(len(NODES))
    for node in NODES:
        row = report.locator(f'tr[data-check="programs"][data-node="{node}"]')
        expect(row).to_have_attribute("data-status", "ok")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_validate_cluster_is_in_the_cluster_context_menu(page: Page, lab: Lab) -> None:
    lab.sign_in(page, lab.admin)
    lab.row(page, "cluster").click(button="right")
    menu = page.get_by_role("menu")
    menu.get_by_role("menuitem", name="Validate Cluster…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".validation-summary")).to_contain_text("3 nodes")
    for node in NODES:
        expect(dialog.locator(f'tr[data-check="node"][data-node="{node}"]')).to_have_count(1)
    page.keyboard.press("Escape")
