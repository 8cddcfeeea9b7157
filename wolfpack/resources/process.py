"""Process supervision shared by the agents: /proc facts, process groups, bounded commands.

Theory of operation. An agent starts every program as the leader of a *new session*, so the
program and everything it forks share one process group (and session) whose id is the
leader's PID; stopping means signalling that group, and "nothing of it runs" is checked by
scanning ``/proc``. A PID alone names a process only until it is reaped and handed out again,
so a process is recorded as (PID, start time, boot id): the start time is field 22 of
``/proc/<pid>/stat`` (clock ticks since boot) and the boot id tells one boot from the next.

Which processes are *ours*, given such a record of a group leader (the rule the node's PID
registry uses too):

* the leader still exists (running, or a zombie not yet reaped) with the recorded start time:
  every process in its group or session is ours;
* the leader exists with another start time: the PID was reused, so our group is long gone
  (a PID is not handed out while a group or session of that id has members): nothing is ours;
* the leader is gone: members of its group or session that started no earlier than it did
  are ours (the leader's PID cannot be reused while they exist).

Zombies count as gone: they run nothing and only wait for their parent.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from wolfpack.resources.confine import Cgroup

__all__ = [
    "Account",
    "ProcInfo",
    "ProcessGroup",
    "RunResult",
    "StartGate",
    "Stopped",
    "Watch",
    "boot_id",
    "describe_exit",
    "find_program",
    "find_tool",
    "proc_cmdline",
    "proc_info",
    "read_json",
    "run_bounded",
    "run_tool",
    "tail",
    "write_json",
]

_PROC = Path("/proc")
#: how often waits re-check /proc
POLL_S = 0.02


# -- /proc facts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcInfo:
    """The fields of ``/proc/<pid>/stat`` supervision needs."""

    state: str  # R, S, D, Z, T, ...
    pgrp: int
    session: int
    start_time: int  # clock ticks since boot

    @property
    def running(self) -> bool:
        """False for a zombie (dead, waiting to be reaped) or a dead task."""
        return self.state not in ("Z", "X", "x")


def proc_info(pid: int) -> ProcInfo | None:
    """``pid``'s state, group, session and start time, or None if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp session ... starttime(22) ..."; comm may hold ") ".
    fields = raw[raw.rindex(b")") + 2 :].split()
    return ProcInfo(fields[0].decode(), int(fields[2]), int(fields[3]), int(fields[19]))


