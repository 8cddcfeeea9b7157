"""Where and how :class:`~wolfpack.store.etcd.EtcdStore` connects: one etcd endpoint's
address, its HTTP session and its ``etcd3gw`` client."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from etcd3gw.client import Etcd3Client

from wolfpack.store.etcd_wire import API_PATH


@dataclass(frozen=True)
class _Endpoint:
    url: str
    host: str
    port: int
    client: Etcd3Client


def endpoint_address(text: str) -> tuple[str, int]:
    """(host, port) of one endpoint (``http://HOST:PORT``, ``HOST:PORT`` or ``HOST``);
    ValueError saying why not (``https://`` too: no TLS to etcd yet)."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port or 2379
    except ValueError:
        raise ValueError(f"etcd endpoint {text!r} has a bad port") from None
    if parts.scheme == "https":
        raise ValueError(f"etcd endpoint {text!r}: https is not supported yet, use http://")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"etcd endpoint must look like http://HOST:PORT, not {text!r}")
    return parts.hostname, port


class _Session(requests.Session):
    """A session whose request timeout a call may shorten for the current thread: etcd3gw
    passes its own fixed timeout, and a keep-alive must fit the time left before the
    holder's deadline (``EtcdStore._call``'s ``budget``)."""

    def __init__(self) -> None:
        super().__init__()
        self.shorter = threading.local()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        limit: float | None = getattr(self.shorter, "timeout", None)
        if limit is not None:
            kwargs["timeout"] = limit
        return super().request(method, url, *args, **kwargs)


def _parse_endpoint(text: str, timeout: float) -> _Endpoint:
    host, port = endpoint_address(text)
    url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    session = _Session()
    session.trust_env = False  # no proxies or .netrc from the environment for the database
    client = Etcd3Client(host=host, port=port, api_path=API_PATH, timeout=timeout, session=session)
    return _Endpoint(url, host, port, client)
