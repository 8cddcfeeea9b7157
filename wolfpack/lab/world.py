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
* a 3-member etcd cluster, one member on each of node1..3, over TLS with authentication on
  (:mod:`wolfpack.lab.access`: certificates in ``<dir>/pki``); ``wolfpackd`` on every node, each
  in its own mount namespace, in which ``<dir>/local`` is the node's own directory (a page
  there names the node) while ``<dir>/shared`` is the same on every node;
* the cluster (default ``jean``) with its nodes, networks and the Cluster Group (S16, S18,
  S22): management IP 198.51.100.10, network name ``<cluster>.cluster.test`` and a Generic
  Application standing for the transaction coordinator.

Every object is recorded in ``<dir>/state.json`` (:mod:`wolfpack.lab.state`) before the next
is made, so ``down`` in any later process removes exactly those, and an ``up`` that fails
half-way removes what it made. "Power off" (:func:`power_off`, also the lab fence agent)
kills every process in a node's namespace and takes its links down, forgetting its
addresses as a machine losing power would; :func:`power_on` starts it again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyroute2 import netns as pyroute2_netns

from wolfpack.errors import StoreError, ValidationError, WolfpackError
from wolfpack.lab import access, webui
from wolfpack.lab.bind import BindError, BindServer
from wolfpack.lab.disks import LoopDisk, make_shared_disk, remove_shared_disk
from wolfpack.lab.layout import (
    ADMIN_ADDRESS,
    API_PORT,
    CLIENT_ADDRESS,
    DISKS,
    DNS_ADDRESS,
    DTC_PORT,
    ETCD_MEMBERS,
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
    ZONE,
    disk_image,
    endpoints,
    enter,
    hosts,
    key_file,
    lab_env,
    local_dir,
    members,
    mount_point,
    netns_exec,
    node_dir,
    node_endpoints,
    node_number,
    private_address,
    public_address,
    run_dir,
    secret_file,
    shared_dir,
)
from wolfpack.lab.netns import FABRIC, Lab, LabError
from wolfpack.lab.power import check_node, kill_namespace, power_off
from wolfpack.lab.state import LOCK_FILE, LabProcess, LabState, LabStateError, locked
from wolfpack.model import codec
from wolfpack.model.builtin_types import GENERIC_APPLICATION, IP_ADDRESS, NETWORK_NAME
from wolfpack.model.config import ClusterConfig, ClusterSettings
from wolfpack.model.fsm import group_state
from wolfpack.node.pidregistry import PidRegistry
from wolfpack.node.secret import new_secret, register
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB, check_config

__all__ = [  # the layout's names too: callers use world.X for everything of the lab
    "ADMIN_ADDRESS",
    "CLIENT_ADDRESS",
    "DISKS",
    "DNS_ADDRESS",
    "DTC_PORT",
    "ETCD_MEMBERS",
    "ETCD_PORT",
    "ETCD_READY_S",
    "HEARTBEAT_PORT",
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
    "ZONE",
    "Progress",
    "add_config",
    "check",
    "cluster_doc",
    "disk_image",
    "dns_properties",
    "down",
    "endpoints",
    "enter",
    "hosts",
    "in_admin",
    "key_file",
    "lab_env",
    "local_dir",
    "members",
    "mount_point",
    "netns_exec",
    "node_dir",
    "node_endpoints",
    "node_number",
    "power_off",
    "power_on",
    "private_address",
    "public_address",
    "run_dir",
    "secret_file",
    "shared_dir",
    "status",
    "up",
]

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@contextlib.contextmanager
def in_admin(state: LabState) -> Iterator[None]:
    """Run the calling thread in the admin host's network namespace (setns) meanwhile."""
    pyroute2_netns.pushns(state.prefix + "admin")
    try:
        yield
    finally:
        pyroute2_netns.popns()


