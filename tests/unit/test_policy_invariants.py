"""Properties of ``plan(snapshot, now)`` that hold for every valid snapshot (DESIGN §1, §2).

The snapshots come from :mod:`tests.unit.strategies`: a valid configuration (checked here)
under random observed state, history and requests, including states a healthy cluster
should never reach and requests that must be refused. Each invariant is its own test.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from typing import TypeVar

from hypothesis import example, given, settings

from wolfpack.model.config import ClusterConfig, Group, Node, Resource
from wolfpack.model.dependencies import offline_steps, online_steps
from wolfpack.model.plan import Action, ActionKind, Code, Note, Plan
from wolfpack.model.snapshot import GroupStatus, IntentKind, NodeStatus, ResourceStatus, Snapshot
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.model.validation import validate_config
from wolfpack.policy import plan

from .strategies import NOW, dags, snapshots

V = TypeVar("V")
INVARIANT = settings(max_examples=300, deadline=None)

#: Actions whose steps bring resources online (in dependency order).
STARTS = (ActionKind.PLACE_GROUP, ActionKind.START_GROUP, ActionKind.RESTART_RESOURCES)
#: Actions whose steps take resources offline (dependents first).
STOPS = (ActionKind.STOP_GROUP, ActionKind.GROUP_FAILED)


def places(p: Plan) -> list[Action]:
    return [a for a in p.actions if a.kind is ActionKind.PLACE_GROUP]


def starts_something(a: Action) -> bool:
    if a.kind is ActionKind.PLACE_GROUP:
        return a.online and bool(a.steps)
    return a.kind in (ActionKind.START_GROUP, ActionKind.RESTART_RESOURCES)


def group_of_intent(cfg: ClusterConfig, kind: IntentKind, subject: str) -> str | None:
    if kind in (IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.OFFLINE_GROUP):
        return subject if subject in cfg.groups else None
    res = cfg.resources.get(subject)
    return res.group if res is not None else None


def unfenced_down(snap: Snapshot, node: str) -> bool:
    st = snap.node(node)
    return node in snap.config.nodes and st.state is NodeState.DOWN and not st.fenced


def nodes_that_may_run(snap: Snapshot, group: str) -> set[str]:
    """The owner and every node where a resource of ``group`` is reported active."""
    out = {snap.group(group).owner} - {None}
    for res in snap.config.group_resources(group):
        st = snap.resource(res.name)
        if st.node is not None and st.state.active:
            out.add(st.node)
    return {n for n in out if n is not None}


def flat(steps: Iterable[Iterable[str]]) -> list[str]:
    return [n for step in steps for n in step]


# -- the generator makes what it promises ----------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(snapshots())
def test_generated_configs_are_valid(snap: Snapshot) -> None:
    validate_config(snap.config)
    assert 1 <= len(snap.config.nodes) <= 8 and 1 <= len(snap.config.groups) <= 6


# -- ownership -------------------------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_one_owner_per_group(snap: Snapshot) -> None:
    """S29/DESIGN §2: a group is active on at most one node. One plan places a group at most
    once, and everything it starts for a group happens on that group's one owner."""
    p = plan(snap, NOW)
    placed = [a.subject for a in places(p)]
    assert len(placed) == len(set(placed)), placed
    owners = {g: snap.group(g).owner for g in snap.config.groups}
    for a in places(p):
        assert a.subject in snap.config.groups
        owners[a.subject] = a.node
    for a in p.actions:
        if starts_something(a):
            assert a.node is not None and a.node == owners[a.subject], a
    assert p.owners() == {a.subject: a.node for a in places(p)}


# -- eligibility of a placement --------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_placement_only_on_eligible_nodes(snap: Snapshot) -> None:
    """S37/S28 and DESIGN §1: a new owner is a known node that is Up (not Down, Joining or
    Paused), not draining, and a possible owner of every resource of the group."""
    for a in places(plan(snap, NOW)):
        assert a.node is not None and a.node in snap.config.nodes, a
        st = snap.node(a.node)
        assert st.state is NodeState.UP, (a, st)
        assert not st.draining, (a, st)
        for res in snap.config.group_resources(a.subject):
            if res.possible_owners is not None:
                assert a.node in res.possible_owners, (a, res)


