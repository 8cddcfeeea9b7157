"""``EtcdStore``: the production :class:`~wolfpack.store.base.Store`, on etcd v3.

It speaks etcd's HTTP/JSON gateway (``/v3/...``) through the ``etcd3gw`` client, because that
needs no gRPC stack and works with the etcd that Debian ships. Where etcd3gw lacks a feature
(compare ops other than ``==``, watch from a revision, lease keepalive results) the gateway's
JSON endpoints are called directly through the client's ``post()``; watches use one long-lived
HTTP stream per watch read by a daemon thread.

Failure handling:

* every ``etcd3gw``/``requests``/socket exception is translated into the
  :mod:`wolfpack.errors` tree; nothing third-party escapes.
* with several endpoints, a request that provably never reached a server (connection refused,
  connect timeout) moves on to the next endpoint; so does any failed *read*. A write whose
  request may have reached a server is not re-sent elsewhere (it may have been applied): the
  caller gets ``StoreUnavailable`` and must re-read. The endpoint that last answered is tried
  first next time.
* a watch whose stream breaks fails with ``StoreUnavailable``; a watch whose start revision was
  compacted fails with ``StoreError``. The consumer re-reads and watches again.

Security (C1): ``https://`` endpoints with :class:`~wolfpack.store.etcd_tls.EtcdCredentials`
(the cluster database CA, a client certificate, an etcd user and its password; the token is
kept by the session, :class:`~wolfpack.store.etcd_tls.TokenAuth`). ``http://`` without
credentials still works here, for the callers that decide whether plain text is allowed.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from etcd3gw import exceptions as etcd_exc
from etcd3gw.client import Etcd3Client

from wolfpack.errors import LeaseNotFound, StoreError, StoreUnavailable
from wolfpack.store.base import (
    Compare,
    Delete,
    KeyValue,
    Op,
    Put,
    TxnResult,
    Watch,
    WatchEvent,
    prefix_range_end,
    validate_ops,
)
from wolfpack.store.etcd_tls import AUTHENTICATE, EtcdCredentials, TokenAuth

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

#: A keep-alive reaching a member that knows no leader waits there in steps of a whole
#: election timeout, even once the new leader is there; sent again, it is answered at once.
#: So each endpoint gets at most this long, then the next, and the lease renews again.
KEEPALIVE_ATTEMPT_S = 0.4

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


def _not_sent(exc: BaseException) -> bool:
    """True if the failed request provably never reached a server, so it is safe to send it to
    another endpoint even if it is a write."""
    ctx = exc.__context__
    if isinstance(ctx, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(ctx, requests.exceptions.ConnectionError) and ctx.args:
        inner = ctx.args[0]
        reason = getattr(inner, "reason", inner)
        # NewConnectionError (refused, unreachable, DNS) subclasses ConnectTimeoutError
        return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
    return False


@dataclass(frozen=True)
class _Endpoint:
    url: str
    host: str
    port: int
    client: Etcd3Client
    tls: ssl.SSLContext | None = None


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


class _Session(requests.Session):
    """A session whose request timeout a call may shorten for the current thread: etcd3gw
    passes its own fixed timeout, and a keep-alive must fit the time left before the
    holder's deadline (``EtcdStore._call``'s ``budget``)."""

    def __init__(self, auth: TokenAuth | None = None) -> None:
        super().__init__()
        self.shorter = threading.local()
        self.token_auth = auth

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        limit: float | None = getattr(self.shorter, "timeout", None)
        if limit is not None:
            kwargs["timeout"] = limit
        if self.token_auth is None:
            return super().request(method, url, *args, **kwargs)
        base = str(url).split("/v3/", 1)[0]
        try:
            # a budgeted call (a keep-alive) renews no token that is still good: bcrypt on
            # etcd's side must not eat the time left before the lease's deadline
            token = self.token_auth.token(
                lambda body: self._authenticate(base, body, kwargs), renew=limit is None
            )
        except _AuthRefused as refused:
            return refused.response  # etcd's own words reach the caller as any refusal
        if not token:
            return super().request(method, url, *args, **kwargs)
        headers = {**(kwargs.get("headers") or {}), "Authorization": token}
        kwargs["headers"] = headers
        resp = super().request(method, url, *args, **kwargs)
        if resp.status_code != 200 and any(why in resp.text for why in _STALE_TOKEN):
            self.token_auth.invalidate(token)  # expired, or users changed since: once more
            try:
                headers["Authorization"] = self.token_auth.token(
                    lambda body: self._authenticate(base, body, kwargs)
                )
            except _AuthRefused as refused:
                return refused.response
            resp = super().request(method, url, *args, **kwargs)
        return resp

    def _authenticate(self, base: str, body: dict[str, str], kwargs: dict[str, Any]) -> str:
        timeout = kwargs.get("timeout")
        resp = super().request("POST", base + AUTHENTICATE, json=body, timeout=timeout)
        if resp.status_code == 412 and "authentication is not enabled" in resp.text:
            return ""  # a database being set up (etcd_auth.enable): no token to send yet
        token = resp.json().get("token") if resp.status_code == 200 else None
        if not isinstance(token, str) or not token:
            raise _AuthRefused(resp)
        return token

    def auth_headers(self, base: str, timeout: float) -> dict[str, str]:
        """The ``Authorization`` header for a request made without this session (a watch)."""
        if self.token_auth is None:
            return {}
        try:
            limits = {"timeout": timeout}
            token = self.token_auth.token(lambda b: self._authenticate(base, b, limits))
        except _AuthRefused as refused:
            message = _error_body(refused.response.text)[1]
            user = self.token_auth.user
            raise _WatchRefused(f"authentication as {user!r} failed: {message}") from None
        return {"Authorization": token} if token else {}


#: etcd's words for a token to fetch again: expired (or signed with another key), or issued
#: before a user or role changed (any ``wolfpack cluster certs issue``)
_STALE_TOKEN = ("invalid auth token", "revision of auth store is old")


class _AuthRefused(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.text)
        self.response = response


def _parse_endpoint(text: str, timeout: float, credentials: EtcdCredentials | None) -> _Endpoint:
    scheme, host, port = split_endpoint(text)
    url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
    if scheme == "https" and credentials is None:
        raise ValueError(f"etcd endpoint {text!r} is https: give the CA and a client certificate")
    if scheme == "http" and credentials is not None:
        raise ValueError(f"etcd endpoint {text!r} is plain http: use https:// with certificates")
    session = _Session(credentials.auth() if credentials is not None else None)
    session.trust_env = False  # no proxies, .netrc or CA bundle from the environment
    tls = None
    if credentials is not None:
        session.verify = str(credentials.ca)
        session.cert = credentials.requests_cert
        tls = credentials.ssl_context()
    client = Etcd3Client(
        host=host, port=port, protocol=scheme, api_path=API_PATH, timeout=timeout, session=session
    )
    return _Endpoint(url, host, port, client, tls)


class EtcdStore:
    """:class:`~wolfpack.store.base.Store` backed by an etcd v3 cluster.

    ``endpoints`` is one URL (``"https://127.0.0.1:2379"``), a comma-separated string of them,
    or a list. ``timeout`` (seconds) bounds every request and the set-up of a watch. Creating
    the object does not contact etcd; the first call does.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str],
        timeout: float = 5.0,
        *,
        credentials: EtcdCredentials | None = None,
    ) -> None:
        items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
        items = [e for e in items if e.strip()]
        if not items:
            raise ValueError("EtcdStore needs at least one endpoint")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._timeout = timeout
        self.credentials = credentials
        self._endpoints = [_parse_endpoint(e, timeout, credentials) for e in items]
        self._current = 0
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._closed = False

    @property
    def endpoints(self) -> list[str]:
        return [e.url for e in self._endpoints]

    def __repr__(self) -> str:
        return f"EtcdStore({','.join(self.endpoints)!r})"

    def call_api(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One gateway call outside the Store contract (``auth/...`` for
        :mod:`wolfpack.store.etcd_auth`); not retried elsewhere."""
        return self._call(path, payload, idempotent=False)

    # -- transport -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("this EtcdStore was closed; create a new one to reconnect")

    def _unavailable(self, failures: list[str], *, maybe_applied: bool = False) -> StoreUnavailable:
        text = f"cannot reach etcd ({'; '.join(failures)})."
        if maybe_applied:
            text += " The write may or may not have been applied: re-read before retrying."
        return StoreUnavailable(f"{text} {HINT}")

    def _translate(self, exc: etcd_exc.Etcd3Exception, url: str) -> StoreError:
        code, message = _error_body(exc.detail_text)
        if code in (_GRPC_UNAVAILABLE, _GRPC_DEADLINE_EXCEEDED):
            return self._unavailable([f"{url}: {message}"])
        if "lease not found" in message:
            return LeaseNotFound(f"etcd at {url}: {message} (the lease expired or was revoked)")
        return StoreError(f"etcd at {url} refused the request: {message or exc!r}")

    def _call(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        idempotent: bool,
        budget: float | None = None,
        attempt: float | None = None,
    ) -> dict[str, Any]:
        """POST ``payload`` to the gateway, failing over between endpoints where that is safe.
        With ``budget`` (seconds), the whole call, every endpoint included, takes about that
        long at most (a request may overrun its share by its connect time): each request gets
        the store's timeout or what is left of the budget, whichever is shorter."""
        self._check_open()
        failures: list[str] = []
        last: BaseException | None = None
        first = self._current
        ends = None if budget is None else time.monotonic() + budget
        for i in range(len(self._endpoints)):
            idx = (first + i) % len(self._endpoints)
            ep = self._endpoints[idx]
            left = self._timeout if ends is None else min(self._timeout, ends - time.monotonic())
            if attempt is not None:
                left = min(left, attempt)
            if left <= 0:
                failures.append(f"{ep.url}: not tried, the {budget:.2f} s budget was spent")
                break
            try:
                limited = ends is not None or attempt is not None
                reply = self._post(ep, path, payload, left if limited else None)
            except (etcd_exc.ConnectionFailedError, etcd_exc.ConnectionTimeoutError) as exc:
                failures.append(f"{ep.url}: {_short_reason(exc.detail_text or str(exc))}")
                last = exc
                if idempotent or _not_sent(exc):
                    continue
                raise self._unavailable(failures, maybe_applied=True) from exc
            except etcd_exc.Etcd3Exception as exc:
                raise self._translate(exc, ep.url) from exc
            except (requests.RequestException, ValueError, OSError) as exc:
                raise StoreError(f"unexpected reply from etcd at {ep.url}: {exc}") from exc
            if not isinstance(reply, dict):
                raise StoreError(f"unexpected reply from etcd at {ep.url}: {reply!r}")
            self._current = idx
            return reply
        raise self._unavailable(failures) from last

    @staticmethod
    def _post(ep: _Endpoint, path: str, payload: dict[str, Any], timeout: float | None) -> Any:
        session = ep.client.session
        if timeout is None or not isinstance(session, _Session):
            return ep.client.post(ep.client.get_url(path), json=payload)
        session.shorter.timeout = timeout
        try:
            return ep.client.post(ep.client.get_url(path), json=payload)
        finally:
            session.shorter.timeout = None

    # -- key-value -----------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        reply = self._call("kv/range", {"key": _b64(_key_bytes(key))}, idempotent=True)
        kvs = reply.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        key, end = _range(prefix)
        payload = {"key": key, "range_end": end, "sort_order": "ASCEND", "sort_target": "KEY"}
        reply = self._call("kv/range", payload, idempotent=True)
        return [_kv(d) for d in reply.get("kvs", [])], _revision(reply)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        payload: dict[str, Any] = {"key": _b64(_key_bytes(key)), "value": _b64(value)}
        if lease:
            payload["lease"] = lease
        return _revision(self._call("kv/put", payload, idempotent=False))

    def delete(self, key: str, *, prefix: bool = False) -> int:
        payload = _op(Delete(key, prefix))["request_delete_range"]
        return int(self._call("kv/deleterange", payload, idempotent=False).get("deleted", 0))

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        validate_ops(success)
        validate_ops(failure)
        payload = {
            "compare": [_compare(c) for c in compare],
            "success": [_op(o) for o in success],
            "failure": [_op(o) for o in failure],
        }
        # a txn with no writes in either branch is a read and may be retried anywhere
        reply = self._call("kv/txn", payload, idempotent=not success and not failure)
        return TxnResult(bool(reply.get("succeeded", False)), _revision(reply))

    def compact(self, revision: int) -> None:
        try:
            self._call("kv/compaction", {"revision": revision}, idempotent=True)
        except StoreError as exc:
            if "has been compacted" in str(exc):
                return
            if "future revision" in str(exc):
                raise ValueError(f"cannot compact at future revision {revision}") from exc
            raise

    # -- leases --------------------------------------------------------------------------

    def lease_grant(self, ttl: int) -> int:
        if ttl < 1:
            raise ValueError("lease TTL must be at least 1 second")
        reply = self._call("lease/grant", {"TTL": ttl, "ID": 0}, idempotent=False)
        return int(reply["ID"])

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        reply = self._call(
            "lease/keepalive",
            {"ID": lease_id},
            idempotent=True,
            budget=timeout,
            attempt=KEEPALIVE_ATTEMPT_S,
        )
        if "error" in reply:
            code, message = _error_body(json.dumps(reply))
            raise StoreError(f"lease keepalive failed: {message} (code {code})")
        ttl = int(reply.get("result", {}).get("TTL", -1))
        if ttl <= 0:
            raise LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        return ttl

    def lease_revoke(self, lease_id: int) -> None:
        try:
            self._call("kv/lease/revoke", {"ID": lease_id}, idempotent=True)
        except LeaseNotFound:
            return  # documented: revoking an unknown or expired lease is a no-op

    def lease_ttl(self, lease_id: int) -> int:
        reply = self._call("kv/lease/timetolive", {"ID": lease_id}, idempotent=True)
        # proto3 JSON omits zero: no TTL field means 0 s left, expired leases say -1
        return int(reply.get("TTL", 0))

    # -- watches -------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        if start_revision is not None and start_revision < 1:
            raise ValueError("start_revision must be at least 1 (or None for 'from now')")
        self._check_open()
        key, end = _range(prefix)
        create: dict[str, Any] = {"key": key, "range_end": end}
        if start_revision is not None:
            create["start_revision"] = start_revision
        body = json.dumps({"create_request": create}).encode()
        failures: list[str] = []
        first = self._current
        for i in range(len(self._endpoints)):
            ep = self._endpoints[(first + i) % len(self._endpoints)]
            try:
                stream = _WatchStream.open(ep, body, self._timeout)
            except _WatchRefused as exc:
                raise StoreError(
                    f"etcd at {ep.url} refused the watch on {prefix!r}: {exc}"
                ) from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{ep.url}: {_short_reason(str(exc) or type(exc).__name__)}")
                continue
            return self._register(stream)
        raise self._unavailable(failures)

    def _register(self, stream: _WatchStream) -> Watch:
        def on_cancel() -> None:
            stream.close()
            with self._lock:
                self._watches.discard(watch)

        watch = Watch(on_cancel=on_cancel)
        with self._lock:
            if self._closed:
                stream.close()
                self._check_open()
            self._watches.add(watch)
        stream.start(watch)
        return watch

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watches, self._watches = list(self._watches), set()
        for w in watches:
            w.cancel()
        for ep in self._endpoints:
            ep.client.session.close()


class _WatchRefused(Exception):
    """etcd answered the watch request with an error (not a transport failure)."""


class _WatchStream:
    """One ``POST /v3/watch`` stream: set up synchronously (so the watch is established when
    ``watch_prefix`` returns), then read line by line by a daemon thread.

    Plain ``http.client`` is used instead of ``requests`` because the socket must block without
    a read timeout once the stream runs (etcd is silent while nothing changes), and cancel must
    be able to shut the socket down to wake the reader.
    """

    def __init__(
        self,
        url: str,
        conn: http.client.HTTPConnection,
        sock: socket.socket,
        resp: http.client.HTTPResponse,
    ) -> None:
        self.url = url
        self._conn = conn
        self._sock = sock
        self._resp = resp
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, ep: _Endpoint, body: bytes, timeout: float) -> _WatchStream:
        headers = {"Content-Type": "application/json"}
        session = ep.client.session
        if isinstance(session, _Session):
            headers |= session.auth_headers(ep.url, timeout)
        conn: http.client.HTTPConnection
        if ep.tls is not None:
            conn = http.client.HTTPSConnection(ep.host, ep.port, timeout=timeout, context=ep.tls)
        else:
            conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout)
        try:
            conn.request("POST", API_PATH + "watch", body=body, headers=headers)
            sock = conn.sock
            assert sock is not None
            resp = conn.getresponse()
            if resp.status != 200:
                code, message = _error_body(resp.read().decode("utf-8", "replace"))
                if resp.status == 503 or code not in _GRPC_CALLER_ERRORS:
                    raise ConnectionError(f"HTTP {resp.status}: {message}")  # try elsewhere
                raise _WatchRefused(f"HTTP {resp.status}: {message}")
            first = _read_message(resp)
            if first is None:
                raise http.client.IncompleteRead(b"", None)
            result = first.get("result")
            if not isinstance(result, dict) or not result.get("created"):
                _, message = _error_body(json.dumps(first))
                raise _WatchRefused(message or "watch was not created")
            if result.get("canceled"):  # how etcd refuses a watch it may not serve (RBAC)
                reason = str(result.get("cancel_reason") or "cancelled at once")
                if any(w in reason for w in _STALE_TOKEN) and isinstance(session, _Session):
                    if session.token_auth is not None:
                        session.token_auth.invalidate(headers.get("Authorization", ""))
                    raise ConnectionError(reason)  # a new token next time
                raise _WatchRefused(reason)
            sock.settimeout(None)  # from now on etcd may stay silent for as long as it likes
        except BaseException:
            conn.close()
            raise
        return cls(ep.url, conn, sock, resp)

    def start(self, watch: Watch) -> None:
        self._thread = threading.Thread(
            target=self._pump, args=(watch,), name=f"etcd-watch {self.url}", daemon=True
        )
        self._thread.start()

    def _pump(self, watch: Watch) -> None:
        try:
            while not self._closed.is_set():
                msg = _read_message(self._resp)
                if msg is None:
                    raise ConnectionError("the watch stream ended (etcd stopped?)")
                result = msg.get("result")
                if not isinstance(result, dict):
                    code, message = _error_body(json.dumps(msg))
                    if code not in _GRPC_CALLER_ERRORS:
                        # e.g. "transport is closing" while etcd shuts down: a lost stream
                        raise ConnectionError(f"{message} (gRPC code {code})")
                    watch.fail(StoreError(f"etcd at {self.url} ended the watch: {message}"))
                    return
                for ev in result.get("events", []):
                    kv = ev["kv"]
                    key = _key_str(_unb64(kv["key"]))
                    rev = int(kv["mod_revision"])
                    if ev.get("type") == "DELETE":
                        watch.deliver(WatchEvent("delete", key, b"", rev))
                    else:
                        watch.deliver(WatchEvent("put", key, _unb64(kv.get("value", "")), rev))
                if result.get("canceled"):
                    compacted = int(result.get("compact_revision", 0))
                    reason = (
                        f"history before revision {compacted} was compacted"
                        if compacted
                        else result.get("cancel_reason", "cancelled by etcd")
                    )
                    watch.fail(
                        StoreError(
                            f"etcd at {self.url} ended the watch: {reason}; re-read and watch again"
                        )
                    )
                    return
        except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
            if not self._closed.is_set():
                watch.fail(
                    StoreUnavailable(f"lost the watch stream to etcd at {self.url} ({exc}). {HINT}")
                )
        finally:
            self._conn.close()

    def close(self) -> None:
        """Stop reading: shutting the socket down wakes the blocked reader thread."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._conn.close()


def _read_message(resp: http.client.HTTPResponse) -> dict[str, Any] | None:
    """The next JSON message of a gateway stream (one per line), ``None`` at end of stream."""
    while True:
        line = resp.readline()
        if not line:
            return None
        if line.strip():
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError(f"unexpected watch message {line[:200]!r}")
            return msg
