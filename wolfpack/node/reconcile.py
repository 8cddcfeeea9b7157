"""What one node's resource manager should do next: a pure function of the snapshot.

The coordinator decides placement (``wolfpack.policy``); each node reconciles its own
resources to it. Rules, per group:

- Not ours (another owner, wanted offline, failover limit reached, or our lease is in doubt):
  stop whatever of it runs here, dependents first.
- Ours: first make sure nothing of the group is still active on another node that is not
  fenced (a move stops on the old node before it starts on the new one: never two owners).
  Then stop resources wanted offline and resources whose dependencies went away; restart a
  failed resource only once the coordinator has granted a restart (a restart time newer than
  the failure); start what should run once its dependencies run here. Everything that can
  run in parallel is returned as one batch; the shell runs it and asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wolfpack.model.config import Resource
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import NodeState, ResourceState, Wanted


class LocalKind(StrEnum):
    START = "start"
    STOP = "stop"


@dataclass(frozen=True)
class LocalAction:
    kind: LocalKind
    resource: str
    group: str
    reason: str


def owns(snap: Snapshot, me: str, group: str) -> bool:
    st = snap.group(group)
    return st.owner == me and st.wanted is Wanted.ONLINE and not st.failed_over_limit


def next_batch(
    snap: Snapshot, me: str, local: Mapping[str, ResourceState], *, lease_ok: bool
) -> list[LocalAction]:
    """Actions to run now, in parallel. ``local`` is what runs on this node, by resource
    (absent = offline). Stops come before starts: a batch holds only one kind."""
    stops: list[LocalAction] = []
    starts: list[LocalAction] = []
    for group in sorted(snap.config.groups):
        members = snap.config.group_resources(group)
        if not (lease_ok and owns(snap, me, group)):
            stops += _stops(members, local, None, group, "the group does not run here")
            continue
        doomed = {
            r.name for r in members if snap.resource(r.name).wanted is Wanted.OFFLINE
        } | _orphaned(members, local)
        stops += _stops(members, local, doomed, group, "wanted offline or lost a dependency")
        if stops or _active_elsewhere(snap, me, members):
            continue
        starts += _starts(snap, me, members, local, group)
    return stops or starts


def _is_active(state: ResourceState | None) -> bool:
    """Running here and so in need of a stop; a failed resource was terminated already."""
    return state in (
        ResourceState.ONLINE,
        ResourceState.ONLINE_PENDING,
        ResourceState.OFFLINE_PENDING,
    )


def _stops(
    members: tuple[Resource, ...],
    local: Mapping[str, ResourceState],
    only: set[str] | None,
    group: str,
    why: str,
) -> list[LocalAction]:
    """Stop ``only`` (every member if None) that runs here; dependents that still run here
    are stopped first, so this returns the outermost of them."""
    targets = {
        r.name
        for r in members
        if (only is None or r.name in only) and _is_active(local.get(r.name))
    }
    # Dependents of a target that still run must stop first, so they are targets too.
    grew = True
    while grew:
        grew = False
        for r in members:
            if r.name not in targets and _is_active(local.get(r.name)) and r.depends_on & targets:
                targets.add(r.name)
                grew = True
    return [
        LocalAction(LocalKind.STOP, r.name, group, why)
        for r in members
        if r.name in targets
        and not any(o.name in targets and r.name in o.depends_on for o in members)
    ]


def _orphaned(members: tuple[Resource, ...], local: Mapping[str, ResourceState]) -> set[str]:
    """Resources running here although some dependency clause has nothing online here."""
    online = {n for n, s in local.items() if s is ResourceState.ONLINE}
    return {
        r.name
        for r in members
        if _is_active(local.get(r.name))
        and any(not any(m in online for m in clause) for clause in r.dependencies)
    }


def _active_elsewhere(snap: Snapshot, me: str, members: tuple[Resource, ...]) -> bool:
    for r in members:
        st = snap.resource(r.name)
        if st.node is None or st.node == me or not st.state.active:
            continue
        if st.state is ResourceState.FAILED:
            continue  # a failed resource has been terminated where it failed
        node = snap.node(st.node)
        if not (node.state is NodeState.DOWN and node.fenced):
            return True
    return False


def _starts(
    snap: Snapshot,
    me: str,
    members: tuple[Resource, ...],
    local: Mapping[str, ResourceState],
    group: str,
) -> list[LocalAction]:
    online = {n for n, s in local.items() if s is ResourceState.ONLINE}
    actions = []
    for r in members:
        st = snap.resource(r.name)
        here = local.get(r.name)
        if st.wanted is Wanted.OFFLINE or _is_active(here):
            continue
        failed_here = here is ResourceState.FAILED or (
            here is None and st.state is ResourceState.FAILED and st.node == me
        )
        if failed_here and not st.restart_granted:
            continue  # the coordinator decides: restart here, or fail the group over
        if all(any(m in online for m in clause) for clause in r.dependencies):
            why = "restart granted" if failed_here else "should run here"
            actions.append(LocalAction(LocalKind.START, r.name, group, why))
    return actions
