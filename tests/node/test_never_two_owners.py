"""Never two owners, in process: the safety review's reproductions (Appendix A) on real
``ResourceManager``s, the real executor and ``plan``, with fake agents that record where each
resource runs. Each test names the finding it closes and fails on the code before the fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from wolfpack.errors import WolfpackError
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.policy.local import next_batch
from wolfpack.store.repository import encode

from .inproc import Cluster, doc


def one_app(tmp_path: Path, **app: object) -> Cluster:
    return Cluster(
        doc({"G": {"preferred_owners": ["node1", "node2"]}}, {"app": {"group": "G", **app}}),
        tmp_path,
    )


def test_a_stale_decision_starts_nothing(tmp_path: Path) -> None:
    """H2 (Appendix A.1): node1 decides to start from a read in which it owns the group; the
    group moves to node2, which starts it; node1's start, made from the old read, must not
    run, and must not overwrite node2's report."""
    c = one_app(tmp_path)
    c.set_owner("G", "node1")
    m1 = c.managers["node1"]
    view1 = m1.reader.read()
    [action] = next_batch(view1.snapshot, "node1", m1.local, lease_ok=True)
    c.set_owner("G", "node2")
    c.reconcile("node2")
    assert c.world.running["app"] == {"node2"}
    m1._do(view1, action)  # the start node1 decided before the move
    assert c.world.running["app"] == {"node2"}, "started on two nodes"
    assert c.world.overlaps == []
    st = c.status("app")
    assert (st.node, st.state) == ("node2", ResourceState.ONLINE)


def test_a_start_queued_behind_others_rechecks(tmp_path: Path) -> None:
    """H2: a start that waits in the pool while the group's owner record changes is refused
    even if the new owner has not claimed the resource yet."""
    c = one_app(tmp_path)
    c.set_owner("G", "node1")
    m1 = c.managers["node1"]
    view1 = m1.reader.read()
    [action] = next_batch(view1.snapshot, "node1", m1.local, lease_ok=True)
    c.set_owner("G", "node2")  # not yet acted on by node2
    m1._do(view1, action)
    assert c.world.starts == []
    assert c.status("app").state is ResourceState.OFFLINE


def test_initiate_failure_waits_for_the_owner_to_terminate(tmp_path: Path) -> None:
    """H1 (Appendix A.3): Initiate Failure with the restarts used up. The coordinator's mark
    is a request; the group does not fail over, and node2 starts nothing, until node1 has
    terminated the resource and reported it Failed."""
    c = one_app(tmp_path, restart_threshold=1)
    c.tick()  # place on node1
    c.reconcile("node1")
    c.tick()  # complete the transition
    # First failure: confirmed by node1, restarted in place (threshold 1).
    c.db.add_intent(IntentKind.FAIL_RESOURCE, "app", None)
    assert c.tick() == ["fail-resources G node1"]
    c.reconcile("node1")
    assert c.tick() == ["restart-resources G node1"]
    c.reconcile("node1")
    assert c.world.running["app"] == {"node1"}
    assert c.status("app").state is ResourceState.ONLINE
    # Second failure: past the threshold, so the group fails over, but only once node1 says so.
    c.db.add_intent(IntentKind.FAIL_RESOURCE, "app", None)
    assert c.tick() == ["fail-resources G node1"]
    assert c.tick() == []  # before node1 has acted: no failover
    c.reconcile("node2")
    assert c.world.running["app"] == {"node1"}
    assert c.status("app").state is ResourceState.ONLINE
    c.reconcile("node1")  # terminated, then reported
    assert c.world.running["app"] == set()
    st = c.status("app")
    assert (st.state, st.node, st.fail_requested) == (ResourceState.FAILED, "node1", 0.0)
    assert c.tick() == ["place-group G node2"]
    c.reconcile("node1")
    c.reconcile("node2")
    assert c.world.running["app"] == {"node2"}
    assert c.world.overlaps == []


