"""The REST API in-process on the in-memory store (S17, S35): every object's CRUD, requests,
errors that name the field and change nothing, tokens and roles, the audit log, limits."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from wolfpack.admin import audit, tokens
from wolfpack.api.routes.objects import KINDS
from wolfpack.model.snapshot import IntentKind

from .conftest import Api

V1 = "/api/v1"

#: A valid body per kind (created in this order; deleted in reverse).
CREATE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("nodes", {"name": "node4", "id": 4}, {"description": "fourth"}),
    ("networks", {"name": "private", "subnet": "203.0.113.0/24", "role": "private"},
     {"role": "mixed"}),
    ("interfaces", {"name": "node4-private", "node": "node4", "network": "private",
                    "address": "203.0.113.4"}, {"address": "203.0.113.14"}),
    ("groups", {"name": "SQL", "failover_threshold": 3}, {"failback": {"mode": "immediate"}}),
    ("resources", {"name": "sql-app", "type": "Generic Application", "group": "SQL",
                   "properties": {"command": "/bin/sleep 1000"}},
     {"properties": {"command": "/bin/sleep 2000"}}),
    ("types", {"name": "My Type", "agent": "application"}, {"description": "mine"}),
]  # fmt: skip


def test_every_object_crud(api: Api) -> None:
    """S17/S35: create, read, list, change and delete every kind of configuration object."""
    for kind, body, patch in CREATE:
        name = body["name"]
        r = api.call("POST", f"{V1}/{kind}", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name
        got = api.get(f"{V1}/{kind}/{name}").json()
        for key, value in body.items():
            if key != "properties":
                assert got[key] == value, (kind, key)
        assert name in [o["name"] for o in api.get(f"{V1}/{kind}").json()]
        r = api.call("PATCH", f"{V1}/{kind}/{name}", json=patch)
        assert r.status_code == 200, r.text
        changed = api.get(f"{V1}/{kind}/{name}").json()
        for key, value in patch.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    assert changed[key][k] == v
            else:
                assert changed[key] == value
        cluster = api.get(f"{V1}/cluster").json()
        assert name in [o["name"] for o in cluster[kind]]
    for kind, body, _ in reversed(CREATE):
        r = api.call("DELETE", f"{V1}/{kind}/{body['name']}")
        assert r.status_code == 200, r.text
        assert r.json()["name"] == body["name"]
        assert api.get(f"{V1}/{kind}/{body['name']}").status_code == 404


def test_patch_merges_and_null_restores_the_default(api: Api) -> None:
    api.call("PATCH", f"{V1}/groups/Web", json={"failback": {"mode": "window", "window_start": 22,
                                                              "window_end": 6}})  # fmt: skip
    g = api.get(f"{V1}/groups/Web").json()
    assert g["failback"] == {"mode": "window", "window_start": 22, "window_end": 6,
                             "stability_delay_s": 60}  # fmt: skip
    assert g["preferred_owners"] == ["node1", "node2"]  # untouched
    api.call("PATCH", f"{V1}/groups/Web", json={"failback": None})
    assert api.get(f"{V1}/groups/Web").json()["failback"]["mode"] == "prevent"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/groups/Web", {"failover_threshold": "many"}, "groups.Web.failover_threshold"),
        ("PATCH", "/groups/Web", {"failover_treshold": 3}, "groups.Web.failover_treshold"),
        ("PATCH", "/groups/Web", {"preferred_owners": ["node9"]}, "groups.Web.preferred_owners"),
        ("PATCH", "/groups/Web", {"name": "Other"}, "groups.Web.name"),
        ("POST", "/groups", {"failover_threshold": 1}, "groups.name"),
        ("POST", "/networks", {"name": "n", "subnet": "not-a-subnet"}, "networks.n.subnet"),
        ("POST", "/nodes", {"name": "node9", "id": 1}, "nodes"),
        ("POST", "/groups/Web/move", {"node": 7}, "node"),
        ("POST", "/resources/x/move", {}, "group"),
        ("POST", "/tokens", {"name": "x", "role": "root"}, "role"),
    ],
)
def test_422_names_the_field_and_changes_nothing(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    before = api.dump()
    r = api.call(method, V1 + path, json=body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["type"] == "ValidationError"
    assert any(f["field"].startswith(field) for f in err["fields"]), err
    assert api.dump() == before


def test_body_that_is_not_an_object_is_422(api: Api) -> None:
    before = api.dump()
    r = api.call(
        "POST", f"{V1}/groups", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"]
    assert api.dump() == before


def test_404_and_409_say_what(api: Api) -> None:
    r = api.get(f"{V1}/groups/Nope")
    assert r.status_code == 404 and "Nope" in r.json()["error"]["message"]
    r = api.call("PATCH", f"{V1}/resources/nope", json={"description": "x"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    assert api.call("POST", f"{V1}/groups/Nope/online").status_code == 404
    assert api.call("POST", f"{V1}/nodes/node9/pause").status_code == 404
    assert api.get(f"{V1}/intents/none").status_code == 404
    assert api.get(f"{V1}/nosuchkind").status_code == 404
    before = api.dump()
    r = api.call("POST", f"{V1}/groups", json={"name": "Web"})
    assert r.status_code == 409 and "already exists" in r.json()["error"]["message"]
    # moving to a node that is down is refused at once, with the reason code
    r = api.call("POST", f"{V1}/groups/Web/move", json={"node": "node2"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "TARGET_NOT_ELIGIBLE"
    assert api.dump() == before
    assert api.db.list_intents() == ()


def test_intents_are_recorded_and_listed(api: Api) -> None:
    r = api.call("POST", f"{V1}/groups/Web/move", json={})
    assert r.status_code == 202, r.text
    intent = r.json()
    assert (intent["kind"], intent["subject"], intent["status"]) == ("move-group", "Web", "pending")
    assert [i.id for i in api.db.list_intents()] == [intent["id"]]
    assert api.get(f"{V1}/intents/{intent['id']}").json()["kind"] == "move-group"
    for verb in ("online", "offline"):
        assert api.call("POST", f"{V1}/groups/Web/{verb}").status_code == 202
    kinds = {i.kind for i in api.db.list_intents()}  # the test clock stands still: no order
    assert kinds == {IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.OFFLINE_GROUP}
    # an outcome written by the coordinator shows up
    api.db.store.put(
        api.db.keys.outcome("done-1"),
        json.dumps({"id": "done-1", "status": "rejected", "code": "X", "message": "m"}).encode(),
    )
    assert api.get(f"{V1}/intents/done-1").json()["status"] == "rejected"


def test_node_pause_resume_drain_maintenance(api: Api) -> None:
    for verb, paused, draining, maintenance in (
        ("pause", True, False, False), ("drain", True, True, False),
        ("maintenance", True, False, True), ("resume", False, False, False),
    ):  # fmt: skip
        r = api.call("POST", f"{V1}/nodes/node2/{verb}")
        assert r.status_code == 202, r.text
        assert r.json()["maintenance"] is maintenance
        kv = api.db.store.get(api.db.keys.node_admin("node2"))
        assert kv is not None
        stored = json.loads(kv.value)
        assert stored.get("paused", False) is paused and stored.get("draining", False) is draining
        assert stored.get("maintenance", False) is maintenance


def _changing_routes(api: Api) -> list[tuple[str, str]]:
    """Every route that is not a GET, from the OpenAPI document."""
    out = []
    for path, methods in api.app.openapi()["paths"].items():
        for method in methods:
            if method != "get":
                kinds = KINDS if "{kind}" in path else ("-",)
                for kind in kinds:
                    filled = path.replace("{kind}", kind).replace("{name}", "Web")
                    out.append((method.upper(), filled))
    return out


def test_every_change_needs_a_valid_admin_token(api: Api) -> None:
    """Missing or wrong token: 401; read-only: 403; on every mutating route, nothing changes.
    The one exception, a join, is signed with the cluster secret instead of a token (issue
    10; tests/unit/test_join_wire.py): a node without an etcd member of its own refuses it."""
    join = ("POST", f"{V1}/cluster/join")
    routes = [r for r in _changing_routes(api) if r != join]
    assert len(routes) == 15 + 3 * len(KINDS)  # every kind's create, patch and delete
    before = api.dump()
    r = api.call(*join, token=None, json={"request": {"node": "x"}, "mac": "0"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_A_MEMBER_NODE")
    for method, path in routes:
        for token, status in ((None, 401), ("alice.wrong", 401), ("nobody.x", 401),
                              ("reader", 403)):  # fmt: skip
            r = api.call(method, path, token=token, json={})
            assert r.status_code == status, (method, path, token, r.text)
            assert r.json()["error"]["type"] in ("AuthError", "ForbiddenError")
    assert api.dump() == before
    assert api.get(f"{V1}/cluster", token=None).status_code == 401
    assert api.get(f"{V1}/cluster", token="reader").status_code == 200
    assert api.get(f"{V1}/whoami", token="reader").json() == {"name": "bob", "role": "read-only"}


def test_tokens_through_the_api(api: Api) -> None:
    r = api.call("POST", f"{V1}/tokens", json={"name": "carol", "role": "admin"})
    assert r.status_code == 201, r.text
    secret = r.json()["token"]
    assert api.get(f"{V1}/whoami", token=secret).json()["name"] == "carol"
    listed = api.get(f"{V1}/tokens").json()
    assert {t["name"] for t in listed} == {"alice", "bob", "carol"}
    assert all("sha256" not in t and "token" not in t for t in listed)
    stored = api.db.store.get(api.db.keys.token("carol"))
    assert stored is not None and secret.split(".", 1)[1].encode() not in stored.value
    assert api.get(f"{V1}/tokens", token="reader").status_code == 403
    assert api.call("DELETE", f"{V1}/tokens/carol").status_code == 200
    assert api.get(f"{V1}/whoami", token=secret).status_code == 401
    assert api.call("DELETE", f"{V1}/tokens/carol").status_code == 404


def test_changes_are_audited(api: Api) -> None:
    api.call("PATCH", f"{V1}/groups/Web", json={"description": "audited"})
    api.call("PATCH", f"{V1}/groups/Web", token="reader", json={"description": "no"})
    api.call("DELETE", f"{V1}/groups/Nope")
    records = api.get(f"{V1}/audit?since=1h").json()
    seen = {(r["who"], r["method"], r["path"], r["status"]) for r in records}
    assert ("alice", "PATCH", "/api/v1/groups/Web", 200) in seen
    assert ("bob", "PATCH", "/api/v1/groups/Web", 403) in seen
    assert ("alice", "DELETE", "/api/v1/groups/Nope", 404) in seen
    ok = next(r for r in records if r["status"] == 200)
    assert ok["object"] == "groups/Web" and "audited" in ok["body"] and ok["node"] == "node1"
    assert api.get(f"{V1}/audit?since=soon").status_code == 422
    # reads are not audited
    api.get(f"{V1}/cluster")
    assert len(api.get(f"{V1}/audit").json()) == len(records)


def test_audit_is_bounded(api: Api) -> None:
    log = audit.AuditLog(api.db, keep=10, clock=api.clock)
    for i in range(25):
        api.clock.now += 1
        log.record("node1", "alice", "admin", "PATCH", f"/api/v1/groups/G{i}", 200, "")
    assert log.trim() == 15
    left = audit.list_records(api.db, 0)
    assert [r.path for r in left] == [f"/api/v1/groups/G{i}" for i in range(15, 25)]


def test_body_over_the_limit_is_413_and_changes_nothing(api: Api) -> None:
    before = api.dump()
    big = {"name": "Big", "description": "x" * 5000}
    r = api.call("POST", f"{V1}/groups", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge"

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    r = api.call(
        "POST", f"{V1}/groups", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert api.dump() == before


def test_cluster_document_follows_changes(api: Api) -> None:
    """The cached document is rebuilt after any change, the API's own or another writer's."""
    doc = api.get(f"{V1}/cluster").json()
    assert {"cluster", "nodes", "groups", "resources", "types", "coordinator", "revision"} <= set(
        doc
    )
    api.call("PATCH", f"{V1}/groups/Web", json={"description": "one"})
    assert api.get(f"{V1}/groups/Web").json()["description"] == "one"
    # a write that bypasses the API (the CLI, a daemon) is seen through the watch
    from wolfpack.admin.nouns import GROUPS
    from wolfpack.admin.objects import modify

    modify(api.db, GROUPS, "Web", lambda cfg, g: type(g)(**{**g.__dict__, "description": "two"}))
    deadline = time.monotonic() + 10
    while api.get(f"{V1}/groups/Web").json()["description"] != "two":
        assert time.monotonic() < deadline, "the API never saw the direct write"
        time.sleep(0.02)
    assert api.get(f"{V1}/cluster").json()["revision"] > doc["revision"]


def test_sse_delivers_a_change(api: Api) -> None:
    with api.client.stream(
        "GET", f"{V1}/events", params={"token": api.reader}, timeout=10
    ) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        assert next(lines) == "event: hello"
        api.db.store.put(api.db.keys.node_admin("node3"), b"{}")
        events = []
        for line in lines:
            if line.startswith("data:") and "node3" in line:
                events.append(json.loads(line[5:]))
                break
    assert events[0]["section"] == "admin" and events[0]["name"] == "node3"
    assert events[0]["kind"] == "nodes" and events[0]["revision"] > 0


def test_metrics_and_health(api: Api) -> None:
    """Without a daemon behind it the API judges what it sees: it is live, but node1 has
    never been heard from (Down), so it is not ready and /healthz says so with a 503."""
    live = api.get("/livez", token=None)
    assert live.status_code == 200 and live.json()["ok"] is True
    for path in ("/readyz", "/healthz"):
        r = api.get(path, token=None)
        assert r.status_code == 503, path
        body = r.json()
        assert (body["ok"], body["node"], body["state"]) == (False, "node1", "Down")
        assert body["problems"] == ["the cluster counts this node Down"]
    api.get(f"{V1}/cluster")
    text = api.get("/metrics", token=None).text
    assert 'wolfpack_groups{state="Offline"} 1.0' in text
    assert 'wolfpack_group_state{group="Web",state="Offline"} 1.0' in text
    assert 'wolfpack_group_state{group="Web",state="Online"} 0.0' in text
    assert 'wolfpack_group_failovers_total{group="Web"} 0.0' in text
    assert 'wolfpack_node_state{node="node1",state="Down"} 1.0' in text
    assert "wolfpack_nodes_up 0.0" in text
    assert "wolfpack_store_up 1.0" in text
    assert 'wolfpack_api_requests_total{method="GET",route="/api/v1/cluster",status="200"}' in text
    assert "wolfpack_lease_valid" not in text  # no daemon, no node-local series


def test_plan_explains(api: Api) -> None:
    plan = api.get(f"{V1}/plan").json()
    assert plan["notes"][0]["reason"]["code"] == "NO_ELIGIBLE_NODE"
    assert plan["explain"] and "Web" in " ".join(plan["explain"])


def test_token_names_are_checked(api: Api) -> None:
    with pytest.raises(Exception, match="not a token name"):
        tokens.create(api.db, "bad/name", "admin")


def test_the_web_ui_is_served_when_present(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from wolfpack.api.app import create_app
    from wolfpack.store.memory import MemoryStore
    from wolfpack.store.repository import ClusterDB

    (tmp_path / "index.html").write_text("<html>Cluster Administrator</html>")
    app = create_app(lambda: ClusterDB(MemoryStore()), "node1", static_dir=tmp_path)
    with TestClient(app) as client:
        r = client.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/ui/"
        assert "Cluster Administrator" in client.get("/ui/").text
        assert client.get("/ui/missing.js").status_code == 404


def test_a_change_and_its_audit_record_are_one_transaction(api: Api) -> None:
    assert api.call("PATCH", f"{V1}/groups/Web", json={"description": "atomic"}).status_code == 200
    epoch = api.db.store.get(api.db.keys.config_epoch)
    kvs, _ = api.db.store.get_prefix(api.db.keys.audit_prefix)
    assert epoch is not None and [kv.mod_revision for kv in kvs] == [epoch.mod_revision]
    r = api.call("POST", f"{V1}/groups/Web/offline")
    assert r.status_code == 202
    intent = api.db.store.get(api.db.keys.intent(r.json()["id"]))
    kvs, _ = api.db.store.get_prefix(api.db.keys.audit_prefix)
    assert intent is not None and max(kv.mod_revision for kv in kvs) == intent.mod_revision
    assert len(kvs) == 2  # one record each, not two


def test_a_change_from_a_stale_cached_read_is_retried_not_lost(api: Api) -> None:
    """The API starts a change from its cached read; a write it has not seen yet makes
    the transaction fail (epoch check) and the change is made again from a fresh read."""
    from wolfpack.admin.nouns import GROUPS
    from wolfpack.admin.objects import modify

    api.get(f"{V1}/cluster")  # a cached read now exists
    api.app.state.cache.fresh = lambda: api.app.state.cache._built  # pretend it is current
    modify(api.db, GROUPS, "Web", lambda cfg, g: type(g)(**{**g.__dict__, "failover_threshold": 4}))
    r = api.call("PATCH", f"{V1}/groups/Web", json={"description": "after"})
    assert r.status_code == 200, r.text
    stored = api.db.load_config()[0].groups["Web"]
    assert (stored.description, stored.failover_threshold) == ("after", 4)


def test_audit_summaries_hide_secrets() -> None:
    body = json.dumps({"name": "db", "properties": {"password": "hunter2", "port": 5432}})
    text = audit.summary(body.encode())
    assert "hunter2" not in text and '"password":"***"' in text and "5432" in text
    assert audit.summary(b"not json") == "not json"


def test_metrics_histogram_counts_every_request(api: Api) -> None:
    for _ in range(3):
        api.get(f"{V1}/whoami")
    text = api.get("/metrics", token=None).text
    assert (
        'wolfpack_api_request_duration_seconds_count{method="GET",route="/api/v1/whoami"} 3.0'
        in text
    )
    assert (
        'wolfpack_api_request_duration_seconds_bucket{le="+Inf",method="GET",'
        'route="/api/v1/whoami"} 3.0' in text
    )


def test_network_and_interface_states_in_documents_and_events(api: Api) -> None:
    """S41: a node's report under links/<node> (written by its link monitor) shows as the
    derived states in /networks, /interfaces and the cluster document the web UI reads,
    and its write is an event (section ``links``)."""
    from wolfpack.model import codec
    from wolfpack.model.links import LinkCondition, LinkReport, NodeLinks
    from wolfpack.model.snapshot import NodeStatus
    from wolfpack.model.states import NodeState

    for i in (1, 2):
        body = {"name": f"node{i}-public", "node": f"node{i}", "network": "public",
                "address": f"198.51.100.1{i}"}  # fmt: skip
        assert api.call("POST", f"{V1}/interfaces", json=body).status_code == 201
        api.db.write_status("nodes", f"node{i}", NodeStatus(NodeState.UP))
    assert api.get(f"{V1}/networks/public").json()["state"] == "Up"
    with api.client.stream(
        "GET", f"{V1}/events", params={"token": api.reader}, timeout=10
    ) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        cut = LinkReport("public", "eth0", LinkCondition.NO_CARRIER, heard=())
        doc = codec.dump(NodeLinks({"node2-public": cut}), exclude_defaults=False)
        api.db.store.put(api.db.keys.links("node2"), json.dumps(doc).encode())
        event = next(
            json.loads(line[5:]) for line in lines if line.startswith("data:") and "links" in line
        )
    assert (event["section"], event["name"]) == ("links", "node2")
    itf = api.get(f"{V1}/interfaces/node2-public").json()
    assert itf["state"] == "Failed" and itf["link"]["condition"] == "no-carrier"
    assert api.get(f"{V1}/interfaces/node1-public").json()["state"] == "Up"
    net = api.get(f"{V1}/networks/public").json()
    assert net["state"] == "Partitioned" and net["interface_states"]["node2-public"] == "Failed"
    cluster = api.get(f"{V1}/cluster").json()
    assert {i["name"]: i["state"] for i in cluster["interfaces"]} == {
        "node1-public": "Up",
        "node2-public": "Failed",
    }


def test_openapi_documents_the_observed_states(api: Api) -> None:
    schema = api.get("/openapi.json").json()
    # one documented path per kind (openapi._add_objects), not the generic /{kind}
    for kind in ("networks", "interfaces"):
        for path in (f"{V1}/{kind}", f"{V1}/{kind}/{{name}}"):
            text = schema["paths"][path]["get"]["description"]
            assert "Partitioned" in text and "Unreachable" in text and "no-carrier" in text
