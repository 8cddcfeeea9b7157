"""The watchdog process against real processes and real time.

Only processes this test started (or that its processes started: the watchdogs) are ever
signalled, by PID, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wolfpack.node.pidregistry import PidRegistry
from wolfpack.node.watchdog import Watchdog, WatchdogClient

from .procs import WAIT, Spawner, group_members, running, until

MARGIN = 0.3
LATE = 2.0  # the resources must be gone at most this long after the deadline


class Procs(Spawner):
    """What a test started (resources, watchdogs); on teardown everything still running is
    killed by PID (see :class:`Spawner`)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.registry = PidRegistry(run_dir)
        self.clients: list[WatchdogClient] = []

    def spawn(self, cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        return self(cmd, **kw)

    def resource(self, label: str = "resource") -> list[int]:
        """A resource process group (sh and two sleeps), recorded; returns its members."""
        p = self.spawn(["sh", "-c", "sleep 100 & sleep 100"])
        self.registry.add(p.pid, label)
        assert until(lambda: len(group_members(p.pid)) == 3)
        return group_members(p.pid)

    def watchdog(self, log: Path) -> WatchdogClient:
        with log.open("ab") as err:
            client = WatchdogClient.start(self.run_dir, MARGIN, stderr=err)
        self.clients.append(client)
        return client

    def cleanup(self) -> None:
        for client in self.clients:
            client.stop()
        super().cleanup()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path / "run")
    try:
        yield p
    finally:
        p.cleanup()


def sleep_until(t: float) -> None:
    while (left := t - time.monotonic()) > 0:
        time.sleep(left)


def gone_at(pids: list[int], limit: float) -> float:
    """When every pid was seen gone (monotonic); fails if still running at ``limit``."""
    assert until(lambda: not any(running(p) for p in pids), limit - time.monotonic()), (
        f"still running at the limit: {[p for p in pids if running(p)]}"
    )
    return time.monotonic()


def events(log: Path, name: str) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["event"] == name:
                out.append(record)
    return out


def test_rearming_keeps_resources_and_silence_kills_them(procs: Procs, tmp_path: Path) -> None:
    log = tmp_path / "watchdog.log"
    res = procs.resource()
    daemon = procs.resource("daemon")  # stands for the daemon: never the watchdog's target
    wd = procs.watchdog(log)
    assert os.getsid(wd.pid) == wd.pid != os.getsid(0)  # a session of its own

    stop_at = time.monotonic() + 2.0
    while (now := time.monotonic()) < stop_at:
        wd.arm(now + 1.0)
        time.sleep(0.1)
    deadline = time.monotonic() + 1.0
    wd.arm(deadline)  # the last renewal
    sleep_until(deadline - MARGIN - 0.3)
    assert all(running(p) for p in res), "killed too early"

    killed_at = gone_at(res, deadline + LATE)
    assert killed_at >= deadline - MARGIN - 0.3
    assert all(running(p) for p in daemon)
    assert wd.alive()
    assert until(lambda: bool(events(log, "watchdog_fired")))
    (fired,) = events(log, "watchdog_fired")
    assert fired["reason"] == "deadline"
    assert fired["killed"] == [res[0]]
    assert 0 <= fired["late_s"] < LATE

    # It keeps running: a daemon that comes back arms it again.
    res2 = procs.resource()
    deadline = time.monotonic() + 0.6
    wd.arm(deadline)
    gone_at(res2, deadline + LATE)
    assert all(running(p) for p in daemon)
    assert wd.alive()


DAEMON = textwrap.dedent(
    """
    import sys, time
    from wolfpack.node.watchdog import WatchdogClient
    wd = WatchdogClient.start(sys.argv[1], float(sys.argv[2]))
    print(wd.pid, flush=True)
    while True:
        wd.arm(time.monotonic() + 1.0)
        time.sleep(0.1)
    """
)


