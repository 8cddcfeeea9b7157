"""Who fences, and on what basis (M2, H5, H6): a coordinator on MemoryStore with a fake fence
agent that records its calls."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from wolfpack.errors import FenceError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Node
from wolfpack.model.snapshot import GroupStatus, NodeStatus, Snapshot
from wolfpack.model.states import NodeState
from wolfpack.model.views import PublishedView, Silence
from wolfpack.node.coordinator import Coordinator
from wolfpack.node.execute import Executor
from wolfpack.node.fence_check import FenceBasis, basis_changed
from wolfpack.node.fence_setup import unfence_self
from wolfpack.node.fencing import FenceKind
from wolfpack.node.jsonlog import JsonLog
from wolfpack.node.settings import load_settings
from wolfpack.store import Delete, KeySpace, KeyValue, MemoryStore, Put, TxnResult
from wolfpack.store.repository import ClusterDB
from wolfpack.store.view import ClusterReader, ClusterView
from wolfpack.store.wrapper import StoreWrapper


class RecordingAgent:
    def __init__(self, kind: FenceKind = FenceKind.POWER) -> None:
        self.kind = kind
        self.calls: list[tuple[str, str]] = []

    def fence(self, node: str) -> None:
        self.calls.append(("off", node))

    def unfence(self, node: str) -> None:
        self.calls.append(("on", node))


class FrozenReader(ClusterReader):
    """Returns the view read when frozen: a coordinator paused between plan and fence."""

    frozen: ClusterView | None = None

    def read(self) -> ClusterView:
        return self.frozen if self.frozen is not None else super().read()


class World:
    """Two nodes; n1 coordinates and cannot hear n2, which owns group G and is Down (its
    fence is due): etcd has nothing from n2 since n1's view without it."""

    def __init__(self, kind: FenceKind = FenceKind.POWER) -> None:
        self.store = store = MemoryStore()
        self.keys = keys = KeySpace()
        self.db = db = ClusterDB(store, keys)
        db.initialize(ClusterSettings(name="t"))

        def add(cfg: ClusterConfig) -> ClusterConfig:
            nodes = {"n1": Node("n1", 1), "n2": Node("n2", 2)}
            group = Group("G", preferred_owners=("n2", "n1"))
            return replace(cfg, nodes=nodes, groups={"G": group})

        db.update_config(add)
        self.lease = {n: store.lease_grant(30) for n in ("n1", "n2")}
        for n, lease in self.lease.items():
            store.put(keys.node_lease(n), b"{}", lease=lease)
        self.put_view("n2", PublishedView(frozenset({"n1"}), 1))
        mark = self.put_view("n1", PublishedView(frozenset(), 2))
        down = NodeStatus(NodeState.DOWN, since=1.0, lease=self.lease["n2"])
        db.write_status("nodes", "n2", down)
        db.write_status("nodes", "n1", NodeStatus(NodeState.UP, 1.0, lease=self.lease["n1"]))
        db.write_status("groups", "G", GroupStatus(owner="n2"))
        self.agent = RecordingAgent(kind)
        self.reader = FrozenReader(store, keys)
        executor = Executor(store, keys, self.agent, db.update_config)
        self.coordinator = Coordinator(
            store,
            self.reader,
            "n1",
            lambda: self.lease["n1"],
            frozenset,
            executor,
            silence=lambda: {"n2": Silence(mark, 5.0)},
            grace=lambda: 0.5,
        )
        self.coordinator._campaign()
        assert self.coordinator.is_coordinator

    def put_view(self, node: str, view: PublishedView) -> int:
        return self.store.put(self.keys.view(node), view.encode(), lease=self.lease[node])

    def freeze(self) -> None:
        """Plan from what etcd holds now, whatever happens in etcd afterwards."""
        self.reader.frozen = self.reader.read()


def test_m2_the_fence_runs_when_the_basis_holds() -> None:
    w = World()
    w.coordinator.tick()
    assert w.agent.calls == [("off", "n2")]
    assert w.store.get(w.keys.node_lease("n2")) is None  # a power fence revokes the lease


def test_m2_no_fence_when_the_target_came_back_on_a_new_lease() -> None:
    """M2: planned on n2's old lease; n2 restarted on a new one before the fence ran."""
    w = World()
    w.freeze()
    new = w.store.lease_grant(30)
    w.store.put(w.keys.node_lease("n2"), b"{}", lease=new)
    w.coordinator.tick()
    assert w.agent.calls == []
    assert w.store.lease_ttl(new) > 0