# -- up ----------------------------------------------------------------------------------------
def up(
    lab_dir: Path, nodes: int = 3, cluster: str = "jean", progress: Progress = _quiet
) -> tuple[LabState, bool]:
    """Build the lab in ``lab_dir``; (its state, False) if it was up already.

    Anything else already in ``lab_dir`` is refused. A failure half-way removes what this
    call made and raises the error."""
    _check_machine()
    if not MIN_NODES <= nodes <= MAX_NODES:
        raise ValidationError.single(
            "--nodes", f"a lab has {MIN_NODES} to {MAX_NODES} nodes, not {nodes}"
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


def _check_machine() -> None:
    if os.geteuid() != 0:
        raise WolfpackError("the lab needs root (network namespaces, mounts): run it as root")
    for tool in ("ip", "etcd", "named", "arping", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise WolfpackError(f"{tool} is not installed: run 'bash scripts/setup' as root")


def _build(state: LabState, progress: Progress) -> None:
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
        ("admin", ADMIN_ADDRESS, None),
        ("dns", DNS_ADDRESS, None),
        ("client", CLIENT_ADDRESS, None),
        *((n, public_address(n), private_address(n)) for n in state.nodes),
    ]
    for host, pub, priv in plan:
        state.namespaces.append(state.prefix + host)
        state.save()
        lab.add_host(host)
        lab.connect(host, PUB_IF, "public", f"{pub}/24")
        if priv is not None:
            lab.connect(host, PRIV_IF, "private", f"{priv}/24")
        _write_resolv_conf(state, host)
    nodes = ", ".join(f"{n} {public_address(n)}/{private_address(n)}" for n in state.nodes)
    progress(f"hosts: admin {ADMIN_ADDRESS}, dns {DNS_ADDRESS}, client {CLIENT_ADDRESS}, {nodes}")
    for d in (local_dir(state), shared_dir(state)):
        d.mkdir(mode=0o755, exist_ok=True)
        d.chmod(0o755)
    (local_dir(state) / "node").write_text("none: only a node's mount namespace sees its own\n")
    _make_disks(state, progress)
    with in_admin(state):
        _start_dns(state, progress)
        _start_etcd(state, progress)
        _create_cluster(state, progress)
        for node in state.nodes:
            _start_daemon(state, node)
        progress(f"wolfpackd on {', '.join(state.nodes)}: waiting until every node is Up")
        _wait_nodes_up(state, state.nodes)
    webui.start(state, progress)  # an admin token, and the web UI on this machine's loopback
    state.phase = "up"
    state.save()
    progress(f"the lab is up: cluster {state.cluster}, {len(state.nodes)} nodes, dir {state.dir}")


def _make_disks(state: LabState, progress: Progress) -> None:
    sizes = ", ".join(f"{n} ({mb} MB)" for n, mb in DISKS.items())
    progress(f"shared disks: {sizes}: loop devices, ext4 with MMP, seen by every node")
    (Path(state.dir) / "disks").mkdir(mode=0o700, exist_ok=True)
    for name, size_mb in DISKS.items():
        try:
            disk = make_shared_disk(disk_image(state, name), size_mb, f"{state.prefix}{name}"[:16])
        except LabError as exc:
            raise WolfpackError(f"shared disk {name}: {exc}") from exc
        state.loop_devices.append(disk.device)
        state.disks[name] = {"image": str(disk.image), "device": disk.device, "uuid": disk.uuid}
        state.save()
        where = mount_point(state, name)
        where.mkdir(mode=0o755, parents=True, exist_ok=True)
    # The site lives on the web disk; its page is a link into the node's own directory,
    # so the page a client gets names the node that serves it.
    page = local_dir(state) / "www" / "index.html"
    _on_disk(state, "web", f'mkdir -m 755 "$1/htdocs" && ln -s {page} "$1/htdocs/index.html"')


def _on_disk(state: LabState, name: str, script: str) -> None:
    """Run ``script`` (``$1``: the mount point) with disk ``name`` mounted in a private
    mount namespace of its own, which goes away with it: the host never sees the mount."""
    where, device = mount_point(state, name), state.disks[name]["device"]
    full = f'mount "{device}" "$1" && {{ {script}; }}; rc=$?; umount "$1"; exit $rc'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", full, "sh", str(where)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise WolfpackError(f"cannot prepare shared disk {name}: {result.stderr.strip()}")


def _write_resolv_conf(state: LabState, host: str) -> None:
    etc = Path("/etc/netns")
    for d in (etc, etc / (state.prefix + host)):
        if not d.exists():
            d.mkdir(mode=0o755)
            state.directories.append(str(d))
    path = etc / (state.prefix + host) / "resolv.conf"
    state.files.append(str(path))
    state.save()
    path.write_text(
        f"# wolfpack lab {state.prefix}: removed by 'wolfpack lab down'\n"
        f"nameserver {DNS_ADDRESS}\nsearch {ZONE}\noptions timeout:1 attempts:2\n"
    )


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


def _spawn(state: LabState, host: str, role: str, argv: list[str], log: Path) -> LabProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*netns_exec(state, host), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "WOLFPACK_NODE": host},
        )
    return state.add_process(host, role, proc.pid)


