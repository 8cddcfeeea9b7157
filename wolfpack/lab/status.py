"""What ``wolfpack lab status`` reports: the lab's hosts and processes, what is wrong with
it, and the cluster as read from the admin host's namespace (:func:`in_admin`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyroute2 import netns as pyroute2_netns

from wolfpack.errors import StoreError
from wolfpack.lab import access
from wolfpack.lab.layout import (
    ADMIN_ADDRESS,
    CLIENT_ADDRESS,
    DNS_ADDRESS,
    KEY_ROOT,
    endpoints,
    hosts,
    public_address,
)
from wolfpack.lab.netns import Lab
from wolfpack.lab.state import LabState
from wolfpack.model.fsm import group_state
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

__all__ = ["check", "in_admin", "status"]


@contextlib.contextmanager
def in_admin(state: LabState) -> Iterator[None]:
    """Run the calling thread in the admin host's network namespace (setns) meanwhile."""
    pyroute2_netns.pushns(state.prefix + "admin")
    try:
        yield
    finally:
        pyroute2_netns.popns()


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
