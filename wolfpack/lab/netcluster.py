"""A cluster whose nodes are network namespaces: real links that can be cut (S14, S41).

Like :class:`~wolfpack.lab.localcluster.LocalCluster`, but every node's ``wolfpackd`` runs in
its own namespace with two interfaces, ``priv`` on a private bridge (203.0.113.0/24) and
``pub`` on a mixed one (198.51.100.0/24); etcd runs in a ``db`` namespace on both; the
harness itself works from an ``admin`` namespace (198.51.100.1, DESIGN §4), entered by the
calling thread only (setns), so the machine's own network is never touched. A cable is cut
with :meth:`cut` (the interface goes down, as a pulled cable or a failed NIC would).

Use it from one thread, as a context manager: it enters the admin namespace on start and
leaves it, and deletes every namespace it made, on close.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from pyroute2 import netns as pyroute2_netns

from wolfpack.errors import StoreError
from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.lab.netns import Lab
from wolfpack.model.states import NetworkRole
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_process import RAFT_ARGS

ETCD_PRIV, ETCD_PUB = "203.0.113.5", "198.51.100.5"


class NetnsCluster(LocalCluster):
    networks = {
        "priv": ("203.0.113.0/24", NetworkRole.PRIVATE, "203.0.113.1{n}"),
        "pub": ("198.51.100.0/24", NetworkRole.MIXED, "198.51.100.1{n}"),
    }
    app_address = "0.0.0.0"

    def __init__(self, workdir: Path, nodes: int = 3, **kwargs: object) -> None:
        super().__init__(workdir, nodes, **kwargs)  # type: ignore[arg-type]
        self.lab = Lab(f"wpt-{secrets.token_hex(3)}-")
        self.heartbeat_port = 3343
        self.external_endpoint = self.endpoint  # etcd runs in the db namespace, not here
        self._etcd_proc: subprocess.Popen[bytes] | None = None
        self._entered = False

    @property
    def endpoint(self) -> str:
        return f"https://{ETCD_PRIV}:2379,https://{ETCD_PUB}:2379"

    def launcher(self, node: str) -> list[str]:
        return ["ip", "netns", "exec", self.lab.ns(node)]

    def api_host(self, node: str) -> str:
        return self.address(node, "pub")  # the harness's admin namespace reaches it there

    def app_urls(self, group: str) -> list[str]:
        port = self.ports[group]
        return [f"http://{self.address(n, 'pub')}:{port}/" for n in self.names]

    def start(self) -> NetnsCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._build_network()
            pyroute2_netns.pushns(self.lab.ns("admin"))
            self._entered = True
            self._start_etcd()
            super().start()
        except BaseException:
            self.close()
            raise
        return self

    def _build_network(self) -> None:
        lab = self.lab
        lab.add_bridge("priv")
        lab.add_bridge("pub")
        for host, priv, pub in (
            ("db", f"{ETCD_PRIV}/24", f"{ETCD_PUB}/24"),
            ("admin", None, "198.51.100.1/24"),
            *((n, f"{self.address(n, 'priv')}/24", f"{self.address(n, 'pub')}/24")
              for n in self.names),
        ):  # fmt: skip
            lab.add_host(host)
            if priv is not None:
                lab.connect(host, "priv", "priv", priv)
            lab.connect(host, "pub", "pub", pub)

    def _start_etcd(self) -> None:
        data = self.workdir / "etcd"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        binary = shutil.which("etcd") or "/usr/bin/etcd"
        peer = f"https://{ETCD_PRIV}:2380"
        pki = self.etcd.pki  # TLS and authentication as every etcd Wolfpack starts (C1)
        secure = pki.server_args(pki.member("db", [ETCD_PRIV, ETCD_PUB]))
        log = open(self.workdir / "etcd.log", "ab")  # noqa: SIM115 (owned by the child)
        self._etcd_proc = subprocess.Popen(
            [
                *self.launcher("db"), binary, "--name", "db", "--data-dir", str(data),
                "--logger=zap", "--log-level=error",
                *RAFT_ARGS,
                "--listen-client-urls", f"https://{ETCD_PRIV}:2379,https://{ETCD_PUB}:2379",
                "--advertise-client-urls", f"https://{ETCD_PUB}:2379",
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"db={peer}", *secure,
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        probe = EtcdStore(f"https://{ETCD_PUB}:2379", timeout=1.0, credentials=pki.admin)
        try:
            wait_for(lambda: _answers(probe), timeout=30, interval=0.1)
        finally:
            probe.close()
        pki.bootstrap([f"https://{ETCD_PUB}:2379"])

    def cut(self, node: str, network: str) -> None:
        """Pull ``node``'s cable on ``network``: its interface there goes down."""
        self.lab.set_link(node, network, up=False)

    def mend(self, node: str, network: str) -> None:
        self.lab.set_link(node, network, up=True)

    def close(self) -> None:
        try:
            if self._store is not None or self.daemons:
                super().close()
        finally:
            if self._etcd_proc is not None and self._etcd_proc.poll() is None:
                self._etcd_proc.send_signal(signal.SIGKILL)
                self._etcd_proc.wait(timeout=10)
            if self._entered:
                pyroute2_netns.popns()
                self._entered = False
            self.lab.destroy()


def _answers(store: EtcdStore) -> bool:
    try:
        store.get("/wolfpack-probe")
    except StoreError:
        return False
    return True
