"""``GET /api/v1/nodes/{name}/validation`` (S1: cluster validation asks every node): the
node's own facts, a relay to another node's API with a node credential (never the caller's
token), and the answers when a node cannot be asked. The relay runs two real API servers on
loopback sharing one in-memory database; the self-check behind each is a function standing
for its daemon."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from wolfpack.admin import peer, tokens
from wolfpack.api.server import ApiServer
from wolfpack.api.settings import ApiSection
from wolfpack.model import codec
from wolfpack.model.config import ClusterSettings
from wolfpack.model.node_facts import ClockFact, EtcdFact, NodeFacts
from wolfpack.policy.validate import CHECKS
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

from .conftest import Api, base_config

PATH = "/api/v1/nodes/{}/validation"
KEY = peer.peer_key(b"cluster secret")


def facts_of(node: str, skew: float = 0.0) -> NodeFacts:
    return NodeFacts(node, ClockFact(time.time() + skew), etcd=EtcdFact(True, "x", 1.0))


def test_an_unknown_node_is_404_in_the_error_shape(api: Api) -> None:
    r = api.get(PATH.format("node9"), "reader")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "NotFoundError" and "node9" in r.json()["error"]["message"]


def test_a_token_is_needed(api: Api) -> None:
    assert api.get(PATH.format("node1"), None).status_code == 401


def test_an_api_without_a_daemon_says_so(api: Api) -> None:
    """The in-process API has no self-check: facts null, and why."""
    body = api.get(PATH.format("node1"), "reader").json()
    assert body == {
        "node": "node1",
        "asked_by": "node1",
        "facts": None,
        "error": "no daemon behind this API",
    }


def test_another_node_without_a_registered_api_is_named(api: Api) -> None:
    body = api.get(PATH.format("node2"), "reader").json()
    assert body["facts"] is None and "no API registered" in body["error"]


def test_the_own_node_answers_with_its_facts_and_its_clock_as_reference(api: Api) -> None:
    api.app.state.validation = lambda cfg: facts_of("node1", skew=5.0)
    body = api.get(PATH.format("node1"), "reader").json()
    facts = codec.parse(NodeFacts, body["facts"])
    assert body["error"] is None and facts.node == "node1"
    clock = facts.clock
    assert clock.reference_node == "node1"
    assert clock.reference_sent == clock.reference_received == api.clock.now  # the app's clock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pair:
    """node1's and node2's APIs on loopback, one database."""

    def __init__(self) -> None:
        self.db = ClusterDB(MemoryStore())
        self.db.initialize(ClusterSettings(name="pair"))
        self.db.update_config(base_config)
        _, self.token = tokens.create(self.db, "alice", "read-only")
        self.servers = {}
        for node, skew in (("node1", 0.0), ("node2", 5.0)):
            server = ApiServer(
                self.db,
                node,
                ApiSection(listen="127.0.0.1", port=free_port(), tls=False),
                log=lambda *a, **k: None,
                peer_keys=lambda: [KEY],
                validation=lambda cfg, node=node, skew=skew: facts_of(node, skew),  # type: ignore[misc]
            )
            server.start()
            assert server.wait_started()
            server.register()
            self.servers[node] = server

    def get(self, node: str, path: str, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.token}"} if not headers else {}
        return httpx.get(self.servers[node].url + path, headers={**auth, **headers}, timeout=15)

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def test_a_relayed_answer_carries_the_other_nodes_facts_and_clock(pair: Pair) -> None:
    """S1: node1's API asks node2 for its facts; node2's clock (5 s ahead here) is measured
    against node1's, which stamps the request just before and after."""
    before = time.time()
    body = pair.get("node1", PATH.format("node2")).json()
    after = time.time()
    assert body["error"] is None, body
    assert body["node"] == "node2" and body["asked_by"] == "node1"
    clock = codec.parse(NodeFacts, body["facts"]).clock
    assert clock.reference_node == "node1"
    assert before <= clock.reference_sent <= clock.reference_received <= after
    assert 4.5 < clock.wall - clock.reference_received < 5.5


