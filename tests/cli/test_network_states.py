"""``wolfpack network list`` and ``interface list/show`` say the derived states (S41, S14),
read from what each node reported under ``links/<node>`` in a real etcd."""

from __future__ import annotations

import json

import pytest

from wolfpack.model import codec
from wolfpack.model.links import LinkCondition, LinkReport, NodeLinks
from wolfpack.store import KeySpace

from .conftest import Cli

NODES = ("node1", "node2", "node3")


def report(cli: Cli, node: str, links: NodeLinks) -> None:
    """What the node's link monitor writes (here without a lease: readers do not care)."""
    store = cli.store()  # over TLS, as the administrator (C1)
    try:
        body = json.dumps(codec.dump(links, exclude_defaults=False)).encode()
        store.put(KeySpace(cli.prefix).links(node), body)
    finally:
        store.close()


def node2_public_cable_cut(cli: Cli) -> None:
    """node2 lost carrier on its public link: it hears nobody there, nobody hears it."""
    for node in NODES:
        others = [n for n in NODES if n != node]
        public_heard = [] if node == "node2" else [n for n in others if n != "node2"]
        public = LinkReport(
            "public",
            "eth0",
            LinkCondition.NO_CARRIER if node == "node2" else LinkCondition.UP,
            heard=tuple(public_heard),
        )
        private = LinkReport("private", "eth1", heard=tuple(others))
        report(cli, node, NodeLinks({f"{node}-public": public, f"{node}-private": private}))


def test_states_before_any_report_are_up(jean: Cli) -> None:
    networks = jean.json("network", "list")
    assert {n["name"]: n["state"] for n in networks} == {"private": "Up", "public": "Up"}
    itf = jean.json("interface", "show", "node1-public")
    assert (itf["state"], itf["link"]) == ("Up", None)


def test_a_cut_cable_shows_in_network_and_interface_lists(jean: Cli) -> None:
    node2_public_cable_cut(jean)
    networks = {n["name"]: n for n in jean.json("network", "list")}
    assert networks["public"]["state"] == "Partitioned"
    assert networks["public"]["interface_states"]["node2-public"] == "Failed"
    assert networks["private"]["state"] == "Up"
    interfaces = {i["name"]: i for i in jean.json("interface", "list")}
    cut = interfaces["node2-public"]
    assert cut["state"] == "Failed" and "no carrier on eth0" in cut["reason"]
    assert cut["link"] == {"ifname": "eth0", "condition": "no-carrier", "since": 0.0, "heard": []}
    assert interfaces["node1-public"]["state"] == "Up"
    assert interfaces["node1-private"]["link"]["heard"] == ["node2", "node3"]
    table = jean.ok("interface", "list").stdout
    row = next(line for line in table.splitlines() if "node2-public" in line)
    assert "Failed" in row and "eth0 no-carrier" in row
    assert "Partitioned" in jean.ok("network", "list").stdout
    shown = jean.ok("interface", "show", "node2-public").stdout
    assert "no carrier on eth0" in shown


@pytest.mark.parametrize("kind", ["network", "interface"])
def test_show_of_an_unknown_name_is_refused(jean: Cli, kind: str) -> None:
    assert jean.fails(kind, "show", "nope", code=1)["type"] == "NotFoundError"
