"""A large cluster in the steady state, for the benchmarks of the policy (bench/plan.py) and
of the coordinator on a real etcd (bench/coordinator_scale.py).

Only ``wolfpack.model`` is used here, so bench/plan_compare.py can run bench/plan.py
against an older tree.
"""

from __future__ import annotations

from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import (
    ClusterConfig,
    Failback,
    Group,
    Node,
    Resource,
)
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus, Snapshot
from wolfpack.model.states import FailbackMode, NodeState, ResourceState

NOW = 1_800_000_000.0

#: each group's resources: short name -> dependencies (AND of ORs of short names)
MEMBERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "disk": (),
    "ip": (),
    "name": (("ip",),),
    "app": (("disk",), ("ip",)),
    "check": (("app",),),
}


def build(nodes: int, resources: int, now: float = NOW) -> Snapshot:
    """N nodes and R/5 groups of five resources each (disk, IP, network name on the IP,
    application on disk and IP, a monitor script on the application), every group online
    on its first preferred owner (group g prefers node g mod N, then the next), every node
    Up. The configuration is valid (``check_config``): built-in types, a command each."""
    names = [f"node{i}" for i in range(1, nodes + 1)]
    node_cfg = {n: Node(n, i) for i, n in enumerate(names, start=1)}
    modes = (FailbackMode.PREVENT, FailbackMode.IMMEDIATE, FailbackMode.WINDOW)
    groups: dict[str, Group] = {}
    res_cfg: dict[str, Resource] = {}
    group_status: dict[str, GroupStatus] = {}
    res_status: dict[str, ResourceStatus] = {}
    for g in range(max(1, resources // 5)):
        gname = f"g{g:05d}"
        preferred = (names[g % nodes], names[(g + 1) % nodes])
        mode = modes[g % 3]
        groups[gname] = Group(
            gname,
            preferred_owners=preferred if nodes > 1 else preferred[:1],
            failback=Failback(
                mode,
                window_start=22 if mode is FailbackMode.WINDOW else None,
                window_end=6 if mode is FailbackMode.WINDOW else None,
            ),
            anti_affinity=(f"class{g % 7}",) if g % 10 == 0 else (),
        )
        owner = preferred[0]
        group_status[gname] = GroupStatus(owner=owner)
        for short, deps in MEMBERS.items():
            rname = f"{gname}-{short}"
            res_cfg[rname] = Resource(
                rname,
                type="Generic Application",
                group=gname,
                dependencies=tuple(tuple(f"{gname}-{d}" for d in clause) for clause in deps),
                properties={"command": "/bin/true"},
            )
            res_status[rname] = ResourceStatus(ResourceState.ONLINE, node=owner, since=now - 3600)
    config = ClusterConfig(nodes=node_cfg, groups=groups, resources=res_cfg, types=builtin_types())
    node_status = {n: NodeStatus(NodeState.UP, since=now - 86400) for n in names}
    return Snapshot(config, node_status, group_status, res_status)
