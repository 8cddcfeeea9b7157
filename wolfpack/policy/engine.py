"""``plan(snapshot, now) -> Plan``: every cluster decision, as a pure function.

Theory of operation, in the order ``plan`` runs:

1. **Fencing.** A Down node that still owns a group, or may still run one of its resources, is
   fenced before anything of it starts elsewhere (never two owners). Its groups wait, and so
   does every group with a resource that may still run there.
2. **Requests.** Administrator intents, in order (see :mod:`wolfpack.policy.intents`).
3. **Each group**, by name, not already handled by a request:
   - resources pending (online or offline) past their timeout at the owner are failed;
   - wanted offline: stop whatever still runs; never a failover (S34);
   - no owner: initial placement on the first eligible node of the node list (S37);
   - owner down and fenced: fail over to the next node after the owner (S30, S37), unless
     the failover threshold within its period is exceeded;
   - owner up: a failed move rolls back to the original node (S39); failed resources
     restart in place up to their threshold, then fail the group over or stay failed
     (RestartAction); what depends on a resource that stays failed is stopped and not
     restarted; a draining owner gives its groups away; resources that should run are
     started; and failback is considered (S38).

Nothing here reads a clock, touches the network or the store, or uses randomness.
"""

from __future__ import annotations

from wolfpack.model.config import Group, Resource
from wolfpack.model.dependencies import dependents_closure
from wolfpack.model.durations import duration_text
from wolfpack.model.plan import Action, ActionKind, Code, Plan, Reason
from wolfpack.model.snapshot import Snapshot, TransitionKind
from wolfpack.model.states import NodeState, ResourceState, RestartAction, Wanted
from wolfpack.policy.context import PlanContext, Why
from wolfpack.policy.failback import consider_failback
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
    lost = ctx.awaiting_fence(group.name)
    if lost:
        ctx.note(
            group.name,
            Code.AWAITING_FENCE,
            f"waiting for fencing of {', '.join(lost)}: down, and may still run it",
        )
        return
    if owner is not None and _alive(ctx, owner) and _owner_must_act_first(ctx, group, owner):
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
        _fail_over(ctx, group, owner, Code.FAILOVER_NODE_DOWN, f"owner {owner} is down")
    else:
        _run_on_owner(ctx, group, owner)


def _alive(ctx: PlanContext, node: str) -> bool:
    return node in ctx.cfg.nodes and ctx.snap.node(node).state is not NodeState.DOWN


def _fail_timed_out(ctx: PlanContext, group: Group, owner: str) -> bool:
    """Resources starting past their timeout at the owner are failed, so they are
    terminated; the restart policy then applies. (A stop is bounded on the node itself: past
    its timeout the node kills what is left.)

    The timeout runs from when the coordinator first saw the pending state, by its own clock
    (M1: a node's clock is never compared with the coordinator's), and failing is a request
    the owner carries out and confirms (H1)."""
    if group.name not in ctx.groups_pending:
        return False
    unseen: list[str] = []
    timed_out: list[str] = []
    for res in ctx.cfg.group_resources(group.name):
        st = ctx.snap.resource(res.name)
        state = ctx.state_of(res, owner)
        if not state.pending or st.fail_requested:
            continue
        if not st.pending_seen:
            unseen.append(res.name)
        elif ctx.now - st.pending_seen < res.pending_timeout_s:
            continue
        elif state is ResourceState.OFFLINE_PENDING:
            ctx.note(
                res.name,
                Code.PENDING_TIMEOUT,
                f"{res.name!r} is still stopping on {owner} past its timeout; the node ends "
                "the stop by force",
            )
        else:
            timed_out.append(res.name)
    if unseen:
        ctx.act(
            Action(
                ActionKind.STAMP_PENDING,
                group.name,
                Reason(Code.PENDING_SEEN, f"{', '.join(unseen)} pending on {owner}: timing it"),
                node=owner,
                resources=tuple(unseen),
            )
        )
    if timed_out:
        ctx.act(
            Action(
                ActionKind.FAIL_RESOURCES,
                group.name,
                Reason(Code.PENDING_TIMEOUT, f"{', '.join(timed_out)} pending past its timeout"),
                node=owner,
                steps=(tuple(timed_out),),
                resources=tuple(timed_out),
            )
        )
    return bool(timed_out)


