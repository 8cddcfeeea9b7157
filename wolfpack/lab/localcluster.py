"""A whole Wolfpack cluster on this machine's loopback, for tests and benchmarks.

One etcd and N ``wolfpackd`` processes, each node with its own run directory and two
heartbeat networks on loopback addresses (127.0.1.N private, 127.0.2.N mixed: Linux routes
all of 127.0.0.0/8 to ``lo``, so no interface is created or changed). Groups hold Generic
Application resources running :mod:`wolfpack.lab.probe_app`, which answers HTTP on a fixed
port and records when it ran, so a test can prove a group never ran on two nodes at once.

The database is reached as in production (C1): over TLS with certificates from the
cluster database CA, each daemon as its node's etcd user and its REST API as the API's
(:mod:`wolfpack.store.etcd_auth`), the harness and the CLI as an administrator
(:meth:`LocalCluster.client_env`). ``tls=False`` runs the old plain-text etcd, with every
daemon set to ``etcd.insecure``.

Everything started here is stopped by PID in :meth:`LocalCluster.close`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import yaml

from wolfpack.model import codec
from wolfpack.model.builtin_types import GENERIC_APPLICATION
from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
    Group,
    Interface,
    Network,
    Node,
    Resource,
)
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import NetworkRole
from wolfpack.node.pidregistry import PidRegistry
from wolfpack.node.secret import new_secret, register
from wolfpack.resources.holdings import CGROUP, Holdings
from wolfpack.store import EtcdProcess, EtcdStore, KeySpace, etcd_auth
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.repository import ClusterDB

T = TypeVar("T")


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.02) -> T:
    """Poll until ``predicate`` returns something truthy; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class LocalCluster:
    def __init__(
        self,
        workdir: Path,
        nodes: int = 3,
        *,
        fence: str = "test",
        daemon_settings: dict[str, object] | None = None,
        name: str = "local",
        endpoint: str | None = None,
        tls: bool = True,
    ) -> None:
        """``endpoint``: use that etcd (started by someone else) instead of starting one."""
        self.workdir = workdir
        self.name = name
        self.external_endpoint = endpoint
        self.names = [f"node{i}" for i in range(1, nodes + 1)]
        self.fence = fence
        self.daemon_settings = daemon_settings or {}
        self.etcd = EtcdProcess(workdir / "etcd", tls=tls)
        self.tls = tls
        self._etcd_users: set[str] = set()
        self.keys = KeySpace("/wolfpack/")
        self.run_root = workdir / "run"
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        self.secret_file = workdir / "secret"
        self.heartbeat_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
        self._store: EtcdStore | None = None
        self.ports: dict[str, int] = {}
        #: Each daemon's REST API port on 127.0.0.1 (chosen when the node first starts).
        self.api_ports: dict[str, int] = {}

    # -- set-up ---------------------------------------------------------------------------
    @property
    def store(self) -> EtcdStore:
        assert self._store is not None, "start() first"
        return self._store

    @property
    def db(self) -> ClusterDB:
        return ClusterDB(self.store, self.keys)

    @property
    def endpoint(self) -> str:
        return self.external_endpoint or self.etcd.endpoint

    @property
    def admin(self) -> EtcdCredentials | None:
        """The harness's etcd credentials: an administrator's (None without TLS)."""
        return self.etcd.admin

    def credentials(self, node: str, kind: str = "node") -> EtcdCredentials:
        """``node``'s certificate, key and password as its daemon (``kind`` node) or its
        REST API (``api``) uses them; made, and the etcd user added, by :meth:`start`."""
        return self.etcd.pki.principal(kind, node, out=self.workdir / "etcd-users" / node)

    def client_env(self) -> dict[str, str]:
        """Environment for the ``wolfpack`` CLI: this etcd, as an administrator."""
        env = {"WOLFPACK_ENDPOINT": self.endpoint}
        if self.admin is not None:
            env |= {
                "WOLFPACK_ETCD_CA": str(self.admin.ca),
                "WOLFPACK_ETCD_CERT": str(self.admin.cert),
                "WOLFPACK_ETCD_KEY": str(self.admin.key),
            }
        else:
            env["WOLFPACK_ETCD_INSECURE"] = "1"
        if self.api_tls and self.api_ca_file.is_file():  # once the first daemon made the CA
            env["WOLFPACK_CA"] = str(self.api_ca_file)
        return env

    @property
    def api_ca_file(self) -> Path:
        """The REST API's cluster CA (PEM), for clients outside the cluster (``curl
        --cacert``, ``$WOLFPACK_CA``): written from the database (the first daemon makes
        the CA) each time it is asked for, so a rotated CA is seen."""
        path = self.workdir / "api-ca.pem"
        kv = self.store.get(self.keys.tls_ca_cert) if self._store is not None else None
        if kv is not None:
            path.write_bytes(kv.value)
        return path

    def start(self) -> LocalCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.external_endpoint is None:
            self.etcd.start()
        self._store = EtcdStore(self.endpoint, timeout=2.0, credentials=self.admin)
        for node in self.names:
            self.add_etcd_users(node)
        secret = new_secret()
        self.secret_file.write_bytes(secret)
        self.secret_file.chmod(0o600)
        self.db.initialize(ClusterSettings(name=self.name))
        register(self.store, self.keys, secret)
        self.db.update_config(self._base_config)
        return self

    #: The cluster networks: name -> (subnet, role, address of node number N).
    networks: dict[str, tuple[str, NetworkRole, str]] = {
        "heartbeat": ("127.0.1.0/24", NetworkRole.PRIVATE, "127.0.1.{n}"),
        "client": ("127.0.2.0/24", NetworkRole.MIXED, "127.0.2.{n}"),
    }
    #: Where the probe applications listen (every node's loopback is shared here).
    app_address = "127.0.0.1"

    def address(self, node: str, network: str) -> str:
        return self.networks[network][2].format(n=self.names.index(node) + 1)

    def _base_config(self, cfg: ClusterConfig) -> ClusterConfig:
        nodes = {n: Node(n, i) for i, n in enumerate(self.names, start=1)}
        networks = {
            name: Network(name, subnet, role) for name, (subnet, role, _) in self.networks.items()
        }
        interfaces = {
            f"{node}-{net}": Interface(f"{node}-{net}", node, net, self.address(node, net))
            for node in self.names
            for net in self.networks
        }
        return replace(cfg, nodes=nodes, networks=networks, interfaces=interfaces)

    def add_app_group(
        self,
        group: str,
        *,
        preferred: tuple[str, ...] = (),
        fail_after: float = 0.0,
        fail_on: str = "",
        check_delay_s: float = 0.0,
        group_options: dict[str, object] | None = None,
        resource_options: dict[str, object] | None = None,
    ) -> int:
        """A group with one Generic Application (the probe app) on its own port.
        ``check_delay_s`` slows its check down, so each start stays Online Pending that long."""
        port = free_port()
        self.ports[group] = port
        command = (
            f"{sys.executable} -m wolfpack.lab.probe_app --port {port} "
            f"--address {self.app_address} --record {self.record(group)}"
            + (f" --fail-after {fail_after}" if fail_after else "")
            + (f" --fail-on {fail_on}" if fail_on else "")
        )
        # A cheap check (no interpreter start-up): can we connect to the port?
        delay = f"sleep {check_delay_s}; " if check_delay_s else ""
        check = f"/bin/bash -c '{delay}exec 3<>/dev/tcp/127.0.0.1/{port}'"
        res = codec.parse(
            Resource,
            {
                "name": f"{group}-app",
                "type": GENERIC_APPLICATION,
                "group": group,
                "properties": {"command": command, "check_command": check},
                **(resource_options or {}),
            },
        )

        g = codec.parse(
            Group, {"name": group, "preferred_owners": preferred, **(group_options or {})}
        )

        def add(cfg: ClusterConfig) -> ClusterConfig:
            return replace(
                cfg,
                groups={**cfg.groups, group: g},
                resources={**cfg.resources, res.name: res},
            )

        self.db.update_config(add)
        return port

    # -- daemons --------------------------------------------------------------------------
    def run_dir(self, node: str) -> Path:
        return self.run_root / node

    @property
    def api_tls(self) -> bool:
        api = self.daemon_settings.get("api")
        return not isinstance(api, dict) or bool(api.get("tls", True))

    def api_host(self, node: str) -> str:
        """Where the node's API listens, reachable from this process."""
        return "127.0.0.1"

    def api_url(self, node: str) -> str:
        scheme = "https" if self.api_tls else "http"
        return f"{scheme}://{self.api_host(node)}:{self.api_ports[node]}"

    def ca_context(self) -> ssl.SSLContext | None:
        """Verifies the nodes' APIs against the cluster CA (None while TLS is off); read
        from the database each time, so a rotated CA is seen."""
        if not self.api_tls:
            return None
        kv = self.store.get(self.keys.tls_ca_cert)
        return ssl.create_default_context(cadata=kv.value.decode()) if kv is not None else None

    def start_node(self, node: str) -> subprocess.Popen[bytes]:
        self.add_etcd_users(node)
        api_port = self.api_ports.setdefault(node, free_port())
        settings = {
            "node": node,
            "endpoints": self.endpoint,
            "etcd": self._etcd_settings(node),
            "prefix": self.keys.root,
            "secret_file": str(self.secret_file),
            "run_dir": str(self.run_dir(node)),
            "heartbeat": {"port": self.heartbeat_port},
            "fence": {"agent": self.fence, "run_root": str(self.run_root)},
            "dump_dir": str(self.workdir / "dumps" / node),
            # as the package has them: outside run_dir (a tmpfs on a real node)
            "log_file": str(self.log_dir(node) / "wolfpackd.log"),
            "resource_log_dir": str(self.log_dir(node) / "resources"),
            **self.daemon_settings,
            "api": {"listen": self.api_host(node), "port": api_port, **self._api_settings()},
        }
        path = self.workdir / f"{node}.yaml"
        path.write_text(yaml.safe_dump(settings))
        log = open(self.workdir / f"{node}.log", "ab")  # noqa: SIM115 (owned by the child)
        proc = subprocess.Popen(
            [
                *self.launcher(node),
                sys.executable,
                "-m",
                "wolfpack.node.daemon",
                "--config",
                str(path),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "WOLFPACK_NODE": node},
        )
        log.close()
        self.daemons[node] = proc
        return proc

    def log_dir(self, node: str) -> Path:
        """The node's /var/log/wolfpack: its log file and its resources' output."""
        return self.workdir / "var-log" / node

    def add_etcd_users(self, node: str) -> None:
        """Issue ``node``'s certificates and add its etcd users (its daemon's and its
        API's), as ``wolfpack cluster certs issue --node`` does; once per node."""
        if not self.tls or node in self._etcd_users:
            return
        for kind in ("node", "api"):
            creds = self.credentials(node, kind)
            assert creds.user is not None and creds.password is not None
            etcd_auth.add_user(self.store, self.keys, creds.user, creds.password)
        self._etcd_users.add(node)

    def _etcd_settings(self, node: str) -> dict[str, object]:
        if not self.tls:
            return {"insecure": True}
        mine, api = self.credentials(node), self.credentials(node, "api")
        return {
            "ca": str(mine.ca),
            "cert": str(mine.cert),
            "key": str(mine.key),
            "api_cert": str(api.cert),
            "api_key": str(api.key),
        }

    def launcher(self, node: str) -> list[str]:
        """The command prefix that puts a node's daemon where the node is (nothing here)."""
        return []

    def app_urls(self, group: str) -> list[str]:
        return [f"http://127.0.0.1:{self.ports[group]}/"]

    def start_all(self, timeout: float = 30) -> None:
        for n in self.names:
            self.start_node(n)
        wait_for(lambda: self.coordinator() is not None and self.all_up(), timeout=timeout)
        # "started" is each daemon's last start-up line (after its API): ready, by its own word
        wait_for(lambda: all(self.has_started(n) for n in self.names), timeout=timeout)
        if self.api_enabled:
            wait_for(lambda: all(self.api_ready(n) for n in self.names), timeout=timeout)

    def _api_settings(self) -> dict[str, object]:
        api = self.daemon_settings.get("api")
        return dict(api) if isinstance(api, dict) else {}

    @property
    def api_enabled(self) -> bool:
        api = self.daemon_settings.get("api")
        return not isinstance(api, dict) or (api.get("enabled", True) and api.get("port") != 0)

    def api_ready(self, node: str) -> bool:
        """Does the node's API answer /livez?"""
        url = self.api_url(node) + "/livez"
        try:
            with urllib.request.urlopen(url, timeout=1, context=self.ca_context()) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill_node(self, node: str) -> None:
        """Power off, as far as processes go: SIGKILL every process the node started.

        The daemon goes first, so that nothing it starts can escape the sweep of its PID
        registry that follows (a process it is starting is recorded before it runs)."""
        proc = self.daemons.get(node)
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait(timeout=10)
        PidRegistry(self.run_dir(node)).kill_all(signal.SIGKILL)
        _kill_cgroups(self.run_dir(node))

    def kill_daemon(self, node: str) -> None:
        """A daemon crash: SIGKILL ``wolfpackd`` alone; its watchdog and resources live on."""
        proc = self.daemons[node]
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)

    def stop_node(self, node: str, timeout: float = 60) -> None:
        proc = self.daemons.get(node)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def freeze(self, node: str) -> None:
        self.daemons[node].send_signal(signal.SIGSTOP)

    def thaw(self, node: str) -> None:
        self.daemons[node].send_signal(signal.SIGCONT)

    def close(self) -> None:
        exits = {node: proc.poll() for node, proc in self.daemons.items()}
        (self.workdir / "daemon-exits.json").write_text(json.dumps(exits) + "\n")
        for node, proc in self.daemons.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=10)
            PidRegistry(self.run_dir(node)).kill_all(signal.SIGKILL)
            _kill_cgroups(self.run_dir(node))
        if self._store is not None:
            self._store.close()
        if self.external_endpoint is None:
            self.etcd.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observation ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self.db.read_snapshot()

    def coordinator(self) -> str | None:
        kv = self.store.get(self.keys.coordinator)
        return kv.value.decode() if kv is not None else None

    def all_up(self) -> bool:
        snap = self.snapshot()
        return all(snap.node(n).state.value == "Up" for n in self.names if n in self.daemons)

    def owner(self, group: str) -> str | None:
        return self.snapshot().group(group).owner

    def answer(self, group: str, timeout: float = 0.2) -> str | None:
        """The node name the group's application answers with, or None."""
        for url in self.app_urls(group):
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    return str(r.read().decode().strip())
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                continue  # a server stopped mid-answer (a move) is no answer
        return None

    def record(self, group: str) -> Path:
        """Where the probe application of ``group`` records its runs."""
        return self.workdir / f"runs-{group}.log"

    def runs(self, group: str) -> list[str]:
        path = self.record(group)
        return path.read_text().splitlines() if path.exists() else []

    def has_started(self, node: str) -> bool:
        return any(e.get("event") == "started" for e in self.log_lines(node))

    def log_lines(self, node: str) -> list[dict[str, object]]:
        out = []
        path = self.workdir / f"{node}.log"
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def _kill_cgroups(run_dir: Path) -> None:
    """Power off, as far as cgroups go: kill and remove the node's resource cgroups (what
    its resources daemonised out of their process groups is in them)."""
    held = Holdings(run_dir)
    for holding in held.entries((CGROUP,)):
        if holding.fields.get("owned", True):  # never a systemd unit's
            held.release(holding)
