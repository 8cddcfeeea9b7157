"""``plan(snapshot, now) -> Plan``: every cluster decision, as a pure function.

Theory of operation, in the order ``plan`` runs:

0. **Maintenance.** A node in maintenance is never fenced, and a group it owns is left
   exactly as it is (no start, stop, restart or failover), up or down: Pacemaker's node
   ``maintenance`` (unmanaged), so that the daemon can be restarted or upgraded under it.
1. **Fencing.** A Down node that still owns a group, or may still run one of its resources, is
   fenced before anything of it starts elsewhere (never two owners). Its groups wait, and so
   does every group with a resource that may still run there.
2. **Requests.** Administrator intents, in order (see :mod:`wolfpack.policy.intents`).
3. **Each group**, by name, not already handled by a request:
   - resources pending (online or offline) past their timeout at the owner are failed;
   - resources wanted offline still reported by a node that runs nothing (down and
     fenced, or evicted with a Failed report) are recorded Offline;
   - wanted offline: stop whatever still runs, and take Failed resources to Offline (their
     node does both); never a failover (S34);
   - no owner: initial placement on the first eligible node of the node list (S37);
   - owner down and fenced: fail over to the next node after the owner (S30, S37), unless
     the failover threshold within its period is exceeded;
   - owner up: a failed move rolls back to the original node (S39); failed resources
     restart in place up to their threshold, then fail the group over or stay failed
     (RestartAction); what depends on a resource that stays failed is stopped and not
     restarted; a draining owner gives its groups away; resources that should run are
     started; and failback is considered (S38). Timeouts, restarts, failover and rollback
     are in :mod:`wolfpack.policy.failures`.

Nothing here reads a clock, touches the network or the store, or uses randomness.
"""

from __future__ import annotations

from wolfpack.model.config import Group
from wolfpack.model.plan import Action, ActionKind, Code, Plan, Reason
from wolfpack.model.snapshot import Snapshot, TransitionKind
from wolfpack.model.states import NodeState, ResourceState, Wanted
from wolfpack.policy.context import PlanContext
from wolfpack.policy.failback import consider_failback
from wolfpack.policy.failures import fail_over, handle_failures, owner_must_act_first, roll_back
from wolfpack.policy.intents import handle_intent


def plan(snap: Snapshot, now: float) -> Plan:
    ctx = PlanContext(snap, now)
    _fence_lost_nodes(ctx)
    for intent in snap.intents:
        handle_intent(ctx, intent)
    for name in sorted(ctx.cfg.groups):
        if name not in ctx.handled:
            _decide_group(ctx, ctx.cfg.groups[name])
    return Plan(tuple(ctx.actions), tuple(ctx.notes))


def _fence_lost_nodes(ctx: PlanContext) -> None:
    hosts: dict[str, list[str]] = {}
    for group, owner in ctx.owners.items():
        if owner is not None:
            hosts.setdefault(owner, []).append(group)
    for res_name, rst in ctx.snap.resources.items():
        res = ctx.cfg.resources.get(res_name)
        if res is not None and rst.node is not None and rst.state.active:
            hosts.setdefault(rst.node, []).append(res.group)
    for node in sorted(hosts):
        st = ctx.snap.node(node)
        if st.maintenance:  # unmanaged: what runs there is the administrator's business
            continue
        if st.state is NodeState.DOWN and not st.fenced and node in ctx.cfg.nodes:
            groups = sorted(set(hosts[node]))
            ctx.request_fence(
                node,
                f"{node} is down and may still run {', '.join(groups)}; fence it before they "
                "start elsewhere",
            )


def _decide_group(ctx: PlanContext, group: Group) -> None:
    status = ctx.snap.group(group.name)
    owner = status.owner
    if owner is not None and ctx.snap.node(owner).maintenance:
        ctx.note(
            group.name,
            Code.OWNER_IN_MAINTENANCE,
            f"left as it is: its owner {owner} is in maintenance (unmanaged)",
        )
        return
    lost = ctx.awaiting_fence(group.name)
    if lost:
        ctx.note(
            group.name,
            Code.AWAITING_FENCE,
            f"waiting for fencing of {', '.join(lost)}: down, and may still run it",
        )
        return
    _mark_offline_on_lost_nodes(ctx, group)
    if owner is not None and _alive(ctx, owner) and owner_must_act_first(ctx, group, owner):
        return
    if status.wanted is Wanted.OFFLINE:
        _keep_offline(ctx, group, owner)
        return
    if status.failed_over_limit:
        ctx.note(
            group.name,
            Code.FAILOVER_THRESHOLD_EXCEEDED,
            "stays offline after exceeding its failover threshold; bring it online to retry",
        )
        return
    if owner is None:
        _place(ctx, group)
    elif not _alive(ctx, owner):
        fail_over(ctx, group, owner, Code.FAILOVER_NODE_DOWN, f"owner {owner} is down")
    else:
        _run_on_owner(ctx, group, owner)


