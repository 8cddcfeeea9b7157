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
from wolfpack.errors import WolfpackError, from_document, to_document
from wolfpack.node.join_server import Log
from wolfpack.node.join_wire import verify
from wolfpack.node.settings import DaemonSettings

__all__ = ["admit_in_child"]

#: the longest a child may take (the joiner waits 60 s for its answer)
CHILD_TIMEOUT_S = 90.0


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
    if "error" not in result:
        raise WolfpackError("the join's child process gave no answer")
    raise from_document(result["error"], int(result.get("status", WolfpackError.http_status)))


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
            keys = KeySpace(settings.prefix)
            answer = admit(
                payload["message"],
                secret=bytes.fromhex(payload["secret"]),
                endpoints=settings.endpoints,
                mine=settings.etcd_member,
                db=ClusterDB(api or store, keys),
                keys=keys,
                log=log,
            )
        finally:
            store.close()
            if api is not None:
                api.close()
        result = {"answer": answer, "log": lines}
    except WolfpackError as exc:
        result = {"error": to_document(exc), "status": exc.http_status, "log": lines}
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
