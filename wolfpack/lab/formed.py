"""The lab's cluster built through the commands a user runs (issue 10, S7, S8, S13, S20,
S21): ``wolfpack lab up`` and the seed's two-node cluster, ``wolfpack lab up --nodes 2
--witness``.

On top of the network, DNS and shared disks of :mod:`wolfpack.lab.world` (with a witness: a
``witness`` host on both networks, 198.51.100.4 and 203.0.113.4), in order:

1. on node1: ``wolfpack cluster create jean --management-ip 198.51.100.10 ...``, which forms
   etcd with node1's member, the secret and the CAs, the networks from node1's addresses and
   the Cluster Group; then wolfpackd (which runs the member) until node1 is Up and the
   Cluster Group Online, its name ``jean.cluster.test`` registered in the lab's BIND;
2. the administrator's copies, as on an administrator's workstation: the secret
   (``<dir>/secret``) and node1's ``admin:cluster`` credentials and CA (``<dir>/pki``),
   which every ``wolfpack lab exec admin -- wolfpack ...`` uses;
3. on node2, node3, ... in turn: ``wolfpack cluster join jean.cluster.test --secret-file
   ...``: the name resolves (S20) to the management address, whose API admits the node as
   an etcd learner and matches its addresses to the networks by subnet (S21); then
   wolfpackd until the node is Up;
4. with a witness: ``wolfpack witness join jean.cluster.test`` and ``wolfpack witness
   run``; then, until the daemons have promoted the learners (the voters odd, at most 5:
   node1, node2 and the witness; node1-3 in the default lab);
5. without one, the administrator's next steps from the admin host: the private network
   for heartbeats only, the Cluster Group's coordinator (S22), its preferred owners, and
   the group moved to the first of them.

Before each daemon starts, the lab adds its own settings to the node's wolfpackd.yaml
(:func:`lab_settings`). Every host's files go under ``<dir>/nodes/<host>/{etc,lib,run}``
(its /etc/wolfpack, /var/lib/wolfpack and /run/wolfpack), every process is recorded in the
lab's state as it starts, so ``lab down`` removes exactly what this made.
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
from wolfpack.lab.cluster_doc import COORDINATOR_DESCRIPTION, coordinator_properties
from wolfpack.lab.daemons import fence_agent, launch_daemon, spawn, wait_nodes_up
from wolfpack.lab.layout import (
    API_PORT,
    DNS_ADDRESS,
    KEY_ROOT,
    MANAGEMENT_ADDRESS,
    NODES_UP_S,
    PRIVATE_SUBNET,
    WITNESS,
    ZONE,
    Progress,
    clock_skew_file,
    installed,
    key_file,
    netns_exec,
    node_dir,
    pki_dir,
    secret_file,
)
from wolfpack.lab.state import LabState
from wolfpack.model.builtin_types import GENERIC_APPLICATION
from wolfpack.model.fsm import group_state
from wolfpack.model.states import GroupState
from wolfpack.policy.voters import MAX_MEMBERS, settled_voters
from wolfpack.store import KeySpace
from wolfpack.store import etcd_members as em
from wolfpack.store.repository import ClusterDB

__all__ = ["build", "cluster_name", "expected_voters", "lab_settings", "start", "voters"]

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
    """Steps 1-5 of the module's docstring (the network, DNS and disks are made already;
    the caller is in the admin host's namespace)."""
    first, *others = state.nodes
    name = cluster_name(state)
    _on_host(state, first, [
        "cluster", "create", state.cluster, "--node", first,
        "--fence-agent", str(fence_agent(state)),
        "--management-ip", MANAGEMENT_ADDRESS, "--dns-zone", ZONE,
        "--dns-server", DNS_ADDRESS, "--tsig-key-file", str(key_file(state)),
        *_host_dirs(state, first),
    ], progress)  # fmt: skip
    _administrator_copies(state)
    _start_node(state, first, progress, f"it is Up and {name} resolves")
    _wait_cluster_group(state)
    for node in others:
        _wait_resolves(state, node, name)
        _join(state, node, [
            "cluster", "join", name, "--node", node, "--fence-agent", str(fence_agent(state)),
            "--secret-file", str(secret_file(state)), *_host_dirs(state, node),
        ], progress)  # fmt: skip
        _start_node(state, node, progress, "it is Up")
    if state.witness:
        _on_host(state, WITNESS, [
            "witness", "join", name, "--node", WITNESS, "--secret-file", str(secret_file(state)),
            *_host_dirs(state, WITNESS, run=False),
        ], progress)  # fmt: skip
        start(state, WITNESS)
        progress(f"wolfpack witness run on {WITNESS}: waiting for three voters")
    want = expected_voters([*state.nodes, *([WITNESS] if state.witness else [])])
    if not state.witness:
        progress(f"etcd: waiting until {', '.join(n for n, learner in want if not learner)}"
                 " vote (the daemons promote caught-up learners)")  # fmt: skip
    _wait(lambda: voters(state) == want, NODES_UP_S, f"etcd voters {want}", state)
    if not state.witness:
        _administrator_steps(state, progress)


