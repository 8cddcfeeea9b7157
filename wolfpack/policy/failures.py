"""What the policy does when something fails at a group's owner: resources pending past
their timeout are failed (H1), failed resources restart in place up to their threshold
(S30), then the group fails over to the next node (S37) unless its failover threshold is
exceeded, and a failed manual move rolls back (S39). Pure, like :mod:`wolfpack.policy.engine`.
"""

from __future__ import annotations

from wolfpack.model.config import Group, Resource
from wolfpack.model.dependencies import dependents_closure
from wolfpack.model.durations import duration_text
from wolfpack.model.plan import Action, ActionKind, Code, Reason
from wolfpack.model.snapshot import TransitionKind
from wolfpack.model.states import NodeState, ResourceState, RestartAction, Wanted
from wolfpack.policy.context import PlanContext, Why


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


def owner_must_act_first(ctx: PlanContext, group: Group, owner: str) -> bool:
    return _fail_timed_out(ctx, group, owner) or _awaiting_termination(ctx, group, owner)


def _awaiting_termination(ctx: PlanContext, group: Group, owner: str) -> bool:
    """A failure was requested and the owner has not reported it terminated: nothing else
    happens to the group until it has (H1: a request is not a termination)."""
    if group.name not in ctx.groups_asked_to_fail:
        return False
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


def _threshold_exceeded(ctx: PlanContext, group: Group) -> bool:
    status = ctx.snap.group(group.name)
    recent = [t for t in status.failovers if ctx.now - t < group.failover_period_s]
    return len(recent) >= group.failover_threshold


def fail_over(ctx: PlanContext, group: Group, owner: str, code: Code, why: str) -> None:
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


def roll_back(ctx: PlanContext, group: Group, owner: str, failed: list[Resource]) -> bool:
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


def handle_failures(
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
        fail_over(
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
            fail_over(
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
