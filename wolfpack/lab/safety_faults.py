"""Faults for the lab's safety scenarios, each undone on the way out whatever happens
(issue 8).

* :func:`etcd_cut`: a node's etcd traffic dropped on its network interfaces (TCP 2379 and
  2380, both ways, nftables in that node's namespace only) while its heartbeats (UDP) still
  flow;
* :func:`frozen`: a node's ``wolfpackd`` stopped with SIGSTOP (its resources and its
  watchdog run on), SIGCONT on the way out;
* :func:`fence_device_unreachable`: the lab fence agent fails, so nobody can fence a node
  and its own watchdog must stop its resources; :func:`fence_confirms_after`: it confirms
  an off only some time after it;
* the etcd leader (:func:`etcd_leader`, :func:`move_leader`) and the daemons' own log
  lines (:func:`daemon_events`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.lab import access, world
from wolfpack.lab.daemons import fence_agent, fence_agent_script
from wolfpack.lab.driver import LabDriver

__all__ = [
    "daemon_events",
    "daemon_pid",
    "etcd_cut",
    "etcd_leader",
    "fence_agent_replaced",
    "fence_confirms_after",
    "fence_device_unreachable",
    "frozen",
    "move_leader",
]

NFT_TABLE = "wolfpack_lab_etcd_cut"
ETCD_PORTS = "{ 2379, 2380 }"


# -- etcd --------------------------------------------------------------------------------------
def member_endpoint(node: str) -> str:
    return f"https://{world.public_address(node)}:{world.ETCD_PORT}"


def _etcdctl_at(lab: LabDriver, endpoints: Sequence[str], *args: str) -> list[str]:
    """etcdctl as the lab's administrator (TLS, C1), sent to ``endpoints`` only."""
    argv = access.etcdctl(lab.state)
    argv[argv.index("--endpoints") + 1] = ",".join(endpoints)
    return [*argv, *args]


def _etcdctl(lab: LabDriver, endpoints: Sequence[str], *args: str) -> Any:
    argv = _etcdctl_at(lab, endpoints, "--dial-timeout", "1s", "--command-timeout", "2s",
                       "-w", "json", *args)  # fmt: skip
    return json.loads(lab.run("admin", argv, timeout_s=30).stdout or "null")


def etcd_members(lab: LabDriver) -> dict[int, str]:
    """Member id -> node name."""
    doc = _etcdctl(lab, [world.endpoints(lab.state)], "member", "list")
    return {int(m["ID"]): str(m["name"]) for m in doc.get("members", [])}


def etcd_leader(lab: LabDriver, among: Sequence[str] | None = None) -> str | None:
    """The node whose member leads, as members ``among`` (default: all) say; None if none
    of them knows a leader among them. Only the members asked are contacted (each names its
    own id), so a member cut off, or etcd busy electing, costs a timeout and no error."""
    nodes = list(among) if among is not None else world.members(lab.state)
    ids: dict[int, str] = {}
    leaders: list[int] = []
    for node in nodes:
        with contextlib.suppress(
            WolfpackError, LookupError, TypeError, ValueError, subprocess.TimeoutExpired
        ):
            status = _etcdctl(lab, [member_endpoint(node)], "endpoint", "status")[0]["Status"]
            ids[int(status["header"]["member_id"])] = node
            leaders.append(int(status["leader"]))
    return next((ids[leader] for leader in leaders if leader in ids), None)


def move_leader(lab: LabDriver, node: str) -> None:
    """Make ``node``'s member the leader (etcdctl move-leader, sent to the current one)."""
    current = etcd_leader(lab)
    if current == node:
        return
    if current is None:
        raise WolfpackError("etcd has no leader")
    target = next(i for i, n in etcd_members(lab).items() if n == node)
    argv = _etcdctl_at(lab, [member_endpoint(current)], "move-leader", f"{target:x}")
    lab.run("admin", argv, timeout_s=30)
    lab.wait(lambda: etcd_leader(lab) == node, 10, f"{node} leads etcd")


