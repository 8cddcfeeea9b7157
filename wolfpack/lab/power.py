"""Powering lab nodes off: what the lab fence agent and ``wolfpack lab power off`` do.

Kept apart from :mod:`wolfpack.lab.world` so that the fence agent, a program the
coordinator runs during every failover, imports only this and starts in a few tens of
milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import (
    KILL_WAIT_S,
    PRIV_IF,
    PUB_IF,
    powered,
    private_address,
    public_address,
    run_dir,
)
from wolfpack.lab.netns import Lab
from wolfpack.lab.state import LabState, locked
from wolfpack.node.pidregistry import PidRegistry

__all__ = ["check_node", "kill_namespace", "links_up", "netns_pids", "power_off"]


def kill_namespace(state: LabState, host: str) -> list[int]:
    """SIGKILL every process in ``host``'s namespace (and every recorded one of it)."""
    ns = state.prefix + host
    killed: list[int] = []
    deadline = time.monotonic() + KILL_WAIT_S
    while True:
        pids = netns_pids(ns)
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        if time.monotonic() > deadline:
            raise WolfpackError(f"processes in {ns} survive SIGKILL: {sorted(pids)}")
        time.sleep(0.02)
    recorded = [p.entry() for p in state.processes_of(host) if p.running]
    if host in state.nodes:
        PidRegistry(run_dir(state, host)).kill_all(signal.SIGKILL)
    PidRegistry(state.dir).kill(recorded, signal.SIGKILL)
    return killed


def netns_pids(ns: str) -> set[int]:
    if not Path("/run/netns", ns).exists():
        return set()
    result = subprocess.run(
        ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False
    )
    return {int(x) for x in result.stdout.split() if x.isdigit()}


def power_off(lab_dir: Path, node: str) -> list[int]:
    """Kill every process of ``node`` and take its links down (losing its addresses)."""
    lab_dir = lab_dir.resolve()
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        check_node(state, node)
        killed = kill_namespace(state, node)
        lab = Lab(state.prefix)
        for ifname in (PUB_IF, PRIV_IF):
            lab.ip(node, ["addr", "flush", "dev", ifname], what=f"flush {ifname}")
            lab.set_link(node, ifname, up=False)
        state.forget_dead(node)
        if node not in state.powered_off:
            state.powered_off.append(node)
        state.save()
    return killed


def links_up(state: LabState, node: str) -> None:
    """Power on's network half: ``node``'s links up again with its own addresses."""
    lab = Lab(state.prefix)
    for ifname, address in ((PUB_IF, public_address(node)), (PRIV_IF, private_address(node))):
        lab.ip(node, ["addr", "flush", "dev", ifname], what=f"flush {ifname}")
        lab.add_address(node, ifname, f"{address}/24")
        lab.set_link(node, ifname, up=True)
    for ifname in (PUB_IF, PRIV_IF):
        lab.wait_carrier(node, ifname, 5.0)


def check_node(state: LabState, node: str) -> None:
    if node not in powered(state):
        raise WolfpackError(
            f"NODE: {node!r} is not a node of this lab ({', '.join(powered(state))})"
        )