def proc_cmdline(pid: int) -> list[str] | None:
    """``pid``'s argument vector, or None if it is gone (a zombie's is empty)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0")[:-1]]


@functools.cache
def boot_id() -> str:
    return (_PROC / "sys/kernel/random/boot_id").read_text().strip()


def _all_pids() -> Iterator[int]:
    for name in os.listdir(_PROC):
        if name.isdigit():
            yield int(name)


# -- process groups ----------------------------------------------------------------------------
class Stopped(StrEnum):
    """How :meth:`ProcessGroup.terminate` ended."""

    GONE = "gone"  # nothing ran, or everything left after SIGTERM within the grace time
    KILLED = "killed"  # something outlived the grace time and was sent SIGKILL
    STUCK = "stuck"  # something still runs after SIGKILL (uninterruptible sleep)


@dataclass(frozen=True)
class ProcessGroup:
    """A process group (and session) this agent created, named by its leader.

    Only members by the rule in the module docstring are ever listed or signalled; the caller
    and its own group never are.
    """

    pid: int
    start_time: int
    boot: str

    @classmethod
    def of(cls, pid: int) -> ProcessGroup | None:
        """The group led by ``pid``, which must still exist (an unreaped child counts)."""
        info = proc_info(pid)
        return None if info is None else cls(pid, info.start_time, boot_id())

    def to_doc(self) -> dict[str, object]:
        return {"pid": self.pid, "start_time": self.start_time, "boot_id": self.boot}

    @classmethod
    def from_doc(cls, doc: Mapping[str, object]) -> ProcessGroup | None:
        """The group :meth:`to_doc` wrote, or None if ``doc`` does not hold one."""
        pid, start, boot = (doc.get(k) for k in ("pid", "start_time", "boot_id"))
        if isinstance(pid, int) and isinstance(start, int) and isinstance(boot, str):
            return cls(pid, start, boot)
        return None

    def leader_alive(self) -> bool:
        """True while the leader itself runs (not a zombie) with the recorded start time."""
        info = proc_info(self.pid)
        return (
            info is not None
            and info.running
            and info.start_time == self.start_time
            and self.boot == boot_id()
        )

    def members(self) -> list[int]:
        """Running processes of this group or session that are ours, sorted, leader first."""
        if self.boot != boot_id():
            return []
        leader = proc_info(self.pid)
        if leader is not None and leader.start_time != self.start_time:
            return []  # the PID was reused: our group is gone
        me = os.getpid()
        out: list[int] = []
        for pid in _all_pids():
            info = proc_info(pid)
            if (
                info is not None
                and info.running
                and self.pid in (info.pgrp, info.session)
                and info.start_time >= self.start_time
                and pid != me
            ):
                out.append(pid)
        return sorted(out, key=lambda p: (p != self.pid, p))

    def signal(self, sig: int) -> list[int]:
        """Send ``sig`` to every member; returns the members found."""
        members = self.members()
        if not members:
            return []
        if self.pid != os.getpgrp():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)  # atomic for the group, including fresh forks
        for pid in members:  # those that left the group but not the session
            info = proc_info(pid)
            if info is not None and info.pgrp != self.pid:
                _signal_verified(pid, info.start_time, sig)
        return members

    def wait_gone(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until no member runs."""
        deadline = time.monotonic() + timeout_s
        while self.members():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(POLL_S, left))
        return True

    def terminate(self, grace_s: float, kill_wait_s: float = 5.0) -> Stopped:
        """SIGTERM (and SIGCONT, for stopped ones) to every member; after ``grace_s`` SIGKILL
        to whatever is left, repeated until nothing runs or ``kill_wait_s`` has passed."""
        if grace_s > 0 and self.signal(signal.SIGTERM):
            self.signal(signal.SIGCONT)
            if self.wait_gone(grace_s):
                return Stopped.GONE
        if not self.members():
            return Stopped.GONE
        deadline = time.monotonic() + kill_wait_s
        while self.signal(signal.SIGKILL):
            if time.monotonic() >= deadline:
                return Stopped.STUCK
            time.sleep(POLL_S)
        return Stopped.KILLED


