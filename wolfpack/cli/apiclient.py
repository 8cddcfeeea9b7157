"""Talking to a node's REST API from the CLI (for what only the daemons know: the cluster
log). Where: ``--api URL[,URL...]`` (the verb's or the root's), ``$WOLFPACK_API`` or ``api:``
in the config file, else every API registered in the
cluster database (``<root>api/<node>``); the next URL is tried when one does not answer.
The token: ``--token``, ``$WOLFPACK_TOKEN`` or ``token:`` (``wolfpack token create``)."""

from __future__ import annotations

from typing import Any

from wolfpack.cli.context import api_setting, open_db, token_setting
from wolfpack.errors import AuthError, StoreUnavailable, ValidationError, WolfpackError

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


def get(path: str, params: dict[str, str], *, api: str | None, token: str | None) -> Any:
    """GET ``path`` from the first API that answers; its error JSON becomes the error."""
    import httpx

    headers = {"Authorization": f"Bearer {api_token(token)}"}
    failures = []
    urls = api_urls(api)
    verify = _verify() if any(u.startswith("https:") for u in urls) else True
    for url in urls:
        try:
            r = httpx.get(
                url + path, params=params, headers=headers, timeout=TIMEOUT_S, verify=verify
            )
        except httpx.HTTPError as exc:
            failures.append(f"{url}: {exc or type(exc).__name__}")
            continue
        if r.status_code == 401:
            raise AuthError(_message(r))
        if r.status_code >= 400:
            raise WolfpackError(f"{url}: {r.status_code} {_message(r)}")
        return r.json()
    raise StoreUnavailable("no REST API answered: " + "; ".join(failures))


def _verify() -> Any:
    """An HTTPS API is verified against the cluster CA stored in the database."""
    from wolfpack.admin import tls

    with open_db() as db:
        ca = tls.ca_certificate(db)
    if ca is None:
        raise ValidationError.single("api", "the cluster has no CA to verify its API with")
    return tls.client_context(ca)


def _message(r: Any) -> str:
    try:
        return str(r.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(r.text[:200])
