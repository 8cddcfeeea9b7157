"""Attacks on the lab's REST API (issue 11, H8, M9), from its ``client`` host: a plain client
of the web site that reaches every node's API port, with no token, a read-only token, a
rotated-away token, plain HTTP, oversized and deeply nested bodies and a flood; last, from a
node whose etcd users were revoked (``wolfpack cluster certs revoke``).

Every attempt is refused with the status the API documents, and the cluster database is the
same before and after (compared key by key as the administrator reads it). What is logged is
deliberate: a change refused to a valid token (a read-only one) is an audit record naming the
token; a change without a valid token, too large, too deep or over the rate limit writes
nothing at all, not even an audit record (H8)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from wolfpack.lab import access, layout, world
from wolfpack.lab.driver import LabDriver

from .conftest import lab_skip_reason
from .test_security import ATTEMPT, curl, database

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=str(lab_skip_reason())),
]

#: node1's API as the client host reaches it (the public network); the client has no CA
API = f"https://{world.public_address('node1')}:{layout.API_PORT}"
CHANGE = f"{API}/api/v1/groups/Web/offline"

#: Run on the client host: ``count`` unauthenticated changes on one connection, the statuses.
FLOOD = """
import http.client, json, ssl, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPSConnection(host, port, timeout=10,
                                   context=ssl._create_unverified_context())
seen = {}
for _ in range(count):
    conn.request("POST", "/api/v1/groups/Web/offline", body=b"{}",
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    seen[resp.status] = seen.get(resp.status, 0) + 1
print(json.dumps(seen))
"""


def audit(lab: LabDriver) -> dict[str, bytes]:
    """The audit log, as the administrator reads it."""
    with world.in_admin(lab.state):
        store = access.admin_store(lab.state)
        try:
            kvs = store.get_prefix(world.KEY_ROOT.rstrip("/") + ".audit/")[0]
        finally:
            store.close()
    return {kv.key: kv.value for kv in kvs}


def status_of(lab: LabDriver, *args: str) -> int:
    """The HTTP status ``curl -k`` got from the client host (0: no HTTP answer at all; the
    client has no CA: an attacker does not check whom it talks to)."""
    result = curl(lab, "client", "-k", "-o", "/dev/null", "-w", "%{http_code}", *args)
    return int(result.stdout.strip()[-3:] or 0)


def token(lab: LabDriver, name: str, role: str) -> str:
    made = lab.run("admin", ["wolfpack", "token", "create", name, "--role", role, "--json"])
    return str(json.loads(made.stdout)["token"])


@pytest.fixture(scope="module")
def read_only(demo_lab: LabDriver) -> str:
    return token(demo_lab, "attack-reader", "read-only")


def test_no_token_and_a_read_only_token_change_nothing(demo_lab: LabDriver, read_only: str) -> None:
    before, logged = database(demo_lab), audit(demo_lab)
    assert status_of(demo_lab, "-X", "POST", CHANGE) == 401
    assert status_of(demo_lab, "-X", "POST", "-H", "Authorization: Bearer nobody.x", CHANGE) == 401
    assert audit(demo_lab) == logged  # no valid token: not even an audit record
    bearer = f"Authorization: Bearer {read_only}"
    assert status_of(demo_lab, "-H", bearer, f"{API}/api/v1/groups/Web") == 200  # it may read
    assert status_of(demo_lab, "-X", "POST", "-H", bearer, CHANGE) == 403
    token_url = f"{API}/api/v1/tokens/attack-reader"
    assert status_of(demo_lab, "-X", "DELETE", "-H", bearer, token_url) == 403
    assert database(demo_lab) == before
    new = [json.loads(v) for k, v in audit(demo_lab).items() if k not in logged]
    assert sorted((r["who"], r["method"], r["status"]) for r in new) == [
        ("attack-reader", "DELETE", 403),
        ("attack-reader", "POST", 403),
    ]
    assert demo_lab.online_on("Web") == "node2"


def test_a_rotated_away_token_is_refused(demo_lab: LabDriver) -> None:
    old = token(demo_lab, "attack-rotated", "admin")
    demo_lab.run("admin", ["wolfpack", "token", "rotate", "attack-rotated", "--overlap", "0"])
    before = database(demo_lab)
    assert status_of(demo_lab, "-X", "POST", "-H", f"Authorization: Bearer {old}", CHANGE) == 401
    assert database(demo_lab) == before
    assert demo_lab.online_on("Web") == "node2"


def test_plain_http_carries_no_token_anywhere(demo_lab: LabDriver) -> None:
    """The API speaks only TLS: a token sent in clear is not answered, so a replay over plain
    HTTP gets nothing done (the bytes never reach a request handler)."""
    admin = layout.token_file(demo_lab.state).read_text().strip()
    before = database(demo_lab)
    plain = CHANGE.replace("https://", "http://")
    code = status_of(demo_lab, "-X", "POST", "-H", f"Authorization: Bearer {admin}", plain)
    assert code not in range(200, 300), code
    assert database(demo_lab) == before
    assert demo_lab.online_on("Web") == "node2"


def test_oversized_and_deeply_nested_bodies_are_refused(
    demo_lab: LabDriver, tmp_path: Path
) -> None:
    admin = layout.token_file(demo_lab.state).read_text().strip()
    bearer = ["-H", f"Authorization: Bearer {admin}", "-H", "Content-Type: application/json"]
    before, logged = database(demo_lab), audit(demo_lab)
    big, nested = tmp_path / "big.json", tmp_path / "nested.json"
    big.write_text('{"description": "' + "x" * (2 * 1024 * 1024) + '"}')
    nested.write_text("[" * 5000 + "]" * 5000)
    url = f"{API}/api/v1/groups/Web"
    for body, wanted in ((big, 413), (nested, 422)):
        code = status_of(demo_lab, "-X", "PATCH", *bearer, "--data-binary", f"@{body}", url)
        assert code == wanted, (body.name, code)
    assert database(demo_lab) == before
    assert audit(demo_lab) == logged


def test_a_flood_of_unauthenticated_changes_writes_nothing(demo_lab: LabDriver) -> None:
    before, logged = database(demo_lab), audit(demo_lab)
    host, port = world.public_address("node1"), str(layout.API_PORT)
    flood = demo_lab.run("client", [sys.executable, "-c", FLOOD, host, port, "300"])
    seen = {int(k): v for k, v in json.loads(flood.stdout).items()}
    assert sum(seen.values()) == 300
    assert set(seen) <= {401, 429}, seen
    assert database(demo_lab) == before
    assert audit(demo_lab) == logged
    assert demo_lab.online_on("Web") == "node2"


def test_a_node_whose_users_were_revoked_writes_nothing(demo_lab: LabDriver) -> None:
    """Last in this module: node3's etcd users go (its daemon then loses its lease)."""
    state = demo_lab.state
    demo_lab.run("admin", ["wolfpack", "cluster", "certs", "revoke", "--node", "node3"])
    before = database(demo_lab)
    root = world.KEY_ROOT
    keys = [f"{root}inventory/node3", f"{root}state/groups/Web", f"{root}config/groups/Web"]
    files = layout.etcd_files(state, "node3")  # the revoked node's own files, stolen
    result = demo_lab.run(
        "client", [sys.executable, "-c", ATTEMPT, str(files), world.endpoints(state), *keys],
    )  # fmt: skip
    outcome = json.loads(result.stdout)
    for key in keys:
        assert outcome[key] != "written", (key, outcome[key])
        assert "authentication failed" in outcome[key] or "invalid" in outcome[key], outcome[key]
    assert database(demo_lab) == before
