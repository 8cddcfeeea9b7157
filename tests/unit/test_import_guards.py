"""Configuration writes cannot rewrite observed state under running daemons, nor remove an
object that runs (H3, M5), on MemoryStore; the checks are compared in the transaction, so a
write between the check and the commit cannot slip through."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from wolfpack.admin.nouns import GROUPS, NODES, RESOURCES
from wolfpack.admin.objects import delete
from wolfpack.cli.config import _parse, document, import_document, merge
from wolfpack.errors import ConflictError, RejectedError
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus
from wolfpack.model.states import NodeState, ResourceState, Wanted
from wolfpack.policy.engine import plan
from wolfpack.store import Compare, KeySpace, MemoryStore, Op, TxnResult
from wolfpack.store.repository import ClusterDB, encode

DOC: dict[str, Any] = {
    "cluster": {"name": "c"},
    "nodes": {"node1": {"id": 1}, "node2": {"id": 2}},
    "groups": {"Web": {"preferred_owners": ["node1", "node2"]}, "Spare": {}},
    "resources": {
        "web-app": {
            "type": "Generic Application",
            "group": "Web",
            "properties": {"command": "/bin/true"},
        },
        "spare-app": {
            "type": "Generic Application",
            "group": "Spare",
            "properties": {"command": "/bin/true"},
        },
    },
}


class HookedStore(MemoryStore):
    """A MemoryStore that runs ``before`` once, just before the next transaction: another
    writer between a caller's read and its commit."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Callable[[], None] | None = None

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        hook, self.before = self.before, None
        if hook is not None:
            hook()
        return super().txn(compare, success, failure)


def imported(db: ClusterDB, doc: dict[str, Any], *, replace: bool) -> None:
    """What ``config import [--replace]`` does with the file ``doc`` (Appendix A.4)."""
    import_document(db, copy.deepcopy(doc), replace=replace)


def restored(db: ClusterDB, doc: dict[str, Any]) -> None:
    """Appendix A.4 as the review ran it: the configuration of ``doc`` replaced, and every
    status deleted (``replace_state``)."""
    state, given = _parse(copy.deepcopy(doc))
    db.import_config(lambda cur: merge(cur, given, set(doc), True), state, replace_state=True)


@pytest.fixture
def store() -> HookedStore:
    return HookedStore()


@pytest.fixture
def db(store: HookedStore) -> ClusterDB:
    """Appendix A.4: Web owned by node2 with web-app Online there; both nodes leased."""
    db = ClusterDB(store, KeySpace("/t/"))
    imported(db, DOC, replace=False)
    for node in ("node1", "node2"):
        db.write_status("nodes", node, NodeStatus(state=NodeState.UP))
        store.put(db.keys.node_lease(node), b"{}", lease=store.lease_grant(30))
    db.write_status("groups", "Web", GroupStatus(owner="node2"))
    db.write_status("resources", "web-app", ResourceStatus(ResourceState.ONLINE, "node2"))
    return db


def everything(store: MemoryStore) -> dict[str, bytes]:
    kvs, _ = store.get_prefix("")
    return {kv.key: kv.value for kv in kvs}


def exported(db: ClusterDB) -> dict[str, Any]:
    return document(db.read_snapshot().config)


def test_import_replacing_state_with_live_leases_is_refused_and_changes_nothing(
    db: ClusterDB, store: HookedStore
) -> None:
    """H3 (Appendix A.4): ``import --replace`` deleting state/ while nodes hold leases is
    refused (naming them and what to do); before, the state was wiped and Web was placed
    on node1 while node2 still ran it."""
    before = everything(store)
    with pytest.raises(RejectedError) as err:
        restored(db, exported(db))
    assert err.value.code == "CLUSTER_RUNNING"
    assert "node1, node2" in str(err.value) and "stop every wolfpackd" in str(err.value)
    assert everything(store) == before
    with_state = {**exported(db), "state": {"groups": {"Web": {"owner": "node1"}}}}
    with pytest.raises(RejectedError, match="stop every wolfpackd"):
        imported(db, with_state, replace=False)
    assert everything(store) == before


def test_the_cli_round_trip_keeps_the_state_of_a_running_cluster(db: ClusterDB) -> None:
    """H3: ``config export`` then ``config import --replace`` of it (no state section)
    changes configuration only: Web stays with node2 and nothing is placed anew."""
    imported(db, exported(db), replace=True)
    snap = db.read_snapshot()
    assert snap.group("Web").owner == "node2"
    assert snap.resource("web-app").state is ResourceState.ONLINE
    assert [a for a in plan(snap, 1000.0).actions if "Web" in str(a)] == []


def test_with_no_leases_an_import_may_replace_the_state(db: ClusterDB, store: HookedStore) -> None:
    """H3: with every daemon stopped (no lease), a restore with state is allowed."""
    store.delete(db.keys.node_leases_prefix, prefix=True)
    doc = {**exported(db), "state": {"groups": {"Web": {"owner": "node1"}}}}
    imported(db, doc, replace=True)
    snap = db.read_snapshot()
    assert snap.group("Web").owner == "node1"
    assert snap.resources == {} and snap.nodes == {}


