"""Taking a group offline ends a Failed resource Offline (S34; WSFC: a failed resource is
already terminated, so offline brings it to Offline), in process: the real coordinator,
executor and ``plan`` and real ``ResourceManager``s, with an application whose every start
fails (``/bin/false``). Lab finding: the resource used to stay Failed forever, so ``group
offline`` never settled and ``resource delete`` / ``group delete`` were refused with
RESOURCE_ACTIVE. Each test fails on the code before the fix."""

from __future__ import annotations

from pathlib import Path

from wolfpack.admin import nouns, objects
from wolfpack.admin.nouns import derived_state
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import GroupState, ResourceState

from .inproc import Cluster, doc


def bouncing(tmp_path: Path, *owners: str) -> Cluster:
    """Group G with one application that fails at every start, restarted once per failure
    before the group fails over (RestartThreshold 1)."""
    c = Cluster(
        doc(
            {"G": {"preferred_owners": list(owners)}},
            {"app": {"group": "G", "restart_threshold": 1}},
        ),
        tmp_path,
    )
    c.world.broken.add("app")
    return c


def failed_on(c: Cluster, node: str) -> None:
    st = c.status("app")
    assert (st.state, st.node) == (ResourceState.FAILED, node)


def settles_offline_and_deletes(c: Cluster) -> None:
    """The group reaches Offline with nothing in flight, and both deletes are allowed."""
    for _ in range(3):  # bounded: complete the transition, then nothing is left to do
        if not c.tick():
            break
    snap = c.db.read_snapshot()
    assert snap.group("G").transition is None
    assert derived_state(snap, "G") is GroupState.OFFLINE
    objects.delete(c.db, nouns.RESOURCES, "app")  # RESOURCE_ACTIVE before the fix
    objects.delete(c.db, nouns.GROUPS, "G")
    assert "G" not in c.db.read_snapshot().config.groups


def test_offline_ends_a_failed_resource_offline_on_its_node(tmp_path: Path) -> None:
    c = bouncing(tmp_path, "node1", "node2")
    assert c.tick() == ["place-group G node1"]
    c.reconcile("node1")  # the start fails: terminated, reported Failed
    failed_on(c, "node1")
    c.db.add_intent(IntentKind.OFFLINE_GROUP, "G")
    assert c.tick() == ["stop-group G node1"]
    c.reconcile("node1")
    st = c.status("app")
    assert (st.state, st.node) == (ResourceState.OFFLINE, "node1")
    assert st.failures == 1  # the history stays; only the state changes
    settles_offline_and_deletes(c)
    assert c.world.starts == [] and c.world.overlaps == []


def test_offline_while_the_failover_is_under_way(tmp_path: Path) -> None:
    """The bounce of the reproduction: the failover to node2 is decided but node2 has not
    claimed the resource yet when the administrator takes the group offline. node1, where it
    is Failed, records it Offline; node2 starts nothing."""
    c = bouncing(tmp_path, "node1", "node2")
    c.tick()
    c.reconcile("node1")
    assert c.tick() == ["restart-resources G node1"]
    c.reconcile("node1")  # the restart fails too
    failed_on(c, "node1")
    assert c.tick() == ["place-group G node2"]
    c.db.add_intent(IntentKind.OFFLINE_GROUP, "G")
    assert c.tick() == ["stop-group G node2"]
    c.reconcile("node2")
    failed_on(c, "node1")  # node2 neither starts it nor speaks for node1
    c.reconcile("node1")
    assert c.status("app").state is ResourceState.OFFLINE
    settles_offline_and_deletes(c)
    assert c.world.starts == []


def test_a_failed_resource_on_a_fenced_node_is_recorded_offline(tmp_path: Path) -> None:
    """node2, where the resource failed, is lost (its lease is gone: it has self-fenced) as
    the group is taken offline. It runs nothing, so the coordinator records the resource
    Offline itself; nothing starts elsewhere."""
    c = bouncing(tmp_path, "node2", "node1")
    assert c.tick() == ["place-group G node2"]
    c.reconcile("node2")
    failed_on(c, "node2")
    status = c.db.read_snapshot().node("node2")
    c.store.lease_revoke(status.lease)
    c.db.add_intent(IntentKind.OFFLINE_GROUP, "G")
    assert c.tick() == ["stop-group G node2"]  # the request first: no failover
    assert c.tick() == ["mark-offline G node2"]
    st = c.status("app")
    assert (st.state, st.node) == (ResourceState.OFFLINE, "node2")
    c.reconcile("node1")
    settles_offline_and_deletes(c)
    assert c.world.starts == []