def _etcd_argv(state: LabState, node: str) -> list[str]:
    data = node_dir(state, node) / "etcd"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    peers = ",".join(f"{n}=https://{private_address(n)}:2380" for n in members(state))
    pub, priv = public_address(node), private_address(node)
    return [
        shutil.which("etcd") or "/usr/bin/etcd", "--name", node, "--data-dir", str(data),
        "--logger=zap", "--log-level=error",
        "--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote",
        "--listen-client-urls", f"https://0.0.0.0:{ETCD_PORT}",
        "--advertise-client-urls", f"https://{pub}:{ETCD_PORT},https://{priv}:{ETCD_PORT}",
        "--listen-peer-urls", f"https://{priv}:2380",
        "--initial-advertise-peer-urls", f"https://{priv}:2380",
        "--initial-cluster", peers, "--initial-cluster-state", "new",
        "--initial-cluster-token", state.prefix.rstrip("-"),
        *access.member_args(state, node),
    ]  # fmt: skip


def _start_etcd_member(state: LabState, node: str) -> None:
    _spawn(state, node, "etcd", _etcd_argv(state, node), node_dir(state, node) / "etcd.log")


def _start_etcd(state: LabState, progress: Progress) -> None:
    progress(
        f"etcd: a {ETCD_MEMBERS}-member cluster on {', '.join(members(state))}, TLS with "
        "client certificates from the cluster database CA, authentication on"
    )
    for node in members(state):
        _start_etcd_member(state, node)
    store = access.admin_store(state, timeout=1.0)
    try:
        deadline = time.monotonic() + ETCD_READY_S
        while True:
            try:
                store.put("/wolfpack-lab/probe", b"ok")
                break
            except StoreError as exc:
                dead = [p for p in state.processes if p.role == "etcd" and not p.running]
                if dead or time.monotonic() > deadline:
                    why = f"member on {dead[0].host} exited" if dead else str(exc)
                    log = node_dir(state, "node1") / "etcd.log"
                    raise WolfpackError(f"etcd did not start ({why}); see {log}") from exc
                time.sleep(0.1)
        store.delete("/wolfpack-lab/probe")
    finally:
        store.close()
    users = access.secure(state)
    progress(f"etcd users: admin:lab (root), {', '.join(users)}")


def _create_cluster(state: LabState, progress: Progress) -> None:
    progress(
        f"cluster {state.cluster}: nodes, networks, Cluster Group (management IP "
        f"{MANAGEMENT_ADDRESS}, name {state.cluster}.{ZONE})"
    )
    secret = new_secret()
    path = secret_file(state)
    path.write_bytes(secret + b"\n")
    path.chmod(0o600)
    fence = Path(state.dir) / "fence_lab"
    fence.write_text(
        "#!/bin/sh\n# the lab fence agent (fence-agents interface: options on stdin)\n"
        f'exec {sys.executable} -m wolfpack.lab.fence --dir "{state.dir}"\n'
    )
    fence.chmod(0o755)
    store = access.admin_store(state, timeout=2.0)
    try:
        db = ClusterDB(store, KeySpace(KEY_ROOT))
        db.initialize(ClusterSettings(name=state.cluster, description="the Wolfpack lab"))
        register(store, KeySpace(KEY_ROOT), secret)
        add_config(db, cluster_doc(state))
    finally:
        store.close()


