"""A joining node's admission, made by a child process of the daemon (issue 12).

Admitting a node issues its certificates with the cluster database's CA and seals the
answer with AES-GCM: cryptography, whose Rust core stays resident (~9 MB) in whatever
process loads it. The node that serves joins (the first node, usually the coordinator's)
would carry it for the rest of its life for a few seconds of work. So the daemon checks the
request's signature itself (:func:`wolfpack.node.join_wire.verify`, standard library only:
an unsigned request never starts a process) and hands the rest to
``python -m wolfpack.node.join_child``: its settings, the secret and the request on stdin;
the sealed answer, or the error to raise, and the log lines to write, on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from wolfpack.admin.json_child import last_words, run_module
from wolfpack.errors import (
    AuthError,
    ConflictError,
    FieldError,
    RejectedError,
    StoreError,
    StoreUnavailable,
    ValidationError,
    WolfpackError,
)
from wolfpack.node.join_server import Log
from wolfpack.node.join_wire import verify
from wolfpack.node.settings import DaemonSettings

__all__ = ["admit_in_child"]

#: the longest a child may take (the joiner waits 60 s for its answer)
CHILD_TIMEOUT_S = 90.0

_PLAIN: dict[str, type[WolfpackError]] = {
    cls.__name__: cls for cls in (AuthError, ConflictError, StoreError, StoreUnavailable)
}


def admit_in_child(
    message: dict[str, Any], *, settings: DaemonSettings, secret: bytes, now: float, log: Log
) -> dict[str, Any]:
    """:func:`wolfpack.node.join_server.admit` of ``message`` in a child process; raises
    what it raised (the same type, so the API answers with the same status)."""
    verify(secret, message, now)  # refused here, before any process starts
    payload = {
        "settings": settings.model_dump(mode="json"),
        "secret": secret.hex(),
        "message": message,
    }
    done = run_module("wolfpack.node.join_child", payload, timeout=CHILD_TIMEOUT_S,
                      what="the join's child process")  # fmt: skip
    try:
        result = json.loads(done.stdout)
    except ValueError:  # it crashed: its last words
        raise WolfpackError(f"the join's child process failed: {last_words(done)}") from None
    for line in result.get("log", []):
        log(**line)
    if "answer" in result:
        return dict(result["answer"])
    raise _error(result.get("error") or {})


def _describe(exc: WolfpackError) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ValidationError):
        doc["type"] = "ValidationError"
        doc["fields"] = [[e.field, e.message] for e in exc.errors]
    if isinstance(exc, RejectedError):
        doc["type"], doc["code"] = "RejectedError", exc.code
    return doc


def _error(doc: dict[str, Any]) -> WolfpackError:
    kind, message = doc.get("type"), str(doc.get("message", ""))
    if kind == "ValidationError":
        return ValidationError([FieldError(str(f), str(m)) for f, m in doc.get("fields", [])])
    if kind == "RejectedError":
        return RejectedError(str(doc.get("code", "")), message)
    return _PLAIN.get(str(kind), WolfpackError)(message or "the join's child process failed")


def main() -> int:
    from wolfpack.node.dbaccess import open_stores
    from wolfpack.node.join_server import admit
    from wolfpack.store import KeySpace
    from wolfpack.store.repository import ClusterDB

    payload = json.load(sys.stdin)
    settings = DaemonSettings.model_validate(payload["settings"])
    lines: list[dict[str, Any]] = []

    def log(event: str, **fields: Any) -> None:
        lines.append({"event": event, **fields})

    result: dict[str, Any]
    try:
        assert settings.etcd_member is not None, "only a node with an etcd member admits"
        store, api = open_stores(settings)
        try:
            answer = admit(
                payload["message"],
                secret=bytes.fromhex(payload["secret"]),
                endpoints=settings.endpoints,
                mine=settings.etcd_member,
                db=ClusterDB(api or store, KeySpace(settings.prefix)),
                keys=KeySpace(settings.prefix),
                log=log,
            )
        finally:
            store.close()
            if api is not None:
                api.close()
        result = {"answer": answer, "log": lines}
    except WolfpackError as exc:
        result = {"error": _describe(exc), "log": lines}
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
