"""Generic Application (agent ``application``): any program, supervised as a child (S31).

The program is started from ``command`` (split like a shell would, never run by one) in
``directory``, as ``user`` with that account's groups (S11, S41), in a clean environment plus
``environment``, as the leader of a new session. Its output goes to
``<run_dir>/resources/<name>/output.log``; ``pid.json`` beside it records PID, start time,
boot id and argv so that :meth:`ApplicationAgent.adopt` can never mistake a reused PID.

Online means: the program still runs after a short settle time, or, with ``check_command``,
the check exits 0 (start polls it until then or the timeout). A watch thread waits on the
child and reports an exit that ``stop()`` did not ask for through ``ctx.on_failure`` at once.
``stop()`` sends SIGTERM to the whole group, SIGKILL after ``stop_timeout_s``; then, with
confinement on (:mod:`wolfpack.resources.confine`), SIGKILL to whatever is left in the
resource's cgroup: children that left the group (``setsid``, double fork) are in it too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources.base import Agent, AgentContext, AgentResult, error_fields, spawn_error_code
from wolfpack.resources.commands import (
    Account,
    RunResult,
    StartGate,
    find_program,
    read_json,
    run_bounded,
    tail,
    write_json,
)
from wolfpack.resources.process import (
    ProcessGroup,
    Stopped,
    Watch,
    boot_id,
    describe_exit,
    proc_cmdline,
    proc_info,
)

__all__ = ["ApplicationAgent"]

#: without check_command, a program still running this long after exec counts as started
START_SETTLE_S = 0.3
#: pause between two checks while starting
CHECK_EVERY_S = 0.05
#: how long SIGKILL may take before a stop gives up
KILL_WAIT_S = 5.0
DEFAULT_STOP_TIMEOUT_S = 10
DEFAULT_CHECK_TIMEOUT_S = 10

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _Settings:
    """The properties, checked and resolved on this node."""

    argv: tuple[str, ...]
    directory: str
    account: Account
    env: Mapping[str, str]
    check: tuple[str, ...] | None
    check_timeout_s: int


@dataclass(frozen=True)
class _Record:
    """The pid file: what identifies the process we started."""

    group: ProcessGroup
    argv: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> _Record | None:
        doc = read_json(path)
        group = None if doc is None else ProcessGroup.from_doc(doc)
        argv = None if doc is None else doc.get("argv")
        if group is None or not isinstance(argv, list):
            return None
        return cls(group, tuple(str(a) for a in argv))

    def save(self, path: Path) -> None:
        write_json(path, {**self.group.to_doc(), "argv": list(self.argv)})


class _Phase(StrEnum):
    OFFLINE = "offline"
    STARTING = "starting"
    ONLINE = "online"
    FAILED = "failed"  # exited unasked; stop() clears what is left
    STOPPING = "stopping"


class ApplicationAgent(Agent):
    #: pause between two checks while starting (an agent whose check is cheap polls faster)
    check_every_s = CHECK_EVERY_S

    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._lock = threading.Lock()
        self._phase = _Phase.OFFLINE
        self._group: ProcessGroup | None = None
        self._watch: Watch | None = None
        self._settings: _Settings | None = None  # those it was started (or adopted) with

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pid.json"

    @property
    def output_log(self) -> Path:
        return self.log_path("output.log")

    # -- validate ----------------------------------------------------------------------------
    def validate(self) -> None:
        self.settings()

    def settings(self) -> _Settings:
        """The properties checked on this node; AgentError naming the first one at fault."""
        argv = self.prop_argv("command", required=True)
        assert argv is not None
        directory = self.prop_str("directory") or "/"
        if not os.path.isdir(directory):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"directory {directory!r} does not exist on this node",
                "directory",
            )
        account = self._account()
        extra = {"WOLFPACK_RESOURCE": self.name, "WOLFPACK_NODE": self.ctx.node}
        for entry in self.prop_list("environment"):
            key, sep, value = entry.partition("=")
            if not sep or not _ENV_NAME.match(key):
                raise self.error(
                    AgentResult.ERR_CONFIGURED, f"{entry!r} is not NAME=value", "environment"
                )
            extra[key] = value
        env = account.environment(extra)
        check = self.prop_argv("check_command")
        for prop, command in (("command", argv), ("check_command", check)):
            if command is not None and find_program(command[0], directory, env["PATH"]) is None:
                raise self.error(
                    AgentResult.ERR_INSTALLED,
                    f"program {command[0]!r} not found or not executable on this node",
                    prop,
                )
        return _Settings(
            tuple(argv),
            directory,
            account,
            env,
            None if check is None else tuple(check),
            self.prop_int("check_timeout_s", DEFAULT_CHECK_TIMEOUT_S) or 1,
        )

    def _account(self) -> Account:
        user = self.prop_str("user") or "root"
        try:
            account = Account.lookup(user)
        except KeyError:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"no account {user!r} on this node", "user"
            ) from None
        if not account.switch and account.uid != os.geteuid():
            raise self.error(
                AgentResult.ERR_PERM,
                f"this daemon does not run as root, so it cannot run programs as {user!r}",
                "user",
            )
        return account

    def _stop_timeout_s(self) -> int:
        try:
            return self.prop_int("stop_timeout_s", DEFAULT_STOP_TIMEOUT_S)
        except AgentError:
            return DEFAULT_STOP_TIMEOUT_S  # a stop must work whatever the configuration

    # -- start -------------------------------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        cfg = self.settings()
        with self._lock:
            if self._phase is _Phase.ONLINE:
                return
            leftover = self._group is not None
        if leftover:
            self.stop(timeout_s)  # it failed earlier: clear what is left first
        elif self.adopt():
            return
        deadline = time.monotonic() + timeout_s
        cgroup = self.open_cgroup()
        gate = StartGate()
        try:
            try:
                pid, watch, log_offset = self._spawn(cfg, gate)
            except BaseException:
                with contextlib.suppress(AgentError):
                    self.close_cgroup()
                raise
            try:
                with contextlib.suppress(ProcessLookupError):  # exited already: reported below
                    self.ctx.register_pid(pid)
                if cgroup is not None:  # held at the gate: all it forks will be inside
                    try:
                        cgroup.add(pid)
                    except OSError as exc:
                        raise self.error(
                            AgentResult.ERR_GENERIC, f"cannot place it in {cgroup.path}: {exc}"
                        ) from exc
                # Recorded (registry, pid file) before it runs anything, and only while this
                # node may still run resources (a daemon that froze in between must not).
                if not self.ctx.may_run():
                    raise self.error(
                        AgentResult.ERR_GENERIC, "this node may no longer run resources"
                    )
                gate.open()
                self._wait_online(cfg, watch, deadline, log_offset)
            except BaseException as exc:  # whatever went wrong, leave nothing running
                self.log("agent_start_failed", **error_fields(exc))
                self._teardown()
                raise
        finally:
            gate.close()

    def _spawn(self, cfg: _Settings, gate: StartGate) -> tuple[int, Watch, int]:
        """Start the program, held at ``gate``, and its watch; (pid, watch, where its output
        starts)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log(
            "agent_starting",
            command=list(cfg.argv),
            user=cfg.account.name,
            directory=cfg.directory,
        )
        with self.output_log.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(
                f"--- {stamp} {self.ctx.node}: start {shlex.join(cfg.argv)}"
                f" as {cfg.account.name} in {cfg.directory}\n".encode()
            )
            out.flush()
            log_offset = out.tell()
            try:
                proc = cfg.account.popen(
                    cfg.argv, cwd=cfg.directory, env=cfg.env, output=out, gate=gate
                )
                gate.spawned()
            except OSError as exc:
                raise self.error(
                    spawn_error_code(exc),
                    f"cannot start {cfg.argv[0]!r}: {exc.strerror or exc}",
                    "command",
                ) from exc
        # Not reaped before its watch starts, so the child still exists here.
        info = proc_info(proc.pid)
        group = ProcessGroup(proc.pid, info.start_time if info else 0, boot_id())
        with self._lock:
            self._phase, self._group, self._settings = _Phase.STARTING, group, cfg
            self._watch = watch = Watch.child(proc, lambda code: self._on_exit(proc.pid, code))
        _Record(group, cfg.argv).save(self.pid_file)
        return proc.pid, watch, log_offset

    def _wait_online(self, cfg: _Settings, watch: Watch, deadline: float, offset: int) -> None:
        last: RunResult | None = None
        if cfg.check is None:
            watch.exited.wait(max(0.0, min(START_SETTLE_S, deadline - time.monotonic())))
        while cfg.check is not None and not watch.exited.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                said = f"; it said: {last.output}" if last and last.output else ""
                raise self.error(
                    AgentResult.ERR_GENERIC,
                    f"check did not answer within the start timeout{said}",
                    "check_command",
                )
            last = self._check(cfg, min(left, cfg.check_timeout_s))
            if last.returncode == 0:
                break
            watch.exited.wait(max(0.0, min(self.check_every_s, deadline - time.monotonic())))
        with self._lock:
            if not watch.exited.is_set():
                self._phase = _Phase.ONLINE
                self.log("agent_online", pid=self._group.pid if self._group else None)
                return
        said = _read_from(self.output_log, offset)
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"{describe_exit(watch.returncode)} while starting"
            + (f"; it said: {said}" if said else ""),
            "command",
        )

    def _on_exit(self, pid: int, code: int | None) -> None:
        """From the watch thread: the process exited."""
        with self._lock:
            failed = self._phase is _Phase.ONLINE
            if failed:
                self._phase = _Phase.FAILED
        if failed:
            why = describe_exit(code)
            self.log("agent_exited", pid=pid, why=why)
            self.ctx.on_failure(self.name, why)

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout_s: float) -> None:
        with self._lock:
            self._phase = _Phase.STOPPING
        self.log("agent_stopping")
        self._teardown(timeout_s)
        self.log("agent_offline")

    def _teardown(self, timeout_s: float | None = None) -> None:
        """SIGTERM the group, SIGKILL after the stop timeout, forget it. Also for a pid file
        left by an earlier instance that was never adopted."""
        with self._lock:
            group, watch = self._group, self._watch
        if group is None:
            record = _Record.load(self.pid_file)
            group = record.group if record else None
        if group is not None:
            grace = float(self._stop_timeout_s())
            if timeout_s is not None:
                grace = min(grace, timeout_s)
            outcome = group.terminate(grace, KILL_WAIT_S)
            if outcome is Stopped.STUCK:
                raise self.error(
                    AgentResult.ERR_GENERIC,
                    f"processes {group.members()} still run after SIGKILL",
                )
            if outcome is Stopped.KILLED:
                self.log("agent_killed", pid=group.pid, after_s=grace)
            if watch is not None:
                watch.join(KILL_WAIT_S)
            self.ctx.unregister_pid(group.pid)
        self.close_cgroup()  # what it forked and daemonised, whatever its process group
        self.pid_file.unlink(missing_ok=True)
        with self._lock:
            self._phase, self._group, self._watch = _Phase.OFFLINE, None, None

    # -- health ------------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        with self._lock:
            watch = self._watch
            return self._phase is _Phase.ONLINE and watch is not None and not watch.exited.is_set()

    def is_alive(self) -> bool:
        if not self.looks_alive():
            return False
        cfg = self._settings
        if cfg is None or cfg.check is None:
            return True
        result = self._check(cfg, cfg.check_timeout_s)
        if result.returncode != 0:
            why = "timed out" if result.returncode is None else describe_exit(result.returncode)
            self.log("agent_check_failed", why=why, output=result.output)
        return result.returncode == 0

    def _check(self, cfg: _Settings, timeout_s: float) -> RunResult:
        assert cfg.check is not None
        try:
            return run_bounded(
                cfg.account, cfg.check, timeout_s=timeout_s, cwd=cfg.directory, env=cfg.env
            )
        except OSError as exc:
            return RunResult(127, str(exc), None)

    # -- adopt -------------------------------------------------------------------------------
    def adopt(self) -> bool:
        with self._lock:
            if self._phase is _Phase.ONLINE:
                return True
        if not self.pid_file.exists():
            return False
        record = _Record.load(self.pid_file)
        why = "unreadable pid file" if record is None else _not_ours(record)
        if record is not None and why is None:
            try:
                cfg: _Settings | None = self.settings()
            except AgentError as exc:  # it runs with the settings it was started with
                self.log("agent_adopt_unchecked", error=str(exc))
                cfg = None
            group = record.group
            with self._lock:
                self._phase, self._group, self._settings = _Phase.ONLINE, group, cfg
                self._watch = Watch.adopted(group, lambda code: self._on_exit(group.pid, code))
                if self._watch is None:
                    self._phase, self._group, why = _Phase.OFFLINE, None, "it has just exited"
        if why is None:
            assert record is not None
            with contextlib.suppress(ProcessLookupError):  # exited: its watch reports it
                self.ctx.register_pid(record.group.pid)
            self.log("agent_adopted", pid=record.group.pid)
            return True
        self.log("agent_adopt_rejected", why=why)
        if record is not None:
            leader = proc_info(record.group.pid)
            if leader is None or not leader.running:  # what it left behind is ours
                record.group.terminate(float(self._stop_timeout_s()), KILL_WAIT_S)
            self.ctx.unregister_pid(record.group.pid)
            with contextlib.suppress(AgentError):  # what is in its cgroup is ours, always
                self.close_cgroup()
        self.pid_file.unlink(missing_ok=True)
        return False

    def pids(self) -> list[int]:
        with self._lock:
            group = self._group
        return [] if group is None else group.members()


def _not_ours(record: _Record) -> str | None:
    """Why the recorded process is not one we can adopt, or None if it is."""
    pid = record.group.pid
    if record.group.boot != boot_id():
        return "the machine has rebooted since"
    info = proc_info(pid)
    if info is None or not info.running:
        return f"process {pid} is gone"
    if info.start_time != record.group.start_time:
        return f"PID {pid} now names another process"
    argv = proc_cmdline(pid)
    if argv is None or tuple(argv) != record.argv:
        return f"PID {pid} runs another command: {argv}"
    return None


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return tail(f.read())
    except OSError:
        return ""