# -- never two owners: fence first -----------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_no_failover_away_from_an_unfenced_down_node(snap: Snapshot) -> None:
    """DESIGN §2 safety invariant: a group is placed elsewhere only after the old owner is
    fenced. A Down, unfenced node that owns a group is fenced in the same plan, and nothing
    of the group starts anywhere meanwhile."""
    p = plan(snap, NOW)
    fenced = {a.subject for a in p.actions if a.kind is ActionKind.FENCE_NODE}
    for group in snap.config.groups:
        owner = snap.group(group).owner
        if owner is not None and unfenced_down(snap, owner):
            assert owner in fenced, (group, owner)
            assert not [a for a in places(p) if a.subject == group]
    for a in places(p):
        assert a.source is None or not unfenced_down(snap, a.source), a


@INVARIANT
@given(snapshots())
def test_nothing_starts_while_a_lost_node_may_still_run_the_group(snap: Snapshot) -> None:
    """The same for a node that may still run one resource of the group (S30: the group is
    one unit): it is fenced, and the group neither moves nor starts anything."""
    p = plan(snap, NOW)
    fenced = {a.subject for a in p.actions if a.kind is ActionKind.FENCE_NODE}
    for group in snap.config.groups:
        lost = {n for n in nodes_that_may_run(snap, group) if unfenced_down(snap, n)}
        if lost:
            assert lost <= fenced, (group, lost)
            started = [a for a in p.actions if a.subject == group and starts_something(a)]
            assert started == [], started


@INVARIANT
@given(snapshots())
def test_only_down_unfenced_nodes_are_fenced(snap: Snapshot) -> None:
    """Fencing powers a node off: never a live node, never twice in one plan."""
    targets = [a.subject for a in plan(snap, NOW).actions if a.kind is ActionKind.FENCE_NODE]
    assert len(targets) == len(set(targets))
    for node in targets:
        assert unfenced_down(snap, node), node


# -- order of steps --------------------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_steps_respect_dependencies(snap: Snapshot) -> None:
    """S39: online, the most depended-upon first; offline, dependents first. Every step
    names resources of the action's group, each at most once."""
    cfg = snap.config
    for a in plan(snap, NOW).actions:
        if not a.steps:
            continue
        names = flat(a.steps)
        assert len(names) == len(set(names)), a
        assert all(a.steps), a  # no empty step
        members = {r.name for r in cfg.group_resources(a.subject)}
        assert set(names) <= members, a
        position = {n: i for i, step in enumerate(a.steps) for n in step}
        for name in names:
            for dep in cfg.resources[name].depends_on & position.keys():
                if a.kind in STARTS:
                    assert position[dep] < position[name], (a, dep, name)
                elif a.kind in STOPS:
                    assert position[dep] > position[name], (a, dep, name)


@INVARIANT
@given(dags())
def test_offline_order_is_the_reverse_of_online_order(edges: dict[str, frozenset[str]]) -> None:
    on, off = online_steps(edges), offline_steps(edges)
    assert off == tuple(reversed(on))
    assert sorted(flat(on)) == sorted(edges)


@INVARIANT
@given(snapshots())
def test_only_what_a_lost_node_reports_is_marked_offline(snap: Snapshot) -> None:
    """H1: the coordinator records Offline only a resource wanted offline whose status names
    a node that runs nothing: down and fenced, or (for a Failed report, written after the
    termination) no longer a cluster node. Never one a live or unfenced node may still run."""
    for a in plan(snap, NOW).actions:
        if a.kind is not ActionKind.MARK_OFFLINE:
            continue
        assert a.node is not None and a.resources, a
        for name in a.resources:
            st = snap.resource(name)
            assert st.node == a.node and st.state.active, (a, st)
            group = snap.config.resources[name].group
            assert "offline" in (snap.group(group).wanted.value, st.wanted.value), (a, st)
            if a.node in snap.config.nodes:
                lost = snap.node(a.node)
                assert lost.state is NodeState.DOWN and lost.fenced, (a, lost)
            else:
                assert st.state is ResourceState.FAILED, (a, st)


# -- administrator requests ------------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_offline_request_never_fails_over(snap: Snapshot) -> None:
    """S34: taking a group or a resource offline is not a failure: it never produces a
    placement of that group. (A request deferred because an earlier request already acts on
    the group is carried out in a later plan.)"""
    p = plan(snap, NOW)
    offline = (IntentKind.OFFLINE_GROUP, IntentKind.OFFLINE_RESOURCE)
    for intent in snap.intents:
        if intent.kind not in offline:
            continue
        mine = [a for a in p.actions if a.intent == intent.id]
        assert all(a.kind is not ActionKind.PLACE_GROUP for a in mine), mine
        group = group_of_intent(snap.config, intent.kind, intent.subject)
        carried_out = any(a.kind is ActionKind.STOP_GROUP for a in mine)
        if group is not None and carried_out:
            assert [a for a in places(p) if a.subject == group] == []


