"""Starting a lab host's programs and waiting for its nodes: shared by the lab built from a
configuration document (:mod:`wolfpack.lab.world`) and the one built through the commands
a user runs (:mod:`wolfpack.lab.formed`). Every process is recorded in the lab's state as it
starts, so ``lab down`` finds it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab import access, fence_client, power_switch
from wolfpack.lab import faketime as lab_faketime
from wolfpack.lab.layout import (
    KEY_ROOT,
    NODES_UP_S,
    faketime_file,
    local_dir,
    netns_exec,
    node_dir,
)
from wolfpack.lab.netns import FABRIC
from wolfpack.lab.state import LabProcess, LabState
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

__all__ = [
    "fence_agent",
    "launch_daemon",
    "spawn",
    "start_power_switch",
    "wait_nodes_up",
    "write_fence_agent",
]


def spawn(
    state: LabState, host: str, role: str, argv: list[str], log: Path,
    env: dict[str, str] | None = None,
) -> LabProcess:  # fmt: skip
    """Start ``argv`` in ``host``'s namespace, in its own session, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*netns_exec(state, host), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "WOLFPACK_NODE": host, **(env or {})},
        )
    return state.add_process(host, role, proc.pid)


#: a daemon that exits while the lab waits for it is started again this often, this much
#: later (wolfpackd.service: Restart=on-failure, RestartSec=2s)
RESTARTS = 3
RESTART_AFTER_S = 2.0


def fence_agent(state: LabState) -> Path:
    return Path(state.dir) / "fence_lab"


def fence_agent_script(state: LabState, power_wait_s: float = 0.0) -> str:
    """The lab fence agent, run by a node's daemon: a few lines of Python started with
    ``-I -S`` that ask the lab's power switch (:mod:`wolfpack.lab.power_switch`), which
    acts from outside every node, as a fence device does; ``power_wait_s``: how long after
    an off it reads the status back (fence-agents' ``power_wait``)."""
    client = Path(fence_client.__file__)
    wait = f" --power-wait={power_wait_s}" if power_wait_s else ""
    return (
        "#!/bin/sh\n# the lab fence agent (fence-agents interface: options on stdin)\n"
        f'exec "{sys.executable}" -I -S "{client}" "{power_switch.socket_path(state.dir)}"{wait}\n'
    )


def write_fence_agent(state: LabState) -> None:
    fence = fence_agent(state)
    fence.write_text(fence_agent_script(state))
    fence.chmod(0o755)


#: how long ``lab up`` waits for the power switch's socket
SWITCH_READY_S = 10.0


def start_power_switch(state: LabState) -> LabProcess:
    """The lab's power switch, in the fabric's namespace (outside every node); returns once
    it listens."""
    argv = [sys.executable, "-m", "wolfpack.lab.power_switch", "--dir", state.dir]
    sock = power_switch.socket_path(state.dir)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    proc = spawn(state, FABRIC, "power-switch", argv, Path(state.dir) / "power_switch.out")
    deadline = time.monotonic() + SWITCH_READY_S
    while not sock.exists():
        if not proc.running:
            raise WolfpackError(f"the lab's power switch exited: see {state.dir}/power_switch.out")
        if time.monotonic() > deadline:
            raise WolfpackError(
                f"the lab's power switch did not listen within {SWITCH_READY_S:g} s"
            )
        time.sleep(0.02)
    return proc


def launch_daemon(state: LabState, node: str, config: Path) -> LabProcess:
    """wolfpackd on ``node`` with settings ``config``, in a mount namespace of its own in
    which the lab's ``local`` directory is the node's own (its page names the node)."""
    own = node_dir(state, node) / "local"
    own.mkdir(mode=0o755, parents=True, exist_ok=True)
    (own / "node").write_text(f"{node}\n")
    # ip netns exec gave the shell a mount namespace of its own (slave of the host's): the
    # bind mount is seen by this node's daemon and what it starts, by nobody else.
    script = 'mount --bind "$1" "$2" && exec "$3" -m wolfpack.node.daemon --config "$4"'
    env = None
    if state.faketime:  # LD_PRELOAD on the daemon's exec alone, not on sh or mount
        offset = faketime_file(state, node)
        if not offset.exists():
            lab_faketime.set_offset(offset, 0)
        env = lab_faketime.environment(offset)
        script = (f'mount --bind "$1" "$2" && exec env LD_PRELOAD={lab_faketime.LIBRARY} "$3" '
                  '-m wolfpack.lab.faketime wolfpack.node.daemon --config "$4"')  # fmt: skip
    argv = ["/bin/sh", "-c", script, "sh", str(own), str(local_dir(state)), sys.executable,
            str(config)]  # fmt: skip
    return spawn(state, node, "wolfpackd", argv, node_dir(state, node) / "wolfpackd.log", env)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


def wait_nodes_up(
    state: LabState, nodes: list[str], timeout_s: float = NODES_UP_S,
    restart: Callable[[str], None] | None = None,
) -> None:  # fmt: skip
    """Until every one of ``nodes`` is Up in the cluster database (read as the lab's
    administrator, from the admin host's namespace: the caller is in it). A daemon that
    exits meanwhile is started again with ``restart(node)`` after ``RESTART_AFTER_S``, at
    most ``RESTARTS`` times, as its unit's ``Restart=on-failure`` would (a 16-node lab
    starting at once can keep etcd too busy for a daemon's first requests)."""
    store = access.admin_store(state, timeout=2.0)
    db = ClusterDB(store, KeySpace(KEY_ROOT))
    deadline = time.monotonic() + timeout_s
    restarts: dict[str, int] = {}
    try:
        while True:
            try:
                snap = db.read_snapshot()
                if all(n in snap.config.nodes and snap.node(n).state.value == "Up"
                       for n in nodes):  # fmt: skip
                    return
            except StoreError:
                pass
            dead = [p for p in state.processes if p.role == "wolfpackd" and p.host in nodes
                    and not p.running]  # fmt: skip
            for p in dead:
                if restart is not None and restarts.get(p.host, 0) < RESTARTS:
                    restarts[p.host] = restarts.get(p.host, 0) + 1
                    state.processes.remove(p)
                    time.sleep(RESTART_AFTER_S)
                    restart(p.host)
            dead = [p for p in dead if p in state.processes]
            if dead or time.monotonic() > deadline:
                who = dead[0].host if dead else nodes[0]
                log = node_dir(state, who) / "wolfpackd.log"
                raise WolfpackError(
                    f"wolfpackd on {who} did not come up ({'it exited' if dead else 'timed out'});"
                    f" the end of {log} (removed with the lab):\n{_tail(log)}"
                )
            time.sleep(0.1)
    finally:
        store.close()
