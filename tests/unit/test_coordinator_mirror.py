"""The coordinator reading its copy of the root (wolfpack.store.mirror) instead of the store:
a lost node's groups are placed with no read of the root and in one transaction, and a
copy behind etcd never makes a write succeed that a full read would have refused (issue
12, item 5; the writes' guards are etcd's to judge)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wolfpack.errors import WolfpackError
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Node
from wolfpack.model.plan import ActionKind
from wolfpack.model.snapshot import GroupStatus, NodeStatus
from wolfpack.model.states import NodeState
from wolfpack.model.views import PublishedView
from wolfpack.node.coordinator import Coordinator
from wolfpack.node.execute import Executor
from wolfpack.store import Delete, KeySpace, MemoryStore, Put, Store
from wolfpack.store.base import Watch
from wolfpack.store.mirror import RootMirror
from wolfpack.store.repository import ClusterDB
from wolfpack.store.view import ClusterReader

from .counting import Counting

NODES = ("n1", "n2", "n3")
GROUPS = [f"G{i}" for i in range(6)]  # all on n2, n1 next


class World:
    def __init__(self) -> None:
        self.store = store = MemoryStore()
        self.keys = keys = KeySpace()
        db = ClusterDB(store, keys)
        db.initialize(ClusterSettings(name="t"))

        def add(cfg: ClusterConfig) -> ClusterConfig:
            nodes = {n: Node(n, i) for i, n in enumerate(NODES, start=1)}
            groups = {g: Group(g, preferred_owners=("n2", "n1")) for g in GROUPS}
            return replace(cfg, nodes=nodes, groups=groups)

        db.update_config(add)
        self.lease = {n: store.lease_grant(30) for n in NODES}
        for n, lease in self.lease.items():
            view = PublishedView(frozenset(NODES) - {n}, epoch=1)
            store.txn(
                [],
                [
                    Put(keys.node_lease(n), b"{}", lease=lease),
                    Put(keys.view(n), view.encode(), lease=lease),
                ],
            )
            db.write_status("nodes", n, NodeStatus(NodeState.UP, 1.0, lease=lease))
        for g in GROUPS:
            db.write_status("groups", g, GroupStatus(owner="n2"))
        self.lost: set[str] = set()
        self.mirror = RootMirror(store, keys.root, catch_up_s=0.05)
        self.counting = Counting(store)
        tracked: Store = self.mirror.tracking(self.counting)  # type: ignore[arg-type]
        reader = ClusterReader(tracked, keys, mirror=self.mirror)
        executor = Executor(tracked, keys, None, ClusterDB(tracked, keys).update_config)
        self.coordinator = Coordinator(
            tracked,
            reader,
            "n1",
            lambda: self.lease["n1"],
            lambda: frozenset(NODES) - self.lost,
            executor,
        )
        self.watch: Watch = self.mirror.begin()

    def catch_up(self) -> None:
        while batch := self.watch.get_batch(timeout=0.05):
            self.mirror.apply(batch)

    def owners(self) -> dict[str, str | None]:
        snap = ClusterDB(self.store, self.keys).read_snapshot()
        return {g: snap.groups[g].owner for g in GROUPS}

    def lose(self, node: str) -> None:
        self.lost.add(node)
        self.store.lease_revoke(self.lease[node])


@pytest.fixture
def world() -> World:
    w = World()
    w.coordinator._campaign()
    assert w.coordinator.is_coordinator
    w.catch_up()
    w.coordinator.tick()
    w.catch_up()
    return w


def test_a_lost_nodes_groups_are_placed_from_the_copy_in_one_transaction(world: World) -> None:
    world.lose("n2")
    world.catch_up()
    world.counting.calls.clear()
    world.coordinator.tick()  # n2 Down (one transaction), its six groups placed (one more)
    assert set(world.owners().values()) == {"n1"}
    assert world.counting.calls["get_prefix"] == 0 and world.mirror.fallbacks == 0
    assert world.counting.calls["txn"] == 2
    # its own writes are not in the copy yet: the next read is the store's, so the plan
    # goes on from the placements instead of placing the groups again
    decided = world.coordinator.tick()
    assert world.mirror.fallbacks == 1
    assert {a.kind for a in decided.actions} == {ActionKind.COMPLETE_TRANSITION}


def test_a_deposed_coordinator_with_a_stale_copy_writes_nothing(world: World) -> None:
    world.lose("n2")  # work for the coordinator, in its copy
    world.catch_up()
    # then another node took the election; the copy has not seen it (not applied)
    world.store.txn([], [Delete(world.keys.coordinator)])
    world.store.put(world.keys.coordinator, b"n3", lease=world.lease["n3"])
    before = world.owners()
    assert world.coordinator.reader.read().coordinator == "n1"  # the stale copy
    with pytest.raises(WolfpackError):
        world.coordinator.tick()  # every write is compared with the election in etcd
    assert world.owners() == before == {g: "n2" for g in GROUPS}


def test_a_campaign_reads_the_election_from_the_copy(world: World) -> None:
    """Every node campaigns every tick: while the copy is current the election is read
    from it, not from etcd, and a takeover the copy has seen is followed."""
    world.counting.calls.clear()
    world.coordinator._campaign()
    assert world.coordinator.is_coordinator
    assert world.counting.calls["get"] == 0
    world.store.txn([], [Delete(world.keys.coordinator)])
    world.store.put(world.keys.coordinator, b"n3", lease=world.lease["n3"])
    world.catch_up()
    world.coordinator._campaign()
    assert not world.coordinator.is_coordinator
    assert world.counting.calls["get"] == 0