def cluster_doc(state: LabState) -> dict[str, Any]:
    """Nodes, networks, interfaces and the Cluster Group, as a configuration document."""
    nodes = {n: {"id": node_number(n)} for n in state.nodes}
    interfaces: dict[str, Any] = {}
    for n in state.nodes:
        interfaces[f"{n}-public"] = {"node": n, "network": "public", "address": public_address(n)}
        interfaces[f"{n}-private"] = {
            "node": n,
            "network": "private",
            "address": private_address(n),
        }
    dtc = (
        f"{sys.executable} -m wolfpack.lab.probe_app --port {DTC_PORT} "
        f"--address {MANAGEMENT_ADDRESS} --record /dev/null"
    )
    return {
        "nodes": nodes,
        "networks": {
            "public": {"subnet": PUBLIC_SUBNET, "role": "mixed", "description": "clients"},
            "private": {"subnet": PRIVATE_SUBNET, "role": "private", "description": "heartbeats"},
        },
        "interfaces": interfaces,
        "groups": {
            "Cluster Group": {
                "description": "management IP and the cluster name (S16)",
                # the last node first: node1 and node2 are the seed's SQL and Web servers
                "preferred_owners": list(reversed(state.nodes)),
            }
        },
        "resources": {
            **address_and_name(
                state, "Cluster Group", "cluster", MANAGEMENT_ADDRESS, state.cluster
            ),
            "coordinator": {
                "type": GENERIC_APPLICATION,
                "group": "Cluster Group",
                "description": "transaction coordinator (DTC analog, S22)",
                "dependencies": [["cluster-ip"]],
                "properties": {
                    "command": dtc,
                    "check_command": f"/bin/bash -c 'exec 3<>/dev/tcp/{MANAGEMENT_ADDRESS}/"
                    f"{DTC_PORT}'",
                },
            },
        },
    }


def address_and_name(
    state: LabState, group: str, prefix: str, address: str, host: str, name: str | None = None
) -> dict[str, Any]:
    """A virtual server's IP Address ``<prefix>-ip`` on the public network and the Network
    Name (``name``, default ``<prefix>-name``) registering ``host`` on it in the lab's DNS."""
    return {
        f"{prefix}-ip": {
            "type": IP_ADDRESS,
            "group": group,
            "properties": {"address": address, "network": "public"},
        },
        name or f"{prefix}-name": {
            "type": NETWORK_NAME,
            "group": group,
            "dependencies": [[f"{prefix}-ip"]],
            "properties": dns_properties(state, host),
        },
    }


def dns_properties(state: LabState, name: str) -> dict[str, Any]:
    """A Network Name's properties in this lab: registered with the dns host's BIND."""
    return {
        "name": name,
        "zone": ZONE,
        "server": DNS_ADDRESS,
        "port": 53,
        "key_file": str(key_file(state)),
    }


def add_config(db: ClusterDB, doc: dict[str, Any]) -> ClusterConfig:
    """Add (or overwrite) the objects of configuration document ``doc``."""

    def change(cfg: ClusterConfig) -> ClusterConfig:
        given = codec.parse_config({"cluster": codec.dump(cfg.cluster), **doc})
        return replace(
            cfg,
            nodes={**cfg.nodes, **given.nodes},
            networks={**cfg.networks, **given.networks},
            interfaces={**cfg.interfaces, **given.interfaces},
            groups={**cfg.groups, **given.groups},
            resources={**cfg.resources, **given.resources},
        )

    return db.update_config(change)


