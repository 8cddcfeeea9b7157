"""A bounded, seeded fault schedule for the chaos suite (tests/chaos): pure, no I/O.

The same seed, node names and group names always give the same schedule, so a failing run
can be replayed (``WOLFPACK_CHAOS_SEED=<seed>``); what the cluster does in between is timing
and is not replayed, which is why the suite checks invariants rather than outcomes.

Faults that take capacity away (:data:`IMPAIRING`) never overlap: each one is undone, and
the cluster is back to full strength, before the next begins, so a majority of the nodes can
always run. The others (moves, resource crashes) land whenever they come, also while a node
is down, frozen or etcd is away.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["IMPAIRING", "ChaosPlan", "Fault", "FaultKind", "plan"]


class FaultKind(StrEnum):
    KILL_NODE = "kill-node"  # SIGKILL the daemon and every process it started (power off)
    KILL_DAEMON = "kill-daemon"  # SIGKILL the daemon alone: its watchdog and apps live on
    FREEZE = "freeze"  # SIGSTOP the daemon for longer than the lease TTL, then SIGCONT
    KILL_COORDINATOR = "kill-coordinator"  # KILL_NODE of whichever node coordinates then
    RESTART_ETCD = "restart-etcd"  # SIGKILL etcd, start it again on the same data dir
    MOVE_GROUP = "move-group"  # an administrator's move, whatever else is going on
    CRASH_RESOURCE = "crash-resource"  # SIGKILL the group's application process


IMPAIRING = frozenset(
    {
        FaultKind.KILL_NODE,
        FaultKind.KILL_DAEMON,
        FaultKind.FREEZE,
        FaultKind.KILL_COORDINATOR,
        FaultKind.RESTART_ETCD,
    }
)

#: how often each kind is drawn once every kind has been drawn once
_WEIGHTS = {
    FaultKind.KILL_NODE: 2,
    FaultKind.KILL_DAEMON: 2,
    FaultKind.FREEZE: 2,
    FaultKind.KILL_COORDINATOR: 2,
    FaultKind.RESTART_ETCD: 1,
    FaultKind.MOVE_GROUP: 3,
    FaultKind.CRASH_RESOURCE: 2,
}


#: kinds whose node is not chosen in advance (none, or whichever coordinates at the time)
_NO_NODE = frozenset({FaultKind.RESTART_ETCD, FaultKind.CRASH_RESOURCE, FaultKind.KILL_COORDINATOR})


_NODE_FAULTS = frozenset({FaultKind.KILL_NODE, FaultKind.KILL_DAEMON, FaultKind.FREEZE})
_GROUP_FAULTS = frozenset({FaultKind.MOVE_GROUP, FaultKind.CRASH_RESOURCE})


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    after_s: float  # pause before it
    #: the node to impair, or the target of a move
    node: str | None = None
    #: the group to move or whose application crashes; for a node fault without a node,
    #: the group whose owner (at the time) is impaired
    group: str | None = None
    hold_s: float = 0.0  # impairing faults: undone no sooner than this

    def describe(self) -> str:
        target = self.group or ""
        if self.kind in _NODE_FAULTS and self.group:
            target = f"the owner of {self.group}"
        what = " ".join(
            x
            for x in (
                self.kind.value,
                target,
                ("to " if self.kind is FaultKind.MOVE_GROUP else "") + (self.node or ""),
                f"for {self.hold_s:.1f} s" if self.kind in IMPAIRING else "",
            )
            if x
        )
        return f"+{self.after_s:.1f} s {what}"


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    fence: str  # the daemons' fence agent: "test" (fence, revoke) or "none" (leases only)
    faults: tuple[Fault, ...]

    def describe(self) -> str:
        lines = [f"chaos seed {self.seed}, fence agent {self.fence!r}, {len(self.faults)} faults:"]
        lines += [f"  {i:2}. {f.describe()}" for i, f in enumerate(self.faults, start=1)]
        return "\n".join(lines)


def plan(
    seed: int,
    nodes: Sequence[str],
    groups: Sequence[str],
    *,
    count: int = 12,
    ttl_s: float = 3.0,
) -> ChaosPlan:
    """``count`` faults drawn from ``seed``: each kind at least once when ``count`` allows,
    freezes longer than ``ttl_s`` (so the lease expires while frozen)."""
    if count < 1 or not nodes or not groups:
        raise ValueError("a chaos plan needs at least one fault, node and group")
    rng = random.Random(seed)
    fence = rng.choice(("test", "none"))
    kinds = list(FaultKind)[:count]
    kinds += rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()), k=count - len(kinds))
    rng.shuffle(kinds)
    faults = []
    for kind in kinds:
        after = round(rng.uniform(0.2, 1.5), 1)
        node = rng.choice(list(nodes))
        group = rng.choice(list(groups))
        if kind is FaultKind.FREEZE:
            hold = ttl_s + rng.uniform(0.5, 1.5)
        elif kind is FaultKind.RESTART_ETCD:
            hold = rng.uniform(0.2, 1.5)
        else:
            hold = rng.uniform(0.3, 2.5)
        # Half the node faults hit whichever node owns a group at the time (a node that
        # runs nothing proves little).
        of_owner = kind in _NODE_FAULTS and rng.random() < 0.5
        faults.append(
            Fault(
                kind,
                after,
                node=None if kind in _NO_NODE or of_owner else node,
                group=group if kind in _GROUP_FAULTS or of_owner else None,
                hold_s=round(hold, 1) if kind in IMPAIRING else 0.0,
            )
        )
    return ChaosPlan(seed, fence, tuple(faults))
