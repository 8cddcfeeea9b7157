"""State machines as tables (DESIGN §1, reference/wsfc.md §1.2).

Each expected row below is written from MSCS behaviour, not copied from the table: node
states Up/Down/Paused/Joining (``SDK:clusnode-state``), resource states Offline,
OnlinePending, Online, OfflinePending, Failed (``SDK:clusresource-state``), and the derived
group state (``SDK:clusresgroup-state``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wolfpack.errors import IllegalTransition, WolfpackError
from wolfpack.model.fsm import (
    NODE_TRANSITIONS,
    RESOURCE_TRANSITIONS,
    NodeEvent,
    ResourceEvent,
    group_state,
    node_transition,
    resource_transition,
)
from wolfpack.model.states import GroupState, NodeState, ResourceState

N, NE = NodeState, NodeEvent
R, RE = ResourceState, ResourceEvent

#: (state, event, next state), from the MSCS node life cycle: a starting node joins (S9,
#: S20), an active member can be paused and resumed, and any live node is lost or stopped.
EXPECTED_NODE_ROWS = [
    (N.DOWN, NE.START, N.JOINING),
    (N.JOINING, NE.JOINED, N.UP),
    (N.JOINING, NE.LOST, N.DOWN),
    (N.JOINING, NE.STOP, N.DOWN),
    (N.UP, NE.PAUSE, N.PAUSED),
    (N.UP, NE.LOST, N.DOWN),
    (N.UP, NE.STOP, N.DOWN),
    (N.PAUSED, NE.RESUME, N.UP),
    (N.PAUSED, NE.LOST, N.DOWN),
    (N.PAUSED, NE.STOP, N.DOWN),
]

#: The resource life cycle of ``SDK:resources``: Online goes through OnlinePending, Offline
#: through OfflinePending; a pending state that makes no progress within PendingTimeout is
#: terminated (Failed); IsAlive false fails an online resource; a failed resource is either
#: restarted in place or cleaned up (terminated) to Offline before a move.
EXPECTED_RESOURCE_ROWS = [
    (R.OFFLINE, RE.BRING_ONLINE, R.ONLINE_PENDING),
    (R.ONLINE_PENDING, RE.STARTED, R.ONLINE),
    (R.ONLINE_PENDING, RE.FAILURE, R.FAILED),
    (R.ONLINE_PENDING, RE.PENDING_TIMEOUT, R.FAILED),
    (R.ONLINE_PENDING, RE.TAKE_OFFLINE, R.OFFLINE_PENDING),
    (R.ONLINE, RE.TAKE_OFFLINE, R.OFFLINE_PENDING),
    (R.ONLINE, RE.FAILURE, R.FAILED),
    (R.OFFLINE_PENDING, RE.STOPPED, R.OFFLINE),
    (R.OFFLINE_PENDING, RE.FAILURE, R.FAILED),
    (R.OFFLINE_PENDING, RE.PENDING_TIMEOUT, R.FAILED),
    (R.FAILED, RE.BRING_ONLINE, R.ONLINE_PENDING),
    (R.FAILED, RE.TAKE_OFFLINE, R.OFFLINE),
]


def _ids(rows: Sequence[tuple[object, object, object]]) -> list[str]:
    return [f"{s}-{e}" for s, e, _ in rows]


# -- nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event", "after"), EXPECTED_NODE_ROWS, ids=_ids(EXPECTED_NODE_ROWS)
)
def test_node_row(state: NodeState, event: NodeEvent, after: NodeState) -> None:
    """S9/S20 join, pause/resume of a member, loss and stop of a live node."""
    assert node_transition(state, event) is after


def test_node_table_has_exactly_the_expected_rows() -> None:
    assert dict(NODE_TRANSITIONS) == {(s, e): a for s, e, a in EXPECTED_NODE_ROWS}


NODE_ILLEGAL = [
    (s, e)
    for s, e in itertools.product(NodeState, NodeEvent)
    if (s, e) not in {(s, e) for s, e, _ in EXPECTED_NODE_ROWS}
]


@pytest.mark.parametrize(
    ("state", "event"), NODE_ILLEGAL, ids=[f"{s}-{e}" for s, e in NODE_ILLEGAL]
)
def test_node_illegal_transition_names_machine_state_and_event(
    state: NodeState, event: NodeEvent
) -> None:
    with pytest.raises(IllegalTransition) as info:
        node_transition(state, event)
    err = info.value
    assert (err.machine, err.state, err.event) == ("node", str(state), str(event))
    assert "node" in str(err) and str(state) in str(err) and str(event) in str(err)
    assert isinstance(err, WolfpackError) and err.http_status == 409


def test_some_node_pairs_are_illegal() -> None:
    """A down node cannot be paused or lost again; a paused node cannot be paused twice."""
    assert {(N.DOWN, NE.PAUSE), (N.DOWN, NE.LOST), (N.PAUSED, NE.PAUSE), (N.UP, NE.JOINED)} <= set(
        NODE_ILLEGAL
    )


def test_every_node_state_can_go_down_or_is_down() -> None:
    """Any live node can be lost (the failure detector must always be able to act)."""
    for state in NodeState:
        if state is not N.DOWN:
            assert node_transition(state, NE.LOST) is N.DOWN


# -- resources -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event", "after"), EXPECTED_RESOURCE_ROWS, ids=_ids(EXPECTED_RESOURCE_ROWS)
)
def test_resource_row(state: ResourceState, event: ResourceEvent, after: ResourceState) -> None:
    assert resource_transition(state, event) is after


def test_resource_table_has_exactly_the_expected_rows() -> None:
    assert dict(RESOURCE_TRANSITIONS) == {(s, e): a for s, e, a in EXPECTED_RESOURCE_ROWS}


RESOURCE_ILLEGAL = [
    (s, e)
    for s, e in itertools.product(ResourceState, ResourceEvent)
    if (s, e) not in {(s, e) for s, e, _ in EXPECTED_RESOURCE_ROWS}
]


@pytest.mark.parametrize(
    ("state", "event"), RESOURCE_ILLEGAL, ids=[f"{s}-{e}" for s, e in RESOURCE_ILLEGAL]
)
def test_resource_illegal_transition_names_machine_state_and_event(
    state: ResourceState, event: ResourceEvent
) -> None:
    with pytest.raises(IllegalTransition) as info:
        resource_transition(state, event)
    err = info.value
    assert (err.machine, err.state, err.event) == ("resource", str(state), str(event))
    assert f"resource: no transition from {state} on {event}" == str(err)


def test_some_resource_pairs_are_illegal() -> None:
    """An offline resource cannot fail or time out; an online one cannot start again."""
    assert {
        (R.OFFLINE, RE.FAILURE),
        (R.OFFLINE, RE.PENDING_TIMEOUT),
        (R.ONLINE, RE.STARTED),
        (R.ONLINE, RE.PENDING_TIMEOUT),
        (R.OFFLINE, RE.STOPPED),
    } <= set(RESOURCE_ILLEGAL)


def test_pending_timeout_only_from_pending_states() -> None:
    """``SDK:resources-pendingtimeout``: the timeout applies to Online/OfflinePending only."""
    sources = {s for (s, e) in RESOURCE_TRANSITIONS if e is RE.PENDING_TIMEOUT}
    assert sources == {s for s in ResourceState if s.pending}


def test_every_resource_state_can_reach_offline() -> None:
    """Whatever happens, a resource can always be taken offline (needed before a move, S39)."""
    for start in ResourceState:
        seen, todo = {start}, [start]
        while todo:
            s = todo.pop()
            for (src, _), dst in RESOURCE_TRANSITIONS.items():
                if src is s and dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        assert R.OFFLINE in seen, start


def test_resource_state_flags() -> None:
    assert {s for s in ResourceState if s.pending} == {R.ONLINE_PENDING, R.OFFLINE_PENDING}
    assert {s for s in ResourceState if not s.active} == {R.OFFLINE}


# -- derived group state ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], GroupState.OFFLINE),  # "all offline or empty"
        ([R.OFFLINE], GroupState.OFFLINE),
        ([R.OFFLINE, R.OFFLINE], GroupState.OFFLINE),
        ([R.ONLINE], GroupState.ONLINE),
        ([R.ONLINE, R.ONLINE, R.ONLINE], GroupState.ONLINE),
        ([R.ONLINE, R.OFFLINE], GroupState.PARTIAL_ONLINE),
        ([R.OFFLINE, R.ONLINE, R.OFFLINE], GroupState.PARTIAL_ONLINE),
        ([R.ONLINE_PENDING], GroupState.PENDING),
        ([R.ONLINE, R.OFFLINE_PENDING], GroupState.PENDING),
        ([R.OFFLINE, R.ONLINE_PENDING, R.ONLINE], GroupState.PENDING),
        ([R.FAILED], GroupState.FAILED),
        ([R.ONLINE, R.FAILED], GroupState.FAILED),
        ([R.ONLINE_PENDING, R.FAILED], GroupState.FAILED),  # Failed beats Pending
        ([R.OFFLINE_PENDING, R.ONLINE, R.OFFLINE, R.FAILED], GroupState.FAILED),
    ],
)
def test_group_state_examples(states: list[ResourceState], expected: GroupState) -> None:
    """``SDK:clusresgroup-state``: Failed if one failed; Pending if one pending and none
    failed; Online if all online; PartialOnline if one online and none pending/failed;
    Offline if all offline or the group is empty."""
    assert group_state(states) is expected


@given(st.lists(st.sampled_from(list(ResourceState)), max_size=8))
def test_group_state_rules(states: list[ResourceState]) -> None:
    got = group_state(iter(states))  # any iterable, consumed once
    if R.FAILED in states:
        assert got is GroupState.FAILED
    elif R.ONLINE_PENDING in states or R.OFFLINE_PENDING in states:
        assert got is GroupState.PENDING
    elif states and set(states) == {R.ONLINE}:
        assert got is GroupState.ONLINE
    elif R.ONLINE in states:
        assert got is GroupState.PARTIAL_ONLINE
    else:
        assert got is GroupState.OFFLINE


@given(st.lists(st.sampled_from(list(ResourceState)), max_size=8), st.randoms())
def test_group_state_ignores_order(states: list[ResourceState], rnd: Random) -> None:
    shuffled = list(states)
    rnd.shuffle(shuffled)
    assert group_state(shuffled) is group_state(states)
