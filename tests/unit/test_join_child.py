"""Joins admitted in a child process (issue 12: the serving daemon never loads
cryptography): an unsigned request starts no process, the child's refusal reaches the
joiner with its type and fields, and a child that crashes says why."""

from __future__ import annotations

import time
from typing import Any

import pytest

from wolfpack.errors import (
    AuthError,
    FieldError,
    RejectedError,
    StoreUnavailable,
    ValidationError,
    WolfpackError,
    from_document,
    to_document,
)
from wolfpack.node import join_child
from wolfpack.node.join_wire import new_nonce, sign
from wolfpack.node.settings import DaemonSettings

SECRET = b"k" * 32
SETTINGS = DaemonSettings.model_validate({"node": "node1", "fence": {"agent": "none"}})


def test_a_refusal_in_the_child_is_raised_again_with_its_type_and_fields() -> None:
    cases: list[WolfpackError] = [
        ValidationError([FieldError("addresses", "no address"), FieldError("name", "bad")]),
        RejectedError("VOTERS_FULL", "5 voters and a learner"),
        AuthError("not signed with this cluster's secret"),
        StoreUnavailable("etcd did not answer"),
    ]
    for exc in cases:
        again = from_document(to_document(exc), exc.http_status)
        assert type(again) is type(exc) and str(again) == str(exc)
        assert again.http_status == exc.http_status
    v = from_document(to_document(cases[0]), 422)
    assert isinstance(v, ValidationError) and v.errors == cases[0].errors  # type: ignore[attr-defined]
    r = from_document(to_document(cases[1]), 409)
    assert isinstance(r, RejectedError) and r.code == "VOTERS_FULL"


def test_an_unsigned_request_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr(join_child, "run_module", lambda *a, **k: started.append(a))
    forged = sign(b"x" * 32, {"node": "node9"}, time.time(), new_nonce())
    with pytest.raises(AuthError):
        join_child.admit_in_child(
            forged, settings=SETTINGS, secret=SECRET, now=time.time(), log=lambda *a, **k: None
        )
    assert started == []


def test_a_child_that_fails_says_its_last_words() -> None:
    """A node without an etcd member of its own cannot admit (the route is not served
    then): the child stops on that, and the daemon raises what it said."""
    message = sign(SECRET, {"node": "node9"}, time.time(), new_nonce())
    logged: list[str] = []
    with pytest.raises(WolfpackError, match="only a node with an etcd member admits"):
        join_child.admit_in_child(
            message, settings=SETTINGS, secret=SECRET, now=time.time(),
            log=lambda event, **fields: logged.append(event),
        )  # fmt: skip
    assert logged == []