def _signal_verified(pid: int, start_time: int, sig: int) -> None:
    """Signal one process only if it is still the one with ``start_time``: open a pidfd first,
    check, then signal through it, so the PID cannot be reused in between."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        info = proc_info(pid)
        if info is not None and info.start_time == start_time:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, sig)
    finally:
        os.close(fd)


def describe_exit(code: int | None) -> str:
    """``exited with code 3``, ``killed by signal SIGKILL``, or ``exited`` when unknown."""
    if code is None:
        return "exited (exit status unknown: not a child of this daemon)"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# -- supervision ------------------------------------------------------------------------------
class Watch:
    """Waits, in its own daemon thread, for one process to exit; then sets :attr:`exited`
    and calls ``on_exit(returncode)`` (None when the process is not our child)."""

    def __init__(self, target: Callable[[], int | None], on_exit: Callable[[int | None], None]):
        self.exited = threading.Event()
        self.returncode: int | None = None
        self._target, self._on_exit = target, on_exit
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self._thread.start()

    @classmethod
    def child(cls, proc: subprocess.Popen[bytes], on_exit: Callable[[int | None], None]) -> Watch:
        """Watch (and reap) a child of this process."""
        return cls(proc.wait, on_exit)

    @classmethod
    def adopted(cls, group: ProcessGroup, on_exit: Callable[[int | None], None]) -> Watch | None:
        """Watch a process that is not our child through a pidfd; None if it is not (any
        more) the recorded leader."""
        try:
            fd = os.pidfd_open(group.pid)
        except OSError:
            return None
        if not group.leader_alive():  # checked after opening: the fd names the right one
            os.close(fd)
            return None

        def wait() -> None:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                while not poller.poll():
                    pass
            finally:
                os.close(fd)

        return cls(wait, on_exit)

    def _run(self) -> None:
        self.returncode = self._target()
        self.exited.set()
        self._on_exit(self.returncode)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)


# -- accounts and bounded commands ------------------------------------------------------------
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Account:
    """The account a program runs as (S11, S41), with its supplementary groups."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @classmethod
    def lookup(cls, name: str) -> Account:
        """Raises :class:`KeyError` if this machine has no such account."""
        pw = pwd.getpwnam(name)
        groups = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
        return cls(pw.pw_name, pw.pw_uid, pw.pw_gid, groups, pw.pw_dir)

    @classmethod
    def current(cls) -> Account:
        """The account this daemon runs as."""
        try:
            return cls.lookup(pwd.getpwuid(os.geteuid()).pw_name)
        except KeyError:  # a uid without a passwd entry, as in some containers
            return cls(str(os.geteuid()), os.geteuid(), os.getegid(), (), "/")

    @property
    def switch(self) -> bool:
        """Whether starting as this account changes identity (only root can)."""
        return os.geteuid() == 0

    def environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """A clean environment, as a login would give: nothing leaks from the daemon's."""
        env = {
            "PATH": DEFAULT_PATH,
            "LANG": "C.UTF-8",
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
        }
        env.update(extra)
        return env

    def popen(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        output: IO[bytes] | int,
        gate: StartGate | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as this account, leader of a new session, stdin from /dev/null and
        stdout+stderr to ``output``. With ``gate``, the program itself runs only once the
        gate is opened (see :class:`StartGate`). OSError if it cannot be started."""
        return subprocess.Popen(
            gate.wrap(argv) if gate is not None else list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=gate.read_fd if gate is not None else subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            user=self.uid if self.switch else None,
            group=self.gid if self.switch else None,
            extra_groups=list(self.groups) if self.switch else None,
        )


class StartGate:
    """Holds a new process back until its PID is recorded, so it never runs unrecorded.

    Between fork and the moment the daemon records the PID in its registry, a process that
    the watchdog, the fence agent or a restarted daemon cannot know of could start running
    the program; if the daemon died (or froze) just then, it would run on as a second owner
    once the group started elsewhere. Through the gate, the process is a tiny ``/bin/sh``
    (same PID as the program it becomes) waiting on a pipe: :meth:`open` lets it ``exec``
    the program; end of file (the daemon died, or :meth:`close` without opening) makes it
    exit with code 125 having run nothing.
    """

    _SCRIPT = 'read -r go; [ "$go" = go ] || exit 125; exec "$@" </dev/null'
    REFUSED = 125

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # not inherited (O_CLOEXEC) but as stdin

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return ["/bin/sh", "-c", self._SCRIPT, argv[0], *argv]

    def spawned(self) -> None:
        """The child has its copy of the read end: drop ours."""
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def open(self) -> None:
        """Let the program run (once; the gate is closed behind it)."""
        with contextlib.suppress(BrokenPipeError):  # it is gone already: its watch says so
            os.write(self._write_fd, b"go\n")
        self.close()

    def close(self) -> None:
        self.spawned()
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1


def find_program(program: str, directory: str, path: str = DEFAULT_PATH) -> str | None:
    """Where exec would find ``program`` started in ``directory`` with ``PATH=path``, or None
    if it is missing or not executable there."""
    if "/" in program:
        full = os.path.join(directory, program)
        ok = os.path.isfile(full) and os.access(full, os.X_OK)
        return full if ok else None
    return shutil.which(program, path=path)


@dataclass(frozen=True)
class RunResult:
    """The end of one bounded command. ``returncode`` None: it timed out and its process
    group was killed. ``output`` is the tail of its stdout+stderr. ``group`` is the process
    group it led (members may still run if ``keep_group`` was given)."""

    returncode: int | None
    output: str
    group: ProcessGroup | None


def run_bounded(
    account: Account,
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: str,
    env: Mapping[str, str],
    log_path: Path | None = None,
    keep_group: bool = False,
    before_run: Callable[[int], bool] | None = None,
    cgroup: Cgroup | None = None,
) -> RunResult:
    """Run ``argv`` to its end, at most ``timeout_s`` seconds.

    On timeout the whole process group gets SIGKILL. When it ends in time, what it left in its
    group is killed too unless ``keep_group`` (a ``start`` that launches a daemon). Output goes
    to a file, never a pipe, so a background child holding stdout cannot make us wait; it is
    appended to ``log_path`` if given. With ``before_run``, the command is held at a
    :class:`StartGate` until ``before_run(pid)`` has returned, and runs only if it returned
    True (else it exits with :attr:`StartGate.REFUSED`). With ``cgroup``, the command is
    held at the gate until it has been moved into that cgroup, so that everything it forks
    is inside. Raises OSError if the command cannot be started (or placed).
    """
    gate = StartGate() if before_run is not None or cgroup is not None else None
    with tempfile.TemporaryFile() as out, contextlib.ExitStack() as cleanup:
        if gate is not None:
            cleanup.callback(gate.close)
        proc = account.popen(argv, cwd=cwd, env=env, output=out, gate=gate)
        group = ProcessGroup.of(proc.pid)
        if gate is not None:
            gate.spawned()
            try:
                if cgroup is not None:
                    cgroup.add(proc.pid)
                admitted = True if before_run is None else before_run(proc.pid)
            except BaseException:
                gate.close()  # it exits having run nothing
                proc.wait()
                raise
            if admitted:
                gate.open()
            gate.close()
        code: int | None
        try:
            code = proc.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            code = None
        if group is not None and (code is None or not keep_group):
            group.terminate(grace_s=0.0)
        proc.wait()
        out.seek(0)
        data = out.read()
    if log_path is not None and data:
        with log_path.open("ab") as log:
            log.write(data)
    return RunResult(code, tail(data), group)


def find_tool(name: str) -> str | None:
    """Where a system tool is, in the clean PATH every tool runs with."""
    return shutil.which(name, path=DEFAULT_PATH)


def run_tool(argv: list[str], timeout_s: float, log_path: Path | None = None) -> RunResult:
    """Run a system tool as the daemon, bounded (its whole output appended to ``log_path``);
    exit 127 if it cannot be started."""
    account = Account.current()
    try:
        return run_bounded(
            account,
            argv,
            timeout_s=timeout_s,
            cwd="/",
            env=account.environment({}),
            log_path=log_path,
        )
    except OSError as exc:
        return RunResult(127, f"cannot run {argv[0]}: {exc.strerror or exc}", None)


def tail(data: bytes, limit: int = 500) -> str:
    """The last ``limit`` bytes of ``data`` as text, for error messages."""
    text = data[-limit:].decode(errors="replace").strip()
    return ("…" + text) if len(data) > limit else text


# -- small state files ------------------------------------------------------------------------
def write_json(path: Path, doc: Mapping[str, object]) -> None:
    """Write atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, object] | None:
    """The document, or None if the file is missing or not a JSON object."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def blocked_ancestor(path: Path, account: Account) -> Path | None:
    """The first existing ancestor of ``path`` that ``account`` may not search, if any."""
    for ancestor in reversed(path.parents):
        try:
            st = ancestor.stat()
        except OSError:
            return None
        if st.st_uid == account.uid:
            bit = 0o100
        elif st.st_gid == account.gid or st.st_gid in account.groups:
            bit = 0o010
        else:
            bit = 0o001
        if account.uid != 0 and not st.st_mode & bit:
            return ancestor
    return None
