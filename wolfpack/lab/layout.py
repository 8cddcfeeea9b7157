"""Where everything of a lab is: addresses, namespaces, directories (DESIGN §4).

Pure functions of the lab's state, imported by every lab module (also by the lab fence
agent, which must start fast: nothing heavy here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wolfpack.lab.state import LabState
from wolfpack.policy.voters import MAX_MEMBERS

if TYPE_CHECKING:  # the fence agent imports this module: it must start fast
    from wolfpack.node.install import Layout

#: how a lab step says what it does, a line at a time (the CLI prints them)
Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A :data:`Progress` that says nothing."""


ZONE = "cluster.test"
PUBLIC_SUBNET, PRIVATE_SUBNET = "198.51.100.0/24", "203.0.113.0/24"
ADMIN_ADDRESS, DNS_ADDRESS, CLIENT_ADDRESS = "198.51.100.1", "198.51.100.2", "198.51.100.3"
MANAGEMENT_ADDRESS = "198.51.100.10"
#: the two-node lab's witness host (lab up --nodes 2 --witness): a vote-only etcd member
#: on both networks, at the next addresses free after the admin, dns and client hosts
WITNESS = "witness"
WITNESS_PUBLIC, WITNESS_PRIVATE = "198.51.100.4", "203.0.113.4"
PUB_IF, PRIV_IF = "eth0", "eth1"
MIN_NODES, MAX_NODES = 3, 16
#: the nodes of the lab with a witness: the seed's own two-node cluster (S7, S13)
WITNESS_NODES = 2
ETCD_PORT, HEARTBEAT_PORT, DTC_PORT = 2379, 3343, 3372
#: every node's REST API (and web Cluster Administrator), on all its lab addresses, so the
#: management address reaches the API of whichever node owns the Cluster Group
API_PORT = 9443
KEY_ROOT = "/wolfpack/"
#: the lab's shared disks (loop devices over images in the lab's directory): name -> MB
DISKS = {"web": 64, "sql": 256}
TSIG_KEY_NAME = "wolfpack-lab"
#: how long etcd, the daemons and a killed process may take
ETCD_READY_S, NODES_UP_S, KILL_WAIT_S = 60.0, 90.0, 10.0


def node_number(node: str) -> int:
    return int(node.removeprefix("node"))


def public_address(node: str) -> str:
    """node1..node9 at .11-.19; node10..node16 at .110-.116, since .20 and .30 are the demo's
    Web and SQL addresses (a 16-node lab once gave node10 Web's address)."""
    if node == WITNESS:
        return WITNESS_PUBLIC
    n = node_number(node)
    return f"198.51.100.{10 + n if n < 10 else 100 + n}"


def private_address(node: str) -> str:
    if node == WITNESS:
        return WITNESS_PRIVATE
    return f"203.0.113.{10 + node_number(node)}"


def powered(state: LabState) -> list[str]:
    """The hosts ``lab power`` switches: the nodes, and the witness if the lab has one."""
    return [*state.nodes, *([WITNESS] if state.witness else [])]


def members(state: LabState) -> list[str]:
    """The nodes that carry an etcd member: the first ``MAX_MEMBERS`` to join (each join
    adds one until etcd has its voters and a learner; later nodes use theirs)."""
    return state.nodes[:MAX_MEMBERS]


def endpoints(state: LabState) -> str:
    """The etcd client URLs as the admin and client hosts reach them (public network)."""
    return ",".join(f"https://{public_address(n)}:{ETCD_PORT}" for n in members(state))


def pki_dir(state: LabState) -> Path:
    """The cluster database CA and its certificates (an administrator's host, in real life):
    ``ca.crt``/``ca.key``, ``admin/`` (the lab administrator), ``members/<node>/``."""
    return Path(state.dir) / "pki"


def etcd_files(state: LabState, node: str) -> Path:
    """A node's etcd credentials (``ca.crt``, ``node.*``, ``api.*``): /etc/wolfpack/etcd."""
    return installed(state, node).etcd_dir


def hosts(state: LabState) -> list[str]:
    return ["admin", "dns", "client", *powered(state)]


def node_dir(state: LabState, node: str) -> Path:
    return Path(state.dir) / "nodes" / node


