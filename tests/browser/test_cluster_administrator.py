"""The web Cluster Administrator in a real browser against a real cluster (the seed's
Cluster Administrator tour, S19-S39): sign in, the tree, wizards, menus, live updates through
SSE, properties that persist, the read-only role, a narrow screen and the keyboard.
Screenshots of the main views go to docs/images/ with WOLFPACK_SCREENSHOTS=1 (docs/web.md)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from wolfpack.lab.localcluster import wait_for

from .conftest import Lab

pytestmark = [pytest.mark.etcd, pytest.mark.browser]


def group_row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-kind="groups"][data-name="{name}"]')


def resource_row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-kind="resources"][data-name="{name}"]')


def menu_action(page: Page, row: Locator, action: str) -> None:
    """Open a row's menu with its "⋯" button and pick ``action`` (the item's data-action)."""
    row.locator("button.more").click()
    page.locator(f'#menu [data-action="{action}"]').click()


def mark_page(page: Page) -> None:
    """A value that only survives while the page is not reloaded."""
    page.evaluate("window.__notReloaded = 'yes'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded") == "yes"


def test_sign_in_refuses_a_bad_token_then_shows_name_and_role(page: Page, lab: Lab) -> None:
    page.goto(lab.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    lab.shot(page, "login")
    page.get_by_label("Token").fill("alice.not-the-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("not accepted")
    lab.sign_in(page, lab.admin)
    expect(page.locator("#who")).to_have_text("alice · admin")
    # The token lives in this tab's sessionStorage: a reload keeps the session.
    page.reload()
    expect(page.locator("#who")).to_have_text("alice · admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_tree_shows_cluster_configuration_and_nodes(page: Page, lab: Lab) -> None:
    """S19, S21, S31-S33: the seed's tree and the lists behind it."""
    lab.sign_in(page, lab.admin)
    tree = page.get_by_role("tree")
    items = ["jean", "Groups", "Resources", "Cluster Configuration", "Resource Types", "Networks"]
    items += ["Network Interfaces", "node1, Up", "node2, Up", "node3, Up"]
    for name in items:
        expect(tree.get_by_role("treeitem", name=name, exact=True)).to_be_visible()
    expect(group_row(page, "Web")).to_contain_text("Online")
    expect(group_row(page, "Web").locator("td").nth(1)).to_have_text(lab.owner("Web") or "")
    # A change made elsewhere appears live, and the keyboard stays where it was in the tree.
    lab.row(page, "cluster").click()
    page.keyboard.press("ArrowDown")
    lab.api("/groups/Web", "PATCH", {"description": "changed from the CLI"})
    expect(group_row(page, "Web")).to_contain_text("changed from the CLI")
    expect(page.locator("#tree [role=treeitem]:focus")).to_have_attribute("data-id", "groups")
    lab.row(page, "groups").click()
    expect(page.locator("#detail-title")).to_have_text("Groups")
    lab.row(page, "types").click()
    expect(page.locator('tr[data-name="Generic Application"]')).to_be_visible()
    expect(page.locator('tr[data-name="IP Address"]')).to_be_visible()
    lab.row(page, "networks").click()
    expect(page.locator('tr[data-name="heartbeat"]')).to_contain_text("private")
    page.locator('tr[data-name="client"]').dblclick()  # S32: the role, changeable any time
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Role (can change at any time)")).to_have_value("mixed")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    lab.row(page, "interfaces").click()
    expect(page.locator('tr[data-name="node1-client"]')).to_contain_text("127.0.2.1")
    # Per node: its active groups and active resources (S33).
    owner = lab.owner("Web")
    lab.row(page, f"node:{owner}").click()
    page.locator(f'[id="ti-node:{owner}"]').press("ArrowRight")
    lab.row(page, f"node:{owner}:groups").click()
    expect(group_row(page, "Web")).to_be_visible()
    lab.row(page, f"node:{owner}:resources").click()
    expect(resource_row(page, "Web-app")).to_contain_text("Online")