def _owner_must_act_first(ctx: PlanContext, group: Group, owner: str) -> bool:
    return _fail_timed_out(ctx, group, owner) or _awaiting_termination(ctx, group, owner)


def _awaiting_termination(ctx: PlanContext, group: Group, owner: str) -> bool:
    """A failure was requested and the owner has not reported it terminated: nothing else
    happens to the group until it has (H1: a request is not a termination)."""
    asked = [
        r.name
        for r in ctx.cfg.group_resources(group.name)
        if ctx.snap.resource(r.name).fail_requested
        and ctx.state_of(r, owner) in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING)
    ]
    if asked:
        ctx.note(
            group.name,
            Code.AWAITING_TERMINATION,
            f"a failure of {', '.join(asked)} was requested; waiting for {owner} to report "
            "it terminated",
        )
    return bool(asked)


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


def _threshold_exceeded(ctx: PlanContext, group: Group) -> bool:
    status = ctx.snap.group(group.name)
    recent = [t for t in status.failovers if ctx.now - t < group.failover_period_s]
    return len(recent) >= group.failover_threshold


def _fail_over(ctx: PlanContext, group: Group, owner: str, code: Code, why: str) -> None:
    if _threshold_exceeded(ctx, group):
        ctx.act(
            Action(
                ActionKind.GROUP_FAILED,
                group.name,
                Reason(
                    Code.FAILOVER_THRESHOLD_EXCEEDED,
                    f"{why}, but it already failed over {group.failover_threshold} times in "
                    f"{duration_text(group.failover_period_s)}; it stays offline",
                ),
                node=owner,
                steps=ctx.stop_steps(group.name, ctx.active_on(group.name, owner))
                if ctx.snap.node(owner).state is not NodeState.DOWN
                else (),
                online=False,
            )
        )
        return
    choice = ctx.choose(group, ctx.after(group, owner))
    if choice.node is None:
        ctx.note(
            group.name, Code.NO_ELIGIBLE_NODE, f"{why}; no node can take it: {choice.explain()}"
        )
        return
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group.name,
            Reason(
                code,
                f"{why}; fail over to {choice.node}, the next node after {owner}"
                + (f" ({choice.explain()})" if choice.skipped else ""),
            ),
            node=choice.node,
            source=owner,
            steps=ctx.full_start_steps(group.name),
            transition=TransitionKind.FAILOVER,
            counted=True,
            group_wanted=Wanted.ONLINE,
        )
    )


def _run_on_owner(ctx: PlanContext, group: Group, owner: str) -> None:
    resources = ctx.wanted_online(group.name)
    states = {r.name: ctx.state_of(r, owner) for r in resources}
    transition = ctx.snap.group(group.name).transition

    failed = [r for r in resources if states[r.name] is ResourceState.FAILED]
    if failed:
        if not _roll_back(ctx, group, owner, failed):
            _handle_failures(ctx, group, owner, failed, states)
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


def _roll_back(ctx: PlanContext, group: Group, owner: str, failed: list[Resource]) -> bool:
    """S39: a resource failed on the target of a manual move; return to the original node."""
    move = ctx.snap.group(group.name).transition
    if move is None or move.kind is not TransitionKind.MOVE or move.target != owner:
        return False
    if move.source is None or ctx.ineligible(group.name, move.source) is not None:
        return False
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group.name,
            Reason(
                Code.MOVE_ROLLBACK,
                f"{', '.join(r.name for r in failed)} failed to come online on {owner}; "
                f"the group returns to {move.source}",
            ),
            node=move.source,
            source=owner,
            steps=ctx.full_start_steps(group.name),
            transition=TransitionKind.ROLLBACK,
            group_wanted=Wanted.ONLINE,
        )
    )
    return True