@INVARIANT
@given(snapshots())
def test_every_request_is_answered(snap: Snapshot) -> None:
    """DESIGN §2: everything an administrator does is an intent, carried out or refused
    with a reason, or explicitly deferred."""
    p = plan(snap, NOW)
    deferred = [n for n in p.notes if n.reason.code is Code.INTENT_DEFERRED]
    for intent in snap.intents:
        answered = [a for a in p.actions if a.intent == intent.id]
        waiting = [n for n in deferred if intent.id in n.reason.message]
        assert answered or waiting, intent
    known = {i.id for i in snap.intents}
    for a in p.actions:
        if a.kind is ActionKind.REJECT_INTENT:
            assert a.intent in known


# -- purity ----------------------------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_plan_is_deterministic_and_does_not_mutate(snap: Snapshot) -> None:
    """DESIGN §2: the policy is a pure function of the snapshot and ``now``."""
    before = copy.deepcopy(snap)
    first = plan(snap, NOW)
    assert snap == before
    assert plan(snap, NOW) == first
    assert plan(before, NOW) == first


def _reordered(snap: Snapshot) -> Snapshot:
    """An equal snapshot whose mappings list their entries in reverse order."""
    cfg = snap.config

    def rev(d: Mapping[str, V]) -> dict[str, V]:
        return dict(reversed(list(d.items())))

    cfg2 = ClusterConfig(
        cfg.cluster,
        rev(cfg.nodes),
        rev(cfg.networks),
        rev(cfg.interfaces),
        rev(cfg.groups),
        rev(cfg.resources),
        rev(cfg.types),
    )
    return Snapshot(
        cfg2,
        rev(snap.nodes),
        rev(snap.groups),
        rev(snap.resources),
        snap.intents,
        snap.revision,
    )


def _anti_affine_in_order(order: list[str]) -> Snapshot:
    """SQL and SQL2 run on node1; Web, of the same anti-affinity class, is to be placed.
    ``order`` is the order of the groups in the configuration mapping."""
    groups = {name: Group(name, anti_affinity=("db",)) for name in order}
    cfg = ClusterConfig(nodes={"node1": Node("node1", 1), "node2": Node("node2", 2)}, groups=groups)
    return Snapshot(
        cfg,
        nodes={"node1": NodeStatus(), "node2": NodeStatus()},
        groups={"SQL": GroupStatus(owner="node1"), "SQL2": GroupStatus(owner="node1")},
    )


#: Once a policy bug (fixed in 9ce7950): PlanContext.anti_affine_with named the first
#: anti-affine group in the mapping's insertion order, so two equal snapshots gave plans whose
#: messages differed ("node1: runs anti-affine group 'SQL'" or "... 'SQL2'").
ANTI_AFFINE_SQL_FIRST = _anti_affine_in_order(["SQL", "SQL2", "Web"])


def decisions(p: Plan) -> list[tuple[object, ...]]:
    """A plan without its messages (for people, free to change): what is decided, and why."""
    return [
        (a.kind, a.subject, a.node, a.source, a.target, a.steps, a.intent, a.online, a.reason.code)
        for a in p.actions
    ] + [(n.subject, n.reason.code) for n in p.notes]


@INVARIANT
@given(snapshots())
def test_equal_snapshots_give_equal_decisions(snap: Snapshot) -> None:
    """Snapshots read in another key order are equal, so what is decided must be equal too
    (two coordinators deciding from the same revision decide the same)."""
    other = _reordered(snap)
    assert other == snap
    assert decisions(plan(other, NOW)) == decisions(plan(snap, NOW))


@INVARIANT
@given(snapshots())
@example(ANTI_AFFINE_SQL_FIRST)
def test_equal_snapshots_give_equal_plans(snap: Snapshot) -> None:
    """The same, messages included: a plan is a function of the snapshot."""
    other = _reordered(snap)
    assert other == snap
    assert plan(other, NOW) == plan(snap, NOW)


# -- explanations ----------------------------------------------------------------------------


@INVARIANT
@given(snapshots())
def test_every_action_and_note_has_a_reason(snap: Snapshot) -> None:
    """DESIGN §1: "every step has a reason code"."""
    p = plan(snap, NOW)
    items: list[Action | Note] = [*p.actions, *p.notes]
    for item in items:
        assert isinstance(item.reason.code, Code), item
        assert item.reason.code.value and item.reason.message.strip(), item
        assert item.subject, item


