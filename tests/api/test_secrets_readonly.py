"""Issue 11 item 3 (M10): read-only tokens never see secret property values, in any answer
(one object, lists, the cluster document), the audit log or the change feed; an admin
token sees them. In-process, on the memory store (the HTTPS path is the same app)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from wolfpack.admin.redact import MASK, redact_properties, redact_text

from .conftest import Api

V1 = "/api/v1"
SECRETS = ("s3cret-pg", "hunter2", "url-pw-9", "dsn-secret-7", "tsig-b64==")
PROPERTIES = {
    "command": "psql postgres://app:url-pw-9@db/app --password=hunter2 -c 'select 1'",
    "environment": ["PGPASSWORD=s3cret-pg", "PGHOST=sql.cluster.test"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env PGPASSWORD=abc psql", f"env PGPASSWORD={MASK} psql"),
        ("run --password abc --user x", f"run --password {MASK} --user x"),
        ("run --db-password=abc", f"run --db-password={MASK}"),
        ("postgres://u:pw@h:5432/db", f"postgres://u:{MASK}@h:5432/db"),
        ("https://h/path?x=1", "https://h/path?x=1"),
        ("/usr/bin/app --port 80", "/usr/bin/app --port 80"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_properties_by_name_and_by_type() -> None:
    props = {"dsn": "x", "tsig_key": "k", "db_password": "p", "port": 5432, "empty_token": ""}
    assert redact_properties(props, {"dsn"}) == {
        "dsn": MASK, "tsig_key": MASK, "db_password": MASK, "port": 5432, "empty_token": "",
    }  # fmt: skip


def _setup(api: Api) -> None:
    r = api.call("POST", f"{V1}/types", json={
        "name": "Vault App", "agent": "application",
        "properties": [{"name": "command", "required": True}, {"name": "dsn", "secret": True}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    for name, rtype, props in (
        ("sql-app", "Generic Application", PROPERTIES),
        ("vault", "Vault App", {"command": "/bin/true", "dsn": "dsn-secret-7"}),
        ("dns", "Generic Application",
         {"command": "/bin/true", "environment": ["TSIG_SECRET=tsig-b64=="]}),
    ):  # fmt: skip
        r = api.call("POST", f"{V1}/resources", json={
            "name": name, "type": rtype, "group": "Web", "properties": props,
        })  # fmt: skip
        assert r.status_code == 201, r.text


def _answers(api: Api, token: str) -> str:
    paths = [f"{V1}/resources", f"{V1}/resources/sql-app", f"{V1}/resources/vault",
             f"{V1}/resources/dns", f"{V1}/cluster", f"{V1}/groups/Web", f"{V1}/groups",
             f"{V1}/audit?since=1h", f"{V1}/plan", f"{V1}/intents", f"{V1}/types"]  # fmt: skip
    out = []
    for path in paths:
        r = api.get(path, token=token)
        assert r.status_code == 200, (path, r.text)
        out.append(r.text)
    return "\n".join(out)


def test_a_read_only_token_sees_no_secret_value(api: Api) -> None:
    _setup(api)
    seen = _answers(api, "reader")
    for secret in SECRETS:
        assert secret not in seen, secret
    doc = api.get(f"{V1}/resources/sql-app", token="reader").json()["properties"]
    assert doc["environment"] == [f"PGPASSWORD={MASK}", "PGHOST=sql.cluster.test"]
    assert "postgres://app:***@db/app --password=***" in doc["command"]
    assert api.get(f"{V1}/resources/vault", token="reader").json()["properties"]["dsn"] == MASK
    admin = _answers(api, "admin")  # an administrator sees what was stored
    for secret in ("s3cret-pg", "hunter2", "url-pw-9", "dsn-secret-7", "tsig-b64=="):
        assert secret in admin, secret


def test_the_audit_log_keeps_no_secret(api: Api) -> None:
    _setup(api)
    api.call("PATCH", f"{V1}/resources/sql-app",
             json={"properties": {"environment": ["PGPASSWORD=hunter2"]}})  # fmt: skip
    records = api.get(f"{V1}/audit?since=1h", token="admin").text
    assert "resources" in records
    for secret in SECRETS:
        assert secret not in records, secret


def test_the_change_feed_carries_no_values(api: Api) -> None:
    """SSE events name what changed, never its value: a read-only client re-reads (and
    gets the redacted document)."""
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with api.client.stream("GET", f"{V1}/events",
                               headers=api.headers(api.reader)) as stream:  # fmt: skip
            for line in stream.iter_lines():
                if line.startswith("event: hello"):
                    ready.set()
                if line.startswith("data: ") and "key" in line:
                    events.append(json.loads(line[6:]))
                if len(events) >= 4:
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    _setup(api)
    thread.join(timeout=10)
    assert events, "no change event"
    for secret in SECRETS:
        assert secret not in json.dumps(events), secret
