"""A stop whose first report fails (etcd unreachable) goes on at the next pass (issue 9,
the lab chaos suite's failed-start-on-move while etcd members were down): the node had
stepped the resource to OfflinePending, the report raised, and every later pass asked to
take it offline again, which the life cycle refuses from OfflinePending (IllegalTransition,
logged as manager_crash every tick). The resource never stopped, so the group's rollback
and another group's failover to that node never ended. In process (:mod:`.inproc`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wolfpack.errors import StoreError
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import ResourceState

from .inproc import Cluster, doc


def test_a_stop_cut_short_by_the_store_is_finished_by_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Cluster(doc({"G": {"preferred_owners": ["node1", "node2"]}}, {"app": {"group": "G"}}),
                tmp_path)  # fmt: skip
    assert c.tick() == ["place-group G node1"]
    c.reconcile("node1")
    assert c.status("app").state is ResourceState.ONLINE and c.world.running["app"] == {"node1"}
    c.db.add_intent(IntentKind.OFFLINE_GROUP, "G")
    assert c.tick() == ["stop-group G node1"]
    manager, failed = c.managers["node1"], []
    report = manager._report

    def unreachable_once(name: str, state: ResourceState) -> None:
        if not failed:
            failed.append(state)
            raise StoreError("cannot reach etcd")
        report(name, state)

    monkeypatch.setattr(manager, "_report", unreachable_once)
    with pytest.raises(StoreError):  # what the manager's loop logs as manager_store_error
        c.reconcile("node1")
    assert failed == [ResourceState.OFFLINE_PENDING]
    assert manager.local["app"] is ResourceState.OFFLINE_PENDING  # and still running
    c.reconcile("node1")  # IllegalTransition before the fix, every pass
    st = c.status("app")
    assert (st.state, st.node) == (ResourceState.OFFLINE, "node1")
    assert c.world.running["app"] == set() and "app" not in manager.local
