"""``EtcdProcess``: run a private etcd on 127.0.0.1, for tests and the demo (one member, or
three as an :class:`~wolfpack.store.etcd_cluster.EtcdCluster` for leader elections).

Production clusters run etcd as a system service; this class exists so tests and the demo can
start a real etcd in a temporary directory, stop or kill it to exercise failure handling, and
start it again on the same data. It only ever signals the PID it started itself.

Like production (docs/install.md), it is secure by default (C1): clients and peers over TLS
with certificates from a cluster database CA made beside the data (``<data_dir>-pki``, or
``pki_dir``), authentication on, JWT tokens; :attr:`EtcdProcess.admin` are an
administrator's credentials. ``tls=False`` gives the plain etcd of old (a test of the
insecure path, or of refusals).

Example::

    with EtcdProcess(tmp_path / "etcd") as etcd:
        store = etcd.store()
        ...
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from wolfpack.errors import StoreUnavailable
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.pki_names import PEER_CN, PRINCIPAL_KINDS

#: where Debian's etcd-server package puts the binary; ``$WOLFPACK_ETCD`` overrides
DEFAULT_BINARY = "/usr/bin/etcd"
STOP_GRACE_SECONDS = 5.0
#: etcd's raft timing on every member Wolfpack starts outside tests (managed members, the lab);
#: the node lease's arithmetic assumes it (wolfpack.node.settings.LeaseSection)
RAFT_ARGS = ("--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote")
#: The administrator every EtcdProcess makes (``admin:<ADMIN>``), for tests and the demo.
ADMIN = "lab"
#: JWT lifetime: clients fetch a new token after half of it (wolfpack.store.etcd_tls).
TOKEN_TTL = "10m"
# never send loopback health checks through an HTTP proxy from the environment
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EtcdPki:
    """The files an etcd Wolfpack starts needs: the CA (made when missing), each member's
    certificates, and an administrator (``admin:lab``) whose user :meth:`bootstrap` makes.
    Other principals are issued with :meth:`principal` and added with
    :func:`wolfpack.store.etcd_auth.add_user`."""

    def __init__(self, directory: Path, cluster: str = "tests") -> None:
        from wolfpack.store.pki import ClusterCA  # lazy: cryptography only with TLS

        self.directory = directory
        self.ca = ClusterCA.open(directory, cluster)
        admin_dir = directory / "admin"
        if not (admin_dir / "admin.password").exists():
            self.ca.issue_principal("admin", ADMIN, admin_dir)
        self.admin = EtcdCredentials.from_dir(admin_dir, "admin", field="admin")

    def member(self, name: str, addresses: Sequence[str] = ()) -> Path:
        out = self.directory / "members" / name
        if not (out / "peer.key").exists():
            self.ca.issue_member(name, addresses, out)
        return out

    def principal(self, kind: str, name: str, out: Path | None = None) -> EtcdCredentials:
        """Files for ``kind:name`` (``node``, ``api``, ``admin``) in ``out`` (default:
        ``<pki>/<kind>-<name>``), made if missing; its etcd user is not created here."""
        if kind not in PRINCIPAL_KINDS:
            raise ValueError(f"kind must be one of {PRINCIPAL_KINDS}, not {kind!r}")
        where = out or self.directory / f"{kind}-{name}"
        if not (where / f"{kind}.password").exists():
            self.ca.issue_principal(kind, name, where)
        return EtcdCredentials.from_dir(where, kind, field=kind)

    @property
    def ca_file(self) -> Path:
        return self.ca.cert_path

    @staticmethod
    def server_args(member: Path) -> list[str]:
        """etcd's TLS and authentication flags for one member (files from :meth:`member`,
        or a node's ``/etc/wolfpack/etcd/member``)."""
        return [
            "--client-cert-auth",
            "--trusted-ca-file", str(member / "ca.crt"),
            "--cert-file", str(member / "server.crt"),
            "--key-file", str(member / "server.key"),
            "--peer-client-cert-auth",
            "--peer-trusted-ca-file", str(member / "ca.crt"),
            "--peer-cert-file", str(member / "peer.crt"),
            "--peer-key-file", str(member / "peer.key"),
            "--peer-cert-allowed-cn", PEER_CN,
            "--auth-token",
            f"jwt,pub-key={member / 'jwt.pub'},priv-key={member / 'jwt.key'},"
            f"sign-method=ES256,ttl={TOKEN_TTL}",
        ]  # fmt: skip

    def bootstrap(self, endpoints: Sequence[str]) -> None:
        """Turn authentication on in a new etcd, with the administrator's user."""
        from wolfpack.store import etcd_auth
        from wolfpack.store.keys import DEFAULT

        store = EtcdStore(list(endpoints), timeout=5.0, credentials=self.admin)
        try:
            assert self.admin.user is not None and self.admin.password is not None
            etcd_auth.enable(store, [(self.admin.user, self.admin.password)], DEFAULT)
        finally:
            store.close()


