"""The REST API of real wolfpackd processes on a real etcd (three nodes on loopback, each
serving its API on its own port): requests carried out by the cluster (S39), the same
answer from every node, events over HTTP, the cluster log from every node."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from wolfpack.admin import tokens
from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd
V1 = "/api/v1"


class Cluster:
    def __init__(self, c: LocalCluster) -> None:
        self.c = c
        _, admin = tokens.create(c.db, "admin", "admin")
        _, reader = tokens.create(c.db, "watcher", "read-only")
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.reader = {"Authorization": f"Bearer {reader}"}
        self.reader_token = reader
        self.verify = c.ca_context() or True  # HTTPS by default, verified with the cluster CA

    def url(self, node: str, path: str) -> str:
        return self.c.api_url(node) + path

    def get(self, node: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(
            self.url(node, path), headers=self.reader, timeout=10, verify=self.verify, **kw
        )

    def call(self, node: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method, self.url(node, path), headers=self.admin, timeout=10, verify=self.verify, **kw
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = LocalCluster(tmp_path_factory.mktemp("api-cluster"))
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node1", "node2", "node3"))
        wait_for(lambda: c.answer("Web") == "node1", timeout=30)
        yield Cluster(c)
    finally:
        c.close()


def test_move_through_the_api_changes_the_owner(cluster: Cluster) -> None:
    """S39: a move asked of node2's API is carried out by the coordinator; every node's
    API then shows the new owner."""
    owner = cluster.get("node3", f"{V1}/groups/Web").json()["owner"]
    target = "node3" if owner != "node3" else "node2"
    r = cluster.call("node2", "POST", f"{V1}/groups/Web/move", json={"node": target})
    assert r.status_code == 202, r.text
    intent = r.json()["id"]
    wait_for(lambda: cluster.c.answer("Web") == target, timeout=30)
    for node in cluster.c.names:
        wait_for(
            lambda node=node: cluster.get(node, f"{V1}/groups/Web").json()["owner"] == target,
            timeout=10,
        )
    outcome = wait_for(
        lambda: cluster.get("node1", f"{V1}/intents/{intent}").json().get("outcome"), timeout=10
    )
    assert outcome["status"] == "accepted"


def test_same_answer_from_every_node(cluster: Cluster) -> None:
    r = cluster.call("node1", "PATCH", f"{V1}/groups/Web", json={"description": "from node1"})
    assert r.status_code == 200, r.text

    def documents() -> list[dict[str, Any]] | None:
        docs = [cluster.get(n, f"{V1}/cluster").json() for n in cluster.c.names]
        same = all(d["revision"] == docs[0]["revision"] for d in docs)
        return docs if same else None

    try:
        docs = wait_for(documents, timeout=10)
    except TimeoutError:
        revs = {n: cluster.get(n, f"{V1}/cluster").json()["revision"] for n in cluster.c.names}
        raise AssertionError(
            f"revisions differ: {revs}, store at "
            f"{cluster.c.store.get_prefix(cluster.c.keys.root)[1]}"
        ) from None
    assert docs[0] == docs[1] == docs[2]
    assert {g["name"]: g["description"] for g in docs[2]["groups"]}["Web"] == "from node1"
    assert docs[0]["coordinator"] in cluster.c.names


def test_refused_change_leaves_the_config_alone(cluster: Cluster) -> None:
    def dump() -> dict[str, bytes]:
        kvs, _ = cluster.c.store.get_prefix(cluster.c.keys.config_root)
        return {kv.key: kv.value for kv in kvs}

    before = dump()
    r = cluster.call("node2", "PATCH", f"{V1}/groups/Web", json={"failover_threshold": -1})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "groups.Web.failover_threshold"
    r = httpx.patch(
        cluster.url("node3", f"{V1}/groups/Web"),
        json={"description": "x"},
        headers=cluster.reader,
        verify=cluster.verify,
    )
    assert r.status_code == 403
    assert dump() == before
    audit = cluster.call("node1", "GET", f"{V1}/audit?since=1h").json()
    assert any(a["status"] == 403 and a["who"] == "watcher" and a["node"] == "node3" for a in audit)


def test_events_over_http(cluster: Cluster) -> None:
    """An SSE client of node3 sees a change made through node1's API."""
    seen: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        url = cluster.url("node3", f"{V1}/events")
        with httpx.stream(
            "GET", url, params={"token": cluster.reader_token}, timeout=20, verify=cluster.verify
        ) as stream:
            for line in stream.iter_lines():
                if line == "event: hello":
                    ready.set()
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    if data.get("kind") == "groups" and data.get("section") == "config":
                        seen.append(data)
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    r = cluster.call("node1", "PATCH", f"{V1}/groups/Web", json={"description": "evented"})
    assert r.status_code == 200
    thread.join(timeout=15)
    assert seen and seen[0]["name"] == "Web" and seen[0]["revision"] > 0


