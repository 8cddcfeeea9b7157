"""A real BIND9 ``named`` serving one zone that accepts TSIG-signed dynamic updates (RFC 2136).

For tests and the lab: the DNS server a Network Name resource registers its host record in
(S10, S16, S18). Everything lives in ``workdir``: ``named.conf``, the zone file and its
journal, the TSIG key (``key.conf``, written by ``tsig-keygen -a hmac-sha256``), ``named.pid``
and ``named.log``. ``named`` runs in the foreground (``-g``) as a child in its own session,
as user ``bind`` when we are root; :meth:`BindServer.stop` signals only that PID (SIGTERM,
then SIGKILL).

Gotchas: the workdir must be writable by ``bind`` (the update
journal) and every directory above it must be traversable by ``bind``; use a directory
under ``/tmp`` (pytest's ``tmp_path`` lives under a 0700 directory, which is not).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from wolfpack.lab.netns import LabError

__all__ = ["BindError", "BindServer", "free_port"]

NAMED = "/usr/sbin/named"
TSIG_KEYGEN = "/usr/sbin/tsig-keygen"
#: how long start() waits for named to answer its zone's SOA
READY_TIMEOUT_S = 15.0
#: how long SIGTERM may take before SIGKILL, and SIGKILL before we give up
TERM_WAIT_S = 5.0
KILL_WAIT_S = 5.0
#: how many ports start() tries when it chose the port itself
PORT_ATTEMPTS = 3


class BindError(LabError):
    """named could not be set up or started; the message says why (with its log's tail)."""


def free_port(address: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``address`` (DNS listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
                return port
    raise BindError(f"no port free for both TCP and UDP on {address}")


class BindServer:
    """``named`` on ``address:port`` serving ``zone``, updatable with the key in ``key_file``."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        zone: str = "cluster.test",
        address: str = "127.0.0.1",
        port: int | None = None,
        key_name: str = "wolfpack-key",
        launcher: Sequence[str] = (),
    ) -> None:
        """``launcher``: a command prefix that puts named where it must run, e.g.
        ``ip netns exec <ns>`` for the lab's dns host."""
        self.launcher = list(launcher)
        self.workdir = Path(workdir).resolve()
        self.zone = zone.rstrip(".")
        self.address = address
        self.port = port if port is not None else free_port(address)
        self._auto_port = port is None
        self.key_name = key_name
        self._proc: subprocess.Popen[bytes] | None = None

    # -- files ---------------------------------------------------------------------------------
    @property
    def key_file(self) -> Path:
        return self.workdir / "key.conf"

    @property
    def conf_file(self) -> Path:
        return self.workdir / "named.conf"

    @property
    def zone_file(self) -> Path:
        return self.workdir / f"{self.zone}.db"

    @property
    def log_file(self) -> Path:
        return self.workdir / "named.log"

    @property
    def pid(self) -> int | None:
        """PID of the named we started, while it runs."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def _write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            try:
                out = subprocess.run(
                    [TSIG_KEYGEN, "-a", "hmac-sha256", self.key_name],
                    check=True,
                    capture_output=True,
                    timeout=10,
                ).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                raise BindError(f"tsig-keygen failed: {exc}") from exc
            self.key_file.write_bytes(out)
            self.key_file.chmod(0o640)  # a secret: owner (bind, below) and group only
        d, z = self.workdir, self.zone
        self.conf_file.write_text(
            f'include "{self.key_file}";\n'
            "options {\n"
            f'  directory "{d}";\n'
            f'  pid-file "{d}/named.pid";\n'
            f'  session-keyfile "{d}/session.key";\n'
            f"  listen-on port {self.port} {{ {self.address}; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no;\n"
            "  allow-transfer { none; };\n"
            "  dnssec-validation no;\n"
            "  notify no;\n"
            "};\n"
            "controls { };\n"
            f'zone "{z}." {{\n'
            "  type primary;\n"
            f'  file "{self.zone_file}";\n'
            f"  update-policy {{ grant {self.key_name} zonesub ANY; }};\n"
            "};\n"
        )
        if not self.zone_file.exists():
            self.zone_file.write_text(
                "$TTL 300\n"
                f"@ IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 30\n"
                f"@ IN NS ns.{z}.\n"
                f"ns IN A {self.address}\n"
            )
        if os.geteuid() == 0:
            self._give_to_bind()

    def _give_to_bind(self) -> None:
        try:
            bind = pwd.getpwnam("bind")
        except KeyError as exc:
            raise BindError("no user 'bind' on this machine (is bind9 installed?)") from exc
        for path in [self.workdir, *self.workdir.iterdir()]:
            os.chown(path, bind.pw_uid, bind.pw_gid)
        for parent in self.workdir.parents:
            if not os.stat(parent).st_mode & 0o001:
                raise BindError(
                    f"user bind cannot reach {self.workdir}: {parent} is not traversable by"
                    " others; put the workdir under /tmp"
                )

    # -- run -----------------------------------------------------------------------------------
    def start(self, timeout_s: float = READY_TIMEOUT_S) -> BindServer:
        """Start named and return once it answers the zone's SOA; BindError otherwise.

        With a port chosen here, a port taken meanwhile (named logs "address in use" and runs
        on without listening) means another try on another port."""
        if self.pid is not None:
            return self
        if shutil.which(NAMED) is None:
            raise BindError(f"{NAMED} is not installed (apt-get install bind9)")
        deadline = time.monotonic() + timeout_s
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                if self._try_start(deadline):
                    return self
            except BaseException:
                self.stop()
                raise
            self.stop()
            if not self._auto_port or attempt == PORT_ATTEMPTS:
                break
            self.port = free_port(self.address)
        raise BindError(
            f"named cannot listen on {self.address}:{self.port}: address in use; log:\n"
            + self.log_tail()
        )

    def _try_start(self, deadline: float) -> bool:
        """One start on self.port: True once it answers, False if the port is taken."""
        self._write_files()
        argv = [*self.launcher, NAMED, "-g", "-c", str(self.conf_file), "-p", str(self.port)]
        if os.geteuid() == 0:
            argv += ["-u", "bind"]
        with self.log_file.open("ab") as log:
            offset = log.tell()
            proc = self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while not self.answers(timeout_s=0.5):
            if b"address in use" in self._log_since(offset):
                return False
            if proc.poll() is not None:
                raise BindError(
                    f"named exited with {proc.returncode} while starting; log:\n" + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise BindError(
                    f"named did not answer on {self.address}:{self.port} in time; log:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)
        return True

    def _log_since(self, offset: int) -> bytes:
        try:
            with self.log_file.open("rb") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return b""

    def answers(self, timeout_s: float = 1.0) -> bool:
        """Whether named answers the zone's SOA authoritatively (one bounded TCP query)."""
        query = dns.message.make_query(f"{self.zone}.", dns.rdatatype.SOA)
        try:
            reply = dns.query.tcp(query, self.address, port=self.port, timeout=timeout_s)
        except (OSError, dns.exception.DNSException):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)

    def stop(self) -> None:
        """SIGTERM the named we started, SIGKILL if it lingers; stopping twice is fine."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(TERM_WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(KILL_WAIT_S)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- for tests -----------------------------------------------------------------------------
    def resolver(self, timeout_s: float = 2.0) -> dns.resolver.Resolver:
        """A resolver asking only this server (never the system's)."""
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [self.address]
        res.port = self.port
        res.lifetime = timeout_s
        res.timeout = timeout_s
        return res

    def lookup(self, name: str, timeout_s: float = 2.0) -> list[str]:
        """The A records of ``name`` (relative to the zone unless it ends with a dot)."""
        fqdn = name if name.endswith(".") else f"{name}.{self.zone}."
        try:
            answer = self.resolver(timeout_s).resolve(fqdn, "A")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return sorted(rdata.to_text() for rdata in answer)

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
