"""Where the cluster database is: endpoint and key prefix resolution, and opening it.

Endpoint, first found wins: ``--endpoint``, ``$WOLFPACK_ENDPOINT``, ``endpoint:`` in the
config file (``$WOLFPACK_CONFIG``, else ``~/.config/wolfpack/config.yaml``, else
``/etc/wolfpack/config.yaml``), else ``https://127.0.0.1:2379``. The key prefix comes from
``$WOLFPACK_PREFIX`` (default ``/wolfpack/``), so tests and side-by-side clusters can share
one etcd.

etcd is reached over TLS as an administrator (C1): the cluster database CA, an admin
certificate and key, and its password file (``wolfpack cluster certs issue --admin NAME``),
from ``$WOLFPACK_ETCD_CA``/``_CERT``/``_KEY``/``_PASSWORD_FILE``, else ``etcd_ca``,
``etcd_cert``, ``etcd_key``, ``etcd_password_file`` in the config file, else
``/etc/wolfpack/etcd/ca.crt``, ``admin.crt``, ``admin.key`` (password: the certificate's path
with ``.password``). A plain ``http://`` endpoint is refused unless
``$WOLFPACK_ETCD_INSECURE=1`` (or ``etcd_insecure: true``), which warns on every use. The
etcd token is kept between commands (:func:`token_cache_dir`, docs/cli.md), and with it the
user the credential files were checked to name.

API mode (``--api URL[,URL...]``, ``$WOLFPACK_API`` or ``api:`` in the config file; token
from ``--token``, ``$WOLFPACK_TOKEN`` or ``token:``): :func:`open_cluster` gives an
:class:`~wolfpack.cli.remote.ApiCluster` that talks to the nodes' REST API instead, and
:func:`open_db` (the database itself: tokens, events, cluster create...) refuses. An HTTPS
API is verified against ``$WOLFPACK_CA`` (or ``api_ca:`` in the config file; ``wolfpack
cluster certs api-ca --out`` writes it), else the cluster CA when the database is at hand
(``wolfpack log`` finding the APIs there), else the system's CAs.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wolfpack.cli import output
from wolfpack.errors import FieldError, ValidationError
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.etcd_wire import split_endpoint
from wolfpack.store.keys import DEFAULT_ROOT, KeySpace

if TYPE_CHECKING:  # imported where used: `wolfpack status` needs no write path (issue 12)
    from wolfpack.model.snapshot import Snapshot
    from wolfpack.store.cluster import Cluster
    from wolfpack.store.etcd import EtcdStore
    from wolfpack.store.repository import ClusterDB

DEFAULT_ENDPOINT = "https://127.0.0.1:2379"
ETCD_DIR = Path("/etc/wolfpack/etcd")
#: (setting in the config file, environment variable, default file name in ETCD_DIR)
ETCD_FILES = {
    "ca": ("etcd_ca", "WOLFPACK_ETCD_CA", "ca.crt"),
    "cert": ("etcd_cert", "WOLFPACK_ETCD_CERT", "admin.crt"),
    "key": ("etcd_key", "WOLFPACK_ETCD_KEY", "admin.key"),
    "password_file": ("etcd_password_file", "WOLFPACK_ETCD_PASSWORD_FILE", None),
}
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
    import yaml  # only when there is a config file

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError.single(str(path), f"cannot read the client config: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError.single(str(path), "must be a YAML mapping with an 'endpoint' key")
    value = data.get(key)
    if isinstance(value, bool):  # etcd_insecure: true
        return str(value).lower()
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


def _urls(given: str) -> list[str]:
    urls = [u.strip().rstrip("/") for u in given.split(",") if u.strip()]
    if not urls:
        raise ValidationError.single("api", "give at least one URL such as http://host:8080")
    return urls


def api_token(explicit: str | None = None) -> str:
    """``explicit`` (a verb's ``--token``), else the token given (see :func:`token_setting`)."""
    token = explicit or token_setting()
    if not token:
        raise ValidationError.single(
            "token", "an API token is needed: --token or WOLFPACK_TOKEN (wolfpack token create)"
        )
    return token


def api_mode() -> tuple[list[str], str] | None:
    """(API URLs, token) when the CLI should talk to the REST API, else None."""
    given = api_setting()
    return (_urls(given), api_token()) if given else None


def tls_verify(urls: Sequence[str], cluster_ca: bytes | None = None) -> ssl.SSLContext | bool:
    """How to check an HTTPS API's certificate: against the PEM file in ``$WOLFPACK_CA``,
    else ``cluster_ca`` (read from the database beside the APIs' addresses), else the
    system's CAs."""
    if not any(u.startswith("https:") for u in urls):
        return True
    ca_file = _setting(None, "WOLFPACK_CA", "api_ca")
    if ca_file:
        return ssl.create_default_context(cafile=os.path.expanduser(ca_file))
    if cluster_ca is not None:
        return ssl.create_default_context(cadata=cluster_ca.decode())
    return True


@contextmanager
def open_cluster() -> Iterator[Cluster]:
    """The cluster the verbs work on: the REST API in API mode, else the database."""
    remote = api_mode()
    if remote is None:
        with _database() as db:
            yield db
        return
    from wolfpack.cli.apiclient import ApiTransport  # API mode only: httpx is not cheap
    from wolfpack.cli.remote import ApiCluster

    urls, token = remote
    with closing(ApiCluster(ApiTransport(urls, token, tls_verify(urls)))) as api:
        yield api


def read_snapshot() -> Snapshot:
    """The cluster as one consistent read, for a verb that only looks (``status``): one range
    read of the root from the database (no audit record: nothing is written), or the
    cluster from the REST API in API mode."""
    if api_mode() is not None:
        with open_cluster() as cluster:
            return cluster.read_snapshot()
    from wolfpack.store.root_read import read_root

    with open_store() as store:
        return read_root(store, keyspace()).snapshot()


@contextmanager
def open_db(what: str = "this command") -> Iterator[ClusterDB]:
    """The cluster database itself, closed afterwards. In API mode: a clear refusal, "``what``
    needs the cluster database: drop --api"."""
    if api_mode() is not None:
        raise _needs_database(what)
    with _database() as db:
        yield db


def etcd_credentials(url: str) -> EtcdCredentials | None:
    """The administrator's etcd credentials for ``url`` (None: plain text, allowed by
    ``WOLFPACK_ETCD_INSECURE``); ValidationError naming the setting at fault."""
    try:
        scheme = {split_endpoint(u)[0] for u in url.split(",") if u.strip()}
    except ValueError as exc:
        raise ValidationError.single("endpoint", f"{url!r}: {exc}") from None
    if scheme != {"https"}:
        flag = _setting(None, "WOLFPACK_ETCD_INSECURE", "etcd_insecure")
        if str(flag).lower() in ("1", "true", "yes") and scheme == {"http"}:
            output.error(
                "warning: plain-text etcd (WOLFPACK_ETCD_INSECURE): no TLS, no authentication"
            )
            return None
        raise ValidationError.single(
            "endpoint",
            f"{url!r}: the cluster database is reached over https:// with an administrator's "
            "certificate (WOLFPACK_ETCD_CA/_CERT/_KEY; docs/install.md section 4); "
            "WOLFPACK_ETCD_INSECURE=1 accepts plain http://",
        )
    paths: dict[str, Path | None] = {}
    for name, (key, env, default) in ETCD_FILES.items():
        given = _setting(None, env, key)
        paths[name] = (
            Path(given).expanduser() if given else (ETCD_DIR / default if default else None)
        )
    assert paths["ca"] and paths["cert"] and paths["key"]
    try:
        return EtcdCredentials.load(
            paths["ca"],
            paths["cert"],
            paths["key"],
            paths["password_file"],
            field="etcd",
            cache=token_cache_dir(),
            endpoints=url,
        )
    except ValidationError as exc:
        raise ValidationError([_named(e) for e in exc.errors]) from None


def token_cache_dir() -> Path | None:
    """Where commands keep their etcd token for the next one (:mod:`~wolfpack.store.
    etcd_token_cache`): ``$WOLFPACK_ETCD_TOKEN_CACHE`` (``off``: nowhere), else
    ``$XDG_RUNTIME_DIR/wolfpack``, else ``~/.cache/wolfpack``."""
    given = os.environ.get("WOLFPACK_ETCD_TOKEN_CACHE")
    if given is not None:
        return None if given in ("", "off") else Path(given).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "wolfpack" if runtime else Path("~/.cache/wolfpack").expanduser()


def _named(error: FieldError) -> FieldError:
    name = error.field.removeprefix("etcd.")
    key, env, _ = ETCD_FILES.get(name, (error.field, error.field, None))
    return FieldError(f"{key} ({env})", error.message)


@contextmanager
def open_store() -> Iterator[EtcdStore]:
    """etcd itself as this administrator (users and roles: ``cluster certs``), closed after."""
    if api_mode() is not None:
        raise _needs_database("cluster certs")
    url = endpoint()
    credentials = etcd_credentials(url)
    try:
        from wolfpack.store.etcd import EtcdStore  # its HTTP stack only when a verb runs

        store = EtcdStore(url, credentials=credentials)
    except ValueError as exc:
        raise ValidationError.single("endpoint", f"{url!r}: {exc}") from None
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _database() -> Iterator[ClusterDB]:
    """The database as this administrator; a verb that changed it leaves an audit record
    (M10, :mod:`wolfpack.cli.audited`)."""
    from wolfpack.cli import audited
    from wolfpack.store.repository import ClusterDB

    with open_store() as store:
        counting = audited.CountingStore(store)
        db = ClusterDB(counting, keyspace())
        user = store.credentials.user if store.credentials is not None else None
        try:
            yield db
        except BaseException:
            if counting.writes:
                audited.record(db, user, failed=True)
            raise
        if counting.writes:
            audited.record(db, user, failed=False)


def api_get(path: str, params: Mapping[str, str], *, api: str | None, token: str | None) -> Any:
    """GET ``/api/v1/<path>`` from the first API that answers: those in ``api`` (a verb's
    ``--api``) or given (:func:`api_setting`), else every API registered in the database."""
    given = api or api_setting()
    cluster_ca = None
    if given:
        urls = _urls(given)
    else:
        from wolfpack.admin.peer import plain_beyond_loopback

        with _database() as db:
            found = [str(doc["url"]).rstrip("/") for doc in db.apis().values() if "url" in doc]
            cluster_ca = db.ca_certificate()
        # M9: the token goes to addresses read from the database only over HTTPS (verified
        # with the cluster CA), or to loopback: never in clear across a network
        urls = [u for u in found if not plain_beyond_loopback(u)]
        if not urls:
            plain = f" ({len(found)} plain-HTTP APIs beyond loopback skipped)" if found else ""
            raise ValidationError.single(
                "api",
                f"no node has registered an HTTPS REST API{plain}: give --api URL or WOLFPACK_API",
            )
    from wolfpack.cli.apiclient import ApiTransport

    with ApiTransport(urls, api_token(token), tls_verify(urls, cluster_ca)) as transport:
        return transport.call("GET", path, params=params)


def _needs_database(what: str) -> ValidationError:
    from wolfpack.cli.remote import needs_database

    return needs_database(what)