def test_wizards_create_a_group_and_its_resource_which_comes_online(page: Page, lab: Lab) -> None:
    """S25, S26, S28: New Group (name, preferred owners in order), New Resource (type and its
    property schema, possible owners); then Take Offline and Bring Online from the menu."""
    lab.sign_in(page, lab.admin)
    page.locator("#new-group").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("Files")
    dialog.get_by_label("Description").fill("file shares")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_label("node3", exact=True).check()
    dialog.get_by_label("node1", exact=True).check()
    dialog.get_by_role("button", name="Move node3 up").click()
    dialog.get_by_role("button", name="Move node3 up").click()
    dialog.get_by_role("button", name="Finish").click()
    expect(dialog).to_be_hidden()
    assert lab.api("/groups/Files")["preferred_owners"] == ["node3", "node1"]

    lab.row(page, "group:Files").click()
    page.locator("#new-resource").click()
    dialog.get_by_label("Name", exact=True).fill("files-app")
    expect(dialog.get_by_label("Resource type")).to_have_value("Generic Application")
    expect(dialog.get_by_label("Group")).to_have_value("Files")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_label("node2", exact=True).uncheck()  # possible owners: node1, node3
    dialog.get_by_role("button", name="Next").click()
    expect(dialog).to_contain_text("No other resource in this group")
    dialog.get_by_role("button", name="Next").click()
    # A 422 from the API lands next to the field it names: a required property left empty.
    dialog.get_by_role("button", name="Finish").click()
    expect(
        dialog.locator('.field:has([data-field="properties.command"]) .field-error')
    ).not_to_be_empty()
    dialog.get_by_label("command", exact=True).fill(lab.app_command("Files"))
    dialog.get_by_role("button", name="Finish").click()
    expect(dialog).to_be_hidden()
    res = lab.api("/resources/files-app")
    assert res["group"] == "Files" and res["possible_owners"] == ["node1", "node3"]

    # A second resource that depends on the first (the wizard's Dependencies step).
    page.locator("#new-resource").click()
    dialog.get_by_label("Name", exact=True).fill("files-check")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_role("button", name="Add dependency").click()
    dialog.get_by_label("files-app", exact=True).check()
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_label("command", exact=True).fill("sleep 600")
    dialog.get_by_role("button", name="Finish").click()
    expect(dialog).to_be_hidden()
    assert lab.api("/resources/files-check")["dependencies"] == [["files-app"]]
    expect(resource_row(page, "files-check")).to_contain_text("files-app")

    lab.row(page, "groups").click()
    row = group_row(page, "Files")
    expect(row).to_contain_text("Online")  # a new group is wanted online (PersistentState)
    expect(row.locator("td").nth(1)).to_have_text("node3")
    menu_action(page, row, "offline")
    expect(row).to_contain_text("Offline")
    wait_for(lambda: lab.cluster.answer("Files") is None, timeout=30)
    menu_action(page, row, "online")
    expect(row).to_contain_text("Online")
    assert wait_for(lambda: lab.cluster.answer("Files"), timeout=30) == "node3"


def test_move_group_changes_the_owner_live(page: Page, lab: Lab) -> None:
    """S34, S39: Move Group to a chosen node; the owner changes on the page without reload."""
    lab.sign_in(page, lab.admin)
    lab.row(page, "groups").click()
    mark_page(page)
    row = group_row(page, "Web")
    before = lab.owner("Web")
    target = next(n for n in ("node3", "node1", "node2") if n != before)
    row.click(button="right")  # the context menu, as in MSCS
    menu = page.get_by_role("menu")
    expect(menu.locator(f'[data-action="move:{before}"]')).to_have_attribute(
        "aria-disabled", "true"
    )
    expect(menu).to_contain_text("it is the owner")
    lab.shot(page, "context-menu")
    menu.locator(f'[data-action="move:{target}"]').click()
    expect(row.locator("td").nth(1)).to_have_text(target)
    expect(row).to_contain_text("Online")
    assert_not_reloaded(page)
    assert wait_for(lambda: lab.cluster.answer("Web"), timeout=30) == target


def test_initiate_failure_restarts_then_fails_over_live(page: Page, lab: Lab) -> None:
    """S30: Initiate Failure, seen live. With restart threshold 1 the first failure
    restarts the resource in place (the Restarts column counts it), the next one fails the
    group over. (The first once failed over at times: tests/daemon/test_restart_policy.py.)"""
    lab.api("/resources/Web-app", "PATCH", {"restart_threshold": 1})
    lab.sign_in(page, lab.admin)
    lab.row(page, "group:Web").click()
    mark_page(page)
    row = resource_row(page, "Web-app")
    owner_cell, restarts_cell = row.locator("td").nth(1), row.locator("td").nth(4)
    owner = lab.owner("Web") or ""
    expect(owner_cell).to_have_text(owner)
    expect(restarts_cell).to_have_text("0")
    menu_action(page, row, "fail")

    def settled() -> str | None:
        if "Online" not in row.locator("td").nth(0).inner_text():
            return None
        if owner_cell.inner_text() != owner:
            return "failed over"
        return "restarted" if restarts_cell.inner_text() == "1" else None

    assert wait_for(settled, timeout=30, interval=0.1) == "restarted"
    menu_action(page, row, "fail")
    expect(owner_cell).not_to_have_text(owner)
    expect(row).to_contain_text("Online")
    expect(page.locator("#detail-title")).not_to_contain_text(f"on {owner}")
    assert_not_reloaded(page)
    new_owner = lab.owner("Web")
    assert new_owner not in (None, owner)
    assert wait_for(lambda: lab.cluster.answer("Web"), timeout=30) == new_owner