# -- further invariants from the model (DESIGN §1) -------------------------------------------


def recent_failovers(snap: Snapshot, group: str) -> int:
    g = snap.config.groups[group]
    return sum(1 for t in snap.group(group).failovers if NOW - t < g.failover_period_s)


def eligible(snap: Snapshot, group: str, node: str) -> bool:
    """Spelled out from DESIGN §1 independently of the policy's own helper."""
    st = snap.node(node)
    if node not in snap.config.nodes or st.state is not NodeState.UP or st.draining:
        return False
    return all(
        r.possible_owners is None or node in r.possible_owners
        for r in snap.config.group_resources(group)
    )


def node_list(snap: Snapshot, group: str) -> list[str]:
    """S37/KB299631: preferred owners in order, then every other node by id."""
    preferred = [n for n in snap.config.groups[group].preferred_owners if n in snap.config.nodes]
    rest = sorted(
        (n for n in snap.config.nodes if n not in preferred), key=lambda n: snap.config.nodes[n].id
    )
    return preferred + rest


def _restart_in_place(
    node1: NodeState = NodeState.UP, possible: tuple[str, ...] | None = None
) -> Snapshot:
    """Web, owned by node1, has one resource that failed there a moment ago (no restarts
    yet, so its restart policy says: restart in place)."""
    cfg = ClusterConfig(
        nodes={"node1": Node("node1", 1), "node2": Node("node2", 2)},
        groups={"Web": Group("Web")},
        resources={"web-app": Resource("web-app", "T", "Web", possible_owners=possible)},
    )
    return Snapshot(
        cfg,
        nodes={"node1": NodeStatus(node1), "node2": NodeStatus()},
        groups={"Web": GroupStatus(owner="node1")},
        resources={"web-app": ResourceStatus(ResourceState.FAILED, "node1", NOW - 10)},
    )


#: Once a policy bug (fixed in 9ce7950): a failed resource was restarted in place on an
#: owner that is no longer one of its possible owners (changed while the group ran, S35),
#: although the same resource, were it offline, would not be started there.
RESTART_ON_NON_POSSIBLE_OWNER = _restart_in_place(possible=("node2",))
#: Once a policy bug (fixed in 9ce7950): a failed resource was restarted on an owner that
#: is Joining, where nothing else of the group would be started.
RESTART_ON_JOINING_NODE = _restart_in_place(NodeState.JOINING)
#: Bug report 4 (policy, open): the same on a Paused owner. PlanContext.ineligible answers
#: "paused" before it looks at possible owners, and _handle_failures lets "paused" restart
#: in place, so the resource is restarted on node1, not one of its possible owners.
RESTART_ON_PAUSED_NON_POSSIBLE_OWNER = _restart_in_place(NodeState.PAUSED, possible=("node2",))
#: Bug report 4, second path: _start_missing lets "paused" start an offline resource there too.
START_ON_PAUSED_NON_POSSIBLE_OWNER = dataclasses.replace(
    RESTART_ON_PAUSED_NON_POSSIBLE_OWNER,
    resources={"web-app": ResourceStatus(ResourceState.OFFLINE)},
)


@INVARIANT
@given(snapshots())
def test_nothing_starts_on_a_down_or_unknown_node(snap: Snapshot) -> None:
    for a in plan(snap, NOW).actions:
        if starts_something(a):
            assert a.node is not None and a.node in snap.config.nodes, a
            assert snap.node(a.node).state is not NodeState.DOWN, a


@INVARIANT
@given(snapshots())
@example(RESTART_ON_NON_POSSIBLE_OWNER)
@example(RESTART_ON_PAUSED_NON_POSSIBLE_OWNER)
@example(START_ON_PAUSED_NON_POSSIBLE_OWNER)
def test_nothing_starts_where_it_is_not_a_possible_owner(snap: Snapshot) -> None:
    """S28: possible owners are the nodes that may bring a resource online, so no start,
    restart or placement brings it online anywhere else."""
    for a in plan(snap, NOW).actions:
        if starts_something(a):
            for name in flat(a.steps):
                owners = snap.config.resources[name].possible_owners
                assert owners is None or a.node in owners, (a, name, owners)


@INVARIANT
@given(snapshots())
@example(RESTART_ON_JOINING_NODE)
def test_nothing_starts_on_a_joining_node(snap: Snapshot) -> None:
    """A Joining node is not yet a member (S9, S20): it takes no group and is asked to
    start nothing until it is Up (a Paused owner keeps running, and restarting, its own)."""
    for a in plan(snap, NOW).actions:
        if starts_something(a):
            assert a.node is not None
            assert snap.node(a.node).state in (NodeState.UP, NodeState.PAUSED), a


