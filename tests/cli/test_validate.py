"""``wolfpack cluster validate`` (S1, Test-Cluster): the CLI asks every node through a REST
API, judges, prints a table or ``--json``, and exits 0 (no failure), 1 (a check failed) or
3 (a node could not be asked). The APIs are real servers on loopback over one in-memory
database; the self-check behind each stands for its node's daemon (the lab test runs the
real one in every node)."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from wolfpack.admin import peer, tokens
from wolfpack.api.server import ApiServer
from wolfpack.api.settings import ApiSection
from wolfpack.cli.main import app
from wolfpack.model.config import ClusterConfig, ClusterSettings, Interface, Network, Node
from wolfpack.model.node_facts import (
    AddressFact,
    ClockFact,
    EtcdFact,
    FenceFact,
    NameFact,
    NodeFacts,
    ReachFact,
    WatchdogFact,
)
from wolfpack.model.states import NetworkRole
from wolfpack.policy.validate import expectations
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

KEY = peer.peer_key(b"cluster secret")
NODES = ("node1", "node2", "node3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configure(cfg: ClusterConfig) -> ClusterConfig:
    interfaces = {}
    for i, n in enumerate(NODES, 1):
        for net, base in (("public", "127.0.1."), ("private", "127.0.2.")):
            interfaces[f"{n}-{net}"] = Interface(f"{n}-{net}", n, net, f"{base}{i}")
    return dataclasses.replace(
        cfg,
        nodes={n: Node(n, i) for i, n in enumerate(NODES, 1)},
        networks={
            "public": Network("public", "127.0.1.0/24"),
            "private": Network("private", "127.0.2.0/24", NetworkRole.PRIVATE),
        },
        interfaces=interfaces,
    )


class Nodes:
    """Every node's API on loopback; ``skew`` and ``broken`` change what a node reports."""

    def __init__(self) -> None:
        self.db = ClusterDB(MemoryStore())
        self.db.initialize(ClusterSettings(name="jean"))
        self.cfg = self.db.update_config(configure)
        _, self.token = tokens.create(self.db, "alice", "read-only")
        self.skew: dict[str, float] = {}
        self.servers: dict[str, ApiServer] = {}
        for node in NODES:
            server = ApiServer(
                self.db,
                node,
                ApiSection(listen="127.0.0.1", port=free_port(), tls=False),
                log=lambda *a, **k: None,
                peer_keys=lambda: [KEY],
                validation=lambda cfg, node=node: self.facts(node),  # type: ignore[misc]
            )
            server.start()
            assert server.wait_started()
            server.register()
            self.servers[node] = server

    def facts(self, node: str) -> NodeFacts:
        """A healthy node's report (with this test's skew)."""
        want = expectations(self.cfg, node)
        i = NODES.index(node) + 1
        return NodeFacts(
            node=node,
            clock=ClockFact(time.time() + self.skew.get(node, 0.0)),
            addresses=(
                AddressFact("eth0", f"127.0.1.{i}/24", True),
                AddressFact("eth1", f"127.0.2.{i}/24", True),
            ),
            reach=tuple(ReachFact(p.network, p.peer, p.address, True, 0.1) for p in want.peers),
            names=tuple(NameFact(t.kind, t.name, t.expected or ("127.0.0.9",)) for t in want.names),
            etcd=EtcdFact(True, "https://127.0.0.1:2379", 2.0),
            fence=FenceFact("test", True),
            watchdog=WatchdogFact(True, "running"),
        )

    def run(self, *args: str, via: str = "node1") -> Result:
        env = {
            "WOLFPACK_ENDPOINT": f"https://127.0.0.1:{free_port()}",  # no etcd: API mode only
            "WOLFPACK_CONFIG": "/nonexistent",
            "COLUMNS": "220",
        }
        argv = ["--api", self.servers[via].url, "--token", self.token, "cluster", "validate"]
        return CliRunner().invoke(app, [*argv, *args], env=env)

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    n = Nodes()
    try:
        yield n
    finally:
        n.close()


@pytest.fixture(autouse=True)
def healthy(nodes: Nodes) -> None:
    nodes.skew.clear()
    for node in NODES:
        nodes.servers[node].register()


def test_all_well_exits_0_with_a_row_per_check_and_node(nodes: Nodes) -> None:
    """S1: every node is asked; nothing fails."""
    result = nodes.run("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["nodes"] == list(NODES)
    assert [r for r in report["rows"] if r["verdict"] == "fail"] == []
    assert {r["node"] for r in report["rows"] if r["code"] == "NODE_ANSWERED"} == set(NODES)
    clock = [r for r in report["rows"] if r["check"] == "clock"]
    assert {r["code"] for r in clock} == {"CLOCK_OK"}  # measured against node1's clock


def test_a_skewed_clock_fails_naming_the_node_and_exits_1(nodes: Nodes) -> None:
    """S1: node3's clock 5 s ahead is a failure of the clock check on node3."""
    nodes.skew["node3"] = 5.0
    result = nodes.run()
    assert result.exit_code == 1, result.output
    line = next(x for x in result.stdout.splitlines() if "CLOCK_SKEW" in x)
    assert "node3" in line and "fail" in line and "ahead of node1's" in line
    assert "fix each fail above" in result.output


def test_a_node_that_cannot_be_asked_exits_3_and_is_named(nodes: Nodes) -> None:
    """S1: a node without an answering API is named; its checks are unknown, exit 3."""
    nodes.db.register_api("node2", {"node": "node2", "url": f"http://127.0.0.1:{free_port()}"})
    result = nodes.run()
    assert result.exit_code == 3, result.output
    assert "NODE_NOT_ASKED" in result.stdout and "not asked: node2" in result.output


def test_only_the_nodes_given(nodes: Nodes) -> None:
    result = nodes.run("--node", "node2", "--json", via="node3")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nodes"] == ["node2"]


def test_an_unknown_node_is_bad_input(nodes: Nodes) -> None:
    result = nodes.run("--node", "node9", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["fields"][0]["field"] == "--node" and "node9" in error["message"]


def test_without_an_api_token_it_says_what_to_give(nodes: Nodes, tmp_path: Path) -> None:
    empty = tmp_path / "config.yaml"
    empty.write_text("{}\n")
    env = {"WOLFPACK_CONFIG": str(empty), "WOLFPACK_ENDPOINT": "https://127.0.0.1:1"}
    argv = ["--api", nodes.servers["node1"].url, "cluster", "validate"]
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 2 and "token" in result.output
