"""The watchdog: a small process per node that kills the node's resources when the daemon
stops proving that its etcd lease is still valid.

A node may run resources only while its lease is valid by its own clock. The daemon stops
them itself when it cannot renew the lease, but a frozen daemon (SIGSTOP, a stuck page
fault, a debugger) cannot stop anything, while etcd lets the lease expire on time and the
group starts elsewhere. This process covers that case and does nothing else::

    python -m wolfpack.node.watchdog --run-dir /run/wolfpack --margin-s 0.3

The daemon starts it (:meth:`WatchdogClient.start`) with a pipe on its standard input, in a
session of its own, so a signal aimed at the daemon or its process group does not reach it,
and writes one line each time it renews the lease:

``deadline <seconds>``
    the moment the lease may expire, by ``CLOCK_MONOTONIC`` (``time.monotonic()``: one
    clock for every process on the machine). Each line replaces the previous deadline.
``disarm``
    clean shutdown: the daemon has stopped its resources itself.

Rules:

- When the clock reaches ``deadline - margin`` with no newer deadline, end the node's share
  of its groups, in this order: SIGKILL every process group recorded in the PID registry
  with the label ``resource`` (never the daemon, never the watchdog) and every cgroup
  recorded in the node's holdings (:mod:`wolfpack.resources.holdings`: the resources'
  cgroups, which hold whatever they forked or daemonised, and systemd units' cgroups);
  then remove the recorded virtual addresses (``:wp``-labelled); then unmount the recorded
  mounts (``umount -f``, ``umount -l`` as the last resort: the processes are dead by then,
  so the filesystem is not kept busy). Log one ``watchdog_fired`` JSON line to stderr.
- After firing it stays *expired* until the next deadline (or ``disarm``): every 0.25 s it
  ends again whatever was registered or recorded since (a daemon that thaws may still be
  starting something: review L1). The daemon, if it wakes up, finds its lease gone,
  rejoins and arms again.
- On end of input (the daemon died) while armed: keep enforcing the last deadline, then
  kill the resources that were recorded when the daemon died, and exit. Expired: end what
  was recorded since, and exit. Disarmed: exit.
- SIGTERM, SIGINT and SIGHUP end the watchdog only while it is disarmed; while armed they
  are logged and otherwise ignored (SIGKILL still works, of course).
- Idle, it blocks in ``select``: with no timeout when disarmed; armed, until the moment to
  act but at most 0.25 s, because that moment is counted on ``CLOCK_BOOTTIME`` (which,
  unlike ``CLOCK_MONOTONIC``, goes on while the machine is suspended, as etcd's clock does).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import wolfpack
from wolfpack.node.pidregistry import LABEL_RESOURCE, LABEL_WATCHDOG, PidEntry, PidRegistry
from wolfpack.resources.holdings import ADDRESS, CGROUP, MOUNT, Holding, Holdings

__all__ = ["Watchdog", "WatchdogClient", "main"]

_MAX_LINE = 256  # a longer line is not from the daemon: dropped
_KILL_WAIT_S = 1.0  # after SIGKILL, how long to wait for the processes to be gone (for the log)
_SUSPEND_CHECK_S = 0.25  # armed, wake at least this often to notice a suspended machine
_SWEEP_S = 0.25  # expired, look this often for what was registered since the shot


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _log_to_stderr(event: str, **fields: object) -> None:
    line = json.dumps(
        {"ts": round(time.time(), 3), "component": "watchdog", "pid": os.getpid(), "event": event}
        | fields,
        default=str,
    )
    with contextlib.suppress(OSError, ValueError):  # a lost log must not stop the watchdog
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Watchdog:
    """The watchdog's loop, reading the daemon's lines from ``fd``."""

    def __init__(
        self,
        registry: PidRegistry,
        margin_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        boot_clock: Callable[[], float] = _boottime,
        log: Callable[..., None] = _log_to_stderr,
        holdings: Holdings | None = None,
    ) -> None:
        self.registry, self.margin_s = registry, margin_s
        self.holdings = holdings if holdings is not None else Holdings(registry.dir.parent)
        self.clock, self.boot_clock, self.log = clock, boot_clock, log
        self.deadline: float | None = None  # as the daemon wrote it (clock); None = disarmed
        self._fire_at = 0.0  # by boot_clock
        self.fired = 0
        #: fired, and no newer deadline since: the lease is gone, nothing may run (L1)
        self.expired = False
        self._survivors: set[int] = set()  # what outlived SIGKILL at the last shot
        self._unreleasable: set[str] = set()  # holdings that could not be ended (logged)
        self._terminate = False

    # -- the protocol ---------------------------------------------------------------------------
    def handle(self, line: str) -> None:
        """One line from the daemon."""
        words = line.split()
        if words == ["disarm"]:
            self.deadline, self.expired = None, False
            return
        if len(words) == 2 and words[0] == "deadline":
            with contextlib.suppress(ValueError):
                value = float(words[1])
                if math.isfinite(value):
                    self.arm(value)
                    return
        self.log("watchdog_bad_line", line=line[:_MAX_LINE])

    def arm(self, deadline: float) -> None:
        self.deadline, self.expired = deadline, False
        # CLOCK_MONOTONIC stands still while the machine is suspended; CLOCK_BOOTTIME does
        # not, and neither does etcd's clock elsewhere. So the wait is counted on the latter.
        self._fire_at = deadline - self.margin_s - self.clock() + self.boot_clock()

    def remaining(self) -> float | None:
        """Seconds until the resources are killed if no newer deadline comes; None when
        disarmed."""
        return None if self.deadline is None else self._fire_at - self.boot_clock()

    def fire(self, reason: str, victims: list[PidEntry] | None = None) -> list[int]:
        """End the node's resources: SIGKILL the process groups (``victims``, or every
        recorded resource) and the recorded cgroups, then remove the recorded addresses,
        then unmount the recorded mounts. Returns the PIDs of the groups signalled."""
        left = self.remaining()
        began = self.boot_clock()
        killed: list[int] = []
        error, gone = None, False
        ended: dict[str, list[str]] = {CGROUP: [], ADDRESS: [], MOUNT: []}
        failed: list[str] = []
        try:
            chosen = victims if victims is not None else self.registry.entries()
            chosen = [e for e in chosen if e.label == LABEL_RESOURCE]
            killed = self.registry.kill(chosen, signal.SIGKILL)
        except OSError as exc:
            error = str(exc)
        for kind in (CGROUP, ADDRESS, MOUNT):  # processes first: they keep mounts busy
            if kind == ADDRESS:
                try:
                    gone = self.registry.wait_gone(_KILL_WAIT_S, labels={LABEL_RESOURCE})
                    self._survivors = set(self.registry.running(labels={LABEL_RESOURCE}))
                except OSError as exc:
                    error = error or str(exc)
            for holding in self._holdings(kind):
                why = self.holdings.release(holding)
                if why is None:
                    ended[kind].append(holding.describe())
                else:
                    self._unreleasable.add(_key(holding))
                    failed.append(f"{holding.describe()}: {why}")
        self.fired += 1
        self.log(
            "watchdog_fired",
            reason=reason,
            deadline=self.deadline,
            margin_s=self.margin_s,
            late_s=None if left is None else round(-left, 4),
            took_s=round(self.boot_clock() - began, 4),
            killed=killed,
            all_gone=gone,
            cgroups=ended[CGROUP],
            addresses=ended[ADDRESS],
            mounts=ended[MOUNT],
            **({"failed": failed} if failed else {}),
            **({"error": error} if error else {}),
        )
        self.deadline, self.expired = None, True
        return killed

    def sweep(self) -> bool:
        """Expired (L1): fire again if anything was registered or recorded since the last
        shot (what could not be ended then is not retried over and over); True if so."""
        try:
            live = set(self.registry.running(labels={LABEL_RESOURCE})) - self._survivors
            held = [h for h in self._holdings() if _key(h) not in self._unreleasable]
        except OSError:
            return False
        if not live and not held:
            return False
        self.fire("registered_after_fire")
        return True

    def _holdings(self, kind: str | None = None) -> list[Holding]:
        try:
            return self.holdings.entries() if kind is None else self.holdings.entries((kind,))
        except OSError:
            return []

    # -- the loop -------------------------------------------------------------------------------
    def run(self, fd: int = 0) -> int:
        """Serve until the daemon goes away (end of input) or a signal ends us while disarmed."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        old_handlers = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        try:
            return self._serve(fd, wake_r)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._terminate = True

    def _serve(self, fd: int, wake_r: int) -> int:
        pending = b""
        while True:
            left = self.remaining()
            if left is not None and left <= 0:
                self.fire("deadline")
                continue
            if self.expired:
                self.sweep()
            if self._terminate:
                if self.deadline is None:
                    self.log("watchdog_exit", reason="signal")
                    return 0
                self.log("watchdog_signal_ignored", detail="armed: exits only once disarmed")
                self._terminate = False
            timeout = None if left is None else min(left, _SUSPEND_CHECK_S)
            if self.expired:
                timeout = _SWEEP_S
            readable, _, _ = select.select([fd, wake_r], [], [], timeout)
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            if fd not in readable:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""  # as good as the end of input
            if not chunk:
                return self._daemon_gone()
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                self.handle(raw.decode(errors="replace"))
            if len(pending) > _MAX_LINE:
                self.handle(pending.decode(errors="replace"))
                pending = b""

    def _daemon_gone(self) -> int:
        left = self.remaining()
        if left is None:
            if self.expired:
                self.sweep()
            self.log("watchdog_exit", reason="daemon closed the pipe while disarmed")
            return 0
        try:
            victims: list[PidEntry] | None = self.registry.entries()  # the dead daemon's
        except OSError:
            victims = None  # then whatever is recorded when the time comes
        self.log("watchdog_daemon_gone", deadline=self.deadline, fire_in_s=round(left, 4))
        while (left := self.remaining() or 0.0) > 0:
            time.sleep(min(left, _SUSPEND_CHECK_S))
        self.fire("daemon_gone", victims)
        self.log("watchdog_exit", reason="daemon gone")
        return 0


