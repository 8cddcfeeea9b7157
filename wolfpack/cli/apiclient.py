"""Talking to a node's REST API from the CLI: :class:`ApiTransport` (the next URL tried
when one does not answer, the API's error JSON turned back into the WolfpackError it was),
used by ``wolfpack log`` (what only the daemons know) and by every verb over ``--api``
(:mod:`wolfpack.cli.remote`). Where: ``--api URL[,URL...]`` (the verb's or the root's),
``$WOLFPACK_API`` or ``api:`` in the config file, else every API registered in the cluster
database (``<root>api/<node>``). The token: ``--token``, ``$WOLFPACK_TOKEN`` or ``token:``
(``wolfpack token create``)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from wolfpack import errors
from wolfpack.cli.context import api_setting, open_db, token_setting
from wolfpack.errors import FieldError, StoreUnavailable, ValidationError, WolfpackError

TIMEOUT_S = 10.0


def api_urls(explicit: str | None) -> list[str]:
    given = explicit or api_setting()
    if given:
        return [u.strip().rstrip("/") for u in given.split(",") if u.strip()]
    import json

    with open_db() as db:
        kvs, _ = db.store.get_prefix(db.keys.api_prefix)
    urls = []
    for kv in kvs:
        try:
            urls.append(str(json.loads(kv.value)["url"]).rstrip("/"))
        except (ValueError, KeyError, TypeError):
            continue
    if not urls:
        raise ValidationError.single(
            "api", "no node has registered its REST API: give --api URL or WOLFPACK_API"
        )
    return urls


def api_token(explicit: str | None) -> str:
    token = explicit or token_setting()
    if not token:
        raise ValidationError.single(
            "token", "an API token is needed: --token or WOLFPACK_TOKEN (wolfpack token create)"
        )
    return token


def error_from(status: int, body: Any, url: str) -> WolfpackError:
    """The API's ``{"error": {type, message, fields, code}}`` as the WolfpackError it was."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return WolfpackError(f"{url}: HTTP {status}")
    message = str(err.get("message", ""))
    kind = str(err.get("type", ""))
    if kind in ("ValidationError", "DependencyCycleError") or status == 422:
        fields = [
            FieldError(str(f.get("field", "")), str(f.get("message", "")))
            for f in err.get("fields") or []
            if isinstance(f, dict)
        ]
        return ValidationError(fields or [FieldError("request", message)])
    if kind == "RejectedError" or "code" in err:
        return errors.RejectedError(str(err.get("code", "")), message)
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, WolfpackError)):
        cls = WolfpackError
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    if isinstance(exc, errors.NotFoundError | errors.AlreadyExistsError):
        exc.kind, exc.name = "", ""
    return exc


class ApiTransport:
    """Requests to ``/api/v1/…`` of the first API in ``urls`` that answers without a server
    error (a connection error or a 5xx moves on to the next one)."""

    def __init__(
        self, urls: Sequence[str], token: str, verify: ssl.SSLContext | bool = True
    ) -> None:
        if not urls:
            raise ValidationError.single("api", "give at least one URL")
        self.urls = list(urls)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S, verify=verify
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        failures = []
        for url in self.urls:
            try:
                r = self._http.request(method, f"{url}/api/v1/{path}", json=body, params=params)
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {exc or type(exc).__name__}")
                continue
            if r.status_code >= 500:
                failures.append(f"{url}: HTTP {r.status_code}")
                continue
            try:
                data = r.json()
            except ValueError:
                data = None
            if r.status_code >= 400:
                raise error_from(r.status_code, data, url)
            return data
        raise StoreUnavailable("no REST API answered: " + "; ".join(failures))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def get(path: str, params: dict[str, str], *, api: str | None, token: str | None) -> Any:
    """GET ``/api/v1/<path>`` from the first API that answers; its error JSON becomes the
    error."""
    urls = api_urls(api)
    verify = _verify() if any(u.startswith("https:") for u in urls) else True
    with ApiTransport(urls, api_token(token), verify) as transport:
        return transport.call("GET", path, params=params)


def _verify() -> Any:
    """An HTTPS API is verified against the cluster CA stored in the database."""
    from wolfpack.admin import tls

    with open_db() as db:
        ca = tls.ca_certificate(db)
    if ca is None:
        raise ValidationError.single("api", "the cluster has no CA to verify its API with")
    return tls.client_context(ca)
