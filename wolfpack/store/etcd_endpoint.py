"""Where and how :class:`~wolfpack.store.etcd.EtcdStore` connects: one etcd endpoint's
address, its TLS context, its token and its kept-alive connections, and the POST of one
request to etcd's JSON gateway.

Plain :mod:`http.client`: the ``requests`` and ``etcd3gw`` libraries this replaced cost every
``wolfpack`` command a sixth of a second to import, for one POST (issue 12). A request that
failed before its first byte left (no connection, TLS refused) says so (``not_sent``): a
write may then go to another endpoint.
"""

from __future__ import annotations

import functools
import http.client
import json
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wolfpack.store.etcd_tls import AUTHENTICATE, EtcdCredentials, TokenAuth
from wolfpack.store.etcd_wire import API_PATH, _error_body, _WatchRefused, split_endpoint

#: idle kept-alive connections an endpoint keeps, at most (a daemon's threads: a few)
IDLE_MAX = 8
#: every request's headers (and its token's). ``Accept`` as the ``requests`` library sent
#: it: without one, etcd 3.4's gateway answers a request without a token "permission denied"
#: instead of "user name is empty"
HEADERS = {"Content-Type": "application/json", "Accept": "*/*"}


class _GatewayError(Exception):
    """etcd's gateway refused a request (``detail_text``: its answer), or was not reached;
    ``not_sent``: the request provably never reached etcd."""

    def __init__(self, detail_text: str | None = None, *args: object, not_sent: bool = False):
        super().__init__(*args)
        self.detail_text = detail_text
        self.not_sent = not_sent


class _GatewayUnreachable(_GatewayError):
    """Not connected, the connection broke, or etcd answered 503 (no leader...)."""


class _GatewayTimeout(_GatewayError):
    """No answer in time (or etcd answered 408/504)."""


_ERRORS_BY_STATUS: dict[int, type[_GatewayError]] = {
    503: _GatewayUnreachable,
    408: _GatewayTimeout,
    504: _GatewayTimeout,
}

#: ``(bytes sent, bytes received)`` of every answered request (benchmarks count them)
Observer = Callable[[int, int], None]


