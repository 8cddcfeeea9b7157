"""The join handshake (issue 10): only a holder of the cluster secret can sign a join, a
stale request is refused, and only a holder can read or forge the answer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from wolfpack.errors import AuthError, ValidationError
from wolfpack.node import join_wire
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


@settings(max_examples=200, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=80),
    purpose=st.binary(max_size=40),
    salt=st.none() | st.binary(min_size=1, max_size=40),
)
def test_the_key_derivation_is_cryptographys_hkdf_byte_for_byte(
    secret: bytes, purpose: bytes, salt: bytes | None
) -> None:
    """The daemon derives the request's MAC key with the standard library (no cryptography
    resident, issue 12); a node of an older version derives it with cryptography's HKDF, and
    both must agree for a join across versions to verify."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=purpose)
    assert join_wire._key(secret, purpose, salt) == hkdf.derive(secret)


def test_checking_a_request_loads_no_cryptography() -> None:
    script = (
        "import sys, time; from wolfpack.node import join_wire as w\n"
        "m = w.sign(b's' * 32, {'node': 'n'}, time.time(), w.new_nonce())\n"
        "print(w.verify(b's' * 32, m, time.time())['node'], 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["n", "False"]
