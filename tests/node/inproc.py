"""An in-process cluster for the safety tests: the real ``Coordinator`` (with its
``Executor`` and ``plan``) and real ``ResourceManager``s on the in-memory store, with an
injected clock and fake agents that record where each resource runs. No threads, no
sleeps: each step is called by the test, so an interleaving that loses safety can be
written down exactly."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wolfpack.cli.config import _parse, merge
from wolfpack.model.config import Resource, ResourceType
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus
from wolfpack.model.states import NodeState
from wolfpack.node.coordinator import Coordinator
from wolfpack.node.execute import Executor
from wolfpack.node.manager import ResourceManager
from wolfpack.resources import Agent, AgentContext, AgentResult
from wolfpack.store import Compare, KeySpace
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB, encode
from wolfpack.store.view import ClusterReader


@dataclass
class World:
    """What really runs where, as the fake agents report it (the observer)."""

    running: dict[str, set[str]] = field(default_factory=dict)  # resource -> nodes
    overlaps: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    starts: list[tuple[str, str]] = field(default_factory=list)
    #: resource -> how many more starts are refused as "held elsewhere" (ERR_BUSY)
    busy: dict[str, int] = field(default_factory=dict)
    #: resources whose every start fails (an application that exits at once: /bin/false)
    broken: set[str] = field(default_factory=set)

    def start(self, resource: str, node: str) -> None:
        nodes = self.running.setdefault(resource, set())
        nodes.add(node)
        self.starts.append((resource, node))
        if len(nodes) > 1:
            self.overlaps.append((resource, frozenset(nodes)))

    def stop(self, resource: str, node: str) -> None:
        self.running.get(resource, set()).discard(node)


class FakeAgent(Agent):
    world: World  # set by the factory

    def validate(self) -> None:
        pass

    def start(self, timeout_s: float) -> None:
        if self.name in self.world.broken:
            raise self.error(AgentResult.ERR_GENERIC, "the application exited at once")
        if self.world.busy.get(self.name, 0) > 0:
            self.world.busy[self.name] -= 1
            raise self.error(AgentResult.ERR_BUSY, "address in use on the network")
        self.world.start(self.resource.name, self.ctx.node)

    def stop(self, timeout_s: float) -> None:
        self.world.stop(self.resource.name, self.ctx.node)

    def adopt(self) -> bool:
        return False

    def looks_alive(self) -> bool:
        return True

    def is_alive(self) -> bool:
        return True

    def pids(self) -> list[int]:
        return []


def doc(groups: dict[str, Any], resources: dict[str, Any], nodes: int = 2) -> dict[str, Any]:
    return {
        "cluster": {"name": "c"},
        "nodes": {f"node{i}": {"id": i} for i in range(1, nodes + 1)},
        "groups": groups,
        "resources": {
            name: {"type": "Generic Application", "properties": {"command": "/bin/true"}, **r}
            for name, r in resources.items()
        },
    }


class Cluster:
    def __init__(self, document: dict[str, Any], tmp: Path, now: float = 1_000_000.0) -> None:
        self.clock = 0.0  # the managers' monotonic clock, moved by the test
        self.store, self.keys = MemoryStore(), KeySpace()
        self.db = ClusterDB(self.store, self.keys)
        state, given = _parse(copy.deepcopy(document))
        self.db.import_config(lambda c: merge(c, given, set(document), False), state)
        self.world = World()
        self.now = now
        self.tmp = tmp
        self.managers: dict[str, ResourceManager] = {}
        leases: dict[str, int] = {}
        for name in document["nodes"]:
            leases[name] = self.store.lease_grant(30)
            self.db.write_status("nodes", name, NodeStatus(state=NodeState.UP, lease=leases[name]))
            self.store.put(self.keys.node_lease(name), b"{}", lease=leases[name])
            self.managers[name] = self._manager(name)
        everyone = frozenset(document["nodes"])
        self.executor = Executor(self.store, self.keys, None, self.db.update_config)
        self.coordinator = Coordinator(
            self.store,
            ClusterReader(self.store, self.keys),
            "node1",
            lambda: leases["node1"],
            lambda: everyone,
            self.executor,
            wall=lambda: self.now,
        )
        self.coordinator._campaign()
        assert self.coordinator.is_coordinator

    def _manager(self, node: str) -> ResourceManager:
        world = self.world

        def agents(res: Resource, rtype: ResourceType, ctx: AgentContext) -> Agent:
            agent = FakeAgent(res, rtype, ctx)
            agent.world = world
            return agent

        ctx = AgentContext(
            node=node,
            run_dir=self.tmp / node,
            log=lambda e, f: None,
            on_failure=lambda n, w: None,
            register_pid=lambda p: None,
            unregister_pid=lambda p: None,
        )
        kv = self.store.get(self.keys.node_lease(node))
        assert kv is not None
        rev = kv.create_revision
        return ResourceManager(
            ClusterReader(self.store, self.keys),
            node,
            lambda: True,
            lambda: Compare(self.keys.node_lease(node), "create", "==", rev),
            ctx,
            wall=lambda: self.now,
            clock=lambda: self.clock,
            agents=agents,
        )

    def tick(self) -> list[str]:
        """One coordinator decision, carried out; returns its actions as 'kind subject node'."""
        decided = self.coordinator.tick()
        return [f"{a.kind} {a.subject} {a.node or ''}".strip() for a in decided.actions]

    def reconcile(self, node: str) -> None:
        self.managers[node]._reconcile()

    def set_owner(self, group: str, node: str) -> None:
        """What a move does to the group's status (the coordinator's write, in short)."""
        self.store.put(self.keys.state("groups", group), encode(GroupStatus(owner=node)))

    def status(self, resource: str) -> ResourceStatus:
        return ClusterReader(self.store, self.keys).read().snapshot.resource(resource)
