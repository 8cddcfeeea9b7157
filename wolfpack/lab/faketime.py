"""A lab node's own wall clock, for the chaos suite's clock jumps (issue 9), the host's
clock untouched.

``wolfpack lab up --faketime`` starts every wolfpackd under libfaketime (Debian's
``faketime`` package, 0.9.10): ``LD_PRELOAD`` intercepts ``CLOCK_REALTIME`` and adds the
offset written in the node's file (:func:`wolfpack.lab.layout.faketime_file`, ``+0`` until
a fault writes ``+30`` or ``-30``). The variables, as libfaketime's README names them:

* ``FAKETIME_TIMESTAMP_FILE``: the file, read again at every call (``FAKETIME_NO_CACHE=1``:
  its cache, ``FAKETIME_CACHE_DURATION``, is timed by the *faked* clock, so after a jump
  back by 30 s it kept the old offset for 30 s);
* ``FAKETIME_DONT_FAKE_MONOTONIC=1``: the monotonic and boot-time clocks (leases, the
  watchdog, every timeout) stay the machine's, as on a real machine whose wall clock is
  stepped.

Two workarounds of libfaketime 0.9.10, made by :func:`main` before the daemon runs (it is
this module that the node's launcher runs, with the daemon's module and arguments):

* with ``FAKETIME_DONT_FAKE_MONOTONIC``, ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``
  is handed a negative time and fails with EINVAL (libfaketime issue 426), and that is
  what Python 3.11's ``time.sleep`` calls: ``time.sleep`` becomes a wait on an Event that
  is never set, timed by the same monotonic clock (``sem_clockwait``, left alone);
* ``LD_PRELOAD`` is removed from the environment, so what the daemon starts (the
  applications, the fence agent, which is Python too) keeps the host's clock.
"""

from __future__ import annotations

import operator
import os
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import SupportsIndex

__all__ = ["LIBRARY", "environment", "main", "preloaded", "set_offset"]

#: Debian's libfaketime (package libfaketime, pulled in by faketime)
LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def environment(offset_file: Path) -> dict[str, str]:
    """The variables a daemon under libfaketime needs (``LD_PRELOAD`` apart: the launcher
    sets it on the daemon's own exec only)."""
    return {
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def set_offset(offset_file: Path, seconds: int) -> None:
    """The node's wall clock ``seconds`` off the host's from the next call on (written
    whole, then renamed: libfaketime never reads half a file)."""
    tmp = offset_file.with_name(offset_file.name + ".tmp")
    tmp.write_text(f"{seconds:+d}\n")
    tmp.replace(offset_file)


def preloaded(pid: int) -> bool:
    """Whether process ``pid`` runs with libfaketime loaded."""
    try:
        return LIBRARY.name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


_NEVER = threading.Event()


def _sleep(seconds: float | SupportsIndex) -> None:
    wait = float(seconds) if isinstance(seconds, float) else float(operator.index(seconds))
    if wait < 0:
        raise ValueError("sleep length must be non-negative")
    _NEVER.wait(wait)


def main(argv: list[str] | None = None) -> None:
    """``python -m wolfpack.lab.faketime MODULE ARGS...``: MODULE as ``__main__``, after
    the workarounds of the module docstring."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m wolfpack.lab.faketime MODULE [ARGS...]")
    time.sleep = _sleep
    os.environ.pop("LD_PRELOAD", None)
    sys.argv = [args[0], *args[1:]]
    runpy.run_module(args[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
