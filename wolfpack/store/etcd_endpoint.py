"""Where and how :class:`~wolfpack.store.etcd.EtcdStore` connects: one etcd endpoint's
address, its HTTP session, and the POST of one request to etcd's JSON gateway.

The POST is what the ``etcd3gw`` client did for us (its errors under other names), without
importing that library: it brought futurist, debtcollector, wrapt, asyncio and pbr, a
tenth of a second of every ``wolfpack`` command (issue 12).
"""

from __future__ import annotations

import functools
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import requests

from wolfpack.store.etcd_tls import AUTHENTICATE, EtcdCredentials, TokenAuth
from wolfpack.store.etcd_wire import API_PATH, _error_body, _WatchRefused, split_endpoint


class _GatewayError(Exception):
    """etcd's gateway refused a request (``detail_text``: its answer), or was not reached."""

    def __init__(self, detail_text: str | None = None, *args: object) -> None:
        super().__init__(*args)
        self.detail_text = detail_text


class _GatewayUnreachable(_GatewayError):
    """Not connected, the connection broke, or etcd answered 503 (no leader...)."""


class _GatewayTimeout(_GatewayError):
    """No answer in time (or etcd answered 408/504)."""


_ERRORS_BY_STATUS: dict[int, type[_GatewayError]] = {
    503: _GatewayUnreachable,
    408: _GatewayTimeout,
    504: _GatewayTimeout,
}


@dataclass(frozen=True)
class _Endpoint:
    url: str
    host: str
    port: int
    session: _Session
    timeout: float
    credentials: EtcdCredentials | None = None

    @functools.cached_property
    def tls(self) -> ssl.SSLContext | None:
        """The TLS context of this endpoint's watch streams, made on the first watch (a
        command that only reads needs none)."""
        return self.credentials.ssl_context() if self.credentials is not None else None

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` to the gateway's ``path`` (``kv/range``): the answer's JSON, or
        :class:`_GatewayError` (a connection failure as the subclasses, with the
        ``requests`` exception as its context)."""
        try:
            resp = self.session.post(self.url + API_PATH + path, json=payload, timeout=self.timeout)
        except requests.exceptions.Timeout as exc:
            raise _GatewayTimeout(str(exc)) from exc
        except requests.exceptions.ConnectionError as exc:
            raise _GatewayUnreachable(str(exc)) from exc
        if resp.status_code != 200:
            raise _ERRORS_BY_STATUS.get(resp.status_code, _GatewayError)(resp.text, resp.reason)
        return resp.json()


class _Session(requests.Session):
    """A session whose request timeout a call may shorten for the current thread: a request
    is sent with the store's fixed timeout, and a keep-alive must fit the time left before
    the holder's deadline (``EtcdStore._call``'s ``budget``)."""

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
    if credentials is not None:
        session.verify = str(credentials.ca)
        session.cert = credentials.requests_cert
    return _Endpoint(url, host, port, session, timeout, credentials)
