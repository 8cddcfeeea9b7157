"""The last look before a fence agent runs (M2, H5): does the plan's basis still hold in etcd?

A coordinator decides to fence from a snapshot; the agent runs later (after other fences, a
pause of the daemon, a slow tick). Right before the agent is called, one read-only
transaction compares what the decision rested on:

- the election key still has our create revision (we are still the coordinator),
- the target's liveness key is still the one the plan saw (it did not come back on a new
  lease),
- the target's published view is still the one the plan saw (it wrote nothing since: had
  it, it would be alive and on the quorum side).

A successful transaction in etcd is linearizable, so it also proves that the fencer is on
the quorum side at that moment. If anything changed, the fence is not run; the next tick
decides again from fresh evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from wolfpack.store import Compare, Store, key_exists, mod_revision_is


class FenceOutcome(Enum):
    """What a fence call achieved. Only a power fence lets the node's groups start
    elsewhere at once (truthy); an io fence leaves them waiting for the node's lease."""

    NOT_DONE = "not done"
    POWERED_OFF = "powered off"  # confirmed by a power agent: the lease was revoked
    CUT_OFF = "cut off from storage"  # confirmed by an io agent: processes may still run

    def __bool__(self) -> bool:
        return self is FenceOutcome.POWERED_OFF


@dataclass(frozen=True)
class FenceBasis:
    """What the plan saw when it decided to fence a node."""

    election_key: str
    token: int  # create revision of the election key: ours
    liveness_key: str
    lease: int  # the lease the target's liveness key was on
    view_key: str
    view_revision: int  # mod revision of the target's published view, 0 if it had none

    def compares(self) -> list[Compare]:
        """All of it, in one transaction: the election key is ours, the target's liveness
        key exists on the lease the plan saw, its view is the one the plan saw."""
        return [
            Compare(self.election_key, "create", "==", self.token),
            key_exists(self.liveness_key),
            Compare(self.liveness_key, "lease", "==", self.lease),
            mod_revision_is(self.view_key, self.view_revision),
        ]


def basis_changed(store: Store, basis: FenceBasis) -> str | None:
    """None if the basis still holds now, checked in one read-only transaction (one etcd
    round trip on the path of every power-off failover; reads only to say why not, for
    the log)."""
    if store.txn(basis.compares(), []).succeeded:
        return None
    kv = store.get(basis.liveness_key)
    if kv is None:
        return "its lease is gone already"
    if kv.lease != basis.lease:
        return f"it came back on a new lease ({kv.lease}, the plan saw {basis.lease})"
    election = store.get(basis.election_key)
    if election is None or election.create_revision != basis.token:
        return "this node is no longer the coordinator"
    view = store.get(basis.view_key)
    if (view.mod_revision if view is not None else 0) != basis.view_revision:
        return "it published its view since: it is alive and talks to etcd"
    return "its liveness key changed"
