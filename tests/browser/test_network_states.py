"""Network and interface states in the web Cluster Administrator (S41, S4): the tree's
Networks and Network Interfaces folders list each one with its state, the topology colours
buses and links by state, and a change shows live.

The daemons run on loopback here, where no cable can be cut, so the test changes node3's
report of its interfaces (``links/node3``, what its link monitor writes) as the monitor
would after a lost carrier, and puts the real report back afterwards. Real cable cuts are
tests/daemon/test_media_sense.py's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Locator, Page, expect

from wolfpack.lab.localcluster import wait_for

from .conftest import Lab

pytestmark = [pytest.mark.etcd, pytest.mark.browser]


@contextmanager
def node3_cable_cut(lab: Lab) -> Iterator[None]:
    """node3's report says its client link lost carrier and it hears nobody there."""
    c = lab.cluster
    key = c.keys.links("node3")
    original = wait_for(lambda: c.store.get(key), timeout=20)
    doc = json.loads(original.value)
    doc["interfaces"]["node3-client"].update(link="no-carrier", heard=[])
    c.store.put(key, json.dumps(doc).encode(), lease=original.lease)
    try:
        yield
    finally:
        c.store.put(key, original.value, lease=original.lease)


def tree_item(page: Page, name: str) -> Locator:
    return page.get_by_role("tree").get_by_role("treeitem", name=name, exact=True)


def expand(page: Page, folder: str) -> None:
    li = page.locator(f'[id="ti-{folder}"]')
    if li.get_attribute("aria-expanded") != "true":
        li.locator("> .tree-row .tree-twisty").click()
    expect(li).to_have_attribute("aria-expanded", "true")


def test_reported_links_show_in_the_tree_lists_and_details(page: Page, lab: Lab) -> None:
    lab.sign_in(page, lab.admin)
    expand(page, "config")
    expand(page, "networks")
    expand(page, "interfaces")
    for name in ("client, Up", "heartbeat, Up", "node1-client, Up", "node3-heartbeat, Up"):
        expect(tree_item(page, name)).to_be_visible()
    lab.row(page, "interface:node2-client").click()
    body = page.locator("#detail-body")
    expect(body).to_contain_text("lo up")  # what node2's link monitor reported
    expect(body).to_contain_text("node1, node3")  # heard on that network
    lab.row(page, "network:client").click()
    expect(page.locator('tr[data-kind="interfaces"][data-name="node3-client"]')).to_contain_text(
        "Up"
    )


def test_a_lost_link_turns_red_live_and_back(page: Page, lab: Lab) -> None:
    lab.sign_in(page, lab.admin)
    expand(page, "config")
    expand(page, "networks")
    expand(page, "interfaces")
    lab.row(page, "topology").click()
    svg = page.locator("svg.topology")
    link = svg.locator('g.topo-itf[data-interface="node3-client"]')
    expect(link).to_have_class("topo-itf state-Up")
    with node3_cable_cut(lab):
        expect(tree_item(page, "node3-client, Failed")).to_be_visible()
        expect(tree_item(page, "client, Partitioned")).to_be_visible()
        expect(tree_item(page, "node1-client, Up")).to_be_visible()
        expect(link).to_have_class("topo-itf state-Failed")
        expect(svg.locator("line.topo-bus.state-Partitioned")).to_have_count(1)
        expect(svg.locator("text.topo-netstate", has_text="Partitioned")).to_be_visible()
        lab.shot(page, "topology-interface-failed")
        lab.row(page, "interfaces").click()
        row = page.locator('tr[data-kind="interfaces"][data-name="node3-client"]')
        expect(row).to_contain_text("Failed")
        expect(row).to_contain_text("no carrier on lo")
    expect(row).to_contain_text("Up")
    expect(tree_item(page, "client, Up")).to_be_visible()
