"""The audit log of API changes: who (token name), what (method, path, object, a body
summary), when, and the result (HTTP status), one JSON record per change in etcd.

Records live under ``KeySpace.audit_prefix``, beside the cluster root rather than in it, so
the daemons' whole-root reads never carry them. Ids sort by time. The log is bounded: a
writer trims the oldest records beyond ``keep`` every ``TRIM_EVERY`` records it writes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any, Final

from wolfpack.admin.redact import redact_text, redact_value
from wolfpack.store.base import Put
from wolfpack.store.repository import ClusterDB, new_intent_id

DEFAULT_KEEP: Final = 10_000
TRIM_EVERY: Final = 100


@dataclass(frozen=True)
class AuditRecord:
    id: str
    ts: float
    node: str  # the node whose API took the request
    who: str  # token name, "-" when none was valid
    role: str
    method: str
    path: str
    object: str  # "groups/Web" (what the path names), "" for none
    status: int
    body: str = ""  # the start of the request body

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summary(body: bytes, limit: int = 512, secret: Collection[str] = ()) -> str:
    """The start of a request body for the record, with secret values (a resource's
    password property, ``PGPASSWORD=…`` in a command, a URL's password) replaced by
    ``***`` (:mod:`wolfpack.admin.redact`: every reader of the audit log may see it);
    ``secret``: property names the cluster's types mark secret."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse (H8)
        return redact_text(body[:limit].decode(errors="replace"))
    if data is None:
        return ""
    return json.dumps(redact_value(data, secret), separators=(",", ":"))[:limit]


def object_of(path: str) -> str:
    """``/api/v1/groups/Web/move`` -> ``groups/Web``."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        parts = parts[2:]
    return "/".join(parts[:2])


class AuditLog:
    def __init__(
        self, db: ClusterDB, *, keep: int = DEFAULT_KEEP, clock: Callable[[], float] = time.time
    ) -> None:
        self.db, self.keep, self._clock = db, keep, clock
        self._written = 0
        self.failures = 0  # records that could not be written (the store was down)
        self._lock = threading.Lock()

    def prepare(
        self, node: str, who: str, role: str, method: str, path: str, status: int, body: str
    ) -> tuple[AuditRecord, Put]:
        """A record and the write that stores it, for the caller's own transaction (so a
        change and its record are stored together); call :meth:`written` after."""
        now = self._clock()
        rec = AuditRecord(
            new_intent_id(now), now, node, who, role, method, path, object_of(path), status, body
        )
        return rec, self.db.audit_put(rec.id, json.dumps(rec.as_dict()).encode())

    def record(
        self, node: str, who: str, role: str, method: str, path: str, status: int, body: str
    ) -> AuditRecord:
        rec, put = self.prepare(node, who, role, method, path, status, body)
        self.db.write_audit(rec.id, put.value)
        self.written()
        return rec

    def written(self) -> None:
        """Count one stored record; trim the log every TRIM_EVERY."""
        with self._lock:
            self._written += 1
            trim = self._written % TRIM_EVERY == 0
        if trim:
            self.trim()

    def trim(self) -> int:
        """Delete the oldest records beyond ``keep``; returns how many."""
        return self.db.trim_audit(self.keep)

    def since(self, since: float, limit: int = 1000) -> list[AuditRecord]:
        """Records at or after ``since`` (epoch seconds), oldest first, the last ``limit``."""
        return list_records(self.db, since, limit)


def list_records(db: ClusterDB, since: float, limit: int = 1000) -> list[AuditRecord]:
    out = []
    for raw in db.audit_documents():
        try:
            rec = AuditRecord(**json.loads(raw))
        except (ValueError, TypeError):
            continue  # a record of another version: skip rather than fail the whole list
        if rec.ts >= since:
            out.append(rec)
    return out[-limit:] if limit > 0 else out