def installed(state: LabState, host: str) -> Layout:
    """Where ``cluster create``/``cluster join``/``witness join`` put a host's files in a
    lab built through them (:mod:`wolfpack.lab.formed`): its /etc/wolfpack, /var/lib/wolfpack
    and /run/wolfpack, under the host's directory (so ``lab down`` removes them)."""
    from wolfpack.node.install import Layout

    d = node_dir(state, host)
    return Layout(d / "etc", d / "lib", d / "run")


def run_dir(state: LabState, node: str) -> Path:
    return node_dir(state, node) / "run"


def local_dir(state: LabState) -> Path:
    """The path where each node sees its own directory (bind-mounted in its mount ns)."""
    return Path(state.dir) / "local"


def shared_dir(state: LabState) -> Path:
    return Path(state.dir) / "shared"


def disk_image(state: LabState, name: str) -> Path:
    return Path(state.dir) / "disks" / f"{name}.img"


def mount_point(state: LabState, name: str) -> Path:
    """Where a shared disk is mounted, in the mount namespace of the node that owns it."""
    return Path(state.dir) / "mnt" / name


def key_file(state: LabState) -> Path:
    return Path(state.dir) / "dns" / "key.conf"


def secret_file(state: LabState) -> Path:
    return Path(state.dir) / "secret"


def clock_skew_file(state: LabState, node: str) -> Path:
    """Seconds a node's daemon adds to the clock it reports to ``cluster validate``
    (``lab_clock_skew_file``): a skewed clock without touching the machine's."""
    return node_dir(state, node) / "clock_skew"


def faketime_file(state: LabState, node: str) -> Path:
    """The offset of the node's daemon's wall clock, ``+0`` or ``+30`` say, in a lab up
    with ``--faketime`` (:mod:`wolfpack.lab.faketime`)."""
    return node_dir(state, node) / "faketime"


def token_file(state: LabState) -> Path:
    """The admin token the lab made for its administrator (``wolfpack log``, the web UI)."""
    return Path(state.dir) / "admin.token"


def lab_env(state: LabState) -> dict[str, str]:
    """What a ``wolfpack`` command needs to reach this lab's cluster from a lab host."""
    admin = pki_dir(state) / "admin"
    env = {
        "WOLFPACK_ENDPOINT": endpoints(state),
        "WOLFPACK_PREFIX": KEY_ROOT,
        "WOLFPACK_SECRET_FILE": str(secret_file(state)),
        "WOLFPACK_ETCD_CA": str(admin / "ca.crt"),
        "WOLFPACK_ETCD_CERT": str(admin / "admin.crt"),
        "WOLFPACK_ETCD_KEY": str(admin / "admin.key"),
    }
    token = token_file(state)
    if token.exists():
        env["WOLFPACK_TOKEN"] = token.read_text().strip()
    return env


def netns_exec(state: LabState, host: str) -> list[str]:
    return ["ip", "netns", "exec", state.prefix + host]


def enter(state: LabState, host: str) -> list[str]:
    """The command prefix that runs something *on* ``host``: on a node whose daemon runs,
    in that daemon's mount namespace too (so it sees the node's own mounts)."""
    daemon = role_pid(state, host, "wolfpackd")
    if daemon is None:
        return netns_exec(state, host)
    return ["nsenter", "-t", str(daemon), "-m", "-n", "--"]


def role_pid(state: LabState, host: str, role: str) -> int | None:
    """The PID of ``host``'s running ``role`` (``etcd``, ``wolfpackd``, ...): a process the
    lab started, or the node's etcd member, which its wolfpackd started and restarts (a
    child of the daemon: ``setpriv`` exec's etcd); None if none runs."""
    found = next((p.pid for p in state.processes_of(host) if p.role == role and p.running), None)
    if found is not None or role != "etcd":
        return found
    daemon = role_pid(state, host, "wolfpackd")
    return None if daemon is None else child_named(daemon, "etcd")


def child_named(pid: int, comm: str) -> int | None:
    """A child of ``pid`` (of any of its threads) whose command name is ``comm``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == comm:
                    return int(child)
            except OSError:
                continue
    return None