def test_m2_no_fence_when_the_election_token_changed() -> None:
    """M2: the coordinator was deposed (and someone was elected again) between plan and
    fence: the old token no longer holds, nothing is fenced."""
    w = World()
    w.freeze()
    w.store.txn([], [Delete(w.keys.coordinator)])
    w.store.txn([], [Put(w.keys.coordinator, b"n1", w.lease["n1"])])  # a new election
    w.coordinator.tick()
    assert w.agent.calls == []
    assert w.store.get(w.keys.node_lease("n2")) is not None


def test_h5_no_fence_when_the_target_wrote_to_etcd_after_the_plan() -> None:
    """H5/M2: n2 answered in etcd after the plan read: it is alive on the quorum side."""
    w = World()
    w.freeze()
    w.put_view("n2", PublishedView(frozenset(), 2, {"n1": 2}))
    w.coordinator.tick()
    assert w.agent.calls == []


def test_h5_a_silent_node_that_answers_in_etcd_is_never_fenced() -> None:
    """H5 (a) through the coordinator: n2 is silent on heartbeats but answered n1's view."""
    w = World()
    w.put_view("n2", PublishedView(frozenset(), 2, {"n1": 2}))
    w.coordinator.tick()
    w.coordinator.tick()
    assert w.agent.calls == []
    snap = w.db.read_snapshot()
    assert snap.node("n2").state is NodeState.UP
    assert snap.group("G").owner == "n2"


def test_h6_an_io_fence_keeps_the_lease_and_does_not_mark_the_node_fenced() -> None:
    """H6: fence_scsi cuts n2 off from its disks but its processes and addresses still
    run: its lease is not revoked, it is not marked fenced, its group stays until the lease
    expires, and the agent is not called again on every tick."""
    w = World(FenceKind.IO)
    w.coordinator.tick()
    w.coordinator.tick()
    assert w.agent.calls == [("off", "n2")]
    assert w.store.lease_ttl(w.lease["n2"]) > 0
    snap = w.db.read_snapshot()
    assert snap.node("n2").state is NodeState.DOWN and not snap.node("n2").fenced
    assert snap.group("G").owner == "n2"
    w.store.lease_revoke(w.lease["n2"])  # it expires: now the group may move
    w.coordinator.tick()
    w.coordinator.tick()
    snap = w.db.read_snapshot()
    assert snap.node("n2").fenced and snap.group("G").owner == "n1"


def test_h5_a_silent_coordinator_is_not_fenced_by_a_survivor() -> None:
    """H5: n2 cannot hear the coordinator n1, but n1 answered n2's view in etcd: n2 neither
    fences n1 nor ends its election."""
    w = World()
    mark = w.put_view("n2", PublishedView(frozenset(), 2))
    w.put_view("n1", PublishedView(frozenset(), 3, {"n2": 2}))  # n1's answer
    agent = RecordingAgent()
    survivor = Coordinator(
        w.store,
        ClusterReader(w.store, w.keys),
        "n2",
        lambda: w.lease["n2"],
        frozenset,
        Executor(w.store, w.keys, agent, w.db.update_config),
        lambda: frozenset({"n1"}),
        silence=lambda: {"n1": Silence(mark, 5.0)},
        grace=lambda: 0.5,
    )
    survivor._campaign()
    assert agent.calls == [] and not survivor.is_coordinator
    assert w.store.get(w.keys.coordinator) is not None


def test_h5_a_coordinator_gone_in_etcd_too_is_replaced_then_fenced_by_the_new_one() -> None:
    """H5: the coordinator n1 is silent and wrote nothing since n2's view without it: n2
    ends its election in a transaction, is elected, and fences n1 under the usual check."""
    w = World()
    w.db.write_status("nodes", "n2", NodeStatus(NodeState.UP, 1.0, lease=w.lease["n2"]))
    w.db.write_status("nodes", "n1", NodeStatus(NodeState.UP, 1.0, lease=w.lease["n1"]))
    w.db.write_status("groups", "G", GroupStatus(owner="n1"))
    mark = w.put_view("n2", PublishedView(frozenset(), 2))
    agent = RecordingAgent()
    survivor = Coordinator(
        w.store,
        ClusterReader(w.store, w.keys),
        "n2",
        lambda: w.lease["n2"],
        frozenset,
        Executor(w.store, w.keys, agent, w.db.update_config),
        lambda: frozenset({"n1"}),
        silence=lambda: {"n1": Silence(mark, 5.0)},
        grace=lambda: 0.5,
    )
    survivor._campaign()
    assert survivor.is_coordinator
    survivor.tick()  # n1: Up -> Down
    survivor.tick()  # fence
    assert agent.calls == [("off", "n1")]


