"""The node's own etcd member, run and supervised by wolfpackd (issue 10, DESIGN §2: etcd
embedded as k3s embeds it).

With an ``etcd_member:`` section in wolfpackd.yaml (written by ``wolfpack cluster create``
and ``cluster join``), the daemon starts Debian's ``/usr/bin/etcd`` before anything else,
restarts it when it dies (backoff 1, 2, 4 ... 30 s, reset after a minute of running), and
stops it last, after its resources have stopped and its lease is revoked. Without the
section the daemon uses an etcd someone else runs, exactly as before. ``wolfpack witness
run`` uses the same supervisor for a vote-only member on a host that runs no daemon.

etcd runs with the flags every member Wolfpack starts has (``--pre-vote``, heartbeat 50 ms,
election timeout 500 ms: the node lease's arithmetic assumes them, see
:class:`wolfpack.node.settings.LeaseSection`), TLS with client and peer certificates from
the cluster database CA, and JWT tokens (:meth:`wolfpack.store.etcd_process.EtcdPki.server_args`).
It gets ``PR_SET_PDEATHSIG`` (through ``setpriv``): if the daemon dies, so does its member,
and the next daemon starts it again on the same data instead of finding its ports taken.
"""

from __future__ import annotations

import collections
import json
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pydantic

from wolfpack.errors import StoreUnavailable, WolfpackError
from wolfpack.store.etcd_process import DEFAULT_BINARY, RAFT_ARGS, EtcdPki, find_etcd_binary
from wolfpack.store.etcd_wire import split_endpoint

DATA_DIR = Path("/var/lib/wolfpack/etcd")
MEMBER_DIR = Path("/etc/wolfpack/etcd/member")
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
#: a member that ran this long before dying starts again after the shortest backoff
STABLE_S = 60.0
STOP_GRACE_S = 10.0
PROMOTE_EVERY_S = 2.0
Log = Callable[..., None]