def find_etcd_binary() -> str | None:
    """The etcd binary to use: ``$WOLFPACK_ETCD``, ``etcd`` on ``PATH``, or Debian's path."""
    candidates = [os.environ.get("WOLFPACK_ETCD"), shutil.which("etcd"), DEFAULT_BINARY]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


class EtcdProcess:
    """One etcd member listening only on 127.0.0.1, with its data in ``data_dir``.

    Ports are picked free on the first :meth:`start` (unless given) and kept for later
    restarts, so :attr:`endpoint` stays valid across :meth:`stop`/:meth:`kill` and
    :meth:`start`. The short default heartbeat (50 ms) and election timeout (500 ms) make a
    restarted member ready in about a second and let leases of 1 s work; ``--pre-vote`` is
    always on, as on every etcd member Wolfpack starts (the node lease's arithmetic in
    :class:`wolfpack.node.settings.LeaseSection` assumes both). ``initial_cluster`` and
    ``cluster_token`` make it one member of a larger cluster (:class:`EtcdCluster`).

    Unless ``stop_at_exit`` is false, a still-running etcd is stopped when the Python process
    exits, so a crashed test run leaves no etcd behind.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        name: str = "wolfpack",
        binary: str | None = None,
        client_port: int | None = None,
        peer_port: int | None = None,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        initial_cluster: str | None = None,
        cluster_token: str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
        stop_at_exit: bool = True,
        tls: bool = True,
        pki: EtcdPki | None = None,
        auth: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.tls = tls or pki is not None
        self._pki = pki
        #: whether a first start turns authentication on (``auth=False``: the state of a new
        #: database before ``wolfpack cluster certs enable-auth``); a member of an
        #: EtcdCluster leaves it to the cluster
        self.bootstraps = initial_cluster is None and auth
        self.name = name
        self._binary = binary
        self._fixed_ports = client_port is not None or peer_port is not None
        self.client_port = client_port or 0
        self.peer_port = peer_port or 0
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.initial_cluster = initial_cluster
        self.cluster_token = cluster_token or f"wolfpack-{name}"
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.stop_at_exit = stop_at_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=200)
        self._log_thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        """``https://127.0.0.1:PORT`` (``http`` without TLS; known once started)."""
        if not self.client_port:
            raise RuntimeError("etcd has not been started yet, so it has no port")
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def pki(self) -> EtcdPki:
        """The certificates (made on first use, beside the data directory)."""
        if not self.tls:
            raise RuntimeError("this etcd runs without TLS: it has no certificates")
        if self._pki is None:
            self._pki = EtcdPki(self.data_dir.parent / f"{self.data_dir.name}-pki")
        return self._pki

    @property
    def admin(self) -> EtcdCredentials | None:
        """An administrator's credentials (None without TLS)."""
        return self.pki.admin if self.tls else None

    def store(self, timeout: float = 5.0) -> EtcdStore:
        """A client of this etcd as its administrator."""
        return EtcdStore(self.endpoint, timeout=timeout, credentials=self.admin)

    def client_env(self) -> dict[str, str]:
        """What the ``wolfpack`` CLI needs to reach this etcd as its administrator."""
        env = {"WOLFPACK_ENDPOINT": self.endpoint}
        admin = self.admin
        if admin is not None:
            env |= {
                "WOLFPACK_ETCD_CA": str(admin.ca),
                "WOLFPACK_ETCD_CERT": str(admin.cert),
                "WOLFPACK_ETCD_KEY": str(admin.key),
            }
        return env

    def ssl_context(self) -> ssl.SSLContext | None:
        admin = self.admin
        return admin.ssl_context() if admin is not None else None

    @property
    def pid(self) -> int | None:
        """PID of the running etcd, ``None`` when not running."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines etcd wrote to stderr (for error messages)."""
        return "\n".join(list(self._log)[-lines:])

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, *, wait: bool = True) -> EtcdProcess:
        """Start etcd and wait until it serves requests; a no-op if it already runs.
        ``wait=False`` (members of one cluster, which serve only once a majority runs): do
        not wait; :meth:`wait_ready` does.

        Raises :class:`~wolfpack.errors.StoreUnavailable` if it cannot be started (binary
        missing, port taken, bad data dir), with etcd's own last log lines.
        """
        if self.running:
            return self
        binary = self._binary or find_etcd_binary()
        if binary is None:
            raise StoreUnavailable(
                "the etcd binary was not found; install Debian package etcd-server "
                "(scripts/setup does) or set WOLFPACK_ETCD to its path"
            )
        fresh = not (self.data_dir / "member").exists()
        if self.tls:
            self.pki.member(self.name)  # before the data dir: etcd must trust the CA first
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # etcd refuses a data dir that others can read
        fresh_ports = not self.client_port
        attempts = 3 if fresh_ports and not self._fixed_ports else 1
        for attempt in range(attempts):
            if fresh_ports:
                self.client_port = self.peer_port = 0
            self.client_port = self.client_port or free_port()
            while not self.peer_port or self.peer_port == self.client_port:
                self.peer_port = free_port()
            try:
                self._spawn(binary)
                if self.stop_at_exit:
                    atexit.register(self._at_exit)
                if wait:
                    self._wait_ready()
                    if self.tls and fresh and self.bootstraps:
                        self.pki.bootstrap([self.endpoint])
                return self
            except StoreUnavailable:
                self.kill()
                port_clash = "address already in use" in self.log_tail().lower()
                if not (port_clash and attempt + 1 < attempts):
                    raise
        raise AssertionError("unreachable")

    def _command(self, binary: str) -> list[str]:
        peer = f"{self.scheme}://127.0.0.1:{self.peer_port}"
        client = self.endpoint
        secure = self.pki.server_args(self.pki.member(self.name)) if self.tls else []
        return [
            binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self.initial_cluster or f"{self.name}={peer}",
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.cluster_token,
            "--logger=zap",
            "--log-level=error",
            "--heartbeat-interval", str(self.heartbeat_interval_ms),
            "--election-timeout", str(self.election_timeout_ms),
            "--pre-vote",  # a member back from a partition cannot depose a healthy leader (M6)
            *secure,
            *self.extra_args,
        ]  # fmt: skip

    def _spawn(self, binary: str) -> None:
        self._log.clear()
        try:
            self._proc = subprocess.Popen(
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal must not hit etcd directly
            )
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot run the etcd binary {binary!r} ({exc.strerror or exc}); install Debian "
                "package etcd-server or set WOLFPACK_ETCD to its path"
            ) from exc
        assert self._proc.stderr is not None
        self._log_thread = threading.Thread(
            target=self._drain, args=(self._proc.stderr,), name="etcd-log", daemon=True
        )
        self._log_thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._log.append(line.decode("utf-8", "replace").rstrip())
        stream.close()

    def wait_ready(self) -> None:
        """Wait until this member serves requests (``StoreUnavailable`` if it does not)."""
        try:
            self._wait_ready()
        except StoreUnavailable:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.running:
                self._join_log()
                raise StoreUnavailable(
                    f"etcd exited during start-up (data dir {self.data_dir}):\n{self.log_tail()}"
                )
            try:
                with self._opener().open(f"{self.endpoint}/health", timeout=1.0) as resp:
                    body = json.loads(resp.read() or b"{}")
                if body.get("health") == "true":
                    return
                last = f"health {body!r}"
            except (OSError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.05)
        raise StoreUnavailable(
            f"etcd at {self.endpoint} was not ready after {self.ready_timeout:.0f} s ({last}):\n"
            f"{self.log_tail()}"
        )

    def _opener(self) -> urllib.request.OpenerDirector:
        ctx = self.ssl_context()
        if ctx is None:
            return _NO_PROXY
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )

    def _join_log(self) -> None:
        if self._log_thread is not None:
            self._log_thread.join(timeout=2.0)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL if etcd has not exited after ``grace`` seconds. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # Popen only signals its own, un-reaped child
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._finish()

    def kill(self) -> None:
        """SIGKILL at once (a crash: etcd's fsync'd data survives it). Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._finish()

    def _finish(self) -> None:
        self._join_log()
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        self.stop(grace=2.0)

    def __enter__(self) -> EtcdProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        port = self.client_port or "?"
        return f"EtcdProcess(127.0.0.1:{port}, {self.data_dir}, {state})"
