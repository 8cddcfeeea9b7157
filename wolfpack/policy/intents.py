"""Administrator requests: each becomes an action, or a refusal with a reason code.

Taking a group or resource offline by hand is never a failure, so it never fails over (S34).
A move goes to the named node, or with none to the best possible node (S39); the target must
be up, not paused, and a possible owner of every resource of the group (S28). A resource may
change group only when nothing depends on it and it depends on nothing (S36).
"""

from __future__ import annotations

from wolfpack.model.dependencies import dependencies_closure, dependents_closure
from wolfpack.model.plan import Action, ActionKind, Code, Reason
from wolfpack.model.snapshot import Intent, IntentKind, TransitionKind
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.policy.context import PlanContext, Why


def handle_intent(ctx: PlanContext, intent: Intent) -> None:
    """Turn ``intent`` into an action (or a refusal). A second intent for a group that already
    has an action in this plan waits for the next plan."""
    group_name = intent.group_in(ctx.cfg)
    if group_name is None:
        kind = "group" if intent.kind.is_group else "resource"
        _reject(ctx, intent, Code.UNKNOWN_OBJECT, f"{kind} {intent.subject!r} does not exist")
        return
    if group_name in ctx.handled:
        ctx.note(
            intent.subject,
            Code.INTENT_DEFERRED,
            f"request {intent.id} ({intent.kind}) waits: {group_name!r} already has an action "
            "in this plan",
        )
        return
    owner = ctx.owners.get(group_name)
    if owner is not None and ctx.snap.node(owner).maintenance:
        _reject(
            ctx,
            intent,
            Code.OWNER_IN_MAINTENANCE,
            f"{owner} owns {group_name!r} and is in maintenance (unmanaged): nothing would "
            f"carry the request out there; 'wolfpack node resume {owner}' first",
        )
        return
    lost = ctx.awaiting_fence(group_name)
    if lost and intent.kind in _STARTS_SOMETHING:
        _reject(
            ctx,
            intent,
            Code.AWAITING_FENCE,
            f"{', '.join(lost)} is down, not yet fenced, and may still run {group_name!r}; "
            "the request can be carried out once it is fenced",
        )
        return
    _HANDLERS[intent.kind](ctx, intent, group_name)


#: Requests that start resources somewhere: refused while a lost node may still run the group.
_STARTS_SOMETHING = {IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.ONLINE_RESOURCE}


def _reject(ctx: PlanContext, intent: Intent, code: Code, message: str) -> None:
    ctx.actions.append(
        Action(ActionKind.REJECT_INTENT, intent.subject, Reason(code, message), intent=intent.id)
    )


def move_refusal(ctx: PlanContext, group: str, target: str) -> tuple[Code, str] | None:
    """Why ``group`` cannot move to ``target`` now, or None."""
    if target not in ctx.cfg.nodes:
        known = ", ".join(n.name for n in ctx.cfg.nodes_by_id)
        return Code.UNKNOWN_OBJECT, f"node {target!r} does not exist (nodes: {known})"
    if ctx.owners.get(group) == target:
        return Code.ALREADY_OWNER, f"group {group!r} is already on {target}"
    why = ctx.ineligible(group, target)
    if why is None:
        return None
    if why.why is Why.NOT_POSSIBLE_OWNER:
        return Code.NOT_POSSIBLE_OWNER, f"cannot move {group!r} to {target}: {why}"
    return Code.TARGET_NOT_ELIGIBLE, f"cannot move {group!r} to {target}: it is {why}"


def _move(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    group = ctx.cfg.groups[group_name]
    owner = ctx.owners[group_name]
    if intent.target is not None:
        refusal = move_refusal(ctx, group_name, intent.target)
        if refusal is not None:
            _reject(ctx, intent, *refusal)
            return
        target, how = intent.target, f"to {intent.target} as requested"
    else:
        choice = ctx.choose(group, [n for n in ctx.node_order(group) if n != owner])
        if choice.node is None:
            _reject(
                ctx, intent, Code.NO_ELIGIBLE_NODE, f"no other node can take it: {choice.explain()}"
            )
            return
        target, how = choice.node, f"to the best possible node {choice.node}"
    online = ctx.snap.group(group_name).wanted is Wanted.ONLINE
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group_name,
            Reason(Code.MOVE_REQUESTED, f"move from {owner or 'no owner'} {how}"),
            node=target,
            source=owner,
            steps=ctx.full_start_steps(group_name) if online else (),
            intent=intent.id,
            requested=intent.created,
            online=online,
            transition=TransitionKind.MOVE,
            group_wanted=Wanted.ONLINE if online else None,
        )
    )


def _online_group(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    group = ctx.cfg.groups[group_name]
    owner = ctx.owners[group_name]
    names = [r.name for r in ctx.cfg.group_resources(group_name)]
    reason = Reason(Code.ONLINE_REQUESTED, f"administrator brings {group_name!r} online")
    if owner is not None and ctx.ineligible(group_name, owner) is None:
        running = {
            r.name
            for r in ctx.cfg.group_resources(group_name)
            if ctx.state_of(r, owner) is ResourceState.ONLINE
        }
        todo = ctx.startable(group_name, set(names) - running, running)
        ctx.act(
            Action(
                ActionKind.START_GROUP,
                group_name,
                reason,
                node=owner,
                steps=ctx.start_steps(group_name, todo),
                intent=intent.id,
                group_wanted=Wanted.ONLINE,
                resources_wanted=Wanted.ONLINE,
                resources=tuple(names),
            )
        )
        return
    choice = ctx.choose(group, ctx.node_order(group))
    if choice.node is None:
        _reject(ctx, intent, Code.NO_ELIGIBLE_NODE, f"no node can take it: {choice.explain()}")
        return
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group_name,
            reason,
            node=choice.node,
            source=owner,
            steps=ctx.start_steps(group_name, ctx.startable(group_name, names, set())),
            intent=intent.id,
            requested=intent.created,
            transition=TransitionKind.PLACE,
            group_wanted=Wanted.ONLINE,
            resources_wanted=Wanted.ONLINE,
            resources=tuple(names),
        )
    )


