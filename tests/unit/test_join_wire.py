"""The join handshake (issue 10): only a holder of the cluster secret can sign a join, a
stale request is refused, and only a holder can read or forge the answer."""

from __future__ import annotations

import pytest

from wolfpack.errors import AuthError, ValidationError
from wolfpack.node.join_wire import MAX_AGE_S, seal, sign, unseal, verify

SECRET = b"s" * 43
NOW = 1_800_000_000.0


def test_a_signed_request_verifies_and_keeps_its_payload() -> None:
    message = sign(SECRET, {"node": "node2", "addresses": ["198.51.100.12/24"]}, NOW, "n1")
    body = verify(SECRET, message, NOW + 1)
    assert body["node"] == "node2" and body["nonce"] == "n1"


def test_a_wrong_secret_or_a_changed_payload_is_refused() -> None:
    message = sign(b"other secret", {"node": "node2"}, NOW, "n1")
    with pytest.raises(AuthError, match="cluster secret"):
        verify(SECRET, message, NOW)
    message = sign(SECRET, {"node": "node2"}, NOW, "n1")
    message["request"]["node"] = "node9"
    with pytest.raises(AuthError):
        verify(SECRET, message, NOW)


def test_a_stale_request_is_refused() -> None:
    message = sign(SECRET, {"node": "node2"}, NOW, "n1")
    with pytest.raises(AuthError, match="clock"):
        verify(SECRET, message, NOW + MAX_AGE_S + 1)


def test_a_malformed_request_names_the_field() -> None:
    with pytest.raises(ValidationError, match="request"):
        verify(SECRET, {"request": "x"}, NOW)


def test_the_sealed_answer_opens_only_with_the_secret_and_the_nonce() -> None:
    sealed = seal(SECRET, "n1", {"ca": "PEM", "password": "p"})
    assert "PEM" not in str(sealed)
    assert unseal(SECRET, "n1", sealed) == {"ca": "PEM", "password": "p"}
    with pytest.raises(AuthError):
        unseal(b"other", "n1", sealed)
    with pytest.raises(AuthError):
        unseal(SECRET, "n2", sealed)  # an answer meant for another request