def _alive(ctx: PlanContext, node: str) -> bool:
    return node in ctx.cfg.nodes and ctx.snap.node(node).state is not NodeState.DOWN


def _mark_offline_on_lost_nodes(ctx: PlanContext, group: Group) -> None:
    """Resources wanted offline that a lost node still reports are Offline: a node that is
    down and fenced runs nothing (powered off, or its lease is gone and it stopped
    everything), and a Failed report, even from a node since evicted, was written after the
    termination. Nobody else would ever write them: the group would never settle offline and
    its resources could not be deleted while the node stays away. A node down but not yet
    fenced is waited for (``AWAITING_FENCE``, before this)."""
    group_off = ctx.snap.group(group.name).wanted is Wanted.OFFLINE
    lost: dict[str, list[str]] = {}
    for res in ctx.cfg.group_resources(group.name):
        st = ctx.snap.resource(res.name)
        if st.node is None or not st.state.active:
            continue
        if not group_off and st.wanted is not Wanted.OFFLINE:
            continue
        if st.node in ctx.cfg.nodes:
            seen = ctx.snap.node(st.node)
            gone = seen.state is NodeState.DOWN and seen.fenced
        else:
            gone = st.state is ResourceState.FAILED
        if gone:
            lost.setdefault(st.node, []).append(res.name)
    for node, names in sorted(lost.items()):
        ctx.act(
            Action(
                ActionKind.MARK_OFFLINE,
                group.name,
                Reason(
                    Code.OFFLINE_ON_LOST_NODE,
                    f"{', '.join(sorted(names))} wanted offline, still reported by {node}, "
                    "which runs nothing (down and fenced, or no longer a cluster node): "
                    "record them Offline",
                ),
                node=node,
                resources=tuple(sorted(names)),
            )
        )


_RUNNING_OR_FAILED = (ResourceState.ONLINE, ResourceState.ONLINE_PENDING, ResourceState.FAILED)


def _keep_offline(ctx: PlanContext, group: Group, owner: str | None) -> None:
    running = [
        r.name
        for r in ctx.cfg.group_resources(group.name)
        if ctx.state_of(r, owner) in _RUNNING_OR_FAILED
    ]
    if running and owner is not None and ctx.snap.node(owner).state is not NodeState.DOWN:
        ctx.act(
            Action(
                ActionKind.STOP_GROUP,
                group.name,
                Reason(Code.OFFLINE_REQUESTED, "the group is wanted offline; stopping what runs"),
                node=owner,
                steps=ctx.stop_steps(group.name, ctx.active_on(group.name, owner)),
                online=False,
                forecast=True,
            )
        )
        return
    transition = ctx.snap.group(group.name).transition
    if transition is not None and not ctx.active_on(group.name, owner):
        ctx.act(
            Action(
                ActionKind.COMPLETE_TRANSITION,
                group.name,
                Reason(
                    Code.TRANSITION_COMPLETE,
                    f"{transition.kind} to {transition.target} ends with the group offline, "
                    "as wanted",
                ),
                node=owner,
            )
        )


def _place(ctx: PlanContext, group: Group) -> None:
    order = ctx.node_order(group)
    choice = ctx.choose(group, order)
    if choice.node is None:
        ctx.note(group.name, Code.NO_ELIGIBLE_NODE, f"no node can take it: {choice.explain()}")
        return
    joining = _better_node_joining(ctx, order[: order.index(choice.node)])
    if joining is not None:
        ctx.note(
            group.name,
            Code.AWAITING_PREFERRED_NODE,
            f"{joining} comes before {choice.node} in its list and is joining; waiting up to "
            f"{ctx.cfg.cluster.group_wait_delay_s} s for it (ClusterGroupWaitDelay)",
        )
        return
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group.name,
            Reason(
                Code.PLACE_INITIAL,
                f"place on {choice.node}, the first eligible node in its list"
                + (f" ({choice.explain()})" if choice.skipped else ""),
            ),
            node=choice.node,
            steps=ctx.full_start_steps(group.name),
            transition=TransitionKind.PLACE,
            group_wanted=Wanted.ONLINE,
        )
    )