def _offline_group(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    owner = ctx.owners[group_name]
    active = ctx.active_on(group_name, owner)
    ctx.act(
        Action(
            ActionKind.STOP_GROUP,
            group_name,
            Reason(
                Code.OFFLINE_REQUESTED,
                f"administrator takes {group_name!r} offline; this is not a failure, "
                "so the group does not fail over",
            ),
            node=owner,
            steps=ctx.stop_steps(group_name, active),
            intent=intent.id,
            online=False,
            group_wanted=Wanted.OFFLINE,
        )
    )


def _edges(ctx: PlanContext, group_name: str) -> dict[str, frozenset[str]]:
    return {r.name: r.depends_on for r in ctx.cfg.group_resources(group_name)}


def _online_resource(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    owner = ctx.owners[group_name]
    if owner is None or ctx.ineligible(group_name, owner) is not None:
        _reject(
            ctx,
            intent,
            Code.NOT_ONLINE,
            f"group {group_name!r} has no node that can run it; bring the group online first",
        )
        return
    needed = dependencies_closure(_edges(ctx, group_name), [intent.subject])
    by_name = {r.name: r for r in ctx.cfg.group_resources(group_name)}
    running = {n for n in needed if ctx.state_of(by_name[n], owner) is ResourceState.ONLINE}
    todo = ctx.startable(group_name, needed - running, running)
    if intent.subject not in todo and intent.subject not in running:
        _reject(
            ctx,
            intent,
            Code.DEPENDENCY_FAILED,
            f"{intent.subject!r} cannot start: a resource it depends on cannot come online",
        )
        return
    ctx.act(
        Action(
            ActionKind.START_GROUP,
            group_name,
            Reason(Code.ONLINE_REQUESTED, f"administrator brings {intent.subject!r} online"),
            node=owner,
            steps=ctx.start_steps(group_name, todo),
            intent=intent.id,
            group_wanted=Wanted.ONLINE,
            resources_wanted=Wanted.ONLINE,
            resources=tuple(sorted(todo)),
        )
    )


def _offline_resource(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    owner = ctx.owners[group_name]
    affected = dependents_closure(_edges(ctx, group_name), [intent.subject])
    ctx.act(
        Action(
            ActionKind.STOP_GROUP,
            group_name,
            Reason(
                Code.OFFLINE_REQUESTED,
                f"administrator takes {intent.subject!r} offline"
                + _with_dependents(affected - {intent.subject})
                + "; not a failure, no failover",
            ),
            node=owner,
            steps=ctx.stop_steps(group_name, affected),
            intent=intent.id,
            online=False,
            resources_wanted=Wanted.OFFLINE,
            resources=tuple(sorted(affected)),
        )
    )


def _with_dependents(dependents: set[str]) -> str:
    return f" with its dependents {', '.join(sorted(dependents))}" if dependents else ""


def _fail_resource(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    owner = ctx.owners[group_name]
    res = ctx.cfg.resources[intent.subject]
    state = ctx.state_of(res, owner)
    if owner is None or state not in (ResourceState.ONLINE, ResourceState.ONLINE_PENDING):
        _reject(ctx, intent, Code.NOT_ONLINE, f"{intent.subject!r} is {state}, not online")
        return
    ctx.act(
        Action(
            ActionKind.FAIL_RESOURCES,
            group_name,
            Reason(
                Code.INITIATE_FAILURE,
                f"administrator initiates a failure of {intent.subject!r}; the restart "
                "policy and failover follow as for a real failure",
            ),
            node=owner,
            steps=((intent.subject,),),
            intent=intent.id,
            resources=(intent.subject,),
        )
    )


def _change_group(ctx: PlanContext, intent: Intent, group_name: str) -> None:
    target = intent.target
    if target is None or target not in ctx.cfg.groups:
        _reject(ctx, intent, Code.UNKNOWN_OBJECT, f"group {target!r} does not exist")
        return
    if target == group_name:
        _reject(ctx, intent, Code.SAME_GROUP, f"{intent.subject!r} is already in {target!r}")
        return
    related = ctx.cfg.dependency_relations(intent.subject)
    if related:
        _reject(
            ctx,
            intent,
            Code.RESOURCE_HAS_DEPENDENCIES,
            f"{intent.subject!r} has dependency relations ({', '.join(related)}); remove them "
            "before changing its group",
        )
        return
    ctx.act(
        Action(
            ActionKind.CHANGE_GROUP,
            group_name,
            Reason(Code.CHANGE_GROUP, f"move resource {intent.subject!r} to group {target!r}"),
            node=ctx.owners[group_name],
            target=target,
            steps=((intent.subject,),),
            intent=intent.id,
            resources=(intent.subject,),
        )
    )


_HANDLERS = {
    IntentKind.MOVE_GROUP: _move,
    IntentKind.ONLINE_GROUP: _online_group,
    IntentKind.OFFLINE_GROUP: _offline_group,
    IntentKind.ONLINE_RESOURCE: _online_resource,
    IntentKind.OFFLINE_RESOURCE: _offline_resource,
    IntentKind.FAIL_RESOURCE: _fail_resource,
    IntentKind.CHANGE_GROUP: _change_group,
}
