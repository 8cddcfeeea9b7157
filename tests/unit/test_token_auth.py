"""The etcd token a store keeps (C1, issue 11; wolfpack.store.etcd_tls.TokenAuth): fetched
once, renewed before half its lifetime, never renewed on a keep-alive's deadline while still
good, fetched again when etcd refuses it, and not cached while etcd's authentication is off."""

from __future__ import annotations

import base64
import json

from wolfpack.store.etcd_tls import REFRESH_MAX_S, TokenAuth

WALL = 1_800_000_000.0


def jwt(exp: float) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NiJ9.{claims}.sig"


class Etcd:
    """Hands out numbered tokens valid ``ttl`` seconds; counts authentications."""

    def __init__(self, ttl: float) -> None:
        self.ttl, self.issued = ttl, 0
        self.bodies: list[dict[str, str]] = []

    def __call__(self, body: dict[str, str]) -> str:
        self.bodies.append(body)
        self.issued += 1
        return jwt(WALL + self.ttl) + str(self.issued)


def test_a_token_is_fetched_once_and_renewed_before_half_its_life() -> None:
    now = [0.0]
    etcd = Etcd(ttl=100)
    auth = TokenAuth("node:n1", "pw", clock=lambda: now[0], wall=lambda: WALL)
    first = auth.token(etcd)
    assert auth.token(etcd) == first and etcd.issued == 1
    assert etcd.bodies == [{"name": "node:n1", "password": "pw"}]
    now[0] = 49.0
    assert auth.token(etcd) == first
    now[0] = 50.0  # half of its 100 s: a new one
    assert auth.token(etcd) != first and etcd.issued == 2


def test_a_keepalive_on_its_deadline_uses_a_due_token_as_it_is() -> None:
    now = [0.0]
    etcd = Etcd(ttl=100)
    auth = TokenAuth("node:n1", "pw", clock=lambda: now[0], wall=lambda: WALL)
    first = auth.token(etcd)
    now[0] = 60.0
    assert auth.token(etcd, renew=False) == first and etcd.issued == 1
    assert auth.token(etcd) != first  # the next unhurried request renews it


def test_long_lived_and_opaque_tokens_are_renewed_within_the_cap() -> None:
    for token in (jwt(WALL + 86_400), "simple.token"):
        now = [0.0]
        calls: list[str] = []

        def fetch(body: dict[str, str], token: str = token, calls: list[str] = calls) -> str:
            calls.append(token)
            return token

        def clock(now: list[float] = now) -> float:
            return now[0]

        auth = TokenAuth("u", "p", clock=clock, wall=lambda: WALL)
        auth.token(fetch)
        now[0] += REFRESH_MAX_S - 1
        auth.token(fetch)
        assert len(calls) == 1
        now[0] += 1
        auth.token(fetch)
        assert len(calls) == 2


def test_a_refused_token_is_fetched_again_and_no_token_is_not_cached() -> None:
    etcd = Etcd(ttl=600)
    auth = TokenAuth("u", "p", clock=lambda: 0.0, wall=lambda: WALL)
    first = auth.token(etcd)
    auth.invalidate("some other token")  # a stale refusal of an older token changes nothing
    assert auth.token(etcd) == first
    auth.invalidate(first)
    assert auth.token(etcd) != first and etcd.issued == 2
    off = TokenAuth("u", "p")
    asked = []
    assert off.token(lambda body: asked.append(1) or "") == ""  # type: ignore[func-returns-value]
    assert off.token(lambda body: asked.append(1) or "") == ""  # type: ignore[func-returns-value]
    assert len(asked) == 2  # authentication off: asked again each time, until it is on
