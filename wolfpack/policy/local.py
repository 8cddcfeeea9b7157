"""What one node's resource manager should do next: a pure function of the snapshot.

The coordinator decides placement (:func:`wolfpack.policy.plan`); each node reconciles its own
resources to it with :func:`next_batch`. Rules, per group:

- Not ours (another owner, wanted offline, failover limit reached, or our lease is in doubt):
  stop whatever of it runs here, dependents first.
- Ours: first make sure nothing of the group is still active on another node that is not
  fenced (a move stops on the old node before it starts on the new one: never two owners).
  A failure the coordinator requested (Initiate Failure, a pending timeout) is carried out
  here and confirmed by our own Failed report; until then the resource counts as running
  (H1). Then stop resources wanted offline and resources whose dependencies went away;
  restart a failed resource only once the coordinator has granted a restart for that
  failure; start what should run once its dependencies run here.
- A resource the cluster knows as Failed here and that is wanted offline (its group taken
  offline, or itself) is stopped: the stop confirms nothing of it is left and records it
  Offline (WSFC: offline brings a failed resource to Offline), whoever owns the group now.
- A resource that runs here but is no longer configured at all is stopped (M5, H3).

Everything that can run in parallel is returned as one batch of one kind; the shell runs it
and asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wolfpack.model.config import Resource
from wolfpack.model.dependencies import clauses_met
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import NodeState, ResourceState, Wanted


class LocalKind(StrEnum):
    START = "start"
    STOP = "stop"
    FAIL = "fail"  # carry out a failure the coordinator requested: terminate, report Failed


@dataclass(frozen=True)
class LocalAction:
    kind: LocalKind
    resource: str
    group: str  # "" for a resource no longer configured
    reason: str


def owns(snap: Snapshot, me: str, group: str) -> bool:
    st = snap.group(group)
    return st.owner == me and st.wanted is Wanted.ONLINE and not st.failed_over_limit


def next_batch(
    snap: Snapshot, me: str, local: Mapping[str, ResourceState], *, lease_ok: bool
) -> list[LocalAction]:
    """Actions to run now, in parallel. ``local`` is what runs on this node, by resource
    (absent = offline). Failure requests first, then stops, then starts: a batch holds only
    one kind."""
    fails = _requested_failures(snap, me) if lease_ok else []
    if fails:
        return fails
    stops = [
        LocalAction(LocalKind.STOP, name, "", "no longer configured")
        for name in sorted(local)
        if name not in snap.config.resources and is_active(local[name])
    ]
    starts: list[LocalAction] = []
    for group in sorted(snap.config.groups):
        members = snap.config.group_resources(group)
        if lease_ok:
            stops += _failed_wanted_offline(snap, me, members, local, group)
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


def is_active(state: ResourceState | None) -> bool:
    """Running here and so in need of a stop; a failed resource was terminated already."""
    return state in (
        ResourceState.ONLINE,
        ResourceState.ONLINE_PENDING,
        ResourceState.OFFLINE_PENDING,
    )


def _requested_failures(snap: Snapshot, me: str) -> list[LocalAction]:
    """Failures the coordinator asked of this node and that it has not confirmed yet (also
    when nothing runs here any more: the Failed report is the confirmation)."""
    out = []
    for name in sorted(snap.resources):
        st = snap.resource(name)
        res = snap.config.resources.get(name)
        if res is None or not st.fail_requested or st.node != me:
            continue
        if st.state in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING):
            why = "failure requested by the coordinator"
            out.append(LocalAction(LocalKind.FAIL, name, res.group, why))
    return out


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
        r.name for r in members if (only is None or r.name in only) and is_active(local.get(r.name))
    }
    # Dependents of a target that still run must stop first, so they are targets too.
    grew = True
    while grew:
        grew = False
        for r in members:
            if r.name not in targets and is_active(local.get(r.name)) and r.depends_on & targets:
                targets.add(r.name)
                grew = True
    return [
        LocalAction(LocalKind.STOP, r.name, group, why)
        for r in members
        if r.name in targets
        and not any(o.name in targets and r.name in o.depends_on for o in members)
    ]


def _failed_wanted_offline(
    snap: Snapshot,
    me: str,
    members: tuple[Resource, ...],
    local: Mapping[str, ResourceState],
    group: str,
) -> list[LocalAction]:
    """Resources the cluster knows as Failed here that are wanted offline (their group, or
    they themselves): a stop ends them Offline (WSFC). They were terminated when they
    failed; the stop terminates whatever is still held of them and records Offline. Without
    it they stayed Failed for ever: nothing runs, so nothing was stopped or reported."""
    group_off = snap.group(group).wanted is Wanted.OFFLINE
    out = []
    for r in members:
        st = snap.resource(r.name)
        if st.state is not ResourceState.FAILED or st.node != me or is_active(local.get(r.name)):
            continue
        if group_off or st.wanted is Wanted.OFFLINE:
            why = "failed, and wanted offline: record it Offline"
            out.append(LocalAction(LocalKind.STOP, r.name, group, why))
    return out


def _online_here(local: Mapping[str, ResourceState]) -> set[str]:
    return {n for n, s in local.items() if s is ResourceState.ONLINE}


def _orphaned(members: tuple[Resource, ...], local: Mapping[str, ResourceState]) -> set[str]:
    """Resources running here although some dependency clause has nothing online here."""
    online = _online_here(local)
    return {
        r.name
        for r in members
        if is_active(local.get(r.name)) and not clauses_met(r.dependencies, online)
    }


def _active_elsewhere(snap: Snapshot, me: str, members: tuple[Resource, ...]) -> bool:
    return any(held_elsewhere(snap, me, r.name) for r in members)


def held_elsewhere(snap: Snapshot, me: str, resource: str) -> bool:
    """The resource may still run on another node that is not fenced. Failed is only ever
    written by the node it failed on, after terminating it (a coordinator's request is
    ``fail_requested`` on a still-active state), so Failed elsewhere is not running."""
    st = snap.resource(resource)
    if st.node is None or st.node == me or not st.state.active:
        return False
    if st.state is ResourceState.FAILED:
        return False
    node = snap.node(st.node)
    return not (node.state is NodeState.DOWN and node.fenced)


def _starts(
    snap: Snapshot,
    me: str,
    members: tuple[Resource, ...],
    local: Mapping[str, ResourceState],
    group: str,
) -> list[LocalAction]:
    online = _online_here(local)
    actions = []
    for r in members:
        st = snap.resource(r.name)
        here = local.get(r.name)
        if st.wanted is Wanted.OFFLINE or is_active(here):
            continue
        # Failed here, as the cluster knows it: our report names this node. A local Failed
        # left from an earlier stay of the group, which has since run elsewhere, is stale.
        failed_here = here in (ResourceState.FAILED, None) and (
            st.state is ResourceState.FAILED and st.node == me
        )
        if failed_here and not st.restart_granted:
            continue  # the coordinator decides: restart here, or fail the group over
        if clauses_met(r.dependencies, online):
            why = "restart granted" if failed_here else "should run here"
            actions.append(LocalAction(LocalKind.START, r.name, group, why))
    return actions
