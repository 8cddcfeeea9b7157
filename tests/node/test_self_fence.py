"""Self-fencing in the resource manager (H4): dependents first, groups in parallel, bounded
by the time left before the lease could expire, without the cluster database, and safe
while the manager thread is in the middle of a pass."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wolfpack.cli.config import _parse, merge
from wolfpack.errors import StoreUnavailable
from wolfpack.model.config import Resource, ResourceType
from wolfpack.model.snapshot import GroupStatus, NodeStatus
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.node.manager import ResourceManager
from wolfpack.node.running import Running
from wolfpack.node.selffence import stop_layers
from wolfpack.resources import AgentContext
from wolfpack.resources.base import Agent
from wolfpack.resources.registry import AGENTS
from wolfpack.store import Compare, KeySpace, MemoryStore, Store
from wolfpack.store.repository import ClusterDB
from wolfpack.store.view import ClusterReader

KEYS = KeySpace("/sf/")
FAKE_TYPE = ResourceType("Fake", "fake")


class Journal:
    """What the fake agents did, in order, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[str, str]] = []
        self.timeouts: dict[str, float] = {}

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.timeouts.clear()

    def add(self, what: str, name: str) -> None:
        with self.lock:
            self.entries.append((what, name))

    def index(self, what: str, name: str) -> int:
        return self.entries.index((what, name))


JOURNAL = Journal()
#: per resource: how long its stop takes; a start waits for START_GATE when set
STOP_TAKES: dict[str, float] = {}
START_GATE: dict[str, threading.Event] = {}


class FakeAgent(Agent):
    def validate(self) -> None:
        pass

    def start(self, timeout_s: float) -> None:
        JOURNAL.add("start-begin", self.name)
        gate = START_GATE.get(self.name)
        if gate is not None:
            gate.wait(10.0)
        JOURNAL.add("start-end", self.name)

    def stop(self, timeout_s: float) -> None:
        JOURNAL.add("stop-begin", self.name)
        JOURNAL.timeouts[self.name] = timeout_s
        time.sleep(min(STOP_TAKES.get(self.name, 0.0), timeout_s))
        JOURNAL.add("stop-end", self.name)

    def looks_alive(self) -> bool:
        return True

    def is_alive(self) -> bool:
        return True

    def adopt(self) -> bool:
        return False

    def pids(self) -> list[int]:
        return []


class Unreachable:
    """A cluster database that is never there: every call raises."""

    calls = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: object, **kwargs: object) -> Any:
            Unreachable.calls += 1
            raise StoreUnavailable(f"{name}: cannot reach etcd (partitioned)")

        return fail


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    JOURNAL.clear()
    STOP_TAKES.clear()
    START_GATE.clear()
    Unreachable.calls = 0
    yield


def _context(tmp_path: Path) -> AgentContext:
    return AgentContext(
        node="n1",
        run_dir=tmp_path,
        log=lambda e, f: None,
        on_failure=lambda n, w: None,
        register_pid=lambda p: None,
        unregister_pid=lambda p: None,
    )


def _res(name: str, group: str, *deps: str) -> Resource:
    return Resource(name, "Fake", group, dependencies=tuple((d,) for d in deps))


def _manager(store: Any, tmp_path: Path, valid: Callable[[], bool]) -> ResourceManager:
    return ResourceManager(
        ClusterReader(store, KEYS),
        "n1",
        valid,
        lambda: Compare(KEYS.node_lease("n1"), "create", ">", 0),
        _context(tmp_path),
    )


def _running(mgr: ResourceManager, tmp_path: Path, *resources: Resource) -> None:
    for r in resources:  # in start order: dependencies first
        mgr.running[r.name] = Running(FakeAgent(r, FAKE_TYPE, _context(tmp_path)))
        mgr.local[r.name] = ResourceState.ONLINE


def test_stop_layers_put_dependents_first() -> None:
    """H4: the order is a pure function of the running resources' dependencies."""
    layers = stop_layers(
        {
            "disk": _res("disk", "G"),
            "ip": _res("ip", "G"),
            "name": _res("name", "G", "ip"),
            "app": _res("app", "G", "disk", "name"),
            "ip2": _res("ip2", "H"),
            "web": _res("web", "H", "ip2", "gone"),  # "gone" does not run here: ignored
        }
    )
    assert layers == {"G": [["app"], ["disk", "name"], ["ip"]], "H": [["web"], ["ip2"]]}


def test_stop_everything_dependents_first_groups_in_parallel_without_store(
    tmp_path: Path,
) -> None:
    """H4: stop_everything stops dependents before their dependencies (old code: in start
    order, disk first), every group at once (a slow application does not hold up another
    group), and never calls the cluster database (every call would raise)."""
    mgr = _manager(Unreachable(), tmp_path, lambda: False)
    STOP_TAKES["app"] = 0.5
    _running(
        mgr, tmp_path,
        _res("disk", "G"), _res("ip", "G"), _res("app", "G", "disk", "ip"),
        _res("ip2", "H"), _res("web", "H", "ip2"),
    )  # fmt: skip
    mgr.stop_everything("self-fencing: test", budget_s=2.0)
    j = JOURNAL
    assert j.index("stop-end", "app") < j.index("stop-begin", "disk")
    assert j.index("stop-end", "app") < j.index("stop-begin", "ip")
    assert j.index("stop-end", "web") < j.index("stop-begin", "ip2")
    assert j.index("stop-begin", "ip2") < j.index("stop-end", "app")  # groups in parallel
    assert not mgr.running and not mgr.local
    assert Unreachable.calls == 0