@dataclass(frozen=True)
class _Endpoint:
    url: str
    scheme: str
    host: str
    port: int
    timeout: float
    credentials: EtcdCredentials | None = None
    #: a shorter timeout for the current thread's requests (a keep-alive's budget)
    shorter: threading.local = field(default_factory=threading.local, compare=False)
    observers: list[Observer] = field(default_factory=list, compare=False)
    _idle: list[http.client.HTTPConnection] = field(default_factory=list, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    @functools.cached_property
    def auth(self) -> TokenAuth | None:
        return self.credentials.auth() if self.credentials is not None else None

    @functools.cached_property
    def tls(self) -> ssl.SSLContext | None:
        """This endpoint's TLS context (the CA, the client certificate), made on first use."""
        return self.credentials.ssl_context() if self.credentials is not None else None

    # -- requests ------------------------------------------------------------------------------

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` to the gateway's ``path`` (``kv/range``), as the endpoint's user:
        the answer's JSON, or :class:`_GatewayError`. A token etcd calls stale is fetched
        again and the request sent once more."""
        limit: float | None = getattr(self.shorter, "timeout", None)
        timeout = self.timeout if limit is None else limit
        body = json.dumps(payload).encode()
        headers = dict(HEADERS)
        # a budgeted call (a keep-alive) renews no token that is still good: bcrypt on
        # etcd's side must not eat the time left before the lease's deadline
        token = self._token(timeout, renew=limit is None)
        if token:
            headers["Authorization"] = token
        status, reason, text = self._exchange(API_PATH + path, body, headers, timeout)
        auth = self.auth
        if status != 200 and token and auth and any(why in text for why in _STALE_TOKEN):
            auth.invalidate(token)  # expired, or users changed since: once more
            headers["Authorization"] = self._token(timeout, renew=True)
            status, reason, text = self._exchange(API_PATH + path, body, headers, timeout)
        if status != 200:
            raise _ERRORS_BY_STATUS.get(status, _GatewayError)(text, reason)
        return json.loads(text)

    def _token(self, timeout: float, *, renew: bool) -> str:
        """The current token ("" without authentication); etcd's refusal as a
        :class:`_GatewayError` carrying its words, as any refusal."""
        auth = self.auth
        if auth is None:
            return ""
        try:
            return auth.token(lambda body: self._authenticate(body, timeout), renew=renew)
        except _AuthRefused as refused:
            error = _ERRORS_BY_STATUS.get(refused.status, _GatewayError)
            raise error(refused.text, refused.reason) from None

    def _authenticate(self, body: dict[str, str], timeout: float) -> str:
        payload = json.dumps(body).encode()
        headers = dict(HEADERS)
        status, reason, text = self._exchange(AUTHENTICATE, payload, headers, timeout)
        if status == 412 and "authentication is not enabled" in text:
            return ""  # a database being set up (etcd_auth.enable): no token to send yet
        token = None
        if status == 200:
            try:
                token = json.loads(text).get("token")
            except (ValueError, AttributeError):
                token = None
        if not isinstance(token, str) or not token:
            raise _AuthRefused(status, reason, text)
        return token

    def auth_headers(self, timeout: float) -> dict[str, str]:
        """The ``Authorization`` header for a request made on a connection of its own (a
        watch)."""
        auth = self.auth
        if auth is None:
            return {}
        try:
            token = auth.token(lambda b: self._authenticate(b, timeout))
        except _AuthRefused as refused:
            message = _error_body(refused.text)[1]
            raise _WatchRefused(f"authentication as {auth.user!r} failed: {message}") from None
        except _GatewayError as exc:  # not reached: the watch tries the next endpoint
            raise ConnectionError(exc.detail_text or str(exc)) from exc
        return {"Authorization": token} if token else {}

    # -- connections ---------------------------------------------------------------------------

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new connection (not yet connected) to this endpoint."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.tls
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _exchange(
        self, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, str, str]:
        """One request and its whole answer: (status, reason, text), on a kept-alive
        connection if one is idle and still open, else on a new one."""
        conn = self._take()
        fresh = conn is None
        if conn is None:
            conn = self.connection(timeout)
            try:
                conn.connect()
            except TimeoutError as exc:
                conn.close()
                raise _GatewayTimeout(f"{self.url}: connect timed out", not_sent=True) from exc
            except OSError as exc:  # refused, unreachable, TLS refused: nothing was sent
                conn.close()
                raise _GatewayUnreachable(f"{self.url}: {exc}", not_sent=True) from exc
        try:
            assert conn.sock is not None
            conn.sock.settimeout(timeout)
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError as exc:
            conn.close()
            raise _GatewayTimeout(f"{self.url}: read timed out ({timeout:g} s)") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            kind = "new" if fresh else "kept-alive"
            raise _GatewayUnreachable(f"{self.url}: {exc!r} on a {kind} connection") from exc
        if resp.will_close:
            conn.close()
        else:
            self._give_back(conn)
        for observe in self.observers:
            observe(len(body), len(data))
        return resp.status, resp.reason, data.decode("utf-8", "replace")

    def _take(self) -> http.client.HTTPConnection | None:
        """An idle connection that etcd has not closed meanwhile, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            sock = conn.sock
            if sock is not None and not _readable(sock):
                return conn  # nothing to read on an idle connection: still open
            conn.close()  # closed by etcd (or stray bytes): never reused

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_MAX:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (one in use is closed by its request's end)."""
        with self._lock:
            idle, self._idle[:] = list(self._idle), []
        for conn in idle:
            conn.close()


def _readable(sock: socket.socket) -> bool:
    """True if an idle socket has something to read: the peer closed it (or sent bytes
    nobody asked for); either way it must not carry another request."""
    poller = select.poll()  # not select(): a daemon may hold descriptors above 1024
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


#: etcd's words for a token to fetch again: expired (or signed with another key), or issued
#: before a user or role changed (any ``wolfpack cluster certs issue``)
_STALE_TOKEN = ("invalid auth token", "revision of auth store is old")


class _AuthRefused(Exception):
    """etcd refused to authenticate: its answer."""

    def __init__(self, status: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.status, self.reason, self.text = status, reason, text


def _parse_endpoint(text: str, timeout: float, credentials: EtcdCredentials | None) -> _Endpoint:
    scheme, host, port = split_endpoint(text)
    url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
    if scheme == "https" and credentials is None:
        raise ValueError(f"etcd endpoint {text!r} is https: give the CA and a client certificate")
    if scheme == "http" and credentials is not None:
        raise ValueError(f"etcd endpoint {text!r} is plain http: use https:// with certificates")
    return _Endpoint(url, scheme, host, port, timeout, credentials)