# -- the process ------------------------------------------------------------------------------


def _key(holding: Holding) -> str:
    return json.dumps([holding.kind, holding.resource, holding.fields], sort_keys=True)


def _harden() -> None:
    """Best effort, as root: keep the OOM killer away and never wait on swap."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("-1000\n")
    if os.geteuid() == 0:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mlockall(1 | 2)  # MCL_CURRENT | MCL_FUTURE


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wolfpack.node.watchdog",
        description="Kill this node's resources when wolfpackd stops renewing its lease. "
        "Reads 'deadline <monotonic seconds>' and 'disarm' lines on standard input.",
    )
    ap.add_argument("--run-dir", type=Path, required=True, help="the node's run directory")
    ap.add_argument("--margin-s", type=float, default=0.3, help="act this long before a deadline")
    args = ap.parse_args(argv)
    if not (math.isfinite(args.margin_s) and args.margin_s >= 0):
        ap.error("--margin-s must be a non-negative number")
    if os.getsid(0) != os.getpid():
        with contextlib.suppress(OSError):
            os.setsid()  # out of the daemon's session and process group
    _harden()
    watchdog = Watchdog(PidRegistry(args.run_dir), args.margin_s)
    watchdog.log("watchdog_started", run_dir=str(args.run_dir), margin_s=args.margin_s)
    try:
        return watchdog.run(sys.stdin.fileno())
    except Exception as exc:
        # Fail safe: a broken watchdog must not leave armed resources unguarded.
        watchdog.log("watchdog_crashed", error=repr(exc), armed=watchdog.deadline is not None)
        if watchdog.deadline is not None:
            watchdog.fire("watchdog_error")
        return 1


# -- the daemon's side ------------------------------------------------------------------------


class WatchdogClient:
    """The daemon's handle on its watchdog process.

    :meth:`arm` and :meth:`disarm` never block: the pipe is non-blocking, and a line that
    does not fit (the watchdog is stopped and its pipe is full) is dropped and counted. If
    the watchdog has died, :meth:`arm` starts a new one (and counts it in ``restarts``);
    :class:`OSError` is raised only if that fails.
    """

    def __init__(
        self,
        run_dir: Path,
        margin_s: float,
        *,
        stderr: int | IO[bytes] | IO[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.run_dir, self.margin_s = Path(run_dir), margin_s
        self.registry = PidRegistry(self.run_dir)
        self._stderr = _own_fd(stderr)  # our copy: a restart can use it after the caller's closed
        self._python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self.restarts = 0
        self.dropped = 0
        #: the deadline last sent (``time.monotonic()``); None: disarmed (for the metrics)
        self.armed_until: float | None = None

    @classmethod
    def start(
        cls,
        run_dir: Path | str,
        margin_s: float = 0.3,
        *,
        stderr: int | IO[bytes] | IO[str] | None = None,
        python: str = sys.executable,
    ) -> WatchdogClient:
        """Start the watchdog process (its own session) and record it as ``watchdog``."""
        client = cls(Path(run_dir), margin_s, stderr=stderr, python=python)
        with client._lock:
            client._spawn()
        return client

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def arm(self, deadline: float) -> None:
        """Tell the watchdog the lease may expire at ``deadline`` (``time.monotonic()``)."""
        self._send(f"deadline {deadline:.6f}\n".encode())
        self.armed_until = deadline

    def disarm(self) -> None:
        """The resources are stopped: nothing for the watchdog to do until the next arm."""
        self._send(b"disarm\n", restart=False)
        self.armed_until = None

    @property
    def armed(self) -> bool:
        """A watchdog process runs and holds a lease deadline to enforce."""
        return self.armed_until is not None and self.alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Disarm, close the pipe and wait for the watchdog to exit (kill it after
        ``timeout``); then forget it in the registry. Safe to call twice."""
        with self._lock:
            proc, self._proc = self._proc, None
            self.armed_until = None
            if proc is None:
                return
            with contextlib.suppress(OSError):
                os.write(self._fd, b"disarm\n")
            self._fd = -1
            _close_and_reap(proc, timeout)
            self.registry.remove(proc.pid)
            if self._stderr is not None:
                os.close(self._stderr)
                self._stderr = None

    # -- internals --------------------------------------------------------------------------
    def _spawn(self) -> None:
        root = str(Path(wolfpack.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        argv = [self._python, "-m", "wolfpack.node.watchdog"]
        argv += ["--run-dir", str(self.run_dir), "--margin-s", repr(self.margin_s)]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # a signal for the daemon's group must not reach it
            env=env,
        )
        assert proc.stdin is not None
        self._fd = proc.stdin.fileno()  # close-on-exec: resources never hold it open
        os.set_blocking(self._fd, False)
        self._proc = proc
        self.registry.add(proc.pid, LABEL_WATCHDOG)

    def _send(self, line: bytes, *, restart: bool = True) -> None:
        with self._lock:
            if self._proc is None:
                raise RuntimeError("the watchdog was stopped")
            try:
                os.write(self._fd, line)  # < PIPE_BUF: all or nothing
                return
            except BlockingIOError:
                self.dropped += 1
                return
            except BrokenPipeError:
                if not restart:
                    return
            old = self._proc  # it closed its end of the pipe: it has exited or is exiting
            _close_and_reap(old, 1.0)
            self.registry.remove(old.pid)
            self._spawn()
            self.restarts += 1
            os.write(self._fd, line)


def _own_fd(stream: int | IO[bytes] | IO[str] | None) -> int | None:
    if stream is None:
        return None
    if stream == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    return os.dup(stream if isinstance(stream, int) else stream.fileno())


def _close_and_reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Close our end of the pipe (end of input: a disarmed watchdog exits) and reap the
    process, killing it after ``timeout``: it is our child and not reaped yet, so its PID
    is still its own."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


if __name__ == "__main__":
    sys.exit(main())
