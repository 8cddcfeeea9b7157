"""Driving a running lab from outside, as its administrator and its clients would: for the
lab tests and ``bench/lab_failover.py``.

Everything goes through the real command lines (``wolfpack lab power``, ``wolfpack`` on the
admin host) and through :mod:`wolfpack.lab.probe_client` on the client host, so a test sees
what a person at those hosts would see. Child processes are waited for; a probe is stopped
by its PID (SIGTERM, then SIGKILL) when its context ends.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab import access, world
from wolfpack.lab.probe_client import Gap, Sample, outages, read_samples
from wolfpack.lab.state import LabState
from wolfpack.model.fsm import group_state
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import GroupState
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

__all__ = ["LabDriver", "Probe"]

T = TypeVar("T")
CLI_TIMEOUT_S = 120.0


class Probe:
    """A running :mod:`~wolfpack.lab.probe_client` on the client host and its record."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path) -> None:
        self.proc, self.out = proc, out

    def samples(self) -> list[Sample]:
        return read_samples(self.out)

    def answers_since(self, t: float) -> list[str]:
        return [s.answer for s in sorted(self.samples(), key=lambda s: s.end) if s.ok and s.t >= t]

    def gaps(self, after: float = float("-inf")) -> list[Gap]:
        return outages(self.samples(), after)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


#: the failover threshold of a group that benchmarks fail over again and again
LIFTED_THRESHOLD = 100_000


class LabDriver:
    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir.resolve()
        self.state = LabState.load(self.dir)

    def reload(self) -> LabState:
        self.state = LabState.load(self.dir)
        return self.state

    # -- commands ----------------------------------------------------------------------------
    def run(
        self, host: str, argv: list[str], *, check: bool = True, timeout_s: float = CLI_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` on lab host ``host`` with the lab's WOLFPACK_* environment."""
        return world.run_on(self.state, host, argv, check=check, timeout_s=timeout_s)

    def wolfpack(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The ``wolfpack`` CLI on the admin host."""
        return self.run("admin", ["wolfpack", *args], check=check)

    def lab(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``wolfpack lab ... --dir <this lab>`` on this machine (not in the lab)."""
        cli = Path(sys.executable).parent / "wolfpack"
        result = subprocess.run(
            [str(cli), "lab", *args, "--dir", str(self.dir)],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            raise WolfpackError(f"wolfpack lab {' '.join(args)}: {result.stderr.strip()}")
        self.reload()
        return result

    def power(self, action: str, node: str) -> None:
        self.lab("power", action, node)

    def lift_failover_thresholds(self, groups: Collection[str] | None = None) -> None:
        """Many failovers in a row (benchmarks, chaos): lift the failover threshold (MSCS: 10
        in 6 hours) of ``groups``, by default of every group, the Cluster Group's too (or it
        stays Offline, FAILOVER_THRESHOLD_EXCEEDED). Nothing else changes."""
        with world.in_admin(self.state):
            store = access.admin_store(self.state, timeout=2.0)
            try:
                ClusterDB(store, KeySpace(world.KEY_ROOT)).update_config(
                    lambda cfg: dataclasses.replace(cfg, groups={
                        n: dataclasses.replace(g, failover_threshold=LIFTED_THRESHOLD)
                        if groups is None or n in groups else g
                        for n, g in cfg.groups.items()}))  # fmt: skip
            finally:
                store.close()

    # -- observing ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with world.in_admin(self.state):
            store = access.admin_store(self.state, timeout=1.0)
            try:
                return ClusterDB(store, KeySpace(world.KEY_ROOT)).read_snapshot()
            finally:
                store.close()

    def owner(self, group: str) -> str | None:
        return self.snapshot().group(group).owner

    def interface(self, node: str, cable: str) -> str:
        """The name of ``node``'s cluster interface on the lab's ``public`` or ``private``
        bridge (``node2-network1``, say: ``cluster create`` names the networks it finds)."""
        subnet = {"public": world.PUBLIC_SUBNET, "private": world.PRIVATE_SUBNET}[cable]
        cfg = self.snapshot().config
        return next(i.name for i in cfg.interfaces.values()
                    if i.node == node and cfg.networks[i.network].subnet == subnet)  # fmt: skip

    def online_on(self, group: str) -> str | None:
        """The group's owner if the group is Online, else None."""
        try:
            snap = self.snapshot()
        except StoreError:
            return None
        states = (snap.resource(r.name).state for r in snap.config.group_resources(group))
        owner = snap.group(group).owner
        return owner if group_state(states) == GroupState.ONLINE else None

    @staticmethod
    def wait(
        predicate: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.1
    ) -> T:
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout_s:g} s")
            time.sleep(every_s)

    # -- clients -----------------------------------------------------------------------------
    @contextmanager
    def probe(self, kind: str, target: str, out: Path, *extra: str) -> Iterator[Probe]:
        """A probe client on the client host for the duration of the ``with``."""
        out.unlink(missing_ok=True)
        argv = [*world.netns_exec(self.state, "client"), sys.executable, "-m",
                "wolfpack.lab.probe_client", kind, target, "--out", str(out), *extra]  # fmt: skip
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        probe = Probe(proc, out)
        try:
            self.wait(lambda: any(s.ok for s in probe.samples()), 30, f"{kind} probe answers")
            yield probe
        finally:
            probe.stop()
