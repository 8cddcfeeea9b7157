"""H8 (issue 11): what an attacker can make the API write to the cluster database. A change
without a valid token, a body nested too deep, and a change over the rate limit are answered
(401, 422, 429) and counted, and write nothing to etcd; so a flood can neither wipe the audit
log nor push etcd into its NOSPACE alarm. Changes with a valid token are still audited,
refused ones (403) included."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from wolfpack.admin import audit, tokens
from wolfpack.api.app import create_app
from wolfpack.api.middleware import MAX_JSON_DEPTH, json_depth
from wolfpack.model.config import ClusterSettings
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

from .conftest import Api, Clock, base_config

V1 = "/api/v1"


def everything(api: Api) -> tuple[list[tuple[str, bytes]], int]:
    """Every key and value in the store, and its revision: any write moves the revision."""
    kvs, revision = api.db.store.get_prefix("/")
    return [(kv.key, kv.value) for kv in kvs], revision


def deep(levels: int) -> bytes:
    return b'{"description": ' + b"[" * levels + b"]" * levels + b"}"


def test_changes_without_a_valid_token_write_nothing(api: Api) -> None:
    before = everything(api)
    for i in range(300):  # the reproduction of H8 wrote one audit record for each
        token = (None, "alice.wrong", "nobody.x")[i % 3]
        r = api.call("PATCH", f"{V1}/groups/Web", token=token, json={"description": "x" * 400})
        assert r.status_code == 401
        assert api.call("DELETE", f"{V1}/groups/Web", token=token).status_code == 401
    assert everything(api) == before
    metrics = api.get("/metrics", token=None).text
    assert 'method="PATCH",route="/api/v1/{kind}/{name}",status="401"} 300.0' in metrics
    # a valid token's changes are still recorded, refused ones included
    api.call("PATCH", f"{V1}/groups/Web", token="reader", json={"description": "no"})
    records = api.get(f"{V1}/audit").json()
    assert [(r["who"], r["status"]) for r in records] == [("bob", 403)]


def test_a_body_nested_too_deep_is_a_422_not_a_500(api: Api) -> None:
    before = everything(api)
    for token in ("admin", None):
        for levels in (MAX_JSON_DEPTH + 1, 2000):  # 2,000: RecursionError in json.loads
            r = api.call(
                "PATCH", f"{V1}/groups/Web", token=token, content=deep(levels),
                headers={"content-type": "application/json"},
            )  # fmt: skip
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["type"] == "ValidationError" and error["fields"][0]["field"] == "body"
    assert everything(api) == before
    ok = api.call("PATCH", f"{V1}/groups/Web", content=b'{"description": "[[{}]]"}',
                  headers={"content-type": "application/json"})  # fmt: skip
    assert ok.status_code == 200, ok.text  # brackets inside a string are no nesting


def test_json_depth_counts_only_structure() -> None:
    assert json_depth(b'"[[["') == 0
    assert json_depth(b'{"a": [1, {"b": "]]\\"[["}], "c": {}}') == 3
    assert json_depth(b"[" * 100) == 100  # unbalanced: still measured, refused by the limit
    assert audit.summary(b"[" * 50_000 + b"]" * 50_000, 20) == "[" * 20  # no RecursionError


def test_changes_over_the_rate_limit_get_429_and_write_nothing() -> None:
    clock = Clock()
    db = ClusterDB(MemoryStore(), clock=clock)
    db.initialize(ClusterSettings(name="unit"))
    db.update_config(base_config)
    _, admin = tokens.create(db, "alice", "admin", clock=clock)
    app = create_app(lambda: db, "node1", clock=clock, change_rate=(2.0, 3), keepalive_s=0.2)
    headers = {"Authorization": f"Bearer {admin}"}

    def patch(text: str) -> Any:
        return client.patch(f"{V1}/groups/Web", headers=headers, json={"description": text})

    with TestClient(app) as client:
        assert [patch(f"d{i}").status_code for i in range(3)] == [200, 200, 200]  # the burst
        revision = db.store.get_prefix("/")[1]
        refused = patch("flood")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "TooManyRequests"
        assert [patch("flood").status_code for _ in range(20)] == [429] * 20
        assert db.store.get_prefix("/")[1] == revision  # neither the change nor a record
        assert client.get(f"{V1}/cluster", headers=headers).status_code == 200  # reads: free
        clock.now += 0.5  # 2 a second: one more change is due
        assert patch("later").status_code == 200
        assert patch("again").status_code == 429
    records = audit.list_records(db, 0)
    assert [r.status for r in records] == [200] * 4