def _better_node_joining(ctx: PlanContext, better: list[str]) -> str | None:
    """A node ahead in the list that is starting right now: MSCS lets a group wait for it at
    cluster start rather than land somewhere it will soon have to leave."""
    wait = ctx.cfg.cluster.group_wait_delay_s
    for node in better:
        st = ctx.snap.node(node)
        if st.state is NodeState.JOINING and ctx.now - st.since < wait:
            return node
    return None


def _run_on_owner(ctx: PlanContext, group: Group, owner: str) -> None:
    resources = ctx.wanted_online(group.name)
    states = {r.name: ctx.state_of(r, owner) for r in resources}
    transition = ctx.snap.group(group.name).transition

    failed = [r for r in resources if states[r.name] is ResourceState.FAILED]
    if failed:
        if not roll_back(ctx, group, owner, failed):
            handle_failures(ctx, group, owner, failed, states)
        if group.name not in ctx.handled and transition is None:
            _start_missing(ctx, group, owner, states)
        return

    if transition is not None and all(s is ResourceState.ONLINE for s in states.values()):
        ctx.act(
            Action(
                ActionKind.COMPLETE_TRANSITION,
                group.name,
                Reason(Code.TRANSITION_COMPLETE, f"{transition.kind} to {owner} is complete"),
                node=owner,
            )
        )
        return

    if ctx.snap.node(owner).draining:
        choice = ctx.choose(group, ctx.after(group, owner))
        if choice.node is None:
            ctx.note(group.name, Code.NO_ELIGIBLE_NODE, f"cannot drain {owner}: {choice.explain()}")
        else:
            ctx.act(
                Action(
                    ActionKind.PLACE_GROUP,
                    group.name,
                    Reason(Code.DRAIN_NODE, f"{owner} is draining; move to {choice.node}"),
                    node=choice.node,
                    source=owner,
                    steps=ctx.full_start_steps(group.name),
                    transition=TransitionKind.DRAIN,
                    group_wanted=Wanted.ONLINE,
                )
            )
        return

    if transition is None:
        _start_missing(ctx, group, owner, states)
        if group.name not in ctx.handled:
            consider_failback(ctx, group, owner)


def _start_missing(
    ctx: PlanContext, group: Group, owner: str, states: dict[str, ResourceState]
) -> None:
    """Resources wanted online but offline at the owner (after a restart of the cluster, a
    resource added to a running group) are started; those blocked by a dependency are noted.
    One still active on another node is stopped there first (never two copies)."""
    if not ctx.may_keep(group.name, owner):
        return
    elsewhere = ctx.active_elsewhere(group.name, owner)
    for node, names in sorted(elsewhere.items()):
        ctx.act(
            Action(
                ActionKind.STOP_GROUP,
                group.name,
                Reason(
                    Code.ACTIVE_ELSEWHERE,
                    f"{', '.join(names)} still active on {node}, but {group.name!r} is owned "
                    f"by {owner}; stop there before starting here",
                ),
                node=node,
                steps=ctx.stop_steps(group.name, names),
                online=False,
                forecast=True,
            )
        )
    busy = {n for names in elsewhere.values() for n in names}
    offline = [n for n, s in states.items() if s is ResourceState.OFFLINE and n not in busy]
    if not offline:
        return
    running = {n for n, s in states.items() if s is ResourceState.ONLINE}
    todo = ctx.startable(group.name, offline, running)
    for name in sorted(set(offline) - todo):
        ctx.note(name, Code.DEPENDENCY_FAILED, f"{name!r} cannot start: a dependency is not online")
    if todo:
        ctx.act(
            Action(
                ActionKind.START_GROUP,
                group.name,
                Reason(
                    Code.START_WANTED,
                    f"{', '.join(sorted(todo))} should run and are offline on {owner}; start them",
                ),
                node=owner,
                steps=ctx.start_steps(group.name, todo),
                forecast=True,
            )
        )