def _administrator_steps(state: LabState, progress: Progress) -> None:
    """What an administrator does next, from the admin host, to finish the cluster: the
    private network for heartbeats only (``cluster create`` makes every network it finds
    mixed); the Cluster Group's transaction
    coordinator (S22) on the management address; the last node first among the Cluster
    Group's preferred owners, and the group moved there (node1 and node2 are the seed's SQL
    and Web servers)."""
    from wolfpack.lab.world import run_on  # lazy: world builds on this module

    store = access.admin_store(state, timeout=2.0)
    try:
        cfg = ClusterDB(store, KeySpace(KEY_ROOT)).load_config()[0]
    finally:
        store.close()
    private = next(n.name for n in cfg.networks.values() if n.subnet == PRIVATE_SUBNET)
    owners = list(reversed(state.nodes))
    props = [f"--prop={k}={v}" for k, v in coordinator_properties().items()]
    for argv in (
        ["wolfpack", "network", "set", private, "--role", "private", "--description",
         "heartbeats"],
        ["wolfpack", "resource", "create", "coordinator", "--type", GENERIC_APPLICATION,
         "--group", CLUSTER_GROUP, "--description", COORDINATOR_DESCRIPTION,
         "--depends", "[cluster-ip]", *props],
        ["wolfpack", "group", "set", CLUSTER_GROUP, "--preferred-owners", ",".join(owners)],
        ["wolfpack", "group", "move", CLUSTER_GROUP, owners[0]],
    ):  # fmt: skip
        shown = [a if " " not in a else repr(a) for a in argv if not a.startswith("--prop=")]
        progress(f"admin: {' '.join(shown)}")
        run_on(state, "admin", argv)


#: a join refused because the previous node's learner has not caught up yet is tried again,
#: as an administrator would, this often and this far apart
JOIN_TRIES, JOIN_RETRY_S = 10, 2.0


def _join(state: LabState, node: str, args: list[str], progress: Progress) -> None:
    for attempt in range(1, JOIN_TRIES + 1):
        try:
            _on_host(state, node, args, progress)
            return
        except WolfpackError as exc:
            if "LEARNER_BEHIND" not in str(exc) or attempt == JOIN_TRIES:
                raise
        progress(f"{node}: the last learner has not caught up yet: joining again in "
                 f"{JOIN_RETRY_S:g} s")  # fmt: skip
        time.sleep(JOIN_RETRY_S)


def expected_voters(hosts: list[str]) -> list[tuple[str, bool]]:
    """The members as (name, learner) once the daemons have promoted every learner they
    will (:func:`wolfpack.policy.voters.settled_voters`): the first ``MAX_MEMBERS`` hosts
    to join have one (later ones are admitted without one, ``VOTERS_FULL``)."""
    joined = hosts[:MAX_MEMBERS]
    count = settled_voters(len(joined))
    return sorted((h, i >= count) for i, h in enumerate(joined))


def _start_node(state: LabState, node: str, progress: Progress, until: str) -> None:
    """The lab's own settings into the node's wolfpackd.yaml, then wolfpackd, until Up."""
    lab_settings(state, node)
    start(state, node)
    progress(f"wolfpackd on {node}: waiting until {until}")
    wait_nodes_up(state, [node], restart=lambda n: start(state, n))


def lab_settings(state: LabState, node: str) -> None:
    """What the lab adds to the wolfpackd.yaml ``cluster create``/``join`` wrote, as an
    administrator edits /etc/wolfpack/wolfpackd.yaml: a fence timeout for a busy machine,
    dumps in the node's directory, the clock skew file ``cluster validate``'s clock check
    reads (:func:`wolfpack.lab.layout.clock_skew_file`), and ``lab up``'s own overrides."""
    import yaml  # local: only up needs it

    path = installed(state, node).daemon_settings
    settings: dict[str, Any] = yaml.safe_load(path.read_text())
    settings["fence"] = {**settings.get("fence", {}), "timeout_s": 15}
    settings["dump_dir"] = str(node_dir(state, node) / "dumps")
    settings["lab_clock_skew_file"] = str(clock_skew_file(state, node))
    for section, values in state.daemon_settings.items():
        settings[section] = {**settings.get(section, {}), **values}
    path.write_text(yaml.safe_dump(settings))


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
    """Until ``name`` resolves on ``host`` (the Network Name's DNS update is done) and the
    API there takes connections: a daemon starts its API last, so the Cluster Group can be
    Online on it, and its name resolve, a moment before (CI17: a join under libfaketime
    was refused a connection this way)."""

    def resolves() -> bool:
        done = subprocess.run(
            [*netns_exec(state, host), "getent", "hosts", name],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return MANAGEMENT_ADDRESS in done.stdout

    def answers() -> bool:
        probe = f"exec 3<>/dev/tcp/{MANAGEMENT_ADDRESS}/{API_PORT}"
        done = subprocess.run([*netns_exec(state, host), "bash", "-c", probe],
                              capture_output=True, timeout=10, check=False)  # fmt: skip
        return done.returncode == 0

    _wait(resolves, 30.0, f"{name} resolving to {MANAGEMENT_ADDRESS} on {host}", state)
    _wait(answers, 30.0, f"the API at {MANAGEMENT_ADDRESS}:{API_PORT} from {host}", state)


def _wait(predicate: Any, timeout_s: float, what: str, state: LabState) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        dead = [f"{p.role} on {p.host}" for p in state.processes if not p.running]
        if dead or time.monotonic() > deadline:
            why = f"{dead[0]} exited" if dead else f"not within {timeout_s:g} s"
            raise WolfpackError(f"lab up: {what}: {why}; see the logs in {state.dir}/nodes")
        time.sleep(0.2)
