"""Who may reach the lab's cluster database (C1, issue 11): the administrator's credentials.

``cluster create`` on node1 makes the cluster database CA, turns authentication on and makes
the administrator ``admin:cluster`` (etcd's root role); every join gives the node its
daemon's and REST API's etcd users (``node:nodeN``, ``api:nodeN``, files in the node's
/etc/wolfpack/etcd). The lab's own commands act as the administrator, from copies of
node1's CA and ``admin:cluster`` files in ``<dir>/pki`` (:mod:`wolfpack.lab.formed`). The
``client`` host has none of these: it is the outsider the security tests attack from
(tests/lab/test_security.py).
"""

from __future__ import annotations

from wolfpack.lab.layout import endpoints, pki_dir
from wolfpack.lab.state import LabState
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_process import EtcdPki


def pki(state: LabState) -> EtcdPki:
    """The cluster database CA and its administrator, as copied from node1."""
    return EtcdPki(pki_dir(state), state.cluster)


def admin_store(state: LabState, timeout: float = 2.0) -> EtcdStore:
    """The cluster database as the lab's administrator (from the admin host)."""
    return EtcdStore(endpoints(state), timeout=timeout, credentials=pki(state).admin)


def etcdctl(state: LabState) -> list[str]:
    """``etcdctl`` with the lab administrator's certificate, user and password."""
    admin = pki(state).admin
    assert admin.user is not None and admin.password is not None
    return [
        "etcdctl", "--endpoints", endpoints(state),
        "--cacert", str(admin.ca), "--cert", str(admin.cert), "--key", str(admin.key),
        "--user", admin.user, "--password", admin.password,
    ]  # fmt: skip
