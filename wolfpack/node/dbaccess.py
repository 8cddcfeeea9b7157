"""How the daemon reaches the cluster database (C1): over TLS as this node's etcd user, and
its REST API as the API's user when the node has that certificate (wolfpack.store.etcd_auth
says what each may write)."""

from __future__ import annotations

from collections.abc import Callable

from wolfpack.node.settings import INSECURE_COST, DaemonSettings
from wolfpack.store import EtcdStore, Store


def _insecure(s: DaemonSettings) -> bool:
    return s.etcd.insecure and s.endpoints.lstrip().startswith("http:")


def open_stores(s: DaemonSettings) -> tuple[EtcdStore, EtcdStore | None]:
    """The daemon's store and its REST API's (None: no API certificate, or plain text).
    Bad or missing files raise ValidationError naming the ``etcd.`` field."""
    if _insecure(s):
        return EtcdStore(s.endpoints, timeout=1.0), None
    e = s.etcd
    node = e.node_credentials(in_child=True)  # checked by a child: no cryptography here
    api = e.api_credentials(in_child=True) if s.api.active else None
    store = EtcdStore(s.endpoints, timeout=1.0, credentials=node)
    return store, (EtcdStore(s.endpoints, timeout=1.0, credentials=api) if api else None)


def log_access(
    s: DaemonSettings, store: Store, api: EtcdStore | None, log: Callable[..., None]
) -> None:
    """Say at start how this node reaches etcd; loudly when anyone could (C1)."""
    if _insecure(s):
        log("etcd_insecure", level="warning", endpoints=s.endpoints, cost=INSECURE_COST)
        return
    if not isinstance(store, EtcdStore) or store.credentials is None:
        return  # a store handed in (tests)
    api_user = api.credentials.user if api is not None and api.credentials else None
    log("etcd_tls", user=store.credentials.user, api_user=api_user)
    if api_user is None and s.api.active:
        log(
            "api_read_only",
            level="warning",
            detail=f"no {s.etcd.api_cert}: the REST API uses this node's etcd user, which "
            "cannot change the configuration (issue the node's certificates with "
            "'wolfpack cluster certs issue --node')",
        )