def test_properties_save_persist_and_show_a_422_next_to_the_field(page: Page, lab: Lab) -> None:
    """S35, S37, S38: every tab of a group's properties; saved with PATCH, still there after
    a reload; a refused value is explained next to its field and nothing changes."""
    lab.sign_in(page, lab.admin)
    lab.row(page, "group:Web").click()
    page.get_by_role("button", name="Properties").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Description").fill("the IIS analog")
    dialog.get_by_role("tab", name="Failback").click()
    dialog.get_by_label("Allow failback only between the hours below").check()
    dialog.get_by_label("From hour (0-23, cluster time)").fill("22")
    dialog.get_by_label("Until hour (0-23)").fill("6")
    lab.shot(page, "properties")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()
    page.reload()
    lab.row(page, "group:Web").click()
    page.get_by_role("button", name="Properties").click()
    expect(dialog.get_by_label("Description")).to_have_value("the IIS analog")
    dialog.get_by_role("tab", name="Failback").click()
    expect(dialog.get_by_label("Allow failback only between the hours below")).to_be_checked()
    expect(dialog.get_by_label("From hour (0-23, cluster time)")).to_have_value("22")
    expect(dialog.get_by_label("Until hour (0-23)")).to_have_value("6")
    group = lab.api("/groups/Web")
    assert group["failback"]["mode"] == "window"
    assert (group["failback"]["window_start"], group["failback"]["window_end"]) == (22, 6)

    dialog.get_by_role("tab", name="Failover").click()
    threshold = dialog.get_by_label("Threshold (failovers)")
    threshold.fill("0")
    dialog.get_by_role("button", name="Apply").click()
    error = dialog.locator('.field:has([data-field="failover_threshold"]) .field-error')
    expect(error).to_contain_text("positive")
    expect(threshold).to_have_attribute("aria-invalid", "true")
    lab.shot(page, "properties-error")
    assert lab.api("/groups/Web")["failover_threshold"] == 10
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    lab.api("/groups/Web", "PATCH", {"failback": {"mode": "prevent"}})


def test_change_group_offers_other_groups_only_when_there_are_no_dependencies(
    page: Page, lab: Lab
) -> None:
    """S27, S36: Change Group lists only the other groups, and is refused, with the reason on
    the item, for a resource with dependencies in either direction."""
    lab.api("/groups", "POST", {"name": "Pair"})
    lab.api("/resources", "POST", {
        "name": "pair-base", "type": "Generic Application", "group": "Pair",
        "properties": {"command": "sleep 600"},
    })  # fmt: skip
    lab.api("/resources", "POST", {
        "name": "pair-top", "type": "Generic Application", "group": "Pair",
        "properties": {"command": "sleep 600"}, "dependencies": [["pair-base"]],
    })  # fmt: skip
    lab.sign_in(page, lab.admin)
    lab.row(page, "resources").click()
    resource_row(page, "pair-base").locator("button.more").click()
    menu = page.get_by_role("menu")
    expect(menu.locator('[data-action="change-group:Pair"]')).to_have_count(0)
    item = menu.locator('[data-action="change-group:Web"]')
    expect(item).to_have_attribute("aria-disabled", "true")
    expect(item).to_contain_text("pair-top depends on it")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    # Its Properties show the same relation on the Dependencies tab.
    resource_row(page, "pair-top").dblclick()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Dependencies").click()
    expect(dialog.get_by_label("pair-base", exact=True)).to_be_checked()
    lab.shot(page, "resource-properties")
    dialog.get_by_role("tab", name="Parameters").click()
    expect(dialog.get_by_label("command", exact=True)).to_have_value("sleep 600")
    # A property set, then cleared again: the PATCH (a merge patch) removes it.
    directory = dialog.get_by_label("directory", exact=True)
    directory.fill("/tmp")
    dialog.get_by_role("button", name="Apply").click()
    wait_for(lambda: lab.api("/resources/pair-top")["properties"].get("directory"), timeout=30)
    directory.fill("")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()
    wait_for(lambda: "directory" not in lab.api("/resources/pair-top")["properties"], timeout=30)
    assert lab.api("/resources/pair-top")["properties"]["command"] == "sleep 600"
    resource_row(page, "Web-app").locator("button.more").click()
    expect(menu.locator('[data-action="change-group:Web"]')).to_have_count(0)
    expect(menu.locator('[data-action="change-group:Pair"]')).not_to_have_attribute(
        "aria-disabled", "true"
    )
    page.keyboard.press("Escape")


