"""Hypothesis strategies: dependency graphs and random but *valid* cluster snapshots.

A snapshot from :func:`snapshots` always passes :func:`wolfpack.model.validation.validate_config`
(checked by ``test_policy_invariants``): 1-8 nodes with unique ids, 1-6 groups, 0-5 resources
per group whose dependencies point only at earlier resources of the same group (so they are
acyclic), possible owners and preferred owners drawn from the nodes. The observed state on top
is random, including states a real cluster should not reach, and so are the intents, some of
them bad (unknown subjects, unknown or ineligible targets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

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
T = TypeVar("T")

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
#
# Hypothesis spends its time per draw, so objects are decoded from random bits drawn in large
# chunks (see Bits). Zero bits decode to the common, healthy case (node Up, group owned and
# wanted online, resource Online where its group is owned, MSCS defaults), so shrinking
# heads there. Times come from a palette around ``NOW`` rich in the boundaries the policy
# compares against (restart periods 60/900 s, pending timeouts 30/180 s, failover periods
# 600 s/1 h/6 h, stability delays 60/600 s), and 0, "long ago".

TIMES: tuple[float, ...] = tuple(
    NOW - d
    for d in (
        0, 1, 29, 30, 59, 60, 61, 179, 180, 599, 600, 899, 900, 3600, 6 * 3600, NOW,
    )
)  # fmt: skip


_N = NodeState
#: Weighted: half Up, a quarter Down, the rest Paused or Joining.
_NODE_STATES = (_N.UP, _N.DOWN, _N.UP, _N.PAUSED, _N.UP, _N.DOWN, _N.UP, _N.JOINING)
_R = ResourceState
#: Weighted: Online most often, then Failed and Offline, then the pending states.
_RESOURCE_STATES: tuple[ResourceState, ...] = (
    *(_R.ONLINE, _R.FAILED, _R.OFFLINE, _R.ONLINE),
    *(_R.ONLINE_PENDING, _R.ONLINE, _R.OFFLINE_PENDING, _R.FAILED),
)
_RESTART_ACTIONS = (
    RestartAction.RESTART_AND_FAILOVER,  # the default first
    RestartAction.RESTART_NO_FAILOVER,
    RestartAction.DONT_RESTART,
    RestartAction.RESTART_AND_FAILOVER,
)


_CHUNK = st.binary(min_size=16, max_size=16)


class Bits:
    """Fields taken from the low bits of random bytes, drawn 16 at a time as needed.

    Hypothesis keeps every bit of bytes equally likely (a large integer would favour small
    values), and drawing few, large values keeps 300 examples of an invariant fast. Bytes
    shrink towards zero from the first, and zero bits decode to the plainest choice.
    """

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.value = 0
        self.left = 0

    def take(self, n: int) -> int:
        while self.left < n:
            self.value |= int.from_bytes(self.draw(_CHUNK), "little") << self.left
            self.left += 128
        out = self.value & ((1 << n) - 1)
        self.value >>= n
        self.left -= n
        return out

    def flag(self) -> bool:
        return bool(self.take(1))

    def pick(self, options: Sequence[T]) -> T:
        return options[self.take(max(1, (len(options) - 1).bit_length())) % len(options)]

    def time(self) -> float:
        return TIMES[self.take(4)]

    def times(self) -> tuple[float, ...]:
        return tuple(self.time() for _ in range(self.take(3) % 5))


def _subset(bits: Bits, items: Sequence[str]) -> list[str]:
    mask = bits.take(len(items))
    return [x for i, x in enumerate(items) if mask >> i & 1]


def _shuffled(bits: Bits, items: Sequence[str]) -> list[str]:
    keys = {x: (bits.take(4), i) for i, x in enumerate(items)}
    return sorted(items, key=keys.__getitem__)


@st.composite
def configs(draw: st.DrawFn) -> ClusterConfig:
    """A valid configuration, decoded from random bits."""
    b = Bits(draw)
    n_nodes = 1 + b.take(3)
    ids, last = [], 0
    for _ in range(n_nodes):
        last += 1 + b.take(3)  # unique, increasing, at most 8 * 8 = 64
        ids.append(last)
    # names in an order unrelated to ids, so that sorting by name is not sorting by id
    node_names = _shuffled(b, [f"node-{c}" for c in "abcdefgh"[:n_nodes]])
    nodes = {name: Node(name, i) for name, i in zip(node_names, ids, strict=True)}

    groups: dict[str, Group] = {}
    resources: dict[str, Resource] = {}
    for g in range(1 + b.take(3) % 6):
        gname = f"G{g}"
        order = _shuffled(b, node_names)
        preferred = tuple(order[: b.take(4) % (len(order) + 1)])
        mode = b.pick(list(FailbackMode))
        start = b.take(5) % 24
        end = (start + 1 + b.take(5) % 23) % 24  # never equal to start
        windowed = mode is FailbackMode.WINDOW
        groups[gname] = Group(
            gname,
            preferred_owners=preferred,
            failover_threshold=1 + b.take(2),
            failover_period_s=b.pick([600, 3600, 6 * 3600]),
            failback=Failback(
                mode,
                start if windowed else None,
                end if windowed else None,
                stability_delay_s=b.pick([0, 60, 600]),
            ),
            anti_affinity=tuple(_subset(b, ["web", "sql", "dc"])),
        )
        members: list[str] = []
        for r in range(b.take(3) % 6):
            rname = f"{gname}-r{r}"
            deps = []
            for _ in range(b.take(2) % 3):
                clause = _subset(b, members)
                if clause:
                    deps.append(tuple(clause))
            possible = tuple(_subset(b, node_names)) if b.flag() else None
            resources[rname] = Resource(
                rname,
                TYPE.name,
                gname,
                possible_owners=possible or None,
                dependencies=tuple(deps),
                restart_action=b.pick(_RESTART_ACTIONS),
                restart_threshold=1 + b.take(2) % 3,
                restart_period_s=b.pick([60, 900]),
                pending_timeout_s=b.pick([30, 180]),
            )
            members.append(rname)
    settings = ClusterSettings(
        name="jean",
        utc_offset_minutes=b.pick([0, 60, -300, 540]),
        enforced_anti_affinity=b.flag(),
    )
    return ClusterConfig(
        settings, nodes, groups=groups, resources=resources, types={TYPE.name: TYPE}
    )


def _maybe_node(bits: Bits, names: Sequence[str]) -> str | None:
    """None or a configured node (about half the time each)."""
    options: list[str | None] = [None, *names]
    return options[bits.take(4) % len(options)] if bits.flag() else None


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    cfg = draw(configs())
    b = Bits(draw)
    names = list(cfg.nodes)
    nodes = {}
    for name in names:
        if b.take(3) == 7:
            continue  # now and then a node never heard from (Down and fenced)
        nodes[name] = NodeStatus(
            state=b.pick(_NODE_STATES),
            since=b.time(),
            draining=b.take(2) == 3,
            fenced=b.flag(),
        )
    groups: dict[str, GroupStatus] = {}
    for gname in cfg.groups:
        owner = None if b.take(2) == 3 else b.pick(names)
        transition = None
        if b.take(2) == 3:
            transition = Transition(
                b.pick(list(TransitionKind)),
                target=b.pick(names) if b.flag() or owner is None else owner,  # arrived?
                source=_maybe_node(b, names),
                started=b.time(),
            )
        groups[gname] = GroupStatus(
            owner=owner,
            wanted=Wanted.OFFLINE if b.take(3) == 7 else Wanted.ONLINE,
            failovers=b.times(),
            transition=transition,
            failed_over_limit=b.take(3) == 7,
        )
    resources: dict[str, ResourceStatus] = {}
    for rname, res in cfg.resources.items():
        state = b.pick(_RESOURCE_STATES)
        owner = groups[res.group].owner
        # mostly where the group is owned, sometimes elsewhere (a stale or moving resource)
        node = _maybe_node(b, names) if b.take(2) == 3 or owner is None else owner
        if state is ResourceState.OFFLINE and b.take(2) != 3:
            node = None
        resources[rname] = ResourceStatus(
            state=state,
            node=node,
            since=b.time(),
            restarts=b.times(),
            wanted=Wanted.OFFLINE if b.take(3) == 7 else Wanted.ONLINE,
        )
    intents = tuple(_intent(b, cfg, f"i{k}") for k in range(b.take(2)))
    return Snapshot(cfg, nodes, groups, resources, intents, revision=b.take(7))


def _intent(b: Bits, cfg: ClusterConfig, ident: str) -> Intent:
    """A request, often a bad one: unknown subjects and targets, ineligible targets."""
    kind = b.pick(list(IntentKind))
    group_kinds = (IntentKind.MOVE_GROUP, IntentKind.ONLINE_GROUP, IntentKind.OFFLINE_GROUP)
    subjects = list(cfg.groups) if kind in group_kinds else list(cfg.resources)
    subject = "nonexistent" if b.take(3) == 7 or not subjects else b.pick(subjects)
    target: str | None = None
    if kind is IntentKind.MOVE_GROUP:
        target = b.pick([None, "ghost", *cfg.nodes])  # none: the best node; ghost: unknown
    elif kind is IntentKind.CHANGE_GROUP:
        target = b.pick([None, "nonexistent", *cfg.groups])
    return Intent(ident, kind, subject, target, created=b.time())