def test_pending_timeout_runs_on_the_coordinators_clock(tmp_path: Path) -> None:
    """M1: a node whose clock is far behind reports a start pending 'since' long ago; the
    coordinator times it from when it saw it, so it is not failed at once."""
    c = one_app(tmp_path, pending_timeout_s=60)
    c.tick()
    st = c.status("app")
    late = replace(st, state=ResourceState.ONLINE_PENDING, node="node1", since=c.now - 500)
    c.store.put(c.keys.state("resources", "app"), encode(late))
    assert c.tick() == ["stamp-pending G node1"]
    assert c.status("app").pending_seen == c.now
    c.now += 59
    assert c.tick() == []
    c.now += 1
    assert c.tick() == ["fail-resources G node1"]


def test_a_resource_deleted_while_it_runs_is_stopped(tmp_path: Path) -> None:
    """M5 / H3: a resource removed from the configuration while it runs here is stopped by
    its node (it used to run on, unmanaged, until the daemon shut down)."""
    c = one_app(tmp_path)
    c.tick()
    c.reconcile("node1")
    assert c.world.running["app"] == {"node1"}

    # The configuration guards refuse this (H3, M5); what is left is a write that bypasses
    # them (etcd itself, a restored snapshot): the node must still stop what it runs.
    c.store.delete(c.keys.config("resources", "app"))
    c.reconcile("node1")
    assert c.world.running["app"] == set()


def test_a_late_report_never_overwrites_the_new_owners(tmp_path: Path) -> None:
    """H2: a report node1 makes late (after a freeze, from a restarted daemon) leaves a
    status that names node2 in an active state alone: node2's word stands."""
    c = one_app(tmp_path)
    c.set_owner("G", "node2")
    c.reconcile("node2")
    assert c.status("app").node == "node2"
    for late in (ResourceState.OFFLINE, ResourceState.FAILED, ResourceState.ONLINE):
        c.managers["node1"]._report("app", late)
        st = c.status("app")
        assert (st.node, st.state, st.wanted) == ("node2", ResourceState.ONLINE, Wanted.ONLINE)


def test_a_start_refused_as_busy_waits_instead_of_failing(tmp_path: Path) -> None:
    """Issue 8 item 8: the old owner still holds the address (or the disk's MMP ticks), so
    the new owner's start is refused as busy; it waits and tries again, and neither the
    restart nor the failover budget is spent on it."""
    c = one_app(tmp_path, restart_threshold=1)
    c.world.busy["app"] = 3
    c.tick()
    for _ in range(3):
        c.reconcile("node1")
        st = c.status("app")
        assert st.state is ResourceState.OFFLINE and st.failures == 0
        assert not [a for a in c.tick() if a.startswith(("place-group", "restart"))]
        c.reconcile("node1")  # within the back-off: no new try
        c.clock += 0.3
    c.reconcile("node1")
    assert c.world.running["app"] == {"node1"}
    st = c.status("app")
    assert (st.state, st.failures, st.restarts) == (ResourceState.ONLINE, 0, ())


def test_a_start_busy_past_the_pending_timeout_is_a_failure(tmp_path: Path) -> None:
    """Issue 8 item 8, bounded: held elsewhere for longer than a start may take is a
    failure after all (a foreign host on the address must not block the group forever)."""
    c = one_app(tmp_path, pending_timeout_s=1)
    c.world.busy["app"] = 100
    c.tick()
    for _ in range(6):
        c.reconcile("node1")
        c.clock += 0.3
    st = c.status("app")
    assert (st.state, st.failures) == (ResourceState.FAILED, 1)


def test_a_deposed_coordinator_cannot_change_a_group(tmp_path: Path) -> None:
    """L8: the change of group a coordinator carries out is guarded by its election token,
    like its other writes: a deposed coordinator's change is refused."""
    c = Cluster(
        doc({"G": {}, "H": {}}, {"app": {"group": "G"}}),
        tmp_path,
    )
    c.db.add_intent(IntentKind.CHANGE_GROUP, "app", "H")
    c.store.delete(c.keys.coordinator)  # deposed: the election key is gone
    with pytest.raises(WolfpackError):
        c.tick()
    assert c.db.read_snapshot().config.resources["app"].group == "G"