def _urls(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one https:// URL")
    for url in value:
        scheme, _, _ = split_endpoint(url)
        if scheme != "https":
            raise ValueError(f"{url!r}: members talk TLS only (https://)")
    return value


class MemberSection(pydantic.BaseModel):
    """``etcd_member:`` in wolfpackd.yaml: this node's etcd member (docs/install.md)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    #: the member's name: the node's (or the witness's) name
    name: str = pydantic.Field(min_length=1)
    data_dir: Path = DATA_DIR
    #: where the other members reach this one (``https://PRIVATE-ADDRESS:2380``)
    peer_url: str
    #: where clients reach it (``https://ADDRESS:2379``, one per network that needs it)
    client_urls: list[str]
    #: ``name=peer_url,...`` when the data directory is new (ignored afterwards)
    initial_cluster: str
    initial_state: Literal["new", "existing"] = "new"
    token: str = pydantic.Field(min_length=1)
    #: server.crt/key, peer.crt/key, ca.crt, jwt.key/pub (``EtcdPki.member``)
    pki_dir: Path = MEMBER_DIR
    #: the cluster database CA and the administrator (root): what a node that admits
    #: joining nodes needs (docs/security.md)
    ca_dir: Path = MEMBER_DIR.parent / "ca"
    admin_dir: Path = MEMBER_DIR.parent / "admin"
    binary: str | None = None
    #: how long the daemon waits at start for the member to answer
    ready_timeout_s: float = pydantic.Field(60.0, gt=0)

    @pydantic.field_validator("client_urls")
    @classmethod
    def _clients(cls, value: list[str]) -> list[str]:
        return _urls(value)

    @pydantic.field_validator("peer_url")
    @classmethod
    def _peer(cls, value: str) -> str:
        return _urls([value])[0]


def member_argv(s: MemberSection, binary: str) -> list[str]:
    """The etcd command line for ``s`` (pure; the TLS flags name files in ``s.pki_dir``)."""
    clients = ",".join(s.client_urls)
    return [
        binary, "--name", s.name, "--data-dir", str(s.data_dir),
        "--logger=zap", "--log-level=error", *RAFT_ARGS,
        "--listen-client-urls", clients, "--advertise-client-urls", clients,
        "--listen-peer-urls", s.peer_url, "--initial-advertise-peer-urls", s.peer_url,
        "--initial-cluster", s.initial_cluster, "--initial-cluster-state", s.initial_state,
        "--initial-cluster-token", s.token,
        *EtcdPki.server_args(s.pki_dir),
    ]  # fmt: skip


class ManagedMember:
    """One etcd process for ``section``, restarted when it dies until :meth:`stop`. Only
    ever signals the process it started."""

    def __init__(
        self, section: MemberSection, log: Log | None = None, *, promote_via: str = ""
    ) -> None:
        """``promote_via``: the cluster's etcd endpoints, to promote caught-up learners
        from (:mod:`wolfpack.admin.members`) every :data:`PROMOTE_EVERY_S`, as the
        administrator in ``section.admin_dir``; empty: never (a witness, a create)."""
        self.section = section
        self.promote_via = promote_via
        self._log = log or (lambda event, **fields: None)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=50)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self._tail)[-lines:])

    def command(self) -> list[str]:
        s = self.section
        binary = s.binary or find_etcd_binary()
        if binary is None:
            raise StoreUnavailable(
                f"the etcd binary was not found: install Debian package etcd-server "
                f"({DEFAULT_BINARY}) or set etcd_member.binary"
            )
        argv = member_argv(s, binary)
        setpriv = shutil.which("setpriv")
        # dies with the daemon (see the module's docstring)
        return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv

    def start(self, *, wait: bool = True) -> None:
        """Start etcd and its supervisor; ``wait``: until it answers (StoreUnavailable with
        etcd's last lines if it exits or does not answer within ``ready_timeout_s``)."""
        s = self.section
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        s.data_dir.chmod(0o700)  # etcd refuses a data dir others can read
        self._stopping.clear()
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="etcd-member", daemon=True)
        self._thread.start()
        if wait:
            self.wait_ready()
        if self.promote_via and (s.admin_dir / "admin.password").exists():
            threading.Thread(target=self._promote, name="etcd-voters", daemon=True).start()

    def _promote(self) -> None:
        """Keep the voters odd: any member node may do it, etcd refuses a second promotion
        of the same learner, so two nodes doing it at once is harmless."""
        from wolfpack.admin import members  # lazy: a witness never promotes
        from wolfpack.store.etcd import EtcdStore
        from wolfpack.store.etcd_tls import EtcdCredentials

        # checked by a child: no cryptography in the daemon (~9 MB)
        admin = EtcdCredentials.from_dir(
            self.section.admin_dir, "admin", field="admin", in_child=True
        )
        last = ""
        # one client for the thread's life: a new one authenticates again, and etcd's
        # bcrypt check of the password costs its leader tens of milliseconds of CPU each
        # time (with a client every 2 s on every member node, the lease renewals' p99 and
        # with it the fencing grace rose; measured in the lab, stop 22)
        store: EtcdStore | None = None
        try:
            while not self._stopping.wait(PROMOTE_EVERY_S):
                if store is None:
                    store = EtcdStore(self.promote_via, timeout=3.0, credentials=admin)
                try:
                    decision, done = members.promote_ready(store)
                except WolfpackError as exc:
                    decision, done = None, []
                    if str(exc) != last:
                        self._log("etcd_voters_failed", level="warning", error=str(exc))
                        last = str(exc)
                    store.close()
                    store = None  # connect afresh next time
                if done and decision is not None:
                    self._log("etcd_promoted", members=done, reason=decision.reason,
                              detail=decision.detail)  # fmt: skip
        finally:
            if store is not None:
                store.close()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            stderr = self._proc.stderr
        threading.Thread(target=self._drain, args=(stderr,), name="etcd-log", daemon=True).start()
        self._log("etcd_member_started", pid=self._proc.pid, name=self.section.name)

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self._tail.append(line.decode("utf-8", "replace").rstrip())
        stream.close()

    def _supervise(self) -> None:
        failures = 0
        started = time.monotonic()
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None or proc.poll() is None:
                self._stopping.wait(0.2)
                continue
            if time.monotonic() - started > STABLE_S:
                failures = 0
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            self._log(
                "etcd_member_exited",
                level="warning",
                status=proc.returncode,
                restart_in_s=delay,
                last=self.log_tail(3),
            )
            failures += 1
            if self._stopping.wait(delay):
                break
            self.restarts += 1
            started = time.monotonic()
            try:
                self._spawn()
            except OSError as exc:
                self._log("etcd_member_failed", level="error", error=str(exc))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.section.ready_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is not None and proc.poll() is not None and self.restarts == 0:
                time.sleep(0.2)  # let the last lines arrive
                raise StoreUnavailable(
                    f"etcd member {self.section.name} exited at start:\n{self.log_tail()}"
                )
            ok, last = health(self.section)
            if ok:
                self._log("etcd_member_ready", name=self.section.name)
                return
            time.sleep(0.1)
        raise StoreUnavailable(
            f"etcd member {self.section.name} did not answer within "
            f"{self.section.ready_timeout_s:.0f} s ({last}):\n{self.log_tail()}"
        )

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM, SIGKILL after ``grace``; the supervisor does not restart it. Idempotent."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log("etcd_member_stopped", name=self.section.name)

    def kill(self) -> None:
        """SIGKILL now, supervisor left running (tests of the restart)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def health(s: MemberSection) -> tuple[bool, str]:
    """Does the member answer ``/health`` on its first client URL (with its own server
    certificate, which may also act as a client)?"""
    ctx = ssl.create_default_context(cafile=str(s.pki_dir / "ca.crt"))
    ctx.load_cert_chain(str(s.pki_dir / "server.crt"), str(s.pki_dir / "server.key"))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    try:
        with opener.open(f"{s.client_urls[0]}/health", timeout=1.0) as resp:
            body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError) as exc:
        return False, str(exc)
    return body.get("health") == "true", f"health {body!r}"


def remove_data(s: MemberSection) -> None:
    """Delete the member's data directory (after it was removed from the cluster)."""
    if s.data_dir.exists():
        shutil.rmtree(s.data_dir)
