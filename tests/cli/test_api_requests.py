"""A request over the REST API is checked once, on the server (issue 14, point 5): ``wolfpack
--api URL group move`` is one POST, with no ``GET /cluster`` and ``GET /intents`` first, and
a refused move still says what it said when the CLI checked it itself.

The API is a real uvicorn server on loopback (``ApiServer``) over the in-memory store; the
requests are counted by the server itself (its ``/metrics``), so nothing in the CLI is
replaced."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner, Result

from wolfpack.admin import tokens
from wolfpack.admin.requests import check_request
from wolfpack.api.server import ApiServer
from wolfpack.api.settings import ApiSection
from wolfpack.cli.main import app
from wolfpack.errors import NotFoundError, RejectedError, WolfpackError
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Node
from wolfpack.model.snapshot import GroupStatus, IntentKind, NodeStatus
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

Counts = dict[tuple[str, str, str], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Served:
    db: ClusterDB
    url: str
    token: str

    def requests(self) -> Counts:
        """Requests the server has answered, by (method, route, status)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return {
            (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(text)
            if family.name == "wolfpack_api_requests"
            for s in family.samples
            if s.name == "wolfpack_api_requests_total"
        }

    def cli(self, *args: str) -> tuple[Result, Counts]:
        """``wolfpack --api URL ARGS --json`` and the requests it made."""
        before = self.requests()
        environment = {
            "WOLFPACK_ENDPOINT": f"https://127.0.0.1:{free_port()}",  # no etcd: API mode only
            "WOLFPACK_CONFIG": "/nonexistent",
        }
        argv = ["--api", self.url, "--token", self.token, *args, "--json"]
        result = CliRunner().invoke(app, argv, env=environment)
        after = self.requests()
        made = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        made.pop(("GET", "/metrics", "200"), None)  # the count of ``before`` itself
        return result, made


def two_nodes(cfg: ClusterConfig) -> ClusterConfig:
    return replace(
        cfg,
        nodes={"node1": Node("node1", 1), "node2": Node("node2", 2)},
        groups={"Web": Group("Web", preferred_owners=("node1", "node2"))},
    )


@pytest.fixture
def served() -> Iterator[Served]:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="seam"))
    db.update_config(two_nodes)
    for node in ("node1", "node2"):
        db.write_status("nodes", node, NodeStatus())
    db.write_status("groups", "Web", GroupStatus(owner="node1"))
    _, token = tokens.create(db, "alice", "admin")
    server = ApiServer(db, "node1", ApiSection(port=free_port()), log=lambda event, **fields: None)
    server.start()
    try:
        assert server.wait_started(), "the API did not start"
        yield Served(db, server.url, token)
    finally:
        server.stop()


def local_error(db: ClusterDB, target: str, subject: str = "Web") -> WolfpackError:
    """What the CLI said when it checked the move itself (the same function, locally)."""
    try:
        check_request(db.read_snapshot(), IntentKind.MOVE_GROUP, subject, target)
    except WolfpackError as exc:
        return exc
    raise AssertionError(f"a move of {subject} to {target} was not refused")


def error_of(result: Result) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    return error


def test_a_move_over_the_api_is_one_request(served: Served) -> None:
    """Issue 14 (5): the move is one POST; the client reads neither the cluster nor the
    pending requests to check it first (that was GET /cluster + GET /intents + POST)."""
    result, made = served.cli("group", "move", "Web", "node2", "--no-wait")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target"] == "node2"
    assert made == {("POST", "/api/v1/groups/{name}/move", "202"): 1}
    assert [i.target for i in served.db.list_intents()] == ["node2"]


def test_a_refused_move_says_what_the_local_check_says(served: Served) -> None:
    """Issue 14 (5): the server's check refuses a bad target with the same error type,
    reason code, message and exit code as the CLI's own check did; nothing is recorded."""
    result, made = served.cli("group", "move", "Web", "node9", "--no-wait")
    expected = local_error(served.db, "node9")
    assert isinstance(expected, RejectedError)
    assert result.exit_code == 1, result.output
    error = error_of(result)
    assert (error["type"], error["code"]) == ("RejectedError", expected.code)
    assert error["message"] == f"{expected} [{expected.code}]"
    assert made == {("POST", "/api/v1/groups/{name}/move", "409"): 1}
    assert served.db.list_intents() == ()


def test_an_unknown_group_is_named_as_before(served: Served) -> None:
    """Issue 14 (5): an unknown group is the server's NotFoundError, message unchanged."""
    result, made = served.cli("group", "move", "NoSuch", "node2", "--no-wait")
    expected = local_error(served.db, "node2", subject="NoSuch")
    assert isinstance(expected, NotFoundError)
    assert result.exit_code == 1, result.output
    assert (error_of(result)["type"], error_of(result)["message"]) == (
        "NotFoundError",
        str(expected),
    )
    assert made == {("POST", "/api/v1/groups/{name}/move", "404"): 1}


def test_a_node_pause_over_the_api_is_one_request(served: Served) -> None:
    """Issue 14 (5): pause and resume are one POST each (were GET /cluster + GET /intents
    + POST: the client checked the node's name first); an unknown node is the server's
    NotFoundError."""
    result, made = served.cli("node", "pause", "node2")
    assert result.exit_code == 0, result.output
    assert made == {("POST", "/api/v1/nodes/{name}/pause", "202"): 1}
    result, made = served.cli("node", "pause", "node9")
    assert result.exit_code == 1, result.output
    assert error_of(result)["message"] == str(NotFoundError("node", "node9"))
    assert made == {("POST", "/api/v1/nodes/{name}/pause", "404"): 1}
