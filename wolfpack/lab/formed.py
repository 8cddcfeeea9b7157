"""The seed's two-node cluster in the lab, built through the commands a user runs (issue 10,
S7, S8, S13, S20, S21): ``wolfpack lab up --nodes 2 --witness``.

On top of the network, DNS and shared disks of :mod:`wolfpack.lab.world` (a ``witness``
host on both networks, 198.51.100.4 and 203.0.113.4, besides node1 and node2), in order:

1. on node1: ``wolfpack cluster create jean --management-ip 198.51.100.10 ...``, which forms
   etcd with node1's member, the secret and the CAs, the networks from node1's addresses and
   the Cluster Group; then wolfpackd (which runs the member) until node1 is Up and the
   Cluster Group Online, its name ``jean.cluster.test`` registered in the lab's BIND;
2. the administrator's copies, as on an administrator's workstation: the secret
   (``<dir>/secret``) and node1's ``admin:cluster`` credentials and CA (``<dir>/pki``),
   which every ``wolfpack lab exec admin -- wolfpack ...`` uses;
3. on node2: ``wolfpack cluster join jean.cluster.test --secret-file ...``: the name resolves
   (S20) to the management address, whose API admits node2 and matches its addresses to
   the networks by subnet (S21); then wolfpackd until node2 is Up (an etcd learner: two
   voters would lose quorum with either node);
4. on the witness: ``wolfpack witness join jean.cluster.test`` and ``wolfpack witness run``,
   until node1, node2 and the witness are three voting members.

Every host's files go under ``<dir>/nodes/<host>/{etc,lib,run}`` (its /etc/wolfpack,
/var/lib/wolfpack and /run/wolfpack), every process is recorded in the lab's state as it
starts, so ``lab down`` removes exactly what this made.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab import access
from wolfpack.lab.daemons import fence_agent, launch_daemon, spawn, wait_nodes_up
from wolfpack.lab.layout import (
    DNS_ADDRESS,
    KEY_ROOT,
    MANAGEMENT_ADDRESS,
    NODES_UP_S,
    WITNESS,
    ZONE,
    Progress,
    installed,
    key_file,
    netns_exec,
    node_dir,
    pki_dir,
    secret_file,
)
from wolfpack.lab.state import LabState
from wolfpack.model.fsm import group_state
from wolfpack.model.states import GroupState
from wolfpack.store import KeySpace
from wolfpack.store import etcd_members as em
from wolfpack.store.repository import ClusterDB

__all__ = ["build", "cluster_name", "start", "voters"]

CLI_TIMEOUT_S = 180.0
CLUSTER_GROUP = "Cluster Group"


def cluster_name(state: LabState) -> str:
    """The cluster's Network Name, which joining hosts resolve (S20)."""
    return f"{state.cluster}.{ZONE}"


