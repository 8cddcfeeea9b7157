"""A node's resource manager on an in-memory cluster database, for the M7 tests (tests only).

:func:`manager` builds a cluster (node1, node2, one group) with the given resources and
their statuses, and node1's :class:`ResourceManager` over it, with a real agent context
(run directory, PID registry, confinement). Run as a script inside ``unshare --mount
--propagation private``, it is the mount scenario: tmpfs mounts recorded for resources whose
status names node2 (cleaned) and no longer configured (cleaned), then ``_adopt_or_clean``;
prints the outcome as JSON.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from wolfpack.cli.config import _parse, merge
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.node.manager import ResourceManager
from wolfpack.node.pidregistry import PidRegistry
from wolfpack.resources import AgentContext
from wolfpack.resources.confine import Confinement
from wolfpack.store import Compare, KeySpace
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB
from wolfpack.store.view import ClusterReader


def context(run_dir: Path, confine: Confinement | None) -> AgentContext:
    registry = PidRegistry(run_dir)

    def register(pid: int) -> None:
        registry.add(pid, "resource")

    return AgentContext(
        node="node1",
        run_dir=run_dir,
        log=lambda event, fields: None,
        on_failure=lambda name, why: None,
        register_pid=register,
        unregister_pid=registry.remove,
        confine=confine,
    )


def manager(
    resources: dict[str, dict[str, Any]],
    online_on: dict[str, str],
    ctx: AgentContext,
    log: list[tuple[str, dict[str, Any]]],
) -> ResourceManager:
    """node1's manager; ``online_on`` names the node each resource is Online on."""
    store, keys = MemoryStore(), KeySpace()
    db = ClusterDB(store, keys)
    doc = {
        "cluster": {"name": "c"},
        "nodes": {"node1": {"id": 1}, "node2": {"id": 2}},
        "groups": {"G": {"preferred_owners": ["node1", "node2"]}},
        "resources": {name: {"group": "G", **spec} for name, spec in resources.items()},
    }
    state, given = _parse(copy.deepcopy(doc))
    db.import_config(lambda cur: merge(cur, given, set(doc), False), state)
    for node in ("node1", "node2"):
        db.write_status("nodes", node, NodeStatus(state=NodeState.UP))
        store.put(keys.node_lease(node), b"{}", lease=store.lease_grant(30))
    db.write_status("groups", "G", GroupStatus(owner="node1"))
    for name, node in online_on.items():
        db.write_status("resources", name, ResourceStatus(ResourceState.ONLINE, node, 1.0))
    lease = store.get(keys.node_lease("node1"))
    assert lease is not None
    rev = lease.create_revision
    return ResourceManager(
        ClusterReader(store, keys),
        "node1",
        lambda: True,
        lambda: Compare(keys.node_lease("node1"), "create", "==", rev),
        ctx,
        log=lambda event, **fields: log.append((event, fields)),
    )


def _mount_scenario(base: Path) -> dict[str, Any]:
    from wolfpack.resources import mounts
    from wolfpack.resources.holdings import MOUNT, Holdings

    run_dir = base / "run"
    held = Holdings(run_dir)
    points = {name: base / name for name in ("disk-old", "disk-gone", "unrelated")}
    for name, point in points.items():
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "wp-test", str(point)], check=True)
        entry = mounts.mount_at(str(point))
        assert entry is not None
        if name != "unrelated":
            held.add(MOUNT, name, mountpoint=str(point), devno=list(entry.devno))
    log: list[tuple[str, dict[str, Any]]] = []
    app = {"type": "Generic Application", "properties": {"command": "/bin/true"}}
    mgr = manager({"disk-old": app}, {"disk-old": "node2"}, context(run_dir, None), log)
    try:
        mgr._adopt_or_clean()
    finally:
        mgr._pool.shutdown()
    return {
        "mounted": {n: mounts.mount_at(str(p)) is not None for n, p in points.items()},
        "log": [[e, f] for e, f in log if e.startswith("leftover")],
        "left": [h.resource for h in held.entries()],
    }


if __name__ == "__main__":
    print(json.dumps(_mount_scenario(Path(sys.argv[1]))))
