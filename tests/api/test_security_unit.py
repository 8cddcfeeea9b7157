"""Issue 11 items 2 (M9, L4): security headers on every answer, the node-to-node fan-out
credential (the caller's token is never forwarded to an address read from the database),
and plain HTTP beyond loopback refused for the fan-out. In-process, on the memory store."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import pytest

from wolfpack.admin import peer
from wolfpack.admin.peer import plain_beyond_loopback
from wolfpack.errors import StoreUnavailable
from wolfpack.store.memory import MemoryStore

from .conftest import Api

KEY = peer.peer_key(b"0123456789abcdef0123456789abcdef")
OTHER = peer.peer_key(b"another-cluster-secret-of-32-byt")


def test_ui_answers_carry_a_strict_policy(api: Api) -> None:
    """L4: the UI loads only its own files and cannot be framed."""
    for path in ("/ui/", "/ui/js/app.js"):
        r = api.client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    redirect = api.client.get("/", follow_redirects=False)
    assert "frame-ancestors 'none'" in redirect.headers["content-security-policy"]


def test_api_and_error_answers_carry_headers_too(api: Api) -> None:
    ok = api.get("/api/v1/cluster")
    refused = api.get("/api/v1/cluster", token=None)
    for r in (ok, refused, api.client.get("/metrics")):
        assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert refused.status_code == 401
    assert "strict-transport-security" not in ok.headers  # this app serves no TLS


def test_peer_credential_is_bound_to_target_path_time_and_key() -> None:
    signed = peer.sign(KEY, "node2", "node1", "/api/v1/log/local", now=1000.0)
    assert peer.verify([KEY], signed, "node1", "/api/v1/log/local", 1000.0) == "node2"
    assert peer.verify([OTHER, KEY], signed, "node1", "/api/v1/log/local", 1005.0) == "node2"
    assert peer.verify([KEY], signed, "node3", "/api/v1/log/local", 1000.0) is None  # not me
    assert peer.verify([KEY], signed, "node1", "/api/v1/cluster", 1000.0) is None  # path
    assert peer.verify([KEY], signed, "node1", "/api/v1/log/local", 1011.0) is None  # old
    assert peer.verify([OTHER], signed, "node1", "/api/v1/log/local", 1000.0) is None  # key
    far = peer.sign(KEY, "node2", "node1", "/api/v1/log/local", now=5000.0)
    assert peer.verify([KEY], far, "node1", "/api/v1/log/local", 1000.0) is None  # future
    tampered = signed.replace("node2", "node3", 1)
    assert peer.verify([KEY], tampered, "node1", "/api/v1/log/local", 1000.0) is None
    assert peer.verify([KEY], "garbage", "node1", "/api/v1/log/local", 1000.0) is None


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("https://198.51.100.11:9443", False),
        ("http://127.0.0.1:9443", False),
        ("http://127.0.2.3:9443", False),
        ("http://localhost:9443", False),
        ("http://198.51.100.11:9443", True),
        ("http://evil.example:9443", True),
    ],
)
def test_plain_beyond_loopback(url: str, plain: bool) -> None:
    assert plain_beyond_loopback(url) is plain


def test_local_log_takes_a_peer_credential_and_refuses_a_forged_one(api: Api) -> None:
    """/log/local answers another node's valid credential (no token) and refuses a forged,
    expired or misdirected one with 401."""
    api.app.state.peer_keys = lambda: [KEY]
    now = api.clock()
    good = peer.sign(KEY, "node2", "node1", "/api/v1/log/local", now)
    r = api.client.get("/api/v1/log/local", headers={peer.HEADER: good})
    assert r.status_code == 200, r.text
    for bad in (
        peer.sign(OTHER, "node2", "node1", "/api/v1/log/local", now),
        peer.sign(KEY, "node2", "node3", "/api/v1/log/local", now),
        peer.sign(KEY, "node2", "node1", "/api/v1/log/local", now - 60),
    ):
        r = api.client.get("/api/v1/log/local", headers={peer.HEADER: bad})
        assert r.status_code == 401, bad


def test_the_fan_out_never_forwards_the_token(api: Api) -> None:
    """M9: node2's API address, read from the database, is plain HTTP beyond loopback: the
    cluster log names it unreachable and sends nothing there. node3's (a listener on
    loopback that records what it is sent) gets a node credential, never the caller's
    token."""
    seen: list[dict[str, str]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b"[]"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api.app.state.peer_keys = lambda: [KEY]
        api.db.register_api("node2", {"node": "node2", "url": "http://198.51.100.12:9443"})
        url = f"http://127.0.0.1:{server.server_address[1]}"
        api.db.register_api("node3", {"node": "node3", "url": url})
        r = api.get("/api/v1/log", token="reader", params={"since": "1h"})
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert r.status_code == 200, r.text
    gone = {u["node"]: u["error"] for u in r.json()["unreachable"]}
    assert set(gone) == {"node2"} and "plain HTTP beyond loopback" in gone["node2"]
    assert len(seen) == 1 and "authorization" not in seen[0]
    assert api.reader.split(".")[1] not in json.dumps(seen)
    sender = peer.verify([KEY], seen[0][peer.HEADER], "node3", "/api/v1/log/local", api.clock())
    assert sender == "node1"


def test_a_rotated_token_overlaps_then_the_old_secret_is_refused(api: Api) -> None:
    """Issue 11 item 4: ``token rotate``: the old secret works during the overlap, the new
    one at once; after the overlap only the new one (a 401 for the old, nothing written)."""
    from wolfpack.admin import tokens

    old = api.admin
    token, new = tokens.rotate(api.db, "alice", 60, clock=api.clock)
    assert new != old and token.role is tokens.Role.ADMIN
    api.app.state.cache.invalidate()
    for text in (old, new):
        assert api.get("/api/v1/whoami", token=text).json() == {"name": "alice", "role": "admin"}
    listed = api.get("/api/v1/tokens").json()
    assert any(t["name"] == "alice" and t["previous_until"] == api.clock() + 60 for t in listed)
    api.clock.now += 61
    assert api.get("/api/v1/whoami", token=old).status_code == 401
    assert api.get("/api/v1/whoami", token=new).status_code == 200
    with pytest.raises(Exception, match="token"):
        tokens.rotate(api.db, "nobody", 60, clock=api.clock)


class Unreachable(MemoryStore):
    """A store that can be made to fail every read, as etcd down (a fake: unit test)."""

    down = False

    def get_prefix(self, prefix: str) -> Any:
        if self.down:
            raise StoreUnavailable("cannot reach etcd (https://203.0.113.11:2379: timed out)")
        return super().get_prefix(prefix)


def test_a_503_names_the_endpoints_only_to_a_known_token() -> None:
    """L5: while etcd is down, a garbage token gets a generic 503; a token valid at the
    last read gets the real reason (which endpoint, what happened)."""
    from fastapi.testclient import TestClient

    from wolfpack.admin import tokens
    from wolfpack.api.app import create_app
    from wolfpack.model.config import ClusterSettings
    from wolfpack.store.repository import ClusterDB

    store = Unreachable()
    db = ClusterDB(store)
    db.initialize(ClusterSettings(name="l5"))
    _, token = tokens.create(db, "alice", "read-only")
    app = create_app(lambda: db, "node1")
    with TestClient(app) as client:
        assert (
            client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        store.down = True
        app.state.cache.invalidate()
        stranger = client.get("/api/v1/cluster", headers={"Authorization": "Bearer x.y"})
        known = client.get("/api/v1/cluster", headers={"Authorization": f"Bearer {token}"})
    assert stranger.status_code == known.status_code == 503
    assert "203.0.113.11" not in stranger.text and "203.0.113.11" in known.text
