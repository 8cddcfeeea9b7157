"""The PID registry: a node's record of every process it started, so they can be killed.

The daemon, its watchdog and the leader of every resource's process group are recorded as
one file each, ``<run_dir>/pids/<pid>``, holding the process's start time (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot) and a label::

    8812345 resource

A PID is only a number that the kernel hands out again once its process is gone, so every
action first checks that the process behind the PID still has the recorded start time: a
reused PID is never touched, and nothing that was not recorded is ever signalled. Whoever
reads the registry (the watchdog, the local test fence agent) needs no state but these
files, so a frozen or dead daemon cannot keep them from acting.

Labels: ``daemon``, ``watchdog``, ``resource`` (the only ones the watchdog kills).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "LABEL_DAEMON",
    "LABEL_RESOURCE",
    "LABEL_WATCHDOG",
    "PidEntry",
    "PidRegistry",
    "ProcStat",
    "proc_stat",
]

LABEL_DAEMON = "daemon"
LABEL_WATCHDOG = "watchdog"
LABEL_RESOURCE = "resource"

_PROC = Path("/proc")


class PidEntry(NamedTuple):
    pid: int
    starttime: int  # clock ticks since boot, field 22 of /proc/<pid>/stat
    label: str


class ProcStat(NamedTuple):
    """The fields of ``/proc/<pid>/stat`` the registry needs."""

    state: str  # R, S, D, Z, T, ...
    pgrp: int
    starttime: int

    @property
    def running(self) -> bool:
        """False for a zombie (dead, waiting for its parent to reap it) or a dead task."""
        return self.state not in ("Z", "X", "x")


def proc_stat(pid: int) -> ProcStat | None:
    """``pid``'s state, process group and start time, or None if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp ... starttime ..."; comm may hold spaces and parentheses.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return ProcStat(fields[0].decode(), int(fields[2]), int(fields[19]))


class PidRegistry:
    """The processes one node started, kept under ``<run_dir>/pids``."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir) / "pids"

    # -- records -----------------------------------------------------------------------------
    def add(self, pid: int, label: str) -> PidEntry:
        """Record ``pid`` under ``label`` (one word). The process must exist (a child not yet
        reaped counts); otherwise :class:`ProcessLookupError` is raised."""
        if not label or any(c.isspace() for c in label):
            raise ValueError(f"a PID label must be one word, not {label!r}")
        st = proc_stat(pid)
        if st is None:
            raise ProcessLookupError(f"no process {pid} to record as {label!r}")
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{pid}.tmp"
        tmp.write_text(f"{st.starttime} {label}\n")
        tmp.replace(self.dir / str(pid))  # readers never see half a file
        return PidEntry(pid, st.starttime, label)

    def remove(self, pid: int) -> None:
        """Forget ``pid``; forgetting one that is not recorded is not an error."""
        with contextlib.suppress(FileNotFoundError):
            (self.dir / str(pid)).unlink()

    def entries(self) -> list[PidEntry]:
        """Every record, live or not, by PID. Unreadable files are skipped."""
        out: list[PidEntry] = []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return out
        for name in names:
            if not name.isdigit():
                continue
            try:
                starttime, label = (self.dir / name).read_text().split()
                out.append(PidEntry(int(name), int(starttime), label))
            except (OSError, ValueError):
                continue  # removed meanwhile, or not written by us
        return sorted(out)

    def alive(self) -> list[PidEntry]:
        """The records whose process still runs with the recorded start time."""
        return [e for e in self.entries() if _is_same(e)]

    def prune(self) -> list[PidEntry]:
        """Forget the records of which nothing runs any more (see :meth:`running`)."""
        groups = _members_by_group()
        gone = [e for e in self.entries() if not _reach(e, groups)]
        for e in gone:
            self.remove(e.pid)
        return gone

    # -- killing -----------------------------------------------------------------------------
    def kill_all(
        self,
        sig: int = signal.SIGKILL,
        *,
        process_groups: bool = True,
        labels: Collection[str] | None = None,
    ) -> list[int]:
        """Send ``sig`` to every recorded process (of ``labels``, if given); see :meth:`kill`."""
        return self.kill(self._chosen(labels), sig, process_groups=process_groups)

    def kill(
        self,
        entries: Iterable[PidEntry],
        sig: int = signal.SIGKILL,
        *,
        process_groups: bool = True,
    ) -> list[int]:
        """Send ``sig`` to each entry's process, or to its whole process group if it leads one.

        The start time is checked first; an entry whose PID now names another process is
        skipped. If a group leader has exited but members of its group still run (a shell
        that started children and quit), those members are signalled one by one, provided
        they started no earlier than the leader. The caller itself and its own process group
        are never signalled. Returns the recorded PIDs that were acted on.
        """
        me, my_group = os.getpid(), os.getpgrp()
        groups: dict[int, list[_Proc]] | None = None  # pgrp -> members, built only if needed
        acted: list[int] = []
        for e in entries:
            if e.pid == me:
                continue
            st = proc_stat(e.pid)
            if st is not None and st.starttime == e.starttime:
                if process_groups and st.pgrp == e.pid and e.pid != my_group:
                    # A live leader keeps its PID, and so its group's, from being reused.
                    sent = _send(os.killpg, e.pid, sig)
                else:
                    sent = _signal_verified(_Proc(e.pid, e.starttime), sig)
                if sent:
                    acted.append(e.pid)
            elif st is None and process_groups and e.pid != my_group:
                # The leader is gone. Its PID cannot be handed out again while its group still
                # has members, so the members of group e.pid started since the leader are ours.
                if groups is None:
                    groups = _members_by_group()
                sent_any = False
                for m in groups.get(e.pid, []):
                    if m.starttime >= e.starttime and m.pid != me:
                        sent_any |= _signal_verified(m, sig)
                if sent_any:
                    acted.append(e.pid)
            # else: the PID now names another process, which is not ours
        return acted

    def running(self, *, labels: Collection[str] | None = None) -> list[int]:
        """The running processes :meth:`kill` would reach for the records (of ``labels``, if
        given): recorded processes and members of recorded process groups. Zombies are
        not running."""
        chosen = self._chosen(labels)
        if not chosen:
            return []
        groups = _members_by_group()
        return sorted(set().union(*(_reach(e, groups) for e in chosen)))

    def wait_gone(self, timeout: float, *, labels: Collection[str] | None = None) -> bool:
        """Wait up to ``timeout`` seconds until nothing of the records (of ``labels``) runs
        (see :meth:`running`); True if so."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running(labels=labels):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))

    def _chosen(self, labels: Collection[str] | None) -> list[PidEntry]:
        return [e for e in self.entries() if labels is None or e.label in labels]