def test_a_frozen_daemon_has_its_resources_killed_before_the_deadline(
    procs: Procs, tmp_path: Path
) -> None:
    res = procs.resource()
    daemon = procs.spawn(
        [sys.executable, "-c", DAEMON, str(procs.run_dir), str(MARGIN)], stdout=subprocess.PIPE
    )
    assert daemon.stdout is not None
    wd_pid = int(daemon.stdout.readline())
    procs.stray(wd_pid)
    assert os.getsid(wd_pid) == wd_pid  # not in the daemon's session: SIGSTOP spares it
    time.sleep(0.5)
    assert all(running(p) for p in res)

    os.kill(daemon.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 1.0  # the last deadline it wrote is earlier than this
    gone_at(res, deadline)
    assert running(wd_pid)

    # The daemon dies for good: the watchdog, disarmed by firing, exits.
    os.killpg(daemon.pid, signal.SIGKILL)
    assert until(lambda: not running(wd_pid))


def test_end_of_input_kills_at_the_deadline_and_exits(procs: Procs, tmp_path: Path) -> None:
    log = tmp_path / "watchdog.log"
    res = procs.resource()
    cmd = [sys.executable, "-m", "wolfpack.node.watchdog", "--run-dir", str(procs.run_dir)]
    with log.open("wb") as err:
        wd = procs.spawn([*cmd, "--margin-s", str(MARGIN)], stdin=subprocess.PIPE, stderr=err)
    assert wd.stdin is not None
    assert until(lambda: bool(events(log, "watchdog_started")))  # slow on a loaded machine
    deadline = time.monotonic() + 1.2
    wd.stdin.write(f"deadline {deadline}\n".encode())
    wd.stdin.close()  # the daemon died
    # once the watchdog has seen it (its start-up may take a while on a loaded machine)
    assert until(lambda: bool(events(log, "watchdog_daemon_gone")))
    later = procs.resource()  # a new daemon's resource: not the dead daemon's
    sleep_until(deadline - MARGIN - 0.3)
    assert all(running(p) for p in res), "killed too early"

    gone_at(res, deadline + LATE)
    assert wd.wait(timeout=WAIT) == 0
    assert all(running(p) for p in later)
    (fired,) = events(log, "watchdog_fired")
    assert fired["reason"] == "daemon_gone"


def test_disarm_kills_nothing_and_idles_quietly(procs: Procs, tmp_path: Path) -> None:
    log = tmp_path / "watchdog.log"
    res = procs.resource()
    wd = procs.watchdog(log)
    deadline = time.monotonic() + 0.6
    wd.arm(deadline)
    wd.disarm()
    assert until(lambda: bool(events(log, "watchdog_started")))  # past its start-up work
    cpu_before = cpu_ticks(wd.pid)
    sleep_until(deadline + 0.7)
    assert all(running(p) for p in res)
    assert cpu_ticks(wd.pid) - cpu_before <= 3  # ~nothing in 1.3 s (a tick is 10 ms)

    wd.arm(time.monotonic() + 100)
    before = cpu_ticks(wd.pid)
    time.sleep(1.0)
    assert cpu_ticks(wd.pid) - before <= 3  # armed: blocked in select until the deadline

    wd.stop()
    assert not running(wd.pid)
    assert all(e.label != "watchdog" for e in procs.registry.entries())
    assert all(running(p) for p in res)
    assert events(log, "watchdog_fired") == []


def cpu_ticks(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_bad_lines_and_signals_while_armed_are_survived(procs: Procs, tmp_path: Path) -> None:
    log = tmp_path / "watchdog.log"
    res = procs.resource()
    cmd = [sys.executable, "-m", "wolfpack.node.watchdog", "--run-dir", str(procs.run_dir)]
    with log.open("wb") as err:
        wd = procs.spawn(cmd, stdin=subprocess.PIPE, stderr=err)
    assert wd.stdin is not None

    def send(line: str) -> None:
        assert wd.stdin is not None
        wd.stdin.write(line.encode())
        wd.stdin.flush()

    send("nonsense\ndeadline soon\ndeadline nan\n")
    send(f"deadline {time.monotonic() + 100}\n")
    assert until(lambda: len(events(log, "watchdog_bad_line")) == 3)
    os.kill(wd.pid, signal.SIGTERM)
    assert until(lambda: bool(events(log, "watchdog_signal_ignored")))
    assert wd.poll() is None
    send("disarm\n")
    time.sleep(0.1)
    os.kill(wd.pid, signal.SIGTERM)  # disarmed: it goes
    assert wd.wait(timeout=WAIT) == 0
    assert all(running(p) for p in res)


def test_client_restarts_a_dead_watchdog(procs: Procs, tmp_path: Path) -> None:
    res = procs.resource()
    wd = procs.watchdog(tmp_path / "watchdog.log")
    first = wd.pid
    os.kill(first, signal.SIGKILL)  # our child, not reaped
    assert until(lambda: not running(first))
    deadline = time.monotonic() + 0.8
    wd.arm(deadline)
    assert wd.restarts == 1
    assert wd.pid != first
    watchdogs = [e.pid for e in procs.registry.entries() if e.label == "watchdog"]
    assert watchdogs == [wd.pid]
    gone_at(res, deadline + LATE)  # the new one enforces the deadline


class FakeClocks:
    """CLOCK_MONOTONIC and CLOCK_BOOTTIME: both move with time, only boot time in suspend."""

    def __init__(self) -> None:
        self.mono, self.boot = 1000.0, 5000.0

    def run(self, seconds: float) -> None:
        self.mono += seconds
        self.boot += seconds

    def suspend(self, seconds: float) -> None:
        self.boot += seconds


def test_the_last_line_wins_and_suspend_counts_as_time(tmp_path: Path) -> None:
    clocks = FakeClocks()
    logged: list[str] = []
    wd = Watchdog(
        PidRegistry(tmp_path),
        MARGIN,
        clock=lambda: clocks.mono,
        boot_clock=lambda: clocks.boot,
        log=lambda event, **fields: logged.append(event),
    )
    assert wd.remaining() is None
    wd.handle(f"deadline {clocks.mono + 1.0}")
    wd.handle(f"deadline {clocks.mono + 3.0}")
    assert wd.remaining() == pytest.approx(3.0 - MARGIN)
    wd.handle(f"deadline {clocks.mono + 0.5}")  # a new lease may end sooner: the last one wins
    assert wd.remaining() == pytest.approx(0.5 - MARGIN)
    wd.handle("disarm")
    assert wd.remaining() is None

    wd.handle(f"deadline {clocks.mono + 3.0}")
    clocks.run(1.0)
    assert wd.remaining() == pytest.approx(2.0 - MARGIN)
    clocks.suspend(10.0)  # the machine slept: etcd's clock went on, the lease is gone
    remaining = wd.remaining()
    assert remaining is not None
    assert remaining < 0
    assert logged == []
