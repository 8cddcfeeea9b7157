"""Issue 14 (4): an error answered by the REST API comes back to a client as the error it
was on the server (``errors.from_document``, next to the tree): same class, message, reason
code and fields, so the CLI prints the same text and exits with the same code."""

from __future__ import annotations

import json

import pytest

from wolfpack import errors
from wolfpack.api.errors import from_wolfpack
from wolfpack.errors import FieldError, WolfpackError

SENT = [
    errors.ValidationError([FieldError("groups.Web.failover_threshold", "must be >= 1")]),
    errors.RejectedError("TARGET_NOT_ELIGIBLE", "cannot move 'Web' to node3: it is paused"),
    errors.NotFoundError("group", "Web"),
    errors.AlreadyExistsError("token", "alice"),
    errors.ConflictError("conflict on '/wolfpack/config_epoch'"),
    errors.StoreUnavailable("etcd did not answer"),
    errors.AuthError("no token"),
    errors.ForbiddenError("read-only token"),
]


@pytest.mark.parametrize("sent", SENT, ids=lambda e: type(e).__name__)
def test_an_api_error_is_rebuilt_as_it_was(sent: WolfpackError) -> None:
    response = from_wolfpack(sent)
    document = json.loads(bytes(response.body))["error"]
    back = errors.from_document(document, response.status_code)
    assert type(back) is type(sent)
    assert str(back) == str(sent)
    assert getattr(back, "code", None) == getattr(sent, "code", None)
    assert getattr(back, "errors", None) == getattr(sent, "errors", None)


def test_an_unknown_type_is_a_wolfpack_error_with_its_message() -> None:
    back = errors.from_document({"type": "SomethingNew", "message": "odd"}, 500)
    assert type(back) is WolfpackError and str(back) == "odd"