def test_topology_draws_nodes_networks_addresses_and_groups(page: Page, lab: Lab) -> None:
    """S4: the system diagram."""
    lab.sign_in(page, lab.admin)
    lab.row(page, "groups").click()
    expect(group_row(page, "Web")).to_be_visible()
    lab.shot(page, "cluster-groups")
    lab.row(page, "topology").click()
    svg = page.locator("svg.topology")
    for text in ("node1", "node2", "node3", "client", "heartbeat", "127.0.2.1", "127.0.1.3", "Web"):
        expect(svg.locator("text", has_text=text).first).to_be_visible()
    owner = lab.owner("Web")
    expect(
        svg.locator(f"g.topo-node:has(text:text-is('{owner}')) .topo-gname", has_text="Web")
    ).to_be_visible()
    lab.shot(page, "topology")


def test_pause_resume_and_drain_a_node_from_the_tree_with_the_keyboard(
    page: Page, lab: Lab
) -> None:
    """Pause/Resume/Drain Node from the tree's menu (Shift+F10), seen live in the tree."""
    lab.sign_in(page, lab.admin)
    lab.row(page, "node:node3").click()
    item = page.locator('[id="ti-node:node3"]')
    expect(item).to_be_focused()
    page.keyboard.press("Shift+F10")
    expect(page.locator("#menu [role=menuitem]:focus")).to_have_attribute("data-action", "pause")
    page.keyboard.press("Enter")
    expect(item).to_have_attribute("aria-label", "node3, Paused")
    assert lab.api("/nodes/node3")["status"]["state"] == "Paused"
    expect(item).to_be_focused()
    page.keyboard.press("Shift+F10")
    expect(page.locator('#menu [data-action="pause"]')).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#menu [role=menuitem]:focus")).to_have_attribute("data-action", "resume")
    page.keyboard.press("Enter")
    expect(item).to_have_attribute("aria-label", "node3, Up")
    # Drain: paused, and its groups move away; its Active Groups list empties live.
    wait_for(lambda: lab.api("/nodes/node3")["status"]["state"] == "Up", timeout=30)
    page.keyboard.press("Shift+F10")
    page.locator('#menu [data-action="drain"]').click()
    expect(item).to_have_attribute("aria-label", "node3, Paused")
    page.keyboard.press("ArrowRight")
    lab.row(page, "node:node3:groups").click()
    expect(page.locator('#detail-body tr[data-kind="groups"]')).to_have_count(0)
    wait_for(lambda: all(g["owner"] != "node3" for g in lab.api("/groups")), timeout=30)
    lab.row(page, "node:node3").click()
    page.keyboard.press("Shift+F10")
    page.locator('#menu [data-action="resume"]').click()
    expect(item).to_have_attribute("aria-label", "node3, Up")


def test_read_only_role_sees_no_mutating_action_and_cannot_change_anything(
    page: Page, lab: Lab
) -> None:
    lab.sign_in(page, lab.reader)
    expect(page.locator("#who")).to_have_text("watcher · read-only")
    expect(page.locator("#new-group")).to_have_count(0)
    lab.row(page, "groups").click()
    expect(page.locator("#new-group")).to_have_count(0)
    group_row(page, "Web").locator("button.more").click()
    items = page.locator("#menu [role=menuitem]")
    expect(items).to_have_count(1)
    expect(items).to_have_attribute("data-action", "properties")
    page.keyboard.press("Escape")
    lab.row(page, "groups").click(button="right")
    expect(page.locator("#menu")).to_contain_text("No actions")
    page.keyboard.press("Escape")
    resource_row_menu = page.locator("#menu [role=menuitem]")
    lab.row(page, "group:Web").click()
    expect(page.locator("#new-resource")).to_have_count(0)
    resource_row(page, "Web-app").locator("button.more").click()
    expect(resource_row_menu).to_have_count(1)
    page.keyboard.press("Escape")
    lab.row(page, "node:node1").click()
    page.locator("#detail-actions button.more").click()
    expect(resource_row_menu).to_have_count(1)
    page.keyboard.press("Escape")
    # Properties open for reading: every field disabled, no OK/Apply.
    lab.row(page, "group:Web").click()
    page.get_by_role("button", name="Properties").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Description")).to_be_disabled()
    expect(dialog.get_by_role("button", name="OK")).to_have_count(0)
    expect(dialog.get_by_role("button", name="Apply")).to_have_count(0)
    dialog.get_by_role("button", name="Close", exact=True).click()
    # And the API refuses the role's token a change even if asked directly.
    before = lab.owner("Web")
    status = page.evaluate(
        """async (token) => (await fetch('/api/v1/groups/Web/move', {method: 'POST',
             headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
             body: '{"node": null}'})).status""",
        lab.reader,
    )
    assert status == 403
    assert lab.owner("Web") == before


