"""A node's addresses matched to the cluster networks by subnet; a new segment becomes a new
network (S21); a node on no cluster network is refused, naming its addresses (issue 10)."""

from __future__ import annotations

import dataclasses

import pytest

from wolfpack.errors import AlreadyExistsError, ValidationError
from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig
from wolfpack.model.joining import HostAddress, match_networks, with_node, without_node
from wolfpack.model.validation import config_errors


def cluster() -> ClusterConfig:
    return codec.parse_config(
        {
            "nodes": {"node1": {"id": 1}},
            "networks": {
                "public": {"subnet": "198.51.100.0/24"},
                "private": {"subnet": "203.0.113.0/24", "role": "private"},
            },
            "interfaces": {
                "node1-public": {"node": "node1", "network": "public", "address": "198.51.100.11"},
                "node1-private": {"node": "node1", "network": "private", "address": "203.0.113.11"},
            },
        }
    )


def addr(text: str, ifname: str = "") -> HostAddress:
    address, _, prefix = text.partition("/")
    return HostAddress(address, int(prefix), ifname)


def test_addresses_match_networks_by_subnet() -> None:
    cfg, matched = with_node(
        cluster(), "node2", [addr("198.51.100.12/24"), addr("203.0.113.12/24")]
    )
    assert matched.new_networks == ()
    assert {(i.name, i.network, i.address) for i in matched.interfaces} == {
        ("node2-public", "public", "198.51.100.12"),
        ("node2-private", "private", "203.0.113.12"),
    }
    assert cfg.nodes["node2"].id == 2
    assert list(config_errors(cfg)) == []


def test_a_new_segment_becomes_a_new_network() -> None:
    cfg, matched = with_node(
        cluster(), "node2", [addr("198.51.100.12/24"), addr("10.9.0.12/16", "eth2")]
    )
    assert [(n.name, n.subnet, str(n.role)) for n in matched.new_networks] == [
        ("network1", "10.9.0.0/16", "mixed")
    ]
    assert cfg.interfaces["node2-network1"].address == "10.9.0.12"
    assert list(config_errors(cfg)) == []


def test_create_forms_every_network_from_the_first_node() -> None:
    empty = ClusterConfig()
    cfg, matched = with_node(empty, "node1", [addr("198.51.100.11/24"), addr("203.0.113.11/24")])
    assert sorted(n.subnet for n in matched.new_networks) == ["198.51.100.0/24", "203.0.113.0/24"]
    assert [n.name for n in matched.new_networks] == ["network1", "network2"]
    assert list(config_errors(cfg)) == []


def test_link_local_ignored_and_virtual_addresses_are_not_interfaces() -> None:
    matched = match_networks(
        cluster(),
        "node1b",
        [
            addr("169.254.3.4/16"),
            addr("198.51.100.10/24"),  # the management address this node may hold
            addr("198.51.100.13/24"),
        ],
        ignore={"198.51.100.10"},
    )
    assert [(i.network, i.address) for i in matched.interfaces] == [("public", "198.51.100.13")]
    assert matched.new_networks == ()


def test_first_address_on_a_network_wins() -> None:
    matched = match_networks(cluster(), "n", [addr("198.51.100.13/24"), addr("198.51.100.14/24")])
    assert [i.address for i in matched.interfaces] == ["198.51.100.13"]


def test_a_node_on_no_cluster_network_is_refused_naming_its_addresses() -> None:
    before = cluster()
    with pytest.raises(ValidationError) as err:
        with_node(before, "node9", [addr("10.1.2.3/24", "eth0")])
    message = str(err.value)
    assert "interfaces" in message
    assert "10.1.2.3/24 on eth0" in message and "198.51.100.0/24" in message
    assert "node9" not in before.nodes


def test_a_node_without_usable_address_is_refused() -> None:
    with pytest.raises(ValidationError, match="no usable IPv4 address"):
        with_node(ClusterConfig(), "node1", [addr("169.254.0.1/16")])


def test_an_existing_node_or_a_taken_id_is_refused() -> None:
    with pytest.raises(AlreadyExistsError):
        with_node(cluster(), "node1", [addr("198.51.100.12/24")])
    with pytest.raises(ValidationError, match="taken"):
        with_node(cluster(), "node2", [addr("198.51.100.12/24")], node_id=1)


def test_evict_removes_the_node_its_interfaces_and_its_owner_entries() -> None:
    cfg, _ = with_node(cluster(), "node2", [addr("198.51.100.12/24")])
    doc = codec.dump(cfg)
    doc["groups"] = {"Web": {"preferred_owners": ["node2", "node1"]}}
    cfg = codec.parse_config(doc)
    out = without_node(cfg, "node2")
    assert "node2" not in out.nodes
    assert not any(i.node == "node2" for i in out.interfaces.values())
    assert out.groups["Web"].preferred_owners == ("node1",)
    assert sorted(out.networks) == ["private", "public"]
    assert list(config_errors(out)) == []
    assert without_node(out, "node2") == out  # evicted already: nothing to do


def test_evict_refuses_to_strand_a_resource_only_the_node_may_own() -> None:
    doc = codec.dump(cluster())
    doc["groups"] = {"Web": {}}
    doc["resources"] = {
        "app": {
            "type": "Generic Application",
            "group": "Web",
            "possible_owners": ["node1"],
            "properties": {"command": "sleep 1"},
        }
    }
    cfg = dataclasses.replace(codec.parse_config(doc), types=builtin_types())
    with pytest.raises(ValidationError, match=r"resources\.app\.possible_owners"):
        without_node(cfg, "node1")
