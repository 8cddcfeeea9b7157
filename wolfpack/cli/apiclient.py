"""The HTTP transport to the nodes' REST API: :class:`ApiTransport` tries the next URL when
one does not answer, and turns the API's error JSON back into the WolfpackError it was.
Used by ``wolfpack log`` and by every verb over ``--api`` (:mod:`wolfpack.cli.remote`);
where the APIs are, the token and TLS verification come from :mod:`wolfpack.cli.context`."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from wolfpack import errors
from wolfpack.errors import StoreUnavailable, ValidationError, WolfpackError

TIMEOUT_S = 10.0


def error_from(status: int, body: Any, url: str) -> WolfpackError:
    """The API's ``{"error": {type, message, fields, code}}`` as the WolfpackError it was."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return WolfpackError(f"{url}: HTTP {status}")
    return errors.from_document(err, status)


class ApiTransport:
    """Requests to ``/api/v1/…`` of the first API in ``urls`` that answers without a server
    error (a connection error or a 5xx moves on to the next one). ``transport``: another
    httpx transport (a test's counting one)."""

    def __init__(
        self,
        urls: Sequence[str],
        token: str,
        verify: ssl.SSLContext | bool = True,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValidationError.single("api", "give at least one URL")
        self.urls = list(urls)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
            verify=verify,
            transport=transport,
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