def test_h6_unfence_runs_at_start_for_io_fences_only() -> None:
    """H6: an io fence is unfenced (action=on) at daemon start; a failure stops the start
    and names the fence settings; a power agent is not asked."""
    settings = load_settings(None, {"node": "n1", "fence.agent": "none"})
    lines = io.StringIO()
    log = JsonLog("n1", stream=lines)
    io_agent, power = RecordingAgent(FenceKind.IO), RecordingAgent()
    unfence_self(settings, io_agent, log)
    unfence_self(settings, power, log)
    assert io_agent.calls == [("on", "n1")] and power.calls == []
    assert '"event": "unfenced"' in lines.getvalue()

    class Broken(RecordingAgent):
        def unfence(self, node: str) -> None:
            raise FenceError("fence_scsi: no devices")

    with pytest.raises(FenceError, match=r"fence\.agent.*no devices"):
        unfence_self(settings, Broken(FenceKind.IO), log)


def test_the_fence_does_not_wait_for_the_snapshot_dump(tmp_path: Path) -> None:
    """The snapshot behind a new decision is dumped beside the decision, in a thread of its
    own (issue 12: the fence and the next tick's placement are on every failover's path,
    the YAML file is not); it is dumped also when carrying the decision out fails."""
    w = World()
    dumps = tmp_path / "dumps"
    w.coordinator.dump_dir = dumps
    release = threading.Event()
    dump = w.coordinator._dump

    def slow_dump(snap: Snapshot, now: float) -> None:
        release.wait(10)
        dump(snap, now)

    w.coordinator._dump = slow_dump  # type: ignore[method-assign]
    w.coordinator.tick()  # returns with the dump held back
    assert w.agent.calls == [("off", "n2")]
    assert not list(dumps.glob("snapshot-*.yaml"))
    release.set()
    assert w.coordinator.dumping is not None
    w.coordinator.dumping.join(10)
    (kept,) = dumps.glob("snapshot-*.yaml")
    doc = yaml.safe_load(kept.read_text())  # a scenario: the snapshot reads back whole
    assert codec.parse(Snapshot, doc["snapshot"]) == w.coordinator.last_snapshot

    failing = World()
    failing.coordinator.dump_dir = dumps2 = tmp_path / "dumps2"

    def broken(*args: object, **kwargs: object) -> None:
        raise FenceError("apply failed")

    failing.coordinator.executor.apply = broken  # type: ignore[method-assign]
    with pytest.raises(FenceError):
        failing.coordinator.tick()
    assert failing.coordinator.dumping is not None
    failing.coordinator.dumping.join(10)
    assert len(list(dumps2.glob("snapshot-*.yaml"))) == 1


class CountingStore(StoreWrapper):
    """Counts the requests a check makes: each is an etcd round trip."""

    def __init__(self, inner: MemoryStore) -> None:
        super().__init__(inner)
        self.calls: list[str] = []

    def get(self, key: str) -> KeyValue | None:
        self.calls.append("get")
        return self.inner.get(key)

    def txn(self, compare: Any, success: Any, failure: Any = ()) -> TxnResult:
        self.calls.append("txn")
        return self.inner.txn(compare, success, failure)


def basis_of(w: World) -> FenceBasis:
    election = w.store.get(w.keys.coordinator)
    view = w.store.get(w.keys.view("n2"))
    assert election is not None and view is not None
    return FenceBasis(
        w.keys.coordinator, election.create_revision, w.keys.node_lease("n2"),
        w.lease["n2"], w.keys.view("n2"), view.mod_revision,
    )  # fmt: skip


def test_m2_the_last_look_is_one_transaction_when_the_basis_holds() -> None:
    """issue 12: the check is on the path of every power-off failover; reads only follow a
    refusal, to say why."""
    w = World()
    counting = CountingStore(w.store)
    assert basis_changed(counting, basis_of(w)) is None
    assert counting.calls == ["txn"]


def test_m2_the_last_look_refuses_a_target_whose_liveness_key_is_gone() -> None:
    w = World()
    basis = basis_of(w)
    w.store.lease_revoke(w.lease["n2"])  # its lease expired meanwhile: no fence needed
    assert basis_changed(w.store, basis) == "its lease is gone already"
