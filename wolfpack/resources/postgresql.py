"""PostgreSQL Server (agent ``postgresql``): a database virtual server (S40, SQL Server analog).

The data directory lives on the group's shared disk, so whichever node owns the group sees
the same data; the binaries are local on every node, found in ``/usr/lib/postgresql/*/bin``
(the version the data directory's ``PG_VERSION`` names, else the newest) or in
``bin_directory``. :meth:`PostgresAgent.validate` says which node lacks them.

This is a :class:`~wolfpack.resources.application.ApplicationAgent` whose command is
``postgres -D DATA -c listen_addresses=ADDR -c port=PORT -c unix_socket_directories=SOCK``
(and ``-c recovery_init_sync_method=syncfs`` where available: :func:`init_sync_args`),
run as ``user`` (default postgres): the postmaster itself is the supervised child (not
``pg_ctl``), so its exit is reported through ``ctx.on_failure`` at once. Its Unix socket is
in ``<run_dir>/resources/<name>/socket`` (mode 0700: only the daemon and ``user`` reach it).

* start: if the data directory is absent or empty and ``initialize`` is true, ``initdb``
  creates the cluster (local connections trusted, which only the 0700 socket directory
  allows; TCP connections need a password: scram-sha-256) -- but only where the data
  directory is on a mounted disk, not on the root filesystem (M8): the group's disk not
  mounted here leaves an empty mount-point directory on the root filesystem, and initdb
  there would start an empty database beside the real one. Once the disk holds a cluster,
  ``initialize`` does nothing more (the directory is not empty). A ``postmaster.pid`` naming a
  running postmaster this agent did not start is refused (ERR_CONFIGURED naming the data
  directory): never two postmasters on one data directory. Start returns once
  ``SELECT 1`` answers through the socket.
* stop: SIGINT (fast shutdown), then SIGQUIT (immediate), then what the application agent
  does (SIGTERM, SIGKILL) to whatever is left.
* looks_alive: the postmaster runs; is_alive: ``SELECT 1`` answers (a server that answers
  but refuses our login, e.g. by its pg_hba.conf, counts as alive).

Two postmasters on one data directory from two *machines* cannot be seen here (a PID means
nothing on another machine): that is the Physical Disk resource's job (one owner, MMP).
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import time
from pathlib import Path

import psycopg

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources import mounts
from wolfpack.resources.application import (
    KILL_WAIT_S,
    ApplicationAgent,
    _Phase,
    _read_from,
    _Record,
    _Settings,
)
from wolfpack.resources.base import AgentContext, AgentResult
from wolfpack.resources.commands import RunResult, StartGate, blocked_ancestor, run_bounded
from wolfpack.resources.pg_install import BIN_GLOB, version_key
from wolfpack.resources.process import (
    POLL_S,
    ProcessGroup,
    Watch,
    _signal_verified,
    describe_exit,
    proc_cmdline,
    proc_info,
    runs,
)

__all__ = ["BIN_GLOB", "PostgresAgent"]

INITDB_TIMEOUT_S = 120
PROBE_TIMEOUT_S = 5
#: shares of the stop timeout: SIGINT until the first, SIGQUIT until the second, then SIGKILL
FAST_SHARE, IMMEDIATE_SHARE = 0.6, 0.85
#: a Unix socket path is at most this long (sun_path, with its NUL)
SUN_PATH_MAX = 107
#: server answers meaning "not accepting connections yet", unlike a refused login
_NOT_READY = ("starting up", "shutting down", "not yet accepting", "recovery mode")
#: ``recovery_init_sync_method=syncfs`` (PostgreSQL 14 and later; Linux 5.8 and later
#: report syncfs's write errors): see :func:`init_sync_args`
SYNCFS_PG, SYNCFS_LINUX = (14,), (5, 8)


def init_sync_args(data: str, kernel: str | None = None) -> tuple[str, ...]:
    """After a failover the postmaster starts with crash recovery, which by default first
    opens and fsyncs every file of the data directory, one by one: 0.5-1 s on the lab's
    disk. Here every one of them was written by the old owner (powered off: its page cache
    is gone) and this node just mounted the group's disk, so one ``syncfs`` of that
    filesystem makes the same promise (0.15-0.35 s measured; issue 12). Used only where
    PostgreSQL offers it and the kernel reports syncfs's errors; nothing otherwise."""
    try:
        major = tuple(int(p) for p in (Path(data) / "PG_VERSION").read_text().split(".")[:1])
    except (OSError, ValueError):
        return ()  # not initialized yet: a new cluster starts without crash recovery
    release = kernel if kernel is not None else os.uname().release
    linux = tuple(int(p) for p in release.split("-")[0].split(".")[:2] if p.isdigit())
    if major < SYNCFS_PG or linux < SYNCFS_LINUX:
        return ()
    return ("-c", "recovery_init_sync_method=syncfs")