def _handle_failures(
    ctx: PlanContext,
    group: Group,
    owner: str,
    failed: list[Resource],
    states: dict[str, ResourceState],
) -> None:
    """Restart failed resources in place up to their threshold; past it, fail the group over
    or leave the resource failed, as its RestartAction says. A resource left failed takes
    down what cannot run without it, and nothing is restarted on top of it.

    Nothing restarts on an owner that could not take the group now: one still joining
    waits; one that is draining, no longer a possible owner (S28, changed by S35) or whose
    interface on the group's client network failed (S41: for a failure that may affect the
    group) gives the group to the next node instead."""
    why = ctx.ineligible(group.name, owner)
    if why is not None and why.why is Why.JOINING:
        ctx.note(group.name, Code.OWNER_JOINING, f"{owner} is joining; the restart waits")
        return
    affects_group = any(r.restart_action is RestartAction.RESTART_AND_FAILOVER for r in failed)
    network_failed = why is not None and why.why is Why.NETWORK_FAILED and affects_group
    if why is not None and (network_failed or not ctx.may_keep(group.name, owner)):
        names = ", ".join(r.name for r in failed)
        _fail_over(
            ctx, group, owner, Code.FAILOVER_RESOURCE_FAILED, f"{names} failed on {owner} ({why})"
        )
        return
    restart: list[str] = []
    stuck: list[str] = []
    for res in failed:
        # A restart already granted for this failure, not yet carried out, is not counted:
        # the next tick must not take it for a second failure (S30).
        recent = ctx.snap.resource(res.name).restarts_before(ctx.now, res.restart_period_s)
        if res.restart_action is RestartAction.DONT_RESTART:
            ctx.note(
                res.name,
                Code.RESTART_DISABLED,
                f"{res.name!r} failed; its policy is not to restart it",
            )
            stuck.append(res.name)
        elif len(recent) < res.restart_threshold:
            restart.append(res.name)
        elif res.restart_action is RestartAction.RESTART_AND_FAILOVER:
            _fail_over(
                ctx,
                group,
                owner,
                Code.FAILOVER_RESOURCE_FAILED,
                f"{res.name!r} failed {len(recent) + 1} times within {res.restart_period_s} s "
                f"(restart threshold {res.restart_threshold})",
            )
            return
        else:
            ctx.note(
                res.name,
                Code.RESTART_THRESHOLD_EXCEEDED,
                f"{res.name!r} exceeded its restart threshold; it stays failed and, by its "
                "policy, does not affect the group",
            )
            stuck.append(res.name)
    viable = ctx.startable(group.name, set(states) - set(stuck), set())
    _stop_orphans(ctx, group, owner, states, viable)
    _restart(ctx, group, owner, restart, viable)


def _stop_orphans(
    ctx: PlanContext,
    group: Group,
    owner: str,
    states: dict[str, ResourceState],
    viable: set[str],
) -> None:
    """Take offline what runs but depends on a resource that stays failed."""
    orphans = {
        n
        for n, s in states.items()
        if n not in viable and s in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING)
    }
    if orphans:
        ctx.act(
            Action(
                ActionKind.STOP_GROUP,
                group.name,
                Reason(
                    Code.DEPENDENCY_FAILED,
                    f"{', '.join(sorted(orphans))} cannot run without a resource that stays "
                    "failed; take them offline",
                ),
                node=owner,
                steps=ctx.stop_steps(group.name, orphans),
                online=False,
                forecast=True,
            )
        )


def _restart(
    ctx: PlanContext, group: Group, owner: str, restart: list[str], viable: set[str]
) -> None:
    for name in sorted(set(restart) - viable):
        ctx.note(
            name,
            Code.DEPENDENCY_FAILED,
            f"{name!r} is not restarted: a resource it depends on stays failed",
        )
    restart = [n for n in restart if n in viable]
    if not restart:
        return
    edges = {r.name: r.depends_on for r in ctx.cfg.group_resources(group.name)}
    affected = dependents_closure(edges, restart) & viable
    ctx.act(
        Action(
            ActionKind.RESTART_RESOURCES,
            group.name,
            Reason(
                Code.RESTART_RESOURCE,
                f"restart {', '.join(sorted(restart))} on {owner}"
                + (" and then its dependents" if affected - set(restart) else ""),
            ),
            node=owner,
            steps=ctx.start_steps(group.name, affected),
            resources=tuple(sorted(restart)),
        )
    )


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
