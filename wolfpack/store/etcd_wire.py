"""The etcd v3 JSON gateway's wire format: base64 keys and values, compare and op bodies,
error bodies, for :class:`~wolfpack.store.etcd.EtcdStore` and its watch streams.

Pure translation, no I/O: what a request body looks like and what a reply or error means.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from wolfpack.store.base import (
    Compare,
    KeyValue,
    Op,
    Put,
    prefix_range_end,
)

API_PATH = "/v3/"
_TARGET = {
    "value": "VALUE",
    "mod": "MOD",
    "create": "CREATE",
    "version": "VERSION",
    "lease": "LEASE",
}
_FIELD = {
    "value": "value",
    "mod": "mod_revision",
    "create": "create_revision",
    "version": "version",
    "lease": "lease",
}
_RESULT = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
# gRPC status codes the gateway reports in error bodies
_GRPC_DEADLINE_EXCEEDED = 4
_GRPC_UNAVAILABLE = 14
# invalid argument, out of range, permission denied, unauthenticated: retrying cannot help
_GRPC_CALLER_ERRORS = (3, 7, 11, 16)

HINT = (
    "Is etcd running? Start it with `systemctl start etcd` (Debian package etcd-server) or "
    "check the configured etcd endpoints."
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", errors="surrogateescape")


def _key_str(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _kv(d: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=_key_str(_unb64(d["key"])),
        value=_unb64(d.get("value", "")),
        create_revision=int(d.get("create_revision", 0)),
        mod_revision=int(d.get("mod_revision", 0)),
        version=int(d.get("version", 0)),
        lease=int(d.get("lease", 0)),
    )


def _revision(reply: dict[str, Any]) -> int:
    return int(reply.get("header", {}).get("revision", 0))


def _range(prefix: str) -> tuple[str, str]:
    """``(key, range_end)`` in base64 covering every key that starts with ``prefix``."""
    raw = _key_bytes(prefix)
    end = prefix_range_end(raw)
    return _b64(raw or b"\0"), _b64(end or b"\0")


def _compare(c: Compare) -> dict[str, Any]:
    operand: Any = _b64(c.operand) if isinstance(c.operand, bytes) else c.operand
    out: dict[str, Any] = {
        "key": _b64(_key_bytes(c.key)),
        "target": _TARGET[c.target],
        "result": _RESULT[c.op],
        _FIELD[c.target]: operand,
    }
    if c.prefix:
        out["key"], out["range_end"] = _range(c.key)
    return out


def _op(op: Op) -> dict[str, Any]:
    if isinstance(op, Put):
        put: dict[str, Any] = {"key": _b64(_key_bytes(op.key)), "value": _b64(op.value)}
        if op.lease:
            put["lease"] = op.lease
        return {"request_put": put}
    if op.prefix:
        key, end = _range(op.key)
        return {"request_delete_range": {"key": key, "range_end": end}}
    return {"request_delete_range": {"key": _b64(_key_bytes(op.key))}}


def _error_body(text: str | None) -> tuple[int, str]:
    """(gRPC code, message) from a gateway error body; (0, text) if it is not JSON."""
    try:
        body = json.loads(text or "")
    except ValueError:
        return 0, (text or "").strip()
    if not isinstance(body, dict):
        return 0, str(body)
    err = body.get("error", body)
    if not isinstance(err, dict):  # {"error": "text", "code": n, "message": "text"}
        err = body
    # unary errors say "code", stream errors "grpc_code"
    code = err.get("code") or err.get("grpc_code") or 0
    message = err.get("message") or err.get("error") or ""
    try:
        return int(code), str(message)
    except (TypeError, ValueError):
        return 0, str(message)


def _short_reason(text: str) -> str:
    low = text.lower()
    if "connection refused" in low:
        return "connection refused"
    if "timed out" in low or "timeout" in low:
        return "timed out"
    if "name or service not known" in low or "name resolution" in low:
        return "unknown host"
    if "certificate verify failed" in low:
        return "TLS: etcd's certificate is not signed by the configured CA"
    if "ssl" in low or "tls" in low:
        return "TLS handshake failed (etcd takes only client certificates from its CA)"
    code, message = _error_body(text)
    if code or message:
        return message or text
    return text.strip()[:200] or "no reply"


class _WatchRefused(Exception):
    """etcd answered the watch request with an error (not a transport failure)."""


def endpoint_address(text: str) -> tuple[str, int]:
    """(host, port) of one endpoint (``https://HOST:PORT``, ``http://HOST:PORT``,
    ``HOST:PORT`` or ``HOST``); ValueError saying why not."""
    return split_endpoint(text)[1:]


def split_endpoint(text: str) -> tuple[str, str, int]:
    """(scheme, host, port) of one endpoint; a bare ``HOST:PORT`` is ``http``."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port or 2379
    except ValueError:
        raise ValueError(f"etcd endpoint {text!r} has a bad port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"etcd endpoint must look like https://HOST:PORT, not {text!r}")
    return parts.scheme, parts.hostname, port