def _start_daemon(state: LabState, node: str) -> None:
    settings = {
        "node": node,
        "endpoints": node_endpoints(state, node),
        "etcd": access.daemon_settings(state, node),
        "prefix": KEY_ROOT,
        "secret_file": str(secret_file(state)),
        "run_dir": str(run_dir(state, node)),
        "heartbeat": {"port": HEARTBEAT_PORT},
        "fence": {"agent": str(Path(state.dir) / "fence_lab"), "timeout_s": 15},
        "dump_dir": str(node_dir(state, node) / "dumps"),
        "api": {"listen": "0.0.0.0", "advertise": public_address(node), "port": API_PORT},
    }
    own = node_dir(state, node) / "local"
    own.mkdir(mode=0o755, parents=True, exist_ok=True)
    (own / "node").write_text(f"{node}\n")
    config = node_dir(state, node) / "wolfpackd.yaml"
    import yaml  # local: only up needs it

    config.write_text(yaml.safe_dump(settings))
    # ip netns exec gave the shell a mount namespace of its own (slave of the host's): the
    # bind mount is seen by this node's daemon and what it starts, by nobody else.
    script = 'mount --bind "$1" "$2" && exec "$3" -m wolfpack.node.daemon --config "$4"'
    argv = ["/bin/sh", "-c", script, "sh", str(own), str(local_dir(state)), sys.executable,
            str(config)]  # fmt: skip
    _spawn(state, node, "wolfpackd", argv, node_dir(state, node) / "wolfpackd.log")


def _wait_nodes_up(state: LabState, nodes: list[str]) -> None:
    store = access.admin_store(state, timeout=2.0)
    db = ClusterDB(store, KeySpace(KEY_ROOT))
    deadline = time.monotonic() + NODES_UP_S
    try:
        while True:
            try:
                snap = db.read_snapshot()
                if all(snap.node(n).state.value == "Up" for n in nodes):
                    return
            except StoreError:
                pass
            dead = [p for p in state.processes if p.role == "wolfpackd" and p.host in nodes
                    and not p.running]  # fmt: skip
            if dead or time.monotonic() > deadline:
                who = dead[0].host if dead else nodes[0]
                raise WolfpackError(
                    f"wolfpackd on {who} did not come up; see {node_dir(state, who)}/wolfpackd.log"
                )
            time.sleep(0.1)
    finally:
        store.close()


# -- status --------------------------------------------------------------------------------------
def check(state: LabState) -> list[str]:
    """What is wrong with a lab that should be up (empty: nothing)."""
    problems: list[str] = []
    present = set(Lab.existing(state.prefix))
    problems += [f"namespace {ns} is missing" for ns in state.namespaces if ns not in present]
    for p in state.processes:
        if p.host not in state.powered_off and not p.running:
            problems.append(f"{p.role} on {p.host} (pid {p.pid}) is not running")
    return problems


def status(lab_dir: Path) -> dict[str, Any]:
    """The lab as a document: hosts, processes, and the cluster's nodes and groups."""
    state = LabState.load(lab_dir.resolve())
    doc: dict[str, Any] = {
        "dir": state.dir,
        "prefix": state.prefix,
        "phase": state.phase,
        "cluster": state.cluster,
        "endpoint": endpoints(state),
        "problems": check(state),
        "hosts": {
            h: {
                "namespace": state.prefix + h,
                "address": _host_address(h),
                "powered_off": h in state.powered_off,
                "processes": [
                    {"role": p.role, "pid": p.pid, "running": p.running}
                    for p in state.processes_of(h)
                ],
            }
            for h in hosts(state)
        },
        "loop_devices": list(state.loop_devices),
        "disks": {n: dict(d) for n, d in state.disks.items()},
    }
    if state.prefix + "admin" in Lab.existing(state.prefix):
        with in_admin(state):
            doc["cluster_state"] = _cluster_state(state)
    return doc


def _host_address(host: str) -> str:
    fixed = {"admin": ADMIN_ADDRESS, "dns": DNS_ADDRESS, "client": CLIENT_ADDRESS}
    return fixed.get(host) or public_address(host)


def _cluster_state(state: LabState) -> dict[str, Any]:
    store = access.admin_store(state, timeout=1.0)
    try:
        snap = ClusterDB(store, KeySpace(KEY_ROOT)).read_snapshot()
    except StoreError as exc:
        return {"error": str(exc)}
    finally:
        store.close()
    return {
        "nodes": {n: snap.node(n).state.value for n in sorted(snap.config.nodes)},
        "groups": {
            g: {
                "owner": snap.group(g).owner,
                "state": str(
                    group_state(snap.resource(r.name).state for r in snap.config.group_resources(g))
                ),
            }
            for g in sorted(snap.config.groups)
        },
    }