def test_narrow_screen_folds_the_tree_and_the_keyboard_reaches_everything(
    browser: Browser, lab: Lab
) -> None:
    context = browser.new_context(viewport={"width": 400, "height": 800}, ignore_https_errors=True)
    page = context.new_page()
    try:
        lab.sign_in(page, lab.admin)
        expect(page.locator("#tree-pane")).to_be_hidden()
        toggle = page.get_by_role("button", name="Show the cluster tree")
        toggle.click()
        expect(page.locator("#tree-pane")).to_be_visible()
        lab.shot(page, "narrow-tree")
        # The tree has one tab stop; arrows move, Enter selects (and folds the drawer).
        focused: Any = page.locator("#tree [role=treeitem]:focus")
        expect(focused).to_have_attribute("data-id", "cluster")
        page.keyboard.press("ArrowDown")
        expect(focused).to_have_attribute("data-id", "groups")
        page.keyboard.press("Enter")
        expect(page.locator("#tree-pane")).to_be_hidden()
        expect(page.locator("#detail-title")).to_have_text("Groups")
        more = page.get_by_role("button", name="Actions for group Web")
        more.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("menu")).to_be_visible()
        page.keyboard.press("ArrowDown")
        expect(page.locator("#menu [role=menuitem]:focus")).to_have_count(1)
        page.keyboard.press("Escape")
        expect(page.get_by_role("menu")).to_be_hidden()
        expect(more).to_be_focused()
        page.keyboard.press("Shift+Tab")  # back through the row to the page's controls
        more.focus()
        page.keyboard.press("Enter")
        page.locator('#menu [data-action="properties"]').press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box is not None and box["width"] <= 400
        lab.shot(page, "narrow-properties")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"the page scrolls sideways ({width} px)"
    finally:
        context.close()


def test_api_errors_are_shown_in_a_banner_that_says_what_to_do(page: Page, lab: Lab) -> None:
    """S28: the menu does not offer a node that is not a possible owner of every resource;
    deleting a group that still holds resources is refused, and the banner says what to do
    next; nothing changes."""
    lab.api("/groups", "POST", {"name": "Bound", "preferred_owners": ["node1"]})
    lab.api("/resources", "POST", {
        "name": "bound-app", "type": "Generic Application", "group": "Bound",
        "possible_owners": ["node1", "node3"], "properties": {"command": "sleep 600"},
    })  # fmt: skip
    wait_for(lambda: lab.owner("Bound") == "node1", timeout=30)
    lab.sign_in(page, lab.admin)
    lab.row(page, "groups").click()
    row = group_row(page, "Bound")
    expect(row.locator("td").nth(1)).to_have_text("node1")
    row.locator("button.more").click()
    item = page.locator('#menu [data-action="move:node2"]')
    expect(item).to_have_attribute("aria-disabled", "true")
    expect(item).to_contain_text("not a possible owner of bound-app")
    page.keyboard.press("Escape")
    page.once("dialog", lambda d: d.accept())  # "Delete group Bound?"
    menu_action(page, row, "delete")
    banner = page.get_by_role("alert")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Delete group Bound failed (422")
    expect(banner).to_contain_text("bound-app")
    expect(page.locator("#banner-hint")).to_contain_text("Nothing was changed")
    lab.shot(page, "error-banner")
    page.get_by_role("button", name="Dismiss the message").click()
    expect(banner).to_be_hidden()
    assert lab.api("/groups/Bound")["resources"] == ["bound-app"]