def test_cluster_log_comes_from_every_node(cluster: Cluster) -> None:
    r = cluster.get("node2", f"{V1}/log", params={"since": "10m"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unreachable"] == []
    assert {line["source"] for line in body["lines"]} == set(cluster.c.names)
    times = [line["ts"] for line in body["lines"]]
    assert times == sorted(times)
    only = cluster.get("node1", f"{V1}/log", params={"since": "10m", "node": "node3"}).json()
    assert only["lines"] and {line["source"] for line in only["lines"]} == {"node3"}


def test_api_comes_back_with_a_restarted_daemon(cluster: Cluster) -> None:
    c = cluster.c
    c.stop_node("node3")
    assert not c.api_ready("node3")
    down = cluster.get("node1", f"{V1}/log", params={"since": "1m"}).json()
    assert [u["node"] for u in down["unreachable"]] == ["node3"]
    c.start_node("node3")
    wait_for(lambda: c.api_ready("node3"), timeout=30)
    wait_for(c.all_up, timeout=30)
    health = wait_for(lambda: (h := cluster.get("node3", "/healthz")).status_code == 200 and h, 10)
    body = health.json()
    assert (body["ok"], body["node"], body["state"], body["problems"]) == (True, "node3", "Up", [])
    assert body["lease_valid"] and body["watchdog_armed"] and body["heartbeats_listening"]


def test_metrics_of_a_live_cluster(cluster: Cluster) -> None:
    text = httpx.get(cluster.url("node1", "/metrics"), timeout=10, verify=cluster.verify).text
    assert "wolfpack_nodes_up 3.0" in text
    assert 'wolfpack_groups{state="Online"} 1.0' in text


def wolfpack(cluster: Cluster, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run the CLI in-process against the cluster's etcd with --json; the parsed output."""
    from typer.testing import CliRunner

    from wolfpack.cli.main import app

    environment = {
        **cluster.c.client_env(),
        "WOLFPACK_PREFIX": cluster.c.keys.root,
        **(env or {}),
    }
    result = CliRunner().invoke(app, [*args, "--json"], env=environment)
    assert result.exit_code == 0, f"wolfpack {' '.join(args)}: {result.output}"
    try:
        return json.loads(result.stdout)
    except ValueError:  # a stream: one document per line
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_cli_tokens_audit_events_and_log(cluster: Cluster) -> None:
    made = wolfpack(cluster, "token", "create", "cli-admin", "--role", "admin")
    assert made["role"] == "admin" and made["token"].startswith("cli-admin.")
    auth = {"Authorization": f"Bearer {made['token']}"}
    r = httpx.patch(
        cluster.url("node2", f"{V1}/groups/Web"), json={"description": "by cli"}, headers=auth,
        verify=cluster.verify,
    )  # fmt: skip
    assert r.status_code == 200
    assert "cli-admin" in [t["name"] for t in wolfpack(cluster, "token", "list")]
    records = wolfpack(cluster, "audit", "list", "--since", "1h")
    assert any(a["who"] == "cli-admin" and a["status"] == 200 for a in records)
    events = wolfpack(cluster, "events", "--last", "50", "--count", "50", "--timeout", "5")
    assert any(e["section"] == "config" and e["name"] == "Web" for e in events)
    log = wolfpack(cluster, "log", "--since", "10m", "--node", "node1",
                   env={"WOLFPACK_TOKEN": made["token"]})  # fmt: skip
    assert log["lines"] and {line["source"] for line in log["lines"]} == {"node1"}
    # the next API is tried when the first does not answer
    dead = "http://127.0.0.1:1"
    log = wolfpack(cluster, "log", "--api", f"{dead},{cluster.c.api_url('node3')}",
                   env={"WOLFPACK_TOKEN": made["token"]})  # fmt: skip
    assert log["lines"]
    wolfpack(cluster, "token", "delete", "cli-admin")
    r = httpx.get(cluster.url("node1", f"{V1}/whoami"), headers=auth, verify=cluster.verify)
    assert r.status_code == 401


def test_a_node_whose_api_cannot_listen_still_runs(tmp_path: Path) -> None:
    """The API is not part of the cluster's safety: a port already in use is logged
    (api_failed) and the node still joins, is elected and runs."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        c = LocalCluster(tmp_path, nodes=1)
        c.api_ports["node1"] = taken.getsockname()[1]
        try:
            c.start()
            c.start_node("node1")
            wait_for(lambda: c.coordinator() == "node1" and c.all_up(), timeout=30)
            wait_for(
                lambda: any(line.get("event") == "api_failed" for line in c.log_lines("node1")),
                timeout=30,
            )
            assert c.daemons["node1"].poll() is None
        finally:
            c.close()


def test_api_settings_turn_it_off() -> None:
    from wolfpack.api.settings import ApiSection

    assert ApiSection().active and ApiSection().port == 9443
    assert not ApiSection(port=0).active
    assert not ApiSection(enabled=False).active


def test_network_and_interface_states_of_a_live_cluster(cluster: Cluster) -> None:
    """Every daemon's link monitor reports its interfaces (on loopback here) and the peers
    its heartbeats hear; every node's API derives the same states from those reports."""

    def reported() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = cluster.get("node2", f"{V1}/interfaces").json()
        complete = all(i["link"] and i["link"]["heard"] is not None for i in items)
        return items if items and complete else None

    items = wait_for(reported, timeout=20)
    for itf in items:
        others = sorted(n for n in cluster.c.names if n != itf["node"])
        assert itf["state"] == "Up", itf
        assert (itf["link"]["ifname"], itf["link"]["condition"]) == ("lo", "up")
        assert itf["link"]["heard"] == others
    for node in cluster.c.names:
        networks = cluster.get(node, f"{V1}/networks").json()
        assert {n["name"]: n["state"] for n in networks} == {"heartbeat": "Up", "client": "Up"}


def test_a_move_through_the_api_leaves_its_timeline_on_every_node(cluster: Cluster) -> None:
    """Issue 12 item 1: the move's phases, kept by the coordinator, from any node's API."""
    owner = cluster.get("node1", f"{V1}/groups/Web").json()["owner"]
    target = next(n for n in cluster.c.names if n != owner)
    r = cluster.call("node2", "POST", f"{V1}/groups/Web/move", json={"node": target})
    assert r.status_code == 202, r.text

    def kept(node: str) -> dict[str, Any] | None:
        doc = cluster.get(node, f"{V1}/groups/Web/history").json()
        newest = doc["timelines"][0] if doc["timelines"] else None
        done = newest and newest["kind"] == "move" and newest["target"] == target
        return newest if done else None

    for node in cluster.c.names:
        tl = wait_for(lambda node=node: kept(node), timeout=30)
        where = {e["phase"]: e["node"] for e in tl["events"] if e["node"]}
        assert where["offline"] == owner and where["online"] == target, tl
        assert tl["phases_ms"]["decided_to_offline"] >= 0
    assert cluster.get("node3", f"{V1}/groups/Nope/history").status_code == 404