# -- power ---------------------------------------------------------------------------------------
def power_on(lab_dir: Path, node: str, progress: Progress = _quiet) -> None:
    """Bring ``node``'s links up with its own addresses and start its etcd and wolfpackd."""
    lab_dir = lab_dir.resolve()
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        check_node(state, node)
        if node not in state.powered_off:
            progress(f"{node} is on already")
            return
        lab = Lab(state.prefix)
        for ifname, address in ((PUB_IF, public_address(node)), (PRIV_IF, private_address(node))):
            lab.ip(node, ["addr", "flush", "dev", ifname], what=f"flush {ifname}")
            lab.add_address(node, ifname, f"{address}/24")
            lab.set_link(node, ifname, up=True)
        for ifname in (PUB_IF, PRIV_IF):
            lab.wait_carrier(node, ifname, 5.0)
        with in_admin(state):
            if node in members(state):
                _start_etcd_member(state, node)
            _start_daemon(state, node)
            state.powered_off.remove(node)
            state.save()
            progress(f"{node} powered on: waiting until it is Up")
            _wait_nodes_up(state, [node])


def _loop_backing(device: str) -> Path | None:
    try:
        text = Path(f"/sys/block/{Path(device).name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return Path(text.removesuffix(" (deleted)"))


def _our_loop_devices(state: LabState) -> list[str]:
    """The recorded loop devices, and any other whose image is in the lab's directory
    (attached by an up that died before it could record it)."""
    found = set(state.loop_devices)
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        device = f"/dev/{backing.parent.parent.name}"
        image = _loop_backing(device)
        if image is not None and image.is_relative_to(Path(state.dir) / "disks"):
            found.add(device)
    ours = []
    for device in sorted(found):
        image = _loop_backing(device)
        if image is not None and image.is_relative_to(Path(state.dir) / "disks"):
            ours.append(device)  # still backed by our image: never someone else's device
    return ours


# -- down ----------------------------------------------------------------------------------------
def down(lab_dir: Path, progress: Progress = _quiet) -> dict[str, Any]:
    """Remove everything the lab in ``lab_dir`` recorded, and only that; a summary."""
    lab_dir = lab_dir.resolve()
    try:
        state = LabState.load(lab_dir)
    except LabStateError:
        if not lab_dir.exists():
            progress(f"no lab in {lab_dir}: nothing to remove")
            return {"dir": str(lab_dir), "removed": False}
        raise
    killed: list[int] = []
    failures: list[str] = []
    for host in reversed(hosts(state)):
        killed += kill_namespace(state, host)
    PidRegistry(state.dir).kill([p.entry() for p in state.processes], signal.SIGKILL)
    progress(f"stopped {len(killed)} processes of the lab")
    for dev in _our_loop_devices(state):
        try:
            remove_shared_disk(LoopDisk(_loop_backing(dev) or Path("/"), dev, "", ""))
        except LabError as exc:
            failures.append(str(exc))
    present = set(Lab.existing(state.prefix))
    gone = []
    for ns in [*reversed(state.namespaces), *sorted(present - set(state.namespaces))]:
        if ns in present:
            try:
                Lab(state.prefix).ip(None, ["netns", "del", ns], what=f"delete namespace {ns}")
                gone.append(ns)
            except LabError as exc:
                failures.append(str(exc))
    progress(f"deleted {len(gone)} namespaces (with their bridges and veths)")
    for f in state.files:
        with contextlib.suppress(FileNotFoundError):
            Path(f).unlink()
    for d in reversed(state.directories):
        with contextlib.suppress(FileNotFoundError, OSError):
            Path(d).rmdir()  # only if empty: another lab's files stay
    if failures:
        raise WolfpackError("lab down left something: " + "; ".join(failures))
    shutil.rmtree(lab_dir)
    progress(f"removed {lab_dir}")
    return {
        "dir": str(lab_dir),
        "removed": True,
        "namespaces": gone,
        "processes_killed": len(killed),
        "files": state.files,
        "loop_devices": state.loop_devices,
    }
