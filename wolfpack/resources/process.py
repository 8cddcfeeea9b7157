"""Process supervision shared by the agents: /proc facts and process groups (bounded
commands are in :mod:`wolfpack.resources.commands`).

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
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = [
    "ProcInfo",
    "ProcessGroup",
    "Stopped",
    "Watch",
    "boot_id",
    "describe_exit",
    "proc_cmdline",
    "proc_info",
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


def runs(pid: int, start_time: int) -> bool:
    """True while ``pid`` runs (not a zombie) and is the process that started at
    ``start_time``, not a later one given the same PID."""
    info = proc_info(pid)
    return info is not None and info.running and info.start_time == start_time


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

    def leader_children(self) -> dict[int, int]:
        """The running children of the leader (PID -> start time), while it runs: those
        that left the group (setsid) are found only this way."""
        if not self.leader_alive():
            return {}
        try:
            raw = (_PROC / str(self.pid) / "task" / str(self.pid) / "children").read_text()
        except OSError:
            return {}
        out: dict[int, int] = {}
        for token in raw.split():
            info = proc_info(int(token))
            if info is not None and info.running and info.start_time >= self.start_time:
                out[int(token)] = info.start_time
        return out

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