def test_each_stop_gets_at_most_the_time_left(tmp_path: Path) -> None:
    """H4: each stop is bounded by what is left before the deadline (old code: 10 s each)."""
    mgr = _manager(Unreachable(), tmp_path, lambda: False)
    STOP_TAKES["app"] = 5.0  # would take 5 s: cut at the budget
    _running(mgr, tmp_path, _res("ip", "G"), _res("app", "G", "ip"))
    mgr.stop_everything("self-fencing: test", budget_s=0.6)
    assert 0 < JOURNAL.timeouts["app"] <= 0.6
    assert 0 < JOURNAL.timeouts["ip"] <= 0.6
    assert JOURNAL.index("stop-end", "app") < JOURNAL.index("stop-begin", "ip")
    assert not mgr.running


# -- in the middle of a pass ------------------------------------------------------------------


class Switch(MemoryStore):
    """A MemoryStore that can be cut off (every call raises) and counts calls made then."""

    def __init__(self) -> None:
        super().__init__()
        self.cut = False
        self.calls_while_cut = 0

    def _enter(self) -> None:
        if self.cut:
            self.calls_while_cut += 1
            raise StoreUnavailable("cannot reach etcd (partitioned)")
        super()._enter()


def _cluster(store: Store) -> None:
    db = ClusterDB(store, KEYS)
    doc: dict[str, Any] = {
        "cluster": {"name": "c"},
        "nodes": {"n1": {"id": 1}},
        "groups": {"G": {"preferred_owners": ["n1"]}},
        "types": {"Fake": {"agent": "fake"}},
        "resources": {
            "ip": {"group": "G", "type": "Fake"},
            "app": {"group": "G", "type": "Fake", "dependencies": [["ip"]]},
        },
    }
    state, given = _parse(copy.deepcopy(doc))
    db.import_config(lambda cur: merge(cur, given, set(doc), False), state)
    db.write_status("nodes", "n1", NodeStatus(state=NodeState.UP))
    store.put(KEYS.node_lease("n1"), b"{}", lease=store.lease_grant(30))
    db.write_status("groups", "G", GroupStatus(owner="n1"))


def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_self_fence_mid_pass_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4: stop_everything while the manager thread is starting a resource (the pass is
    under way, the cluster database just went away): once that start returns, the resource
    is stopped again and forgotten (old code: it ran on, Online, after the self-fence), and
    nothing starts while the lease is not valid."""
    monkeypatch.setitem(AGENTS, "fake", f"{__name__}:FakeAgent")
    store = Switch()
    _cluster(store)
    valid = threading.Event()
    valid.set()
    START_GATE["app"] = gate = threading.Event()
    mgr = _manager(store, tmp_path, valid.is_set)
    mgr.start()
    try:
        assert _until(lambda: ("start-begin", "app") in JOURNAL.entries)
        valid.clear()  # the lease's fence thread: deadline - margin has passed
        store.cut = True
        mgr.stop_everything("self-fencing: test", budget_s=0.5)
        assert ("stop-end", "ip") in JOURNAL.entries
        gate.set()  # the start under way returns now
        assert _until(lambda: ("stop-end", "app") in JOURNAL.entries)
        assert _until(lambda: not mgr.running and not mgr.local)
        time.sleep(0.3)
        assert not mgr.running and not mgr.local
    finally:
        gate.set()
        mgr.stop()
    starts = [n for w, n in JOURNAL.entries if w == "start-begin"]
    assert starts == ["ip", "app"]  # nothing started again without a valid lease


def test_a_start_cut_short_by_a_self_fence_is_released_once_the_lease_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the lab chaos suite (seed 1, issue 9): a self-fence in the middle of a start
    reports nothing, so the start's claim (OnlinePending, naming this node) stayed in the
    cluster database after the node rejoined with a new lease, and the group's new owner
    never started it (``held_elsewhere``): SQL Pending for good. Once the lease is valid
    again the node reports the resource Offline; nothing starts here meanwhile."""
    monkeypatch.setitem(AGENTS, "fake", f"{__name__}:FakeAgent")
    store = Switch()
    _cluster(store)
    db = ClusterDB(store, KEYS)
    valid = threading.Event()
    valid.set()
    START_GATE["app"] = gate = threading.Event()
    mgr = _manager(store, tmp_path, valid.is_set)
    mgr.start()
    try:
        assert _until(lambda: ("start-begin", "app") in JOURNAL.entries)
        assert db.read_snapshot().resource("app").state is ResourceState.ONLINE_PENDING
        valid.clear()
        store.cut = True
        mgr.stop_everything("self-fencing: test", budget_s=0.5)
        gate.set()
        assert _until(lambda: not mgr.running and not mgr.local)
        # meanwhile the group failed over: another node owns it now
        store.cut = False
        db.write_status("groups", "G", GroupStatus(owner="n2"))
        time.sleep(0.3)
        stale = db.read_snapshot().resource("app")
        assert (stale.state, stale.node) == (ResourceState.ONLINE_PENDING, "n1")  # no lease
        valid.set()  # the node rejoined with a new lease
        mgr.wake.set()

        def released() -> bool:
            st = db.read_snapshot().resource("app")
            return st.state is ResourceState.OFFLINE

        assert _until(released), db.read_snapshot().resource("app")
    finally:
        gate.set()
        mgr.stop()
    assert [n for w, n in JOURNAL.entries if w == "start-begin"] == ["ip", "app"]