def test_a_node_credential_is_good_for_its_own_path_only(pair: Pair) -> None:
    """M9: node2 answers node1's credential for its path, and refuses a forged or
    mismatched one; a relayed request is never relayed again."""
    path = PATH.format("node2")
    good = peer.sign(KEY, "node1", "node2", path, time.time())
    assert pair.get("node2", path, **{peer.HEADER: good}).json()["facts"]["node"] == "node2"
    forged = peer.sign(peer.peer_key(b"another secret"), "node1", "node2", path, time.time())
    assert pair.get("node2", path, **{peer.HEADER: forged}).status_code == 401
    elsewhere = PATH.format("node1")
    wrong_path = peer.sign(KEY, "node1", "node2", path, time.time())
    assert pair.get("node2", elsewhere, **{peer.HEADER: wrong_path}).status_code == 401
    onward = peer.sign(KEY, "node1", "node2", PATH.format("node3"), time.time())
    body = pair.get("node2", PATH.format("node3"), **{peer.HEADER: onward}).json()
    assert body["facts"] is None and "relays no node's request" in body["error"]


def test_a_node_whose_api_does_not_answer_is_named(pair: Pair) -> None:
    """A registered API that is gone: facts null and the error, not a 5xx."""
    pair.db.register_api("node3", {"node": "node3", "url": f"http://127.0.0.1:{free_port()}"})
    body = pair.get("node1", PATH.format("node3")).json()
    assert body["facts"] is None and "127.0.0.1" in body["error"]


CLUSTER_PATH = "/api/v1/cluster/validation"


def test_the_cluster_report_has_a_row_per_node_and_check_and_names_the_unasked(
    pair: Pair,
) -> None:
    """S1, issue 10 item 5: one request asks every node (node1 itself, node2 through its
    API) and judges; node3, whose API is not there, is a row of the report, not an error.
    The shape is what ``wolfpack cluster validate --json`` prints."""
    r = pair.get("node1", CLUSTER_PATH)
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report) == {"at", "nodes", "rows"}
    assert report["nodes"] == ["node1", "node2", "node3"]
    rows = report["rows"]
    for node in ("node1", "node2"):
        assert {x["check"] for x in rows if x["node"] == node} == set(CHECKS), node
        answered = [x for x in rows if x["node"] == node and x["check"] == "node"]
        assert [x["code"] for x in answered] == ["NODE_ANSWERED"]
    unasked = [x for x in rows if x["node"] == "node3"]
    assert [(x["check"], x["verdict"], x["code"]) for x in unasked] == [
        ("node", "fail", "NODE_NOT_ASKED")
    ]
    assert "node3 could not be asked" in unasked[0]["message"]
    # node2's clock is 5 s ahead of node1's (the API asked): measured through the relay
    clock = next(x for x in rows if x["check"] == "clock" and x["node"] == "node2")
    assert clock["verdict"] == "fail" and clock["code"] == "CLOCK_SKEW"


def test_the_cluster_report_for_the_nodes_given(pair: Pair) -> None:
    r = pair.get("node2", CLUSTER_PATH + "?node=node1&node=node1")
    assert r.status_code == 200, r.text
    assert r.json()["nodes"] == ["node1"]
    assert {x["node"] for x in r.json()["rows"]} == {"node1"}


def test_the_cluster_report_refuses_an_unknown_node_naming_the_field(pair: Pair) -> None:
    r = pair.get("node1", CLUSTER_PATH + "?node=node1&node=node9")
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["fields"] == [
        {"field": "node", "message": "'node9' is not a node of cluster pair"}
    ]


def test_the_cluster_report_needs_a_token(pair: Pair) -> None:
    assert httpx.get(pair.servers["node1"].url + CLUSTER_PATH, timeout=15).status_code == 401