class _Proc(NamedTuple):
    pid: int
    starttime: int


def _reach(e: PidEntry, groups: dict[int, list[_Proc]]) -> set[int]:
    """The running processes that :meth:`PidRegistry.kill` would signal for ``e``."""
    me, my_group = os.getpid(), os.getpgrp()
    out: set[int] = set()
    st = proc_stat(e.pid)
    if st is not None and st.starttime == e.starttime:
        if st.running:
            out.add(e.pid)
        if st.pgrp == e.pid and e.pid != my_group:
            out.update(m.pid for m in groups.get(e.pid, []))
    elif st is None and e.pid != my_group:
        out.update(m.pid for m in groups.get(e.pid, []) if m.starttime >= e.starttime)
    out.discard(me)
    return out


def _is_same(e: PidEntry) -> bool:
    st = proc_stat(e.pid)
    return st is not None and st.starttime == e.starttime and st.running


def _all_pids() -> Iterator[int]:
    for name in os.listdir(_PROC):
        if name.isdigit():
            yield int(name)


def _members_by_group() -> dict[int, list[_Proc]]:
    """Every running (not zombie) process on the machine, by process group."""
    groups: dict[int, list[_Proc]] = {}
    for pid in _all_pids():
        st = proc_stat(pid)
        if st is not None and st.running:
            groups.setdefault(st.pgrp, []).append(_Proc(pid, st.starttime))
    return groups


def _signal_verified(p: _Proc, sig: int) -> bool:
    """Signal one process only if it still has the recorded start time, with no window in
    which its PID could be reused: open a pidfd on it first, then check, then signal."""
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return False
    except OSError:  # a kernel without pidfds (before 5.3): check, then kill
        st = proc_stat(p.pid)
        return st is not None and st.starttime == p.starttime and _send(os.kill, p.pid, sig)
    try:
        st = proc_stat(p.pid)
        if st is None or st.starttime != p.starttime:
            return False
        return _send(signal.pidfd_send_signal, fd, sig)
    finally:
        os.close(fd)


def _send(send: Callable[[int, int], None], target: int, sig: int) -> bool:
    try:
        send(target, sig)
    except ProcessLookupError:
        return False
    return True
