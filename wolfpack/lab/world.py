"""``wolfpack lab``: a whole cluster on this machine in network namespaces (DESIGN §4).

What ``up`` builds, each object with the lab's unique prefix (``wpl-<hex>-``):

* a ``fabric`` namespace holding two bridges, ``public`` (198.51.100.0/24) and ``private``
  (203.0.113.0/24): no uplink, nobody has a default route;
* hosts ``node1..N`` (eth0 public 198.51.100.1N, eth1 private 203.0.113.1N), ``dns``
  (198.51.100.2, BIND9 ``named -g`` serving ``cluster.test`` with TSIG-signed dynamic
  updates), ``client`` (198.51.100.3) and ``admin`` (198.51.100.1, where the administrator's
  commands run: ``wolfpack lab exec admin -- wolfpack status``);
* ``/etc/netns/<ns>/resolv.conf`` for every host (``ip netns exec`` mounts it over
  ``/etc/resolv.conf``), naming the dns host, so ``www.cluster.test`` resolves in the lab;
* the cluster (default ``jean``), built through ``cluster create`` on node1 and ``cluster
  join`` on the others (:mod:`wolfpack.lab.formed`): its nodes, networks and the Cluster
  Group (S16, S18, S22: management IP 198.51.100.10, network name
  ``<cluster>.cluster.test`` and a Generic Application standing for the transaction
  coordinator); ``wolfpackd`` on every node running the node's etcd member (the first six
  nodes: 5 voters and a learner; the rest use theirs), each in its own mount namespace, in
  which ``<dir>/local`` is the node's own directory (a page there names the node) while
  ``<dir>/shared`` is the same on every node.

Every object is recorded in ``<dir>/state.json`` (:mod:`wolfpack.lab.state`) before the next
is made, so ``down`` in any later process removes exactly those, and an ``up`` that fails
half-way removes what it made. "Power off" (:func:`power_off`, also the lab fence agent)
kills every process in a node's namespace and takes its links down, forgetting its
addresses as a machine losing power would; :func:`power_on` starts it again.

Beside it: configuration documents of lab groups (:mod:`wolfpack.lab.cluster_doc`), ``status``
(:mod:`wolfpack.lab.status`) and ``down`` (:mod:`wolfpack.lab.teardown`); their names are
importable from here too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from wolfpack.errors import ValidationError, WolfpackError
from wolfpack.lab import faketime as lab_faketime
from wolfpack.lab import formed, resolv, webui
from wolfpack.lab.bind import BindError, BindServer
from wolfpack.lab.cluster_doc import add_config, address_and_name, dns_properties
from wolfpack.lab.daemons import (
    start_power_switch,
    wait_nodes_up,
    write_fence_agent,
)
from wolfpack.lab.disks import make_lab_disks
from wolfpack.lab.layout import (
    ADMIN_ADDRESS,
    CLIENT_ADDRESS,
    DISKS,
    DNS_ADDRESS,
    DTC_PORT,
    ETCD_PORT,
    ETCD_READY_S,
    HEARTBEAT_PORT,
    KEY_ROOT,
    MANAGEMENT_ADDRESS,
    MAX_NODES,
    MIN_NODES,
    NODES_UP_S,
    PRIV_IF,
    PRIVATE_SUBNET,
    PUB_IF,
    PUBLIC_SUBNET,
    TSIG_KEY_NAME,
    WITNESS_NODES,
    ZONE,
    Progress,
    clock_skew_file,
    disk_image,
    endpoints,
    faketime_file,
    hosts,
    key_file,
    lab_env,
    local_dir,
    members,
    mount_point,
    netns_exec,
    node_dir,
    node_number,
    powered,
    private_address,
    public_address,
    quiet,
    role_pid,
    run_dir,
    secret_file,
    shared_dir,
)
from wolfpack.lab.layout import enter as _enter
from wolfpack.lab.netns import FABRIC, Lab
from wolfpack.lab.power import check_node, links_up, power_off
from wolfpack.lab.state import LOCK_FILE, LabState, locked
from wolfpack.lab.status import check, in_admin, status
from wolfpack.lab.teardown import down
from wolfpack.model.config import ClusterConfig, ClusterSettings
from wolfpack.store.repository import check_config

__all__ = [  # the layout's names too: callers use world.X for everything of the lab
    "ADMIN_ADDRESS",
    "CLIENT_ADDRESS",
    "DISKS",
    "DNS_ADDRESS",
    "DTC_PORT",
    "ETCD_PORT",
    "ETCD_READY_S",
    "HEARTBEAT_PORT",
    "HOST_ADDRESSES",
    "KEY_ROOT",
    "MANAGEMENT_ADDRESS",
    "MAX_NODES",
    "MIN_NODES",
    "NODES_UP_S",
    "PRIVATE_SUBNET",
    "PRIV_IF",
    "PUBLIC_SUBNET",
    "PUB_IF",
    "TSIG_KEY_NAME",
    "WITNESS_NODES",
    "ZONE",
    "Progress",
    "add_config",
    "address_and_name",
    "build_network",
    "check",
    "clock_skew_file",
    "disk_image",
    "dns_properties",
    "down",
    "endpoints",
    "enter",
    "faketime_file",
    "hosts",
    "in_admin",
    "key_file",
    "lab_env",
    "local_dir",
    "members",
    "mount_point",
    "netns_exec",
    "node_dir",
    "node_number",
    "power_off",
    "power_on",
    "private_address",
    "public_address",
    "restart",
    "role_pid",
    "run_dir",
    "run_on",
    "secret_file",
    "shared_dir",
    "status",
    "up",
]


def enter(state: LabState, host: str) -> list[str]:
    """The command prefix that runs something *on* ``host`` (:func:`wolfpack.lab.layout.
    enter`), after binding the lab's resolv.conf again in a node's daemon's namespace if
    the host replaced its own meanwhile (:mod:`wolfpack.lab.resolv`)."""
    resolv.keep(state, host)
    return _enter(state, host)


def run_on(
    state: LabState, host: str, argv: list[str], *, check: bool = True, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``argv`` on lab host ``host`` (:func:`enter`) with the lab's WOLFPACK_* environment
    and this Python's ``wolfpack`` first on the PATH; WolfpackError naming the host, the
    command and its output if it fails and ``check``."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **lab_env(state)}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    result = subprocess.run(
        [*enter(state, host), *argv],
        capture_output=True, text=True, timeout=timeout_s, env=env, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise WolfpackError(
            f"on {host}: {' '.join(argv)} exited {result.returncode}: "
            f"{result.stdout.strip()} {result.stderr.strip()}"
        )
    return result


#: the lab's hosts other than nodes, on the public network only
HOST_ADDRESSES = {"admin": ADMIN_ADDRESS, "dns": DNS_ADDRESS, "client": CLIENT_ADDRESS}


# -- up ----------------------------------------------------------------------------------------
def up(
    lab_dir: Path,
    nodes: int = 3,
    cluster: str = "jean",
    progress: Progress = quiet,
    *,
    faketime: bool = False,
    daemon_settings: dict[str, dict[str, Any]] | None = None,
    witness: bool = False,
) -> tuple[LabState, bool]:
    """Build the lab in ``lab_dir``; (its state, False) if it was up already.

    ``faketime``: every wolfpackd under libfaketime, so the chaos suite can move one node's
    wall clock (:mod:`wolfpack.lab.faketime`). ``daemon_settings``: sections of every node's
    wolfpackd.yaml to change (e.g. ``{"heartbeat": {"interval_s": 0.05}}``), checked like the
    file is when a daemon starts. ``witness``: the seed's two-node cluster and a witness
    host. Built through cluster create/join and witness join (:mod:`wolfpack.lab.formed`).
    Anything else already in ``lab_dir`` is refused. A failure
    half-way removes what this call made and raises the error."""
    _check_machine(faketime)
    if witness and nodes != WITNESS_NODES:
        raise ValidationError.single(
            "--nodes", f"a lab with a witness has {WITNESS_NODES} nodes (S7): give --nodes 2"
        )
    if not witness and not MIN_NODES <= nodes <= MAX_NODES:
        raise ValidationError.single(
            "--nodes",
            f"a lab has {MIN_NODES} to {MAX_NODES} nodes, not {nodes} (or 2 with --witness)",
        )
    check_config(ClusterConfig(cluster=ClusterSettings(name=cluster)))  # names --cluster
    lab_dir = lab_dir.resolve()
    if LabState.exists(lab_dir):
        state = LabState.load(lab_dir)
        problems = check(state)
        if state.phase == "up" and not problems:
            progress(f"the lab in {lab_dir} is up already ({len(state.nodes)} nodes)")
            return state, False
        raise WolfpackError(
            f"a lab in {lab_dir} is not healthy ({'; '.join(problems) or state.phase}): "
            f"remove it with 'wolfpack lab down --dir {lab_dir}' first"
        )
    for parent in lab_dir.parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise ValidationError.single(
                "--dir",
                f"{parent} is not traversable by others, and the lab's named, nginx and "
                "postgres run as their own accounts: choose a directory under /tmp or /run",
            )
    # a lone lock file is no lab: a late fence call may lock a lab that is already down
    if lab_dir.exists() and any(f.name != LOCK_FILE for f in lab_dir.iterdir()):
        raise WolfpackError(f"--dir: {lab_dir} is not empty and holds no lab; choose another")
    lab_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.chmod(0o755)  # bind, www-data and postgres must reach their files
    state = LabState(
        dir=str(lab_dir),
        prefix=f"wpl-{secrets.token_hex(3)}-",
        nodes=[f"node{i}" for i in range(1, nodes + 1)],
        cluster=cluster,
        faketime=faketime,
        witness=witness,
        formed=True,
        daemon_settings=daemon_settings or {},
    )
    state.save()
    try:
        _build(state, progress)
    except BaseException:
        progress("lab up failed: removing what it made")
        with contextlib.suppress(WolfpackError):
            down(lab_dir, progress)
        raise
    return state, True


def _check_machine(faketime: bool) -> None:
    if os.geteuid() != 0:
        raise WolfpackError("the lab needs root (network namespaces, mounts): run it as root")
    if faketime and not lab_faketime.LIBRARY.exists():
        raise WolfpackError(
            f"--faketime: {lab_faketime.LIBRARY} is missing: run 'bash scripts/setup' as root"
            " (Debian package faketime)"
        )
    for tool in ("ip", "etcd", "named", "arping", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise WolfpackError(f"{tool} is not installed: run 'bash scripts/setup' as root")


def _build(state: LabState, progress: Progress) -> None:
    build_network(state, ["admin", "dns", "client"], progress)
    nodes = ", ".join(f"{n} {public_address(n)}/{private_address(n)}" for n in powered(state))
    progress(f"hosts: admin {ADMIN_ADDRESS}, dns {DNS_ADDRESS}, client {CLIENT_ADDRESS}, {nodes}")
    for d in (local_dir(state), shared_dir(state)):
        d.mkdir(mode=0o755, exist_ok=True)
        d.chmod(0o755)
    (local_dir(state) / "node").write_text("none: only a node's mount namespace sees its own\n")
    make_lab_disks(state, progress)
    with in_admin(state):
        _start_dns(state, progress)
        write_fence_agent(state)
        start_power_switch(state)
        formed.build(state, progress)  # through the commands a user runs (issue 10)
    webui.start(state, progress)  # an admin token, and the web UI on this machine's loopback
    state.phase = "up"
    state.save()
    progress(f"the lab is up: cluster {state.cluster}, {len(state.nodes)} nodes, dir {state.dir}")


def build_network(state: LabState, others: list[str], progress: Progress) -> Lab:
    """The fabric with its two bridges, hosts ``others`` (of :data:`HOST_ADDRESSES`) on the
    public one and every node (and the witness) on both, each namespace recorded before it
    exists."""
    lab = Lab(state.prefix)
    progress(
        f"network: bridges public {PUBLIC_SUBNET} and private {PRIVATE_SUBNET} "
        f"in namespace {state.prefix}{FABRIC}"
    )
    state.namespaces.append(state.prefix + FABRIC)  # recorded before it exists
    state.save()
    for bridge in ("public", "private"):
        lab.add_bridge(bridge)
    plan: list[tuple[str, str, str | None]] = [
        *((host, HOST_ADDRESSES[host], None) for host in others),
        *((n, public_address(n), private_address(n)) for n in powered(state)),
    ]
    for host, pub, priv in plan:
        state.namespaces.append(state.prefix + host)
        state.save()
        lab.add_host(host)
        lab.connect(host, PUB_IF, "public", f"{pub}/24")
        if priv is not None:
            lab.connect(host, PRIV_IF, "private", f"{priv}/24")
        resolv.write(state, host)
    return lab


def _start_dns(state: LabState, progress: Progress) -> None:
    progress(f"dns: BIND9 named -g on {DNS_ADDRESS}:53, zone {ZONE}, TSIG key {TSIG_KEY_NAME}")
    server = BindServer(
        Path(state.dir) / "dns",
        zone=ZONE,
        address=DNS_ADDRESS,
        port=53,
        key_name=TSIG_KEY_NAME,
        launcher=netns_exec(state, "dns"),
    )
    try:
        server.start()
    except BindError as exc:
        raise WolfpackError(f"the lab's DNS server did not start: {exc}") from exc
    assert server.pid is not None
    state.add_process("dns", "named", server.pid)


# -- power ---------------------------------------------------------------------------------------
def power_on(lab_dir: Path, node: str, progress: Progress = quiet, *, wait: bool = True) -> None:
    """Bring ``node``'s links up with its own addresses and start its etcd and wolfpackd;
    ``wait``: until it is Up (not when every node is powered on at once: no quorum yet)."""
    lab_dir = lab_dir.resolve()
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        check_node(state, node)
        _check_installed(state)
        if node not in state.powered_off:
            progress(f"{node} is on already")
            return
        links_up(state, node)
        with in_admin(state):
            formed.start(state, node)  # the installed services: wolfpackd runs the member
            state.powered_off.remove(node)
            state.save()
            if wait and node in state.nodes:
                progress(f"{node} powered on: waiting until it is Up")
                wait_nodes_up(state, [node])


def _check_installed(state: LabState) -> None:
    """A lab state from before the lab was built through cluster create and join (its
    etcd run by the lab, its cluster written as a document) cannot start its services."""
    if not state.formed:
        raise WolfpackError(
            f"the lab in {state.dir} was made by an older Wolfpack: remove it with 'wolfpack "
            f"lab down --dir {state.dir}' and make it again"
        )


def restart(lab_dir: Path, node: str, role: str) -> bool:
    """Start ``node``'s ``role`` (``etcd`` or ``wolfpackd``) again if it is not running, as
    its service manager would after a crash; False if it runs or the node is off."""
    with locked(lab_dir.resolve()):
        state = LabState.load(lab_dir.resolve())
        check_node(state, node)
        _check_installed(state)
        if node in state.powered_off or role_pid(state, node, role) is not None:
            return False
        if role == "etcd":
            return False  # its wolfpackd restarts its member (or starts it when it starts)
        state.processes = [p for p in state.processes if p.host != node or p.role != role]
        with in_admin(state):
            formed.start(state, node)
        state.save()
        return True
