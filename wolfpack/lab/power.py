"""Powering lab nodes off: what the lab fence agent and ``wolfpack lab power off`` do.

Kept apart from :mod:`wolfpack.lab.world` so that the fence agent, a program the
coordinator runs during every failover, imports only this and starts in a few tens of
milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
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

#: how often a power-off looks again for processes that outlive SIGKILL for a moment
KILL_POLL_S = 0.002


def kill_namespace(
    state: LabState, host: str, meanwhile: Callable[[], object] | None = None
) -> list[int]:
    """SIGKILL every process in ``host``'s namespace (and every recorded one of it), and
    return once they have all ended. ``meanwhile`` runs as soon as none is left in the
    namespace, before the wait for their ends: a power-off takes the links down there, so
    the node's addresses go with its processes, as at a power cut, and well before a fence
    that waits for this returns (the lab's safety observer measures that order)."""
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
        time.sleep(KILL_POLL_S)
    alive = [p for p in state.processes_of(host) if p.running]
    if host in state.nodes:
        PidRegistry(run_dir(state, host)).kill_all(signal.SIGKILL)
    PidRegistry(state.dir).kill([p.entry() for p in alive], signal.SIGKILL)
    if meanwhile is not None:
        meanwhile()
    # A killed process leaves its namespace before it has ended (it still tears down its
    # memory): wait for its end, or a power on right after would find it and take the new
    # daemon for one that exited.
    while alive := [p for p in alive if p.running]:
        if time.monotonic() > deadline:
            raise WolfpackError(f"processes of {host} survive SIGKILL: {[p.pid for p in alive]}")
        time.sleep(KILL_POLL_S)
    return killed


def netns_pids(ns: str) -> set[int]:
    """The processes in network namespace ``ns`` (what ``ip netns pids`` prints, read here
    from /proc without starting it: a fence runs this during every failover). A process
    that has exited but is not reaped yet has no namespace any more and is not listed."""
    try:
        target = os.stat(Path("/run/netns", ns))
    except FileNotFoundError:
        return set()
    pids: set[int] = set()
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                st = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:  # gone meanwhile, or a zombie
                continue
            if st.st_ino == target.st_ino and st.st_dev == target.st_dev:
                pids.add(int(entry.name))
    return pids


def power_off(lab_dir: Path, node: str) -> list[int]:
    """Kill every process of ``node`` and take its links down (losing its addresses). A
    node powered off already, with nothing running in its namespace, is left as it is."""
    lab_dir = lab_dir.resolve()
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        check_node(state, node)
        if node in state.powered_off and not netns_pids(state.prefix + node):
            return []  # off, and nothing of it runs: confirmed, as a PDU confirms an outlet
        ifnames = (PUB_IF, PRIV_IF)
        cut = [*(f"addr flush dev {i}" for i in ifnames), *(f"link set {i} down" for i in ifnames)]

        def cut_links() -> None:
            Lab(state.prefix).ip_batch(node, cut, what="take the links and addresses down")

        killed = kill_namespace(state, node, meanwhile=cut_links)
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
