"""Running a program for an agent: the account it runs as, a start gate, a command bounded in
time (its process group ended with it), and the small state files agents keep.

Process identity and groups (the rules for "which processes are ours") are in
:mod:`wolfpack.resources.process`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from wolfpack.resources.confine import Cgroup
from wolfpack.resources.priority import resource_prefix
from wolfpack.resources.process import ProcessGroup

__all__ = [
    "DEFAULT_PATH",
    "Account",
    "RunResult",
    "StartGate",
    "blocked_ancestor",
    "find_program",
    "find_tool",
    "read_json",
    "run_bounded",
    "run_tool",
    "tail",
    "write_json",
]

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
        """Start ``argv`` as this account, leader of a new session, at the normal priority
        (:mod:`wolfpack.resources.priority`), stdin from /dev/null and stdout+stderr to
        ``output``. With ``gate``, the program itself runs only once the
        gate is opened (see :class:`StartGate`). OSError if it cannot be started."""
        prefix = resource_prefix()  # at the normal priority, not the daemon's
        if prefix:  # the program would be nice's to find: say what Popen would have said
            unrunnable = _unrunnable(argv[0], cwd, env.get("PATH", DEFAULT_PATH))
            if unrunnable is not None:
                raise unrunnable
        argv = [*prefix, *argv]
        return subprocess.Popen(
            gate.wrap(argv) if gate is not None else argv,
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


def _unrunnable(program: str, directory: str, path: str) -> OSError | None:
    """The error exec would give for ``program`` (None: it would run)."""
    if find_program(program, directory, path) is not None:
        return None
    places = (
        [os.path.join(directory, program)]
        if "/" in program
        else [os.path.join(d, program) for d in path.split(os.pathsep) if d]
    )
    if any(os.path.exists(p) for p in places):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


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
