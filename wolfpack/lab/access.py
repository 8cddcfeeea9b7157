"""Who may reach the lab's cluster database (C1, issue 11): its CA, certificates and etcd users.

The lab runs etcd as docs/install.md tells an administrator to: clients and peers over TLS
with certificates from the cluster database CA (``<dir>/pki``), authentication on with JWT
tokens, each node's daemon and REST API as their own etcd users (files in
``<dir>/nodes/<node>/etcd``, the node's ``/etc/wolfpack/etcd``), and the lab's own commands
as the administrator ``admin:lab``. The ``client`` host has none of these: it is the outsider
the security tests attack from (tests/lab/test_security.py).
"""

from __future__ import annotations

from wolfpack.lab.layout import (
    KEY_ROOT,
    MANAGEMENT_ADDRESS,
    endpoints,
    etcd_files,
    pki_dir,
    private_address,
    public_address,
)
from wolfpack.lab.state import LabState
from wolfpack.store import EtcdStore, KeySpace, etcd_auth
from wolfpack.store.etcd_process import EtcdPki
from wolfpack.store.etcd_tls import EtcdCredentials


def pki(state: LabState) -> EtcdPki:
    """The lab's CA (made on first use) and its administrator."""
    return EtcdPki(pki_dir(state), state.cluster)


def admin_store(state: LabState, timeout: float = 2.0) -> EtcdStore:
    """The cluster database as the lab's administrator (from the admin host)."""
    return EtcdStore(endpoints(state), timeout=timeout, credentials=pki(state).admin)


def member_args(state: LabState, node: str) -> list[str]:
    """etcd's TLS and authentication flags for ``node``'s member (certificates made now)."""
    ca = pki(state)
    # the management address too: 'cluster join NAME' reaches etcd at the cluster name (S20)
    addresses = [public_address(node), private_address(node), MANAGEMENT_ADDRESS]
    return ca.server_args(ca.member(node, addresses))


def etcdctl(state: LabState) -> list[str]:
    """``etcdctl`` with the lab administrator's certificate, user and password."""
    admin = pki(state).admin
    assert admin.user is not None and admin.password is not None
    return [
        "etcdctl", "--endpoints", endpoints(state),
        "--cacert", str(admin.ca), "--cert", str(admin.cert), "--key", str(admin.key),
        "--user", admin.user, "--password", admin.password,
    ]  # fmt: skip


def node_credentials(state: LabState, node: str, kind: str = "node") -> EtcdCredentials:
    """``node``'s daemon's (``node``) or REST API's (``api``) certificate, key, password."""
    return pki(state).principal(kind, node, out=etcd_files(state, node))


def daemon_settings(state: LabState, node: str) -> dict[str, str]:
    """The ``etcd:`` section of ``node``'s wolfpackd.yaml."""
    mine, api = node_credentials(state, node), node_credentials(state, node, "api")
    return {
        "ca": str(mine.ca),
        "cert": str(mine.cert),
        "key": str(mine.key),
        "api_cert": str(api.cert),
        "api_key": str(api.key),
    }


def secure(state: LabState) -> list[str]:
    """Turn authentication on in the new database and add every node's etcd users (run
    once, from the admin host, when every member answers). The users added."""
    ca = pki(state)
    ca.bootstrap(endpoints(state).split(","))
    store = admin_store(state)
    added = []
    try:
        for node in state.nodes:
            for kind in ("node", "api"):
                creds = node_credentials(state, node, kind)
                assert creds.user is not None and creds.password is not None
                etcd_auth.add_user(store, KeySpace(KEY_ROOT), creds.user, creds.password)
                added.append(creds.user)
    finally:
        store.close()
    return added