def _is_postmaster(pid: int) -> bool:
    argv = proc_cmdline(pid) or []
    return bool(argv) and os.path.basename(argv[0]) in ("postgres", "postmaster")


class PostgresAgent(ApplicationAgent):
    """Every child of the postmaster leads its own session (postgres calls setsid), so the
    process group holds the postmaster alone: the children are tracked beside it, by PID and
    start time, whenever the agent looks (start, looks_alive, pids, stop), and those that
    outlive a postmaster killed unasked are killed at stop."""

    #: the start check is a connection to the local socket: cheap enough to try every 20 ms
    check_every_s = 0.02

    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._children: dict[int, int] = {}  # PID -> start time

    # -- properties --------------------------------------------------------------------------
    @property
    def socket_dir(self) -> Path:
        return self.state_dir / "socket"

    def _data_directory(self) -> str:
        data = self.prop_str("data_directory", required=True)
        assert data is not None
        if not os.path.isabs(data):
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{data!r} is not an absolute path", "data_directory"
            )
        return os.path.normpath(data)

    def _initialize(self) -> bool:
        value = self._value("initialize")
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"must be true or false, not {value!r}", "initialize"
            )
        return value

    def bin_directory(self, data: str) -> Path:
        """The local binaries for ``data``; ERR_INSTALLED naming this node if there are none."""
        explicit = self.prop_str("bin_directory")
        try:
            want: str | None = (Path(data) / "PG_VERSION").read_text().strip() or None
        except OSError:
            want = None  # not initialized yet, or the disk is online elsewhere
        if explicit:
            candidates = [explicit]
        else:
            candidates = sorted(glob.glob(BIN_GLOB), key=version_key, reverse=True)
            if want:
                candidates = [c for c in candidates if Path(c).parent.name == want]
        for candidate in candidates:
            if os.access(Path(candidate) / "postgres", os.X_OK):
                return Path(candidate)
        which = f"PostgreSQL {want}" if want else "PostgreSQL"
        where = explicit or BIN_GLOB
        raise self.error(
            AgentResult.ERR_INSTALLED,
            f"{which} is not installed on this node: no executable postgres in {where}"
            + (f" (the data directory {data!r} needs version {want})" if want else ""),
            "bin_directory" if explicit else None,
        )

    def settings(self) -> _Settings:
        """The properties checked on this node; AgentError naming the first one at fault."""
        data = self._data_directory()
        bindir = self.bin_directory(data)
        address, port = self.listen_endpoint(5432)
        self._initialize()
        account = self._account()
        if account.uid == 0:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                "PostgreSQL refuses to run as root; name its own account (postgres)",
                "user",
            )
        socket_path = self.socket_dir / f".s.PGSQL.{port}"
        if len(str(socket_path).encode()) > SUN_PATH_MAX:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"the socket path {str(socket_path)!r} is too long for a Unix socket; use a"
                " shorter run directory or resource name",
            )
        argv = (
            str(bindir / "postgres"),
            "-D",
            data,
            "-c",
            f"listen_addresses={address}",
            "-c",
            f"port={port}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            *init_sync_args(data),
        )
        env = account.environment(
            {"WOLFPACK_RESOURCE": self.name, "WOLFPACK_NODE": self.ctx.node, "PGDATA": data}
        )
        return _Settings(
            argv=argv,
            directory="/",
            account=account,
            env=env,
            check=("SELECT 1",),  # answered in-process by _check
            check_timeout_s=PROBE_TIMEOUT_S,
        )

    # -- preparing the data directory -------------------------------------------------------
    def _prepare(self, cfg: _Settings) -> None:
        """Before the postmaster starts: the socket directory, initdb if asked, and the
        refusal of a data directory another postmaster runs on."""
        data = cfg.argv[2]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.socket_dir, cfg.account.uid, cfg.account.gid)
        self.socket_dir.chmod(0o700)
        for what, path in (("the run directory", self.socket_dir), ("data directory", Path(data))):
            blocked = blocked_ancestor(path, cfg.account)
            if blocked is not None:
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"account {cfg.account.name!r} cannot reach {what} {str(path)!r}: {blocked}"
                    f" (mode {blocked.stat().st_mode & 0o777:o}) does not let it through",
                    "user" if what == "data directory" else None,
                )
        try:
            entries = os.listdir(data)
        except FileNotFoundError:
            entries = None
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"cannot read data directory {data!r}: {exc.strerror or exc}",
                "data_directory",
            ) from exc
        if not entries:
            self._initdb(cfg, data, exists=entries is not None)
        elif "PG_VERSION" not in entries:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"data directory {data!r} is not empty but holds no PostgreSQL cluster (no"
                " PG_VERSION); refusing to use or initialize it",
                "data_directory",
            )
        self._refuse_other_postmaster(data)

    def _initdb(self, cfg: _Settings, data: str, *, exists: bool) -> None:
        if not self._initialize():
            state = "is empty" if exists else "does not exist on this node"
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"data directory {data!r} {state} (is the group's disk online here? set"
                " initialize to create a new cluster)",
                "data_directory",
            )
        where = data if exists else os.path.dirname(data)
        off_disk = self.off_disk(where)
        if off_disk is not None:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"data directory {data!r} {'is empty' if exists else 'does not exist'} and"
                f" {off_disk}: initialize creates a database only on the group's mounted"
                " disk (is the Physical Disk online here, and does this resource depend on"
                " it?); nothing was created",
                "initialize",
            )
        initdb = Path(cfg.argv[0]).with_name("initdb")
        if not os.access(initdb, os.X_OK):
            raise self.error(
                AgentResult.ERR_INSTALLED,
                f"initdb is not installed on this node (no {str(initdb)!r})",
                "initialize",
            )
        if not exists:
            parent = os.path.dirname(data)
            if not os.path.isdir(parent):
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"{parent!r}, where data directory {data!r} would be, does not exist on"
                    " this node (is the group's disk online here?)",
                    "data_directory",
                )
            os.mkdir(data, 0o700)
        os.chown(data, cfg.account.uid, cfg.account.gid)
        os.chmod(data, 0o700)
        argv = (
            str(initdb),
            "-D",
            data,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        )
        self.log("agent_initdb", data_directory=data, user=cfg.account.name)
        try:
            result = run_bounded(
                cfg.account,
                argv,
                timeout_s=INITDB_TIMEOUT_S,
                cwd="/",
                env=cfg.env,
                log_path=self.output_log,
            )
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_INSTALLED, f"cannot run {str(initdb)!r}: {exc.strerror or exc}"
            ) from exc
        if result.returncode != 0:
            why = (
                f"did not finish within {INITDB_TIMEOUT_S} s"
                if result.returncode is None
                else describe_exit(result.returncode)
            )
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"initdb of {data!r} {why}; it said: {result.output}",
                "initialize",
            )

    def off_disk(self, path: str) -> str | None:
        """Why ``path`` is not on the group's mounted disk, or None
        (:func:`wolfpack.resources.mounts.not_on_a_disk`)."""
        return mounts.not_on_a_disk(path)

    def _refuse_other_postmaster(self, data: str) -> None:
        try:
            first = (Path(data) / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        except OSError:
            return
        pid = int(first) if first.isdigit() else 0
        info = proc_info(pid) if pid > 0 else None
        if info is None or not info.running or not _is_postmaster(pid):
            if pid > 0:  # stale: postgres itself removes it if nothing has the PID
                self.log("agent_stale_postmaster_pid", pid=pid, data_directory=data)
            if info is not None:
                # A zombie (a killed postmaster not reaped yet) or another program has the
                # PID: postgres would take it for a live postmaster and refuse to start.
                with contextlib.suppress(FileNotFoundError):
                    (Path(data) / "postmaster.pid").unlink()
            return
        raise self.error(
            AgentResult.ERR_CONFIGURED,
            f"data directory {data!r} is in use: its postmaster.pid names postmaster {pid},"
            " which runs and was not started by this agent (is the database online on"
            " another node?); refusing to start a second postmaster on it",
            "data_directory",
        )

    # -- start (hooks of ApplicationAgent.start) ------------------------------------------------
    def _spawn(self, cfg: _Settings, gate: StartGate) -> tuple[int, Watch, int]:
        self._prepare(cfg)
        return super()._spawn(cfg, gate)

    def _wait_online(self, cfg: _Settings, watch: Watch, deadline: float, offset: int) -> None:
        try:
            super()._wait_online(cfg, watch, deadline, offset)
            self._note_children()
        except AgentError as exc:
            if not watch.exited.is_set():
                raise self.error(
                    AgentResult.ERR_GENERIC,
                    f"postgres did not accept connections within the start timeout ({exc})",
                ) from exc
            said = _read_from(self.output_log, offset)
            code, prop = AgentResult.ERR_GENERIC, None
            if "Address already in use" in said:
                code, prop = AgentResult.ERR_CONFIGURED, "port"
            elif "could not bind" in said or "could not create listen" in said:
                code, prop = AgentResult.ERR_CONFIGURED, "listen_address"
            elif cfg.argv[2] in said and any(
                m in said for m in ("lock file", "ownership", "ermission", "PG_VERSION")
            ):
                code, prop = AgentResult.ERR_CONFIGURED, "data_directory"
            raise self.error(
                code,
                f"postgres {describe_exit(watch.returncode)} while starting on"
                f" {cfg.argv[2]!r}; it said: {said}",
                prop,
            ) from exc

    def _check(self, cfg: _Settings, timeout_s: float) -> RunResult:
        """``SELECT 1`` through the socket; 0 when it answers, 1 (with the reason) if not."""
        port = int(cfg.argv[6].partition("=")[2])
        try:
            with psycopg.connect(
                host=str(self.socket_dir),
                port=port,
                user=cfg.account.name,
                dbname="postgres",
                connect_timeout=max(2, round(timeout_s)),
                application_name="wolfpack",
                options=f"-c statement_timeout={max(1, round(timeout_s * 1000))}",
            ) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            said = str(exc)
            answered = ("FATAL" in said or "fe_sendauth" in said) and not any(
                m in said for m in _NOT_READY
            )
            return RunResult(0 if answered else 1, said, None)  # a refused login: it runs
        return RunResult(0, "", None)

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout_s: float) -> None:
        """SIGINT (fast shutdown), SIGQUIT (immediate), then SIGTERM/SIGKILL to what is left."""
        start = time.monotonic()
        with self._lock:
            self._phase = _Phase.STOPPING  # an exit from now on is no failure
            group = self._group
        if group is None:
            group = self._recorded_postmaster()
        if group is not None:
            self._note_children(group)
        for sig, share in ((signal.SIGINT, FAST_SHARE), (signal.SIGQUIT, IMMEDIATE_SHARE)):
            if group is None or not group.leader_alive():
                break
            self.log("agent_signal", signal=sig.name, pid=group.pid)
            _signal_verified(group.pid, group.start_time, sig)
            group.wait_gone(max(0.0, start + timeout_s * share - time.monotonic()))
        super().stop(max(0.0, start + timeout_s - time.monotonic()))

    def _teardown(self, timeout_s: float | None = None) -> None:
        """The application agent's (SIGTERM, SIGKILL to the group; also after a failed
        start), then the postmaster's children that are left."""
        self._note_children()
        super()._teardown(timeout_s)
        self._kill_orphans()

    def _note_children(self, group: ProcessGroup | None = None) -> list[int]:
        """Remember the postmaster's children now (registered with the node's watchdog, as
        their postmaster is: a self-fenced node must leave nothing writing to the disk);
        return the remembered ones still running."""
        with self._lock:
            group = group or self._group
        seen = {} if group is None else group.leader_children()
        with self._lock:
            new = {pid: st for pid, st in seen.items() if self._children.get(pid) != st}
            self._children.update(seen)
            gone = [pid for pid, st in self._children.items() if not runs(pid, st)]
            for pid in gone:
                del self._children[pid]
            running = sorted(self._children)
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                self.ctx.register_pid(pid)
        for pid in gone:
            self.ctx.unregister_pid(pid)
        return running

    def _kill_orphans(self) -> None:
        """SIGKILL the remembered children still running (their postmaster was killed)."""
        with self._lock:
            known = dict(self._children)
        left = {pid: st for pid, st in known.items() if runs(pid, st)}
        if left:
            self.log("agent_kill_orphans", pids=sorted(left))
        deadline = time.monotonic() + KILL_WAIT_S
        while left and time.monotonic() < deadline:
            for pid, start_time in left.items():
                _signal_verified(pid, start_time, signal.SIGKILL)
            time.sleep(POLL_S)
            left = {pid: st for pid, st in left.items() if runs(pid, st)}
        with self._lock:
            self._children = dict(left)
        for pid in known:
            if pid not in left:
                self.ctx.unregister_pid(pid)
        if left:
            raise self.error(
                AgentResult.ERR_GENERIC, f"processes {sorted(left)} still run after SIGKILL"
            )

    # -- health ------------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        alive = super().looks_alive()
        if alive:
            self._note_children()
        return alive

    def pids(self) -> list[int]:
        members = super().pids()
        return members + [p for p in self._note_children() if p not in members]

    def _recorded_postmaster(self) -> ProcessGroup | None:
        """The postmaster recorded in the pid file by an earlier instance, if it is still it."""
        record = _Record.load(self.pid_file)
        if record is None or not record.group.leader_alive():
            return None
        return record.group if proc_cmdline(record.group.pid) == list(record.argv) else None

    def validate(self) -> None:
        """Binaries, account and properties on this node (the data directory is checked at
        start: it is on the group's disk, which only the owner node sees)."""
        self.settings()