def test_a_lease_taken_between_the_check_and_the_commit_fails_the_import(
    db: ClusterDB, store: HookedStore
) -> None:
    """H3: the "cluster stopped" check is part of the import's transaction: a daemon that
    starts after the check and before the commit makes it fail, and nothing changes."""
    store.delete(db.keys.node_leases_prefix, prefix=True)
    before = everything(store)
    lease_key = db.keys.node_lease("node1")
    store.before = lambda: store.put(lease_key, b"{}", lease=store.lease_grant(30))
    with pytest.raises(RejectedError, match="node1"):
        restored(db, exported(db))
    after = everything(store)
    assert after.pop(lease_key) == b"{}" and after == before


def test_replace_removing_an_active_resource_is_refused(db: ClusterDB, store: HookedStore) -> None:
    """H3: ``--replace`` with a file that lacks Web and web-app, while web-app is Online
    on node2, is refused naming both; an inactive group (Spare) may go."""
    before = everything(store)
    doc = exported(db)
    del doc["groups"]["Web"], doc["resources"]["web-app"]
    with pytest.raises(RejectedError) as err:
        imported(db, doc, replace=True)
    assert err.value.code == "OBJECTS_ACTIVE"
    assert "'Web' (online on node2)" in str(err.value)
    assert "'web-app' (Online on node2)" in str(err.value) and "offline first" in str(err.value)
    assert everything(store) == before
    doc = exported(db)
    del doc["groups"]["Spare"], doc["resources"]["spare-app"]
    imported(db, doc, replace=True)
    assert set(db.read_snapshot().config.groups) == {"Web"}


def test_a_resource_started_between_the_check_and_the_commit_fails_the_import(
    db: ClusterDB, store: HookedStore
) -> None:
    """H3: the removed objects' status revisions are compared in the transaction: spare-app
    reported OnlinePending after the check makes the import re-check, and refuse."""
    doc = exported(db)
    del doc["groups"]["Spare"], doc["resources"]["spare-app"]
    pending = ResourceStatus(ResourceState.ONLINE_PENDING, "node1")
    store.before = lambda: db.write_status("resources", "spare-app", pending)
    with pytest.raises(RejectedError, match="spare-app"):
        imported(db, doc, replace=True)
    assert "Spare" in db.read_snapshot().config.groups


def test_a_resource_started_between_the_delete_guard_and_the_commit_is_a_conflict(
    db: ClusterDB, store: HookedStore
) -> None:
    """M5: the delete guard's read of spare-app's status is compared in the transaction:
    spare-app started after the guard said Offline makes the delete fail (nothing
    removed), and the retry checks again and refuses."""
    key = db.keys.state("resources", "spare-app")
    online = encode(ResourceStatus(ResourceState.ONLINE, "node1"))
    store.before = lambda: store.put(key, online)
    with pytest.raises(ConflictError, match="the state it was checked against"):
        delete(db, RESOURCES, "spare-app")
    snap = db.read_snapshot()
    assert "spare-app" in snap.config.resources
    assert snap.resource("spare-app").state is ResourceState.ONLINE
    with pytest.raises(RejectedError, match="take it offline"):
        delete(db, RESOURCES, "spare-app")


def test_a_group_placed_between_the_node_guard_and_the_commit_is_a_conflict(
    db: ClusterDB, store: HookedStore
) -> None:
    """M5: deleting node1 compares every group's status: Spare placed on node1 after the
    guard's read makes the delete fail."""
    store.delete(db.keys.node_leases_prefix, prefix=True)
    db.write_status("groups", "Web", GroupStatus(owner="node2", wanted=Wanted.OFFLINE))
    cfg = db.read_snapshot().config
    assert "node1" in cfg.groups["Web"].preferred_owners
    doc = exported(db)  # node1 must leave the preferred owners first
    doc["groups"]["Web"]["preferred_owners"] = ["node2"]
    imported(db, doc, replace=False)
    store.before = lambda: db.write_status("groups", "Spare", GroupStatus(owner="node1"))
    with pytest.raises(ConflictError):
        delete(db, NODES, "node1")
    assert "node1" in db.read_snapshot().config.nodes
    with pytest.raises(RejectedError, match="Spare"):
        delete(db, NODES, "node1")


def test_an_empty_group_is_still_deleted(db: ClusterDB) -> None:
    """M5: the compared delete still deletes (and drops the group's status with it)."""
    delete(db, RESOURCES, "spare-app")
    db.write_status("groups", "Spare", GroupStatus())
    delete(db, GROUPS, "Spare")
    snap = db.read_snapshot()
    assert "Spare" not in snap.config.groups and "Spare" not in snap.groups


def test_a_configuration_change_can_be_guarded_by_an_election_token(
    db: ClusterDB, store: HookedStore
) -> None:
    """L8 (configuration half): ``update_config(guard=...)`` compares in the same
    transaction, so a deposed coordinator's change-group (its token gone) writes nothing."""
    token_key = db.keys.coordinator
    store.put(token_key, b"node1")
    token = store.get(token_key)
    assert token is not None
    guard = [Compare(token_key, "create", "==", token.create_revision)]
    move = lambda cfg: dataclasses.replace(  # noqa: E731
        cfg,
        resources={
            **cfg.resources,
            "spare-app": dataclasses.replace(cfg.resources["spare-app"], group="Web"),
        },
    )
    store.delete(token_key)
    store.put(token_key, b"node2")  # a new election: another token
    before = everything(store)
    with pytest.raises(ConflictError):
        db.update_config(move, guard=guard)
    assert everything(store) == before
    token = store.get(token_key)
    assert token is not None
    db.update_config(move, guard=[Compare(token_key, "create", "==", token.create_revision)])
    assert db.read_snapshot().config.resources["spare-app"].group == "Web"
