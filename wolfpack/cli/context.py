"""Where the cluster database is: endpoint and key prefix resolution, and opening it.

Endpoint, first found wins: ``--endpoint``, ``$WOLFPACK_ENDPOINT``, ``endpoint:`` in the
config file (``$WOLFPACK_CONFIG``, else ``~/.config/wolfpack/config.yaml``, else
``/etc/wolfpack/config.yaml``), else ``http://127.0.0.1:2379``. The key prefix comes from
``$WOLFPACK_PREFIX`` (default ``/wolfpack/``), so tests and side-by-side clusters can share
one etcd.

API mode (``--api URL[,URL...]``, ``$WOLFPACK_API`` or ``api:`` in the config file; token
from ``--token``, ``$WOLFPACK_TOKEN`` or ``token:``): :func:`open_db` gives a
:class:`~wolfpack.cli.remote.RemoteClusterDB` that talks to the nodes' REST API instead.
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
_api: str | None = None
_token: str | None = None


def set_endpoint_override(endpoint: str | None) -> None:
    """Called by the root callback with ``--endpoint`` (``None`` when not given)."""
    global _override
    _override = endpoint


def set_api(api: str | None, token: str | None) -> None:
    """Called by the root callback with ``--api`` and ``--token`` (``None`` when not given)."""
    global _api, _token
    _api, _token = api, token


def config_file() -> Path | None:
    explicit = os.environ.get("WOLFPACK_CONFIG")
    if explicit:
        return Path(explicit)
    for path in (USER_CONFIG.expanduser(), SYSTEM_CONFIG):
        if path.is_file():
            return path
    return None


def _from_file(path: Path, key: str) -> str | None:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError.single(str(path), f"cannot read the client config: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError.single(str(path), "must be a YAML mapping with an 'endpoint' key")
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationError.single(f"{path}: {key}", "must be a string (URLs: comma-separated)")
    return value


def explicit_endpoint() -> str | None:
    """The endpoint an administrator gave (flag, environment, config file), or None."""
    if _override:
        return _override
    if os.environ.get("WOLFPACK_ENDPOINT"):
        return os.environ["WOLFPACK_ENDPOINT"]
    path = config_file()
    return _from_file(path, "endpoint") if path is not None else None


def endpoint() -> str:
    return explicit_endpoint() or DEFAULT_ENDPOINT


def keyspace() -> KeySpace:
    root = os.environ.get("WOLFPACK_PREFIX") or DEFAULT_ROOT
    try:
        return KeySpace(root)
    except ValueError as exc:
        raise ValidationError.single("WOLFPACK_PREFIX", str(exc)) from None


def _setting(flag: str | None, env: str, key: str) -> str | None:
    if flag:
        return flag
    if os.environ.get(env):
        return os.environ[env]
    path = config_file()
    return _from_file(path, key) if path is not None else None


def api_setting() -> str | None:
    """The API URL(s) given: ``--api``, ``$WOLFPACK_API``, ``api:`` in the config file."""
    return _setting(_api, "WOLFPACK_API", "api")


def token_setting() -> str | None:
    """The API token given: ``--token``, ``$WOLFPACK_TOKEN``, ``token:`` in the file."""
    return _setting(_token, "WOLFPACK_TOKEN", "token")


def api_mode() -> tuple[list[str], str] | None:
    """(API URLs, token) when the CLI should talk to the REST API, else None."""
    given = api_setting()
    if not given:
        return None
    urls = [u.strip().rstrip("/") for u in given.split(",") if u.strip()]
    if not urls:
        raise ValidationError.single("api", "give at least one URL such as http://host:8080")
    token = token_setting()
    if not token:
        raise ValidationError.single(
            "token", "an API token is needed: --token or WOLFPACK_TOKEN (wolfpack token create)"
        )
    return urls, token


@contextmanager
def open_db() -> Iterator[ClusterDB]:
    """A :class:`ClusterDB` on the resolved endpoint (or the REST API), closed afterwards."""
    remote = api_mode()
    if remote is not None:
        from wolfpack.cli.remote import RemoteClusterDB

        api_db = RemoteClusterDB(*remote, keyspace())
        try:
            yield api_db
        finally:
            api_db.close()
        return
    url = endpoint()
    try:
        store = EtcdStore(url)
    except ValueError as exc:
        raise ValidationError.single("endpoint", f"{url!r}: {exc}") from None
    try:
        yield ClusterDB(store, keyspace())
    finally:
        store.close()
