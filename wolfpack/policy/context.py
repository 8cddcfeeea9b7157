"""Shared pieces of one ``plan()`` call: node order, eligibility, choice of a node, step order.

A :class:`PlanContext` is built from one snapshot and ``now`` and collects actions and notes.
It is mutable only inside a single pure ``plan()`` call (placements made earlier in the call
count for anti-affinity later in it); nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from wolfpack.model.config import ClusterConfig, Group, Resource
from wolfpack.model.dependencies import Steps, clauses_met, offline_steps, online_steps
from wolfpack.model.plan import Action, ActionKind, Code, Note, Reason
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import NodeState, ResourceState, Wanted
from wolfpack.policy.networks import network_unusable


class Why(StrEnum):
    """Why a node cannot take a group now (the kind decisions branch on)."""

    NOT_A_NODE = "not a cluster node"
    DOWN = "down"
    JOINING = "still joining"
    NOT_POSSIBLE_OWNER = "not a possible owner"
    NETWORK_FAILED = "cut off from"  # a network the group's IP Address needs (S41)
    DRAINING = "draining"
    PAUSED = "paused"


@dataclass(frozen=True)
class Ineligible:
    """A typed reason with its text for people (``str()``)."""

    why: Why
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.why} {self.detail}" if self.detail else str(self.why)


#: Actions that leave the rest of the group's decision to the same plan.
_NOT_HANDLING = frozenset(
    {ActionKind.FENCE_NODE, ActionKind.STAMP_PENDING, ActionKind.MARK_OFFLINE}
)


@dataclass
class Choice:
    node: str | None
    skipped: list[str] = field(default_factory=list)  # "node1: down", for explanations

    def explain(self) -> str:
        return ("; ".join(self.skipped) + ".") if self.skipped else ""


class PlanContext:
    def __init__(self, snap: Snapshot, now: float) -> None:
        self.snap = snap
        self.cfg: ClusterConfig = snap.config
        self.now = now
        self.actions: list[Action] = []
        self.notes: list[Note] = []
        self.handled: set[str] = set()  # groups already given an action in this plan
        self.owners: dict[str, str | None] = {g: snap.group(g).owner for g in self.cfg.groups}
        self._fenced_requested: set[str] = set()
        # Indexes for the common case, so a steady group costs little (bench/plan.py).
        self.down_unfenced = frozenset(n for n in self.cfg.nodes if self.unfenced_down(n))
        self.groups_pending = frozenset(
            res.group
            for name, st in snap.resources.items()
            if st.state.pending and (res := self.cfg.resources.get(name)) is not None
        )
        self.groups_asked_to_fail = frozenset(
            res.group
            for name, st in snap.resources.items()
            if st.fail_requested and (res := self.cfg.resources.get(name)) is not None
        )

    # -- output ---------------------------------------------------------------------------
    def act(self, action: Action) -> None:
        self.actions.append(action)
        if action.kind is ActionKind.PLACE_GROUP:
            self.owners[action.subject] = action.node
        if action.kind not in _NOT_HANDLING:
            self.handled.add(action.subject)

    def note(self, subject: str, code: Code, message: str) -> None:
        self.notes.append(Note(subject, Reason(code, message)))

    def request_fence(self, node: str, why: str) -> None:
        if node not in self._fenced_requested:
            self._fenced_requested.add(node)
            self.act(Action(ActionKind.FENCE_NODE, node, Reason(Code.FENCE_NODE, why), node=node))

    # -- nodes ----------------------------------------------------------------------------
    def unfenced_down(self, node: str) -> bool:
        st = self.snap.node(node)
        return node in self.cfg.nodes and st.state is NodeState.DOWN and not st.fenced

    def awaiting_fence(self, group: str) -> list[str]:
        """Down, unfenced nodes that own ``group`` or may still run one of its resources:
        nothing of the group may start anywhere until they are fenced (never two owners)."""
        if not self.down_unfenced:
            return []
        owner = self.snap.group(group).owner
        nodes = {owner} if owner is not None else set()
        for res in self.cfg.group_resources(group):
            st = self.snap.resource(res.name)
            if st.node is not None and st.state.active:
                nodes.add(st.node)
        return sorted(n for n in nodes if self.unfenced_down(n))

    def node_order(self, group: Group) -> list[str]:
        """Preferred owners in order, then every other node by id (S37, KB299631)."""
        preferred = [n for n in group.preferred_owners if n in self.cfg.nodes]
        rest = [n.name for n in self.cfg.nodes_by_id if n.name not in preferred]
        return preferred + rest

    def after(self, group: Group, owner: str | None) -> list[str]:
        """The node list starting after ``owner`` and wrapping, without ``owner`` (failover)."""
        order = self.node_order(group)
        if owner not in order:
            return order
        i = order.index(owner)
        return order[i + 1 :] + order[:i]

    def ineligible(self, group: str, node: str) -> Ineligible | None:
        """Why ``node`` cannot take ``group`` now, or None if it can."""
        if node not in self.cfg.nodes:
            return Ineligible(Why.NOT_A_NODE)
        st = self.snap.node(node)
        if st.state is NodeState.DOWN:
            return Ineligible(Why.DOWN)
        if st.state is NodeState.JOINING:
            return Ineligible(Why.JOINING)
        # Possible owners first: a paused node keeps the groups it may run, not others.
        for res in self.cfg.group_resources(group):
            if res.possible_owners is not None and node not in res.possible_owners:
                return Ineligible(Why.NOT_POSSIBLE_OWNER, f"of resource {res.name!r}")
        network = network_unusable(self.snap, group, node)
        if network is not None:
            return Ineligible(Why.NETWORK_FAILED, network)
        if st.draining:
            return Ineligible(Why.DRAINING)
        if st.state is NodeState.PAUSED:
            return Ineligible(Why.PAUSED)
        return None

    def may_keep(self, group: str, owner: str) -> bool:
        """The owner may keep running ``group`` (restart, start what is missing): it could
        take it now, or it only is paused (a paused node keeps its groups), or its client
        network failed (what it starts there fails, and a failure fails the group over)."""
        why = self.ineligible(group, owner)
        return why is None or why.why in (Why.PAUSED, Why.NETWORK_FAILED)

    def anti_affine_with(self, group: Group, node: str) -> str | None:
        """Name of a group on ``node`` sharing an anti-affinity class with ``group``."""
        if not group.anti_affinity:
            return None
        classes = set(group.anti_affinity)
        for other, owner in sorted(self.owners.items()):
            if owner == node and other != group.name and classes & self._classes(other):
                return other
        return None

    def _classes(self, group: str) -> set[str]:
        return set(self.cfg.groups[group].anti_affinity)

    def choose(self, group: Group, candidates: Iterable[str], *, soft: bool = True) -> Choice:
        """First eligible candidate, skipping anti-affine nodes; if only those remain, the
        first of them unless anti-affinity is enforced (WSFC's soft anti-affinity)."""
        choice = Choice(None)
        crowded: list[str] = []
        for node in candidates:
            why: object = self.ineligible(group.name, node)
            if why is None:
                other = self.anti_affine_with(group, node)
                if other is None:
                    choice.node = node
                    return choice
                why = f"runs anti-affine group {other!r}"
                crowded.append(node)
            choice.skipped.append(f"{node}: {why}")
        if crowded and soft and not self.cfg.cluster.enforced_anti_affinity:
            choice.node = crowded[0]
            choice.skipped.append(f"anti-affinity ignored: no other node, so {crowded[0]}")
        return choice

    # -- resources ------------------------------------------------------------------------
    def state_of(self, res: Resource, owner: str | None) -> ResourceState:
        """The resource's state at ``owner``; a state reported from another node (a previous
        owner) says nothing about this one, so the resource counts as offline here."""
        st = self.snap.resource(res.name)
        if st.node is not None and owner is not None and st.node != owner:
            return ResourceState.OFFLINE
        return st.state

    def active_elsewhere(self, group: str, owner: str) -> dict[str, list[str]]:
        """Node -> resources of ``group`` still active on that live node, which is not the
        owner (left over from a change of group, or a stale start): stop them there before
        they start at the owner."""
        out: dict[str, list[str]] = {}
        for res in self.cfg.group_resources(group):
            st = self.snap.resource(res.name)
            if st.node is None or st.node == owner or not st.state.active:
                continue
            if st.node in self.cfg.nodes and self.snap.node(st.node).state is not NodeState.DOWN:
                out.setdefault(st.node, []).append(res.name)
        return out

    def wanted_online(self, group: str) -> list[Resource]:
        return [
            r
            for r in self.cfg.group_resources(group)
            if self.snap.resource(r.name).wanted is Wanted.ONLINE
        ]

    def startable(self, group: str, names: Iterable[str], running: set[str]) -> set[str]:
        """Which of ``names`` can start, given ``running``: every dependency clause must have
        a member running or starting. Resources whose dependencies cannot be met are left out."""
        by_name = {r.name: r for r in self.cfg.group_resources(group)}
        chosen = {n for n in names if n in by_name}
        while True:
            ok = running | chosen
            blocked = {n for n in chosen if not clauses_met(by_name[n].dependencies, ok)}
            if not blocked:
                return chosen
            chosen -= blocked

    def start_steps(self, group: str, names: Iterable[str]) -> Steps:
        by_name = {r.name: r for r in self.cfg.group_resources(group)}
        names = set(names)
        return online_steps({n: by_name[n].depends_on & names for n in names})

    def stop_steps(self, group: str, names: Iterable[str]) -> Steps:
        by_name = {r.name: r for r in self.cfg.group_resources(group)}
        names = set(names)
        return offline_steps({n: by_name[n].depends_on & names for n in names})

    def full_start_steps(self, group: str) -> Steps:
        """Steps to bring every wanted resource of ``group`` online on a fresh node."""
        wanted = [r.name for r in self.wanted_online(group)]
        return self.start_steps(group, self.startable(group, wanted, set()))

    def active_on(self, group: str, owner: str | None) -> list[str]:
        return [r.name for r in self.cfg.group_resources(group) if self.state_of(r, owner).active]