# -- faults ------------------------------------------------------------------------------------
@contextlib.contextmanager
def etcd_cut(lab: LabDriver, node: str) -> Iterator[None]:
    """Drop ``node``'s etcd traffic on its network interfaces (client and peer ports, both
    ways) in its namespace only; the rules are removed on the way out, whatever happened.
    Loopback still works, as a cable pulled out of a machine leaves it: the daemon still
    reaches its own member on 127.0.0.1, which may be the raft leader until it finds it has
    lost the quorum."""
    ports = ETCD_PORTS
    rules = "\n".join(
        [f"table inet {NFT_TABLE} {{"]
        + [
            f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept;"
            f' {way}ifname != "lo" tcp dport {ports} drop;'
            f' {way}ifname != "lo" tcp sport {ports} drop; }}'
            for hook, way in (("input", "i"), ("output", "o"))
        ]
        + ["}"]
    )
    ns = world.netns_exec(lab.state, node)
    subprocess.run([*ns, "nft", "-f", "-"], input=rules, text=True, check=True,
                   capture_output=True, timeout=10)  # fmt: skip
    try:
        yield
    finally:
        subprocess.run([*ns, "nft", "delete", "table", "inet", NFT_TABLE],
                       capture_output=True, timeout=10, check=False)  # fmt: skip


def nft_tables(lab: LabDriver, node: str) -> str:
    """The node's nftables ruleset (to prove a cut was removed)."""
    argv = [*world.netns_exec(lab.state, node), "nft", "list", "tables"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout


def daemon_pid(lab: LabDriver, node: str) -> int:
    pid = world.role_pid(lab.state, node, "wolfpackd")
    if pid is None:
        raise WolfpackError(f"no wolfpackd runs on {node}")
    return pid


@contextlib.contextmanager
def frozen(lab: LabDriver, node: str) -> Iterator[int]:
    """SIGSTOP ``node``'s wolfpackd only (not its children); SIGCONT on the way out if it
    is still that process (a fence may have powered the node off meanwhile)."""
    pid = daemon_pid(lab, node)
    pidfd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGCONT)
        os.close(pidfd)


@contextlib.contextmanager
def fence_agent_replaced(lab: LabDriver, script: str) -> Iterator[None]:
    """The lab's fence agent is ``script`` meanwhile (swapped atomically: a fence call runs
    one or the other, whole), and the original again on the way out."""
    agent = fence_agent(lab.state)
    saved, other = agent.with_name("fence_lab.saved"), agent.with_name("fence_lab.other")
    other.write_text(script)
    other.chmod(0o755)
    os.link(agent, saved)
    os.replace(other, agent)
    try:
        yield
    finally:
        os.replace(saved, agent)


def fence_device_unreachable(lab: LabDriver) -> contextlib.AbstractContextManager[None]:
    """The lab fence agent fails (exit 1) meanwhile: nobody can fence a node."""
    return fence_agent_replaced(
        lab, "#!/bin/sh\necho 'fence device unreachable (lab)' >&2\nexit 1\n"
    )


def fence_confirms_after(
    lab: LabDriver, power_wait_s: float
) -> contextlib.AbstractContextManager[None]:
    """The lab fence agent reads the status back ``power_wait_s`` after each off (the node
    is off at once; only the confirmation, and so the lease's end, comes later)."""
    return fence_agent_replaced(lab, fence_agent_script(lab.state, power_wait_s))


def daemon_events(lab: LabDriver, node: str, since: float, *events: str) -> list[dict[str, Any]]:
    """``node``'s wolfpackd (and watchdog) log lines named ``events`` logged after monotonic
    time ``since``, each with its time converted to the monotonic clock as ``t``."""
    offset = time.time() - time.monotonic()
    log = world.node_dir(lab.state, node) / "wolfpackd.log"
    out = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict) and doc.get("event") in events:
                doc["t"] = float(doc.get("ts", 0)) - offset
                if doc["t"] >= since:
                    out.append(doc)
    return out
