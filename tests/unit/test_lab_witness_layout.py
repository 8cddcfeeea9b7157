"""The two-node + witness lab's addresses and hosts (issue 10, S7, S13), pure: the witness
is a powered lab host on both networks at the next free addresses, and a witness lab has
exactly two nodes (refused before anything is made)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest

from wolfpack.errors import ValidationError
from wolfpack.lab import layout, world
from wolfpack.lab.state import LabState


def state(witness: bool) -> LabState:
    nodes = ["node1", "node2"] if witness else ["node1", "node2", "node3"]
    return LabState(dir="/tmp/x", prefix="wpl-abc123-", nodes=nodes, cluster="jean",
                    witness=witness)  # fmt: skip


def test_the_witness_is_a_host_on_both_lab_networks_at_free_addresses() -> None:
    pub, priv = layout.public_address("witness"), layout.private_address("witness")
    assert ipaddress.ip_address(pub) in ipaddress.ip_network(layout.PUBLIC_SUBNET)
    assert ipaddress.ip_address(priv) in ipaddress.ip_network(layout.PRIVATE_SUBNET)
    nodes = [f"node{i}" for i in range(1, layout.MAX_NODES + 1)]
    fixed = {layout.ADMIN_ADDRESS, layout.DNS_ADDRESS, layout.CLIENT_ADDRESS}
    taken = {*fixed, layout.MANAGEMENT_ADDRESS, "198.51.100.20", "198.51.100.30"}
    taken |= {layout.public_address(n) for n in nodes}
    assert pub not in taken
    assert priv not in {layout.private_address(n) for n in nodes}


def test_every_lab_address_is_distinct_at_the_largest_lab() -> None:
    """Each node's public address is none of the fixed hosts' nor a demo group's."""
    from wolfpack.lab import demo

    nodes = [f"node{i}" for i in range(1, layout.MAX_NODES + 1)]
    fixed = [layout.ADMIN_ADDRESS, layout.DNS_ADDRESS, layout.CLIENT_ADDRESS,
             layout.MANAGEMENT_ADDRESS, demo.WEB_ADDRESS, demo.SQL_ADDRESS,
             layout.public_address("witness")]  # fmt: skip
    public = [layout.public_address(n) for n in nodes]
    assert len(set(public)) == len(public) and not set(public) & set(fixed)
    assert public[:3] == ["198.51.100.11", "198.51.100.12", "198.51.100.13"]
    private = [layout.private_address(n) for n in [*nodes, "witness"]]
    assert len(set(private)) == len(private)
    subnet = ipaddress.ip_network(layout.PUBLIC_SUBNET)
    assert all(ipaddress.ip_address(a) in subnet for a in public)


def test_only_a_witness_lab_has_the_witness_host() -> None:
    assert layout.powered(state(True)) == ["node1", "node2", "witness"]
    assert layout.hosts(state(True))[-1] == "witness"
    assert "witness" not in layout.hosts(state(False))
    assert layout.installed(state(True), "witness").config_dir == Path("/tmp/x/nodes/witness/etc")


@pytest.mark.parametrize(("nodes", "witness"), [(3, True), (1, True), (2, False)])
def test_a_witness_lab_has_two_nodes_and_others_three_or_more(
    tmp_path: Path, nodes: int, witness: bool
) -> None:
    if os.geteuid() != 0:
        pytest.skip("lab up checks for root first")
    with pytest.raises(ValidationError) as err:
        world.up(tmp_path / "lab", nodes, witness=witness)
    assert err.value.errors[0].field == "--nodes"
    assert not (tmp_path / "lab").exists()  # refused before anything was made


def test_the_demo_finds_the_public_network_by_its_subnet() -> None:
    """``cluster create`` names the networks it finds (network1, ...), the document-built
    lab calls them public/private: the demo's IP Addresses go on whichever is 198.51.100/24,
    and a cluster without it is refused by name."""
    from wolfpack.errors import WolfpackError
    from wolfpack.lab.cluster_doc import public_network
    from wolfpack.lab.demo import database_wizard, demo_doc
    from wolfpack.model.config import ClusterConfig, Network

    formed = ClusterConfig(networks={
        "network1": Network("network1", layout.PUBLIC_SUBNET),
        "network2": Network("network2", layout.PRIVATE_SUBNET)})  # fmt: skip
    assert public_network(formed) == "network1"
    lab = state(True)
    lab.disks = {n: {"uuid": f"uuid-{n}"} for n in layout.DISKS}
    doc = demo_doc(lab, "network1")
    assert doc["resources"]["web-ip"]["properties"]["network"] == "network1"
    assert doc["groups"]["Web"]["preferred_owners"] == ["node2", "node1"]  # no node3 here
    assert "SQL" not in doc["groups"]  # made by the database wizard (S40), not the document
    wizard, failback = database_wizard(lab)
    assert wizard[:4] == ["wolfpack", "db", "create", "SQL"]
    assert wizard[wizard.index("--preferred-owners") + 1] == "node1,node2"
    assert wizard[wizard.index("--disk") + 1] == "UUID=uuid-sql"
    assert failback[-4:] == ["--failback", "immediate", "--stability-delay", "5s"]
    with pytest.raises(WolfpackError, match=re.escape(layout.PUBLIC_SUBNET)):
        public_network(ClusterConfig(networks={"n": Network("n", layout.PRIVATE_SUBNET)}))
