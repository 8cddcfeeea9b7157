"""M10 (issue 11): a change made with the CLI is audited like one made through the API.

The CLI writes the cluster database directly, as an administrator's etcd user. Its store is
wrapped in :class:`CountingStore`; when a verb wrote something, one audit record says who
(the etcd user, and the operating-system account), from where (this host), what (the noun,
verb and name: never option values, which may hold secrets), when, and whether it ended in
an error. It is written after the change (not in its transaction, as the API's are): a CLI
killed between the two leaves a change without its record.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence

from typer._click.globals import get_current_context  # typer's own click (as runner.py)

from wolfpack.admin.audit import AuditLog
from wolfpack.store.base import Compare, Op, Store, TxnResult
from wolfpack.store.repository import ClusterDB
from wolfpack.store.wrapper import StoreWrapper


class CountingStore(StoreWrapper):
    """``store``, counting the writes that changed something."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.writes = 0

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        revision = self.inner.put(key, value, lease=lease)
        self.writes += 1
        return revision

    def delete(self, key: str, *, prefix: bool = False) -> int:
        deleted = self.inner.delete(key, prefix=prefix)
        self.writes += 1 if deleted else 0
        return deleted

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        result = self.inner.txn(compare, success, failure)
        if success if result.succeeded else failure:
            self.writes += 1
        return result


def command() -> str:
    """``wolfpack group create Web``: the verb being run and its NAME, nothing else."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return "wolfpack"
    words = ctx.command_path.split()[1:]
    name = ctx.params.get("name")
    return " ".join(["wolfpack", *words, *([str(name)] if isinstance(name, str) else [])])


def record(db: ClusterDB, user: str | None, *, failed: bool) -> None:
    """One audit record of this CLI invocation's change (best effort: never fails it)."""
    try:
        who = f"{user or 'plain-text'} ({getpass.getuser()})"
    except (KeyError, OSError):
        who = user or "plain-text"
    try:
        AuditLog(db).record(
            socket.gethostname(), who, "admin", "CLI", command(), 1 if failed else 0, ""
        )
    except Exception:
        return