def _on_host(state: LabState, host: str, args: list[str], progress: Progress) -> dict[str, Any]:
    """Run ``wolfpack ARGS --json`` on ``host``, as on a machine with no cluster configured
    (no WOLFPACK_* variables, its own HOME); its JSON answer."""
    progress(f"{host}: wolfpack {' '.join(args)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WOLFPACK_")}
    env["HOME"] = str(node_dir(state, host))
    cli = str(Path(sys.executable).parent / "wolfpack")
    done = subprocess.run(
        [*netns_exec(state, host), cli, *args, "--json"],
        env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise WolfpackError(
            f"on {host}: wolfpack {' '.join(args)} exited {done.returncode}: "
            f"{done.stdout.strip()} {done.stderr.strip()}"
        )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _host_dirs(state: LabState, host: str, *, run: bool = True) -> list[str]:
    lay = installed(state, host)
    out = ["--config-dir", str(lay.config_dir), "--data-dir", str(lay.data_dir)]
    return [*out, "--run-dir", str(lay.run_dir)] if run else out


def build(state: LabState, progress: Progress) -> None:
    """Steps 1-4 of the module's docstring (the network, DNS and disks are made already;
    the caller is in the admin host's namespace)."""
    first, second = state.nodes
    name = cluster_name(state)
    _on_host(state, first, [
        "cluster", "create", state.cluster, "--node", first,
        "--fence-agent", str(fence_agent(state)),
        "--management-ip", MANAGEMENT_ADDRESS, "--dns-zone", ZONE,
        "--dns-server", DNS_ADDRESS, "--tsig-key-file", str(key_file(state)),
        *_host_dirs(state, first),
    ], progress)  # fmt: skip
    _administrator_copies(state)
    start(state, first)
    progress(f"wolfpackd on {first}: waiting until it is Up and {name} resolves")
    wait_nodes_up(state, [first])
    _wait_cluster_group(state)
    _wait_resolves(state, second, name)
    _on_host(state, second, [
        "cluster", "join", name, "--node", second, "--fence-agent", str(fence_agent(state)),
        "--secret-file", str(secret_file(state)), *_host_dirs(state, second),
    ], progress)  # fmt: skip
    start(state, second)
    progress(f"wolfpackd on {second}: waiting until it is Up")
    wait_nodes_up(state, [second])
    _on_host(state, WITNESS, [
        "witness", "join", name, "--node", WITNESS, "--secret-file", str(secret_file(state)),
        *_host_dirs(state, WITNESS, run=False),
    ], progress)  # fmt: skip
    start(state, WITNESS)
    progress(f"wolfpack witness run on {WITNESS}: waiting for three voters")
    want = sorted([(first, False), (second, False), (WITNESS, False)])
    _wait(lambda: voters(state) == want, NODES_UP_S, f"etcd voters {want}", state)


def _administrator_copies(state: LabState) -> None:
    """The secret and ``admin:cluster``'s credentials, copied from node1 to where the lab's
    own commands find them (:func:`wolfpack.lab.layout.lab_env`, :mod:`.access`)."""
    lay = installed(state, state.nodes[0])
    shutil.copyfile(lay.secret, secret_file(state))
    secret_file(state).chmod(0o600)
    shutil.copytree(lay.ca_dir, pki_dir(state), dirs_exist_ok=True)
    shutil.copytree(lay.admin_dir, pki_dir(state) / "admin", dirs_exist_ok=True)


def start(state: LabState, host: str) -> None:
    """Start what ``host``'s service manager would: wolfpackd on a node (it runs the node's
    etcd member), ``wolfpack witness run`` on the witness."""
    lay = installed(state, host)
    if host != WITNESS:
        launch_daemon(state, host, lay.daemon_settings)
        return
    cli = str(Path(sys.executable).parent / "wolfpack")
    argv = [cli, "witness", "run", "--config-dir", str(lay.config_dir)]
    spawn(state, host, "witness", argv, node_dir(state, host) / "witness.log")


def voters(state: LabState) -> list[tuple[str, bool]]:
    """The etcd members as (name, learner), sorted; empty if the database does not answer."""
    store = access.admin_store(state, timeout=1.0)
    try:
        return sorted((m.label, m.learner) for m in em.members(store))
    except StoreError:
        return []
    finally:
        store.close()


def _wait_cluster_group(state: LabState) -> None:
    def online() -> bool:
        store = access.admin_store(state, timeout=1.0)
        try:
            snap = ClusterDB(store, KeySpace(KEY_ROOT)).read_snapshot()
            states = (snap.resource(r.name).state
                      for r in snap.config.group_resources(CLUSTER_GROUP))  # fmt: skip
            return group_state(states) == GroupState.ONLINE
        except StoreError:
            return False
        finally:
            store.close()

    _wait(online, NODES_UP_S, f"{CLUSTER_GROUP} Online", state)


def _wait_resolves(state: LabState, host: str, name: str) -> None:
    """Until ``name`` resolves on ``host`` (the Network Name's DNS update is done)."""

    def resolves() -> bool:
        done = subprocess.run(
            [*netns_exec(state, host), "getent", "hosts", name],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return MANAGEMENT_ADDRESS in done.stdout

    _wait(resolves, 30.0, f"{name} resolving to {MANAGEMENT_ADDRESS} on {host}", state)


def _wait(predicate: Any, timeout_s: float, what: str, state: LabState) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        dead = [f"{p.role} on {p.host}" for p in state.processes if not p.running]
        if dead or time.monotonic() > deadline:
            why = f"{dead[0]} exited" if dead else f"not within {timeout_s:g} s"
            raise WolfpackError(f"lab up: {what}: {why}; see the logs in {state.dir}/nodes")
        time.sleep(0.2)
