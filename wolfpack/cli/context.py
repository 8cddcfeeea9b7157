"""Where the cluster database is: endpoint and key prefix resolution, and opening it.

Endpoint, first found wins: ``--endpoint``, ``$WOLFPACK_ENDPOINT``, ``endpoint:`` in the
config file (``$WOLFPACK_CONFIG``, else ``~/.config/wolfpack/config.yaml``, else
``/etc/wolfpack/config.yaml``), else ``http://127.0.0.1:2379``. The key prefix comes from
``$WOLFPACK_PREFIX`` (default ``/wolfpack/``), so tests and side-by-side clusters can share
one etcd.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from wolfpack.errors import ValidationError
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.keys import DEFAULT_ROOT, KeySpace
from wolfpack.store.repository import ClusterDB

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
USER_CONFIG = Path("~/.config/wolfpack/config.yaml")
SYSTEM_CONFIG = Path("/etc/wolfpack/config.yaml")

_override: str | None = None


def set_endpoint_override(endpoint: str | None) -> None:
    """Called by the root callback with ``--endpoint`` (``None`` when not given)."""
    global _override
    _override = endpoint


def config_file() -> Path | None:
    explicit = os.environ.get("WOLFPACK_CONFIG")
    if explicit:
        return Path(explicit)
    for path in (USER_CONFIG.expanduser(), SYSTEM_CONFIG):
        if path.is_file():
            return path
    return None


def _endpoint_from_file(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError.single(str(path), f"cannot read the client config: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError.single(str(path), "must be a YAML mapping with an 'endpoint' key")
    value = data.get("endpoint")
    if value is not None and not isinstance(value, str):
        raise ValidationError.single(f"{path}: endpoint", "must be a URL such as http://host:2379")
    return value


def explicit_endpoint() -> str | None:
    """The endpoint an administrator gave (flag, environment, config file), or None."""
    if _override:
        return _override
    if os.environ.get("WOLFPACK_ENDPOINT"):
        return os.environ["WOLFPACK_ENDPOINT"]
    path = config_file()
    return _endpoint_from_file(path) if path is not None else None


def endpoint() -> str:
    return explicit_endpoint() or DEFAULT_ENDPOINT


def keyspace() -> KeySpace:
    root = os.environ.get("WOLFPACK_PREFIX") or DEFAULT_ROOT
    try:
        return KeySpace(root)
    except ValueError as exc:
        raise ValidationError.single("WOLFPACK_PREFIX", str(exc)) from None


@contextmanager
def open_db() -> Iterator[ClusterDB]:
    """A :class:`ClusterDB` on the resolved endpoint, closed afterwards."""
    url = endpoint()
    try:
        store = EtcdStore(url)
    except ValueError as exc:
        raise ValidationError.single("endpoint", f"{url!r}: {exc}") from None
    try:
        yield ClusterDB(store, keyspace())
    finally:
        store.close()
