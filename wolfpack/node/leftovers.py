"""M7: what an earlier daemon left on this node (a cgroup, a ``:wp`` address, a mount) and
no resource adopted at start owns is ended, in that order (processes keep mounts busy),
each logged as ``leftover_cleaned`` or ``leftover_clean_failed`` with the reason."""

from __future__ import annotations

from collections.abc import Callable

from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import ResourceState
from wolfpack.resources import AgentContext
from wolfpack.resources.holdings import CGROUP, Holdings

Log = Callable[..., None]


def clean_leftovers(
    snap: Snapshot, kept: set[str], node: str, context: AgentContext, log: Log
) -> None:
    """M7: a cgroup, ``:wp`` address or mount left by an earlier daemon whose resource
    is not adopted here (its status names another node, it is no longer configured, it
    is not Online here, or it could not be adopted) is killed, removed or unmounted, in
    that order (processes keep mounts busy), and logged as ``leftover_cleaned``."""
    held = Holdings(context.run_dir)
    confine = context.confine
    if confine is not None:  # a cgroup of our subtree nobody recorded is ours anyway
        known = {h.fields.get("path") for h in held.entries((CGROUP,))}
        known |= {str(g.path) for r in kept if (g := confine.cgroup(r)) is not None}
        for group in confine.cgroups():
            if str(group.path) not in known:
                ok = group.kill_and_remove()
                log(
                    "leftover_cleaned" if ok else "leftover_clean_failed",
                    what=f"cgroup {group.path}",
                    kind=CGROUP,
                    why="an unrecorded cgroup of this node's subtree",
                )
    for holding in held.entries():
        if holding.resource in kept:
            continue
        why = _leftover_why(snap, holding.resource, node)
        failure = held.release(holding)
        log(
            "leftover_cleaned" if failure is None else "leftover_clean_failed",
            what=holding.describe(),
            kind=holding.kind,
            resource=holding.resource,
            why=why,
            **({"error": failure} if failure else {}),
        )


def _leftover_why(snap: Snapshot, name: str, node: str) -> str:
    if name not in snap.config.resources:
        return "the resource is no longer configured"
    st = snap.resource(name)
    if st.node != node:
        return f"its status names {st.node}" if st.node else "its status names no node"
    if st.state is not ResourceState.ONLINE:
        return f"it is {st.state} here, not Online"
    return "it is Online here but could not be adopted"
