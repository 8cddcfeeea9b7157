"""Hypothesis strategies: dependency graphs and random but *valid* cluster snapshots.

A snapshot from :func:`snapshots` always passes :func:`wolfpack.model.validation.validate_config`
(checked by ``test_policy_invariants``): 1-8 nodes with unique ids, 1-6 groups, 0-5 resources
per group whose dependencies point only at earlier resources of the same group (so they are
acyclic), possible owners and preferred owners drawn from the nodes. The observed state on top
is random, including states a real cluster should not reach, and so are the intents, some of
them bad (unknown subjects, unknown or ineligible targets).
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import strategies as st

from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
    Failback,
    Group,
    Node,
    Resource,
    ResourceType,
)
from wolfpack.model.snapshot import (
    GroupStatus,
    Intent,
    IntentKind,
    NodeStatus,
    ResourceStatus,
    Snapshot,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import (
    FailbackMode,
    NodeState,
    ResourceState,
    RestartAction,
    Wanted,
)

Edges = Mapping[str, frozenset[str]]

NOW = 1_700_000_000.0  # 14 Nov 2023 22:13 UTC
#: The one resource type of generated configs: no required properties, no required
#: dependencies, so any resource of it is valid. The policy never looks at types.
TYPE = ResourceType("Generic", agent="ocf")

_NAME_CHARS = st.characters(codec="ascii", categories=("L", "N"), include_characters=" -_.()")


@st.composite
def dags(draw: st.DrawFn, max_size: int = 8) -> dict[str, frozenset[str]]:
    """``name -> dependencies``, acyclic: each node depends only on nodes drawn before it.

    Names are shuffled so that alphabetical order says nothing about dependency order.
    """
    n = draw(st.integers(0, max_size))
    names = draw(st.permutations([f"r{i}" for i in range(n)]))
    edges: dict[str, frozenset[str]] = {}
    for i, name in enumerate(names):
        deps = draw(st.sets(st.sampled_from(names[:i]))) if i else set()
        edges[name] = frozenset(deps)
    return edges


def expression_names() -> st.SearchStrategy[str]:
    """Free-text resource names as MSCS allows them (no brackets, no leading/trailing space),
    including ones that contain the words ``and``/``or`` and parentheses."""
    plain = st.text(_NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
    tricky = st.sampled_from(["Disk and Share", "IP or Name", "Disk (Q:)", "and", "OR", "a)b("])
    return st.one_of(plain, tricky)


expressions = st.lists(
    st.lists(expression_names(), min_size=1, max_size=3).map(tuple), max_size=4
).map(tuple)


# -- snapshots -------------------------------------------------------------------------------

_NODE_STATES = list(NodeState)
_RESOURCE_STATES = list(ResourceState)
_TIMES = st.floats(NOW - 8 * 3600, NOW, allow_nan=False).map(lambda t: float(round(t)))
_OLD_TIMES = st.one_of(st.just(0.0), _TIMES)


def _subset_in_order(draw: st.DrawFn, items: list[str], min_size: int = 0) -> tuple[str, ...]:
    chosen = draw(st.lists(st.sampled_from(items), unique=True, min_size=min_size)) if items else []
    return tuple(chosen)


@st.composite
def configs(draw: st.DrawFn) -> ClusterConfig:
    n_nodes = draw(st.integers(1, 8))
    ids = draw(st.lists(st.integers(1, 64), min_size=n_nodes, max_size=n_nodes, unique=True))
    node_names = [f"node{i}" for i in ids]
    nodes = {name: Node(name, i) for name, i in zip(node_names, ids, strict=True)}

    groups: dict[str, Group] = {}
    resources: dict[str, Resource] = {}
    classes = st.lists(st.sampled_from(["web", "sql", "dc"]), unique=True, max_size=2)
    for g in range(draw(st.integers(1, 6))):
        gname = f"G{g}"
        mode = draw(st.sampled_from(list(FailbackMode)))
        window: tuple[int | None, int | None] = (None, None)
        if mode is FailbackMode.WINDOW:
            start = draw(st.integers(0, 23))
            end = (start + draw(st.integers(1, 23))) % 24  # never equal to start
            window = (start, end)
        groups[gname] = Group(
            gname,
            preferred_owners=_subset_in_order(draw, node_names),
            failover_threshold=draw(st.integers(1, 4)),
            failover_period_s=draw(st.sampled_from([600, 3600, 6 * 3600])),
            failback=Failback(mode, *window, stability_delay_s=draw(st.sampled_from([0, 60, 600]))),
            anti_affinity=tuple(draw(classes)),
        )
        members: list[str] = []
        for r in range(draw(st.integers(0, 5))):
            rname = f"{gname}-r{r}"
            deps: tuple[tuple[str, ...], ...] = ()
            if members:
                clauses = st.lists(
                    st.lists(st.sampled_from(members), min_size=1, max_size=2, unique=True).map(
                        tuple
                    ),
                    max_size=2,
                )
                deps = tuple(draw(clauses))
            possible = None
            if draw(st.booleans()):
                possible = _subset_in_order(draw, node_names, min_size=1)
            resources[rname] = Resource(
                rname,
                TYPE.name,
                gname,
                possible_owners=possible,
                dependencies=deps,
                restart_action=draw(st.sampled_from(list(RestartAction))),
                restart_threshold=draw(st.integers(1, 3)),
                restart_period_s=draw(st.sampled_from([60, 900])),
                pending_timeout_s=draw(st.sampled_from([30, 180])),
            )
            members.append(rname)
    settings = ClusterSettings(
        name="jean",
        utc_offset_minutes=draw(st.sampled_from([0, 60, -300, 540])),
        enforced_anti_affinity=draw(st.booleans()),
    )
    return ClusterConfig(
        settings, nodes, groups=groups, resources=resources, types={TYPE.name: TYPE}
    )


def _maybe_node(draw: st.DrawFn, cfg: ClusterConfig, unknown: float = 0.0) -> str | None:
    """A configured node, None, or (rarely) a name no node has."""
    options: list[str | None] = [None, *cfg.nodes]
    if unknown and draw(st.floats(0, 1)) < unknown:
        return "ghost"
    return draw(st.sampled_from(options))


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    cfg = draw(configs())
    nodes = {
        name: NodeStatus(
            state=draw(st.sampled_from(_NODE_STATES)),
            since=draw(_OLD_TIMES),
            draining=draw(st.booleans()),
            fenced=draw(st.booleans()),
        )
        for name in cfg.nodes
        if draw(st.integers(0, 9)) > 0  # now and then a node never heard from
    }
    node_names = list(cfg.nodes)
    groups: dict[str, GroupStatus] = {}
    for gname in cfg.groups:
        transition = None
        if draw(st.integers(0, 3)) == 0:
            transition = Transition(
                draw(st.sampled_from(list(TransitionKind))),
                target=draw(st.sampled_from(node_names)),
                source=_maybe_node(draw, cfg),
                started=draw(_TIMES),
            )
        groups[gname] = GroupStatus(
            owner=_maybe_node(draw, cfg),
            wanted=draw(st.sampled_from(list(Wanted))),
            failovers=tuple(draw(st.lists(_TIMES, max_size=4))),
            transition=transition,
            failed_over_limit=draw(st.integers(0, 5)) == 0,
        )
    resources: dict[str, ResourceStatus] = {}
    for rname in cfg.resources:
        state = draw(st.sampled_from(_RESOURCE_STATES))
        node = _maybe_node(draw, cfg) if state is not ResourceState.OFFLINE else None
        if state is ResourceState.OFFLINE and draw(st.integers(0, 4)) == 0:
            node = _maybe_node(draw, cfg)  # an offline resource may remember its last node
        resources[rname] = ResourceStatus(
            state=state,
            node=node,
            since=draw(_TIMES),
            restarts=tuple(draw(st.lists(_TIMES, max_size=4))),
            wanted=draw(st.sampled_from(list(Wanted))),
        )
    intents = tuple(draw(st.lists(intents_for(cfg), max_size=3)))
    return Snapshot(cfg, nodes, groups, resources, intents, revision=draw(st.integers(0, 99)))


@st.composite
def intents_for(draw: st.DrawFn, cfg: ClusterConfig) -> Intent:
    kind = draw(st.sampled_from(list(IntentKind)))
    group_kinds = (IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.OFFLINE_GROUP)
    subjects = list(cfg.groups) if kind in group_kinds else list(cfg.resources)
    subject = draw(st.sampled_from([*subjects, "nonexistent"]))
    target: str | None = None
    if kind is IntentKind.MOVE_GROUP:
        target = _maybe_node(draw, cfg, unknown=0.1)
    elif kind is IntentKind.CHANGE_GROUP:
        target = draw(st.sampled_from([None, "nonexistent", *cfg.groups]))
    ident = f"i{draw(st.integers(0, 10**6))}"
    return Intent(ident, kind, subject, target, created=draw(_TIMES))
