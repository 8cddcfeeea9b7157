"""Process helpers shared by the node tests: start, watch and clean up real processes.

Only processes a test started (or that its processes started, recorded as strays with their
start time) are ever signalled, by PID, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from wolfpack.node.pidregistry import proc_stat

WAIT = 5.0  # upper bound of every open-ended wait in the node tests


class Spawner:
    """Starts commands in their own session; on teardown kills each one's process group.

    A group leader is never reaped by the tests (they look at /proc, where a zombie counts as
    gone), so its PID, and therefore its group's, cannot have been reused at teardown.
    Processes started by ours are killed only if their recorded start time still matches.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.strays: list[tuple[int, int]] = []  # (pid, starttime) of processes we caused

    def __call__(self, cmd: str | list[str], **kw: Any) -> subprocess.Popen[bytes]:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        p: subprocess.Popen[bytes] = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stray(self, pid: int) -> None:
        """Remember ``pid`` (started by one of ours) so that teardown kills it."""
        st = proc_stat(pid)
        if st is not None:
            self.strays.append((pid, st.starttime))

    def cleanup(self) -> None:
        for p in self.procs:
            if p.returncode is None:  # not reaped: the group id is still ours
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=WAIT)
        for pid, starttime in self.strays:
            st = proc_stat(pid)
            if st is not None and st.starttime == starttime:
                os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st.running


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid``, sorted."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st.running and st.pgrp == pgid:
                out.append(int(name))
    return sorted(out)


def until(cond: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
