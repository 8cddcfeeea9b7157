"""Failback (S38): return a group to a better preferred owner only when the policy allows it.

Allowed means mode ``immediate``, or mode ``window`` while cluster local time is inside
[start, end) hours (the window may wrap midnight). Either way the preferred owner must have
been Up for the group's stability delay, so a node that keeps dropping cannot bounce the
group back and forth (the flap guard the seed asks for).
"""

from __future__ import annotations

from wolfpack.model.config import Failback, Group
from wolfpack.model.plan import Action, ActionKind, Code, Reason
from wolfpack.model.snapshot import TransitionKind
from wolfpack.model.states import FailbackMode, Wanted
from wolfpack.policy.context import PlanContext


def local_hour(now: float, utc_offset_minutes: int) -> int:
    return int((now + utc_offset_minutes * 60) // 3600) % 24


def in_window(fb: Failback, hour: int) -> bool:
    start, end = fb.window_start, fb.window_end
    if start is None or end is None:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # wraps midnight, e.g. 22-6


def consider_failback(ctx: PlanContext, group: Group, owner: str) -> None:
    """For a healthy online group: add a failback placement, or a note saying why the group
    stays where it is."""
    preferred = [n for n in group.preferred_owners if n in ctx.cfg.nodes]
    better = preferred[: preferred.index(owner)] if owner in preferred else preferred
    choice = ctx.choose(group, better, soft=False)
    if choice.node is None:
        return
    best = choice.node
    fb = group.failback
    if fb.mode is FailbackMode.PREVENT:
        ctx.note(
            group.name,
            Code.FAILBACK_PREVENTED,
            f"preferred owner {best} is up, but failback is prevented (the default); "
            f"move the group by hand or allow failback",
        )
        return
    hour = local_hour(ctx.now, ctx.cfg.cluster.utc_offset_minutes)
    if fb.mode is FailbackMode.WINDOW and not in_window(fb, hour):
        ctx.note(
            group.name,
            Code.FAILBACK_OUTSIDE_WINDOW,
            f"preferred owner {best} is up; failback waits for the window "
            f"{fb.window_start:02d}:00-{fb.window_end:02d}:00 (now {hour:02d}h)",
        )
        return
    up_for = ctx.now - ctx.snap.node(best).since
    if up_for < fb.stability_delay_s:
        ctx.note(
            group.name,
            Code.FAILBACK_AWAITING_STABILITY,
            f"preferred owner {best} has been up {up_for:.0f} s of the "
            f"{fb.stability_delay_s} s stability delay",
        )
        return
    ctx.act(
        Action(
            ActionKind.PLACE_GROUP,
            group.name,
            Reason(
                Code.FAILBACK,
                f"fail back from {owner} to preferred owner {best} "
                f"(up {up_for:.0f} s, failback {fb.mode})",
            ),
            node=best,
            source=owner,
            steps=ctx.full_start_steps(group.name),
            transition=TransitionKind.FAILBACK,
            group_wanted=Wanted.ONLINE,
        )
    )
