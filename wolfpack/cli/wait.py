"""Waiting for a request to be carried out, with progress (``cluster group /move /wait``).

The coordinator answers every request in ``outcomes/<id>``: accepted (then the group moves
or starts or stops, which we follow until it settles) or rejected with a reason code. A
rejection is an error with that code; a request still unsettled at the timeout says so and
exits non-zero, leaving the request to finish on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from wolfpack.cli import output
from wolfpack.errors import RejectedError, WolfpackError
from wolfpack.model.fsm import group_state
from wolfpack.model.snapshot import Intent, IntentKind, Outcome, OutcomeStatus, Snapshot
from wolfpack.model.states import GroupState, ResourceState
from wolfpack.store.cluster import Cluster

NoWaitFlag = Annotated[
    bool, typer.Option("--no-wait", help="Return once the request is recorded; do not wait.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the outcome.", min=0)
]


FAILED_GRACE_S = 5.0


class WaitTimeout(WolfpackError):
    http_status = 504


@dataclass(frozen=True)
class Settled:
    status: str  # accepted / rejected / failed
    code: str
    message: str
    group: str | None
    owner: str | None
    state: str | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _settled(snap: Snapshot, intent: Intent, group: str) -> tuple[bool, str | None, GroupState]:
    """(done, owner, group state): done once nothing is in flight and the request's effect
    shows (an offline group is offline, a moved group runs, a resource is in its group)."""
    status = snap.group(group)
    states = [snap.resource(r.name).state for r in snap.config.group_resources(group)]
    state = group_state(states)
    busy = status.transition is not None or state is GroupState.PENDING
    subject = snap.resource(intent.subject).state
    shows = {
        IntentKind.OFFLINE_GROUP: state is GroupState.OFFLINE,
        IntentKind.OFFLINE_RESOURCE: subject is ResourceState.OFFLINE,
        IntentKind.ONLINE_RESOURCE: subject is ResourceState.ONLINE,
        IntentKind.CHANGE_GROUP: group == intent.target,
    }.get(intent.kind, state is GroupState.ONLINE)
    return not busy and shows, status.owner, state


def wait_for_outcome(db: Cluster, intent: Intent, timeout: float, *, quiet: bool) -> Settled:
    deadline = time.monotonic() + timeout
    spinner = None if quiet else output.console(stderr=True).status(f"waiting for {intent.id}")
    if spinner is not None:
        spinner.start()
    try:
        outcome: Outcome | None = None
        failed_until: float | None = None
        while time.monotonic() < deadline:
            if outcome is None:
                outcome = db.outcome(intent.id)
                if outcome is not None and outcome.status is not OutcomeStatus.ACCEPTED:
                    raise RejectedError(outcome.code, outcome.message)
            # Read after the outcome, so the snapshot already holds what the coordinator
            # decided with it (a move's new owner), never the state from before.
            snap = db.read_snapshot()
            group = intent.group_in(snap.config)
            if outcome is not None and group is not None:
                done, owner, state = _settled(snap, intent, group)
                if spinner is not None:
                    spinner.update(f"{group}: {state} on {owner or '-'}")
                if not done and state is GroupState.FAILED:
                    # A failure is usually followed by a restart or a failover: give the
                    # cluster a moment to react before calling it the outcome.
                    failed_until = failed_until or time.monotonic() + FAILED_GRACE_S
                    done = time.monotonic() >= failed_until
                if done:
                    return Settled(
                        "accepted", outcome.code, outcome.message, group, owner, str(state)
                    )
            elif spinner is not None:
                spinner.update(f"request {intent.id}: waiting for the coordinator")
            time.sleep(0.05)
    finally:
        if spinner is not None:
            spinner.stop()
    raise WaitTimeout(
        f"request {intent.id} is not settled after {timeout:g} s; it goes on in the "
        "background: watch it with 'wolfpack status' or 'wolfpack plan --explain'"
    )
