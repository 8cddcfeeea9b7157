"""A node in maintenance (issue 13; Pacemaker's node maintenance) is unmanaged: its manager
starts, stops and handles failures of nothing, the coordinator plans nothing for its groups;
after ``node resume`` both manage it again. In process: the real Coordinator and
ResourceManagers on the in-memory store, with recording agents (tests/node/inproc.py)."""

from __future__ import annotations

from pathlib import Path

from wolfpack.model.snapshot import NodeAdmin
from wolfpack.model.states import ResourceState
from wolfpack.store.repository import encode

from .inproc import Cluster, doc


def cluster(tmp_path: Path) -> Cluster:
    return Cluster(
        doc({"G": {"preferred_owners": ["node1", "node2"]}}, {"app": {"group": "G"}}), tmp_path
    )


def maintenance(c: Cluster, node: str, on: bool) -> None:
    admin = NodeAdmin(paused=True, maintenance=True) if on else NodeAdmin()
    c.store.put(c.keys.node_admin(node), encode(admin))


def test_a_node_in_maintenance_starts_nothing(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    maintenance(c, "node1", True)
    c.set_owner("G", "node1")  # placed there before the maintenance began
    assert c.tick() == []  # no start ordered, no failover to node2
    c.reconcile("node1")
    assert c.world.starts == []
    assert c.status("app").state is ResourceState.OFFLINE
    maintenance(c, "node1", False)
    c.tick()
    c.reconcile("node1")
    assert c.world.running["app"] == {"node1"}


def test_a_failure_in_maintenance_is_left_alone_until_resume(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    c.tick()
    c.reconcile("node1")
    assert c.world.running["app"] == {"node1"}
    maintenance(c, "node1", True)
    m1 = c.managers["node1"]
    m1._on_agent_failure("app", "exited with code 1")
    c.reconcile("node1")
    assert m1.maintenance
    assert c.world.running["app"] == {"node1"}  # not terminated
    assert c.status("app").state is ResourceState.ONLINE
    assert c.tick() == []

    maintenance(c, "node1", False)
    c.reconcile("node1")
    assert not m1.maintenance
    m1._on_agent_failure("app", "exited with code 1")  # what the next check finds
    c.reconcile("node1")
    assert c.status("app").state is ResourceState.FAILED
    assert c.tick() == ["restart-resources G node1"]