def test_restart_in_place_on_an_eligible_owner() -> None:
    """The control for the two reports above: on an Up possible owner, restart in place."""
    p = plan(_restart_in_place(possible=("node1", "node2")), NOW)
    assert [(a.kind, a.node, a.steps) for a in p.actions] == [
        (ActionKind.RESTART_RESOURCES, "node1", (("web-app",),))
    ]


@INVARIANT
@given(snapshots())
def test_failover_threshold_is_respected(snap: Snapshot) -> None:
    """S30 and SDK:groups-failoverthreshold: a group fails over at most ``threshold`` times
    within its period; past that it is left failed and says why."""
    p = plan(snap, NOW)
    for a in p.actions:
        threshold = None
        if a.subject in snap.config.groups:
            threshold = snap.config.groups[a.subject].failover_threshold
        if a.kind is ActionKind.PLACE_GROUP and a.reason.code in (
            Code.FAILOVER_NODE_DOWN,
            Code.FAILOVER_RESOURCE_FAILED,
        ):
            assert threshold is not None and recent_failovers(snap, a.subject) < threshold, a
        if a.kind is ActionKind.GROUP_FAILED:
            assert threshold is not None and recent_failovers(snap, a.subject) >= threshold, a


@INVARIANT
@given(snapshots())
def test_wanted_offline_stays_offline(snap: Snapshot) -> None:
    """S34 and PersistentState: what the administrator took offline is started again only
    by the administrator's own request, never automatically."""
    for a in plan(snap, NOW).actions:
        if not starts_something(a) or a.intent is not None:
            continue
        assert snap.group(a.subject).wanted.value == "online", a
        for name in flat(a.steps):
            assert snap.resource(name).wanted.value == "online", (a, name)


@INVARIANT
@given(snapshots())
def test_failed_over_limit_group_is_not_started_automatically(snap: Snapshot) -> None:
    """Past its failover threshold a group stays offline "until an administrator brings it
    online again" (wolfpack.model.snapshot.GroupStatus.failed_over_limit)."""
    for a in plan(snap, NOW).actions:
        if a.subject in snap.config.groups and snap.group(a.subject).failed_over_limit:
            assert not starts_something(a) or a.intent is not None, a


AUTOMATIC = (
    Code.PLACE_INITIAL,
    Code.FAILOVER_NODE_DOWN,
    Code.FAILOVER_RESOURCE_FAILED,
    Code.DRAIN_NODE,
    Code.FAILBACK,
)


@INVARIANT
@given(snapshots())
def test_enforced_anti_affinity_never_co_locates(snap: Snapshot) -> None:
    """reference/wsfc.md §2.1 AntiAffinityClassNames with ClusterEnforcedAntiAffinity=1: an
    automatic placement never puts two groups of one class on one node."""
    if not snap.config.cluster.enforced_anti_affinity:
        return
    owners = {g: snap.group(g).owner for g in snap.config.groups}
    for a in plan(snap, NOW).actions:
        if a.kind is not ActionKind.PLACE_GROUP:
            continue
        if a.reason.code in AUTOMATIC:
            mine = set(snap.config.groups[a.subject].anti_affinity)
            for other, node in owners.items():
                if other != a.subject and node == a.node:
                    assert not mine & set(snap.config.groups[other].anti_affinity), (a, other)
        owners[a.subject] = a.node


@INVARIANT
@given(snapshots())
def test_placement_follows_the_node_list(snap: Snapshot) -> None:
    """S37/KB299631: the first eligible node of the list; after a failure, the next eligible
    node after the current owner, wrapping. (Groups with anti-affinity classes may skip a
    node, so they are left out here.)"""
    for a in places(plan(snap, NOW)):
        if snap.config.groups[a.subject].anti_affinity:
            continue
        order = node_list(snap, a.subject)
        if a.reason.code is Code.PLACE_INITIAL:
            candidates = order
        elif a.reason.code in (Code.FAILOVER_NODE_DOWN, Code.FAILOVER_RESOURCE_FAILED):
            owner = snap.group(a.subject).owner
            assert owner is not None
            i = order.index(owner)
            candidates = order[i + 1 :] + order[:i]
        else:
            continue
        first = next((n for n in candidates if eligible(snap, a.subject, n)), None)
        assert a.node == first, (a, candidates)
