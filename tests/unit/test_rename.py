"""S19: renaming a group or a resource rewrites every reference to it and moves its status
(and a group's failover history) in the same transaction; when it must wait, it changes
nothing and says why. On the in-memory store (the etcd store runs the same code in
tests/cli/test_rename.py and over the API in tests/cli/test_over_api.py)."""

from __future__ import annotations

import pytest

from wolfpack.errors import AlreadyExistsError, NotFoundError, RejectedError, ValidationError
from wolfpack.model.builtin_types import GENERIC_APPLICATION, IP_ADDRESS
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Node, Resource
from wolfpack.model.rename import rename_refusal, renamed
from wolfpack.model.snapshot import (
    GroupStatus,
    IntentKind,
    ResourceStatus,
    Transition,
    TransitionKind,
)
from wolfpack.model.states import ResourceState
from wolfpack.store import Put
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB


def config(cfg: ClusterConfig) -> ClusterConfig:
    app = {"command": "sleep 600"}
    ip = {"address": "198.51.100.20", "network": "public"}
    return ClusterConfig(
        cluster=cfg.cluster,
        types=cfg.types,
        nodes={"node1": Node("node1", 1)},
        groups={"Web": Group("Web", preferred_owners=("node1",)), "Other": Group("Other")},
        resources={
            "ip": Resource("ip", IP_ADDRESS, "Web", properties=ip),
            "app": Resource(
                "app", GENERIC_APPLICATION, "Web", dependencies=(("ip",),), properties=app
            ),
            "solo": Resource("solo", GENERIC_APPLICATION, "Other", properties=app),
        },
    )


@pytest.fixture
def db() -> ClusterDB:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="rename"))
    db.update_config(config)
    return db


def test_renamed_rewrites_every_reference() -> None:
    cfg = config(ClusterConfig())
    web = renamed(cfg, "groups", "Web", "Website")
    assert set(web.groups) == {"Website", "Other"} and web.groups["Website"].name == "Website"
    assert web.groups["Website"].preferred_owners == ("node1",)
    assert {r.group for r in web.resources.values()} == {"Website", "Other"}
    ip = renamed(cfg, "resources", "ip", "web-ip")
    assert ip.resources["web-ip"].name == "web-ip" and "ip" not in ip.resources
    assert ip.resources["app"].dependencies == (("web-ip",),)
    with pytest.raises(NotFoundError):
        renamed(cfg, "groups", "Nope", "X")
    with pytest.raises(AlreadyExistsError):
        renamed(cfg, "resources", "ip", "app")


def test_a_group_renamed_online_keeps_its_owner_status_and_history(db: ClusterDB) -> None:
    db.write_status("groups", "Web", GroupStatus(owner="node1", failovers_total=3))
    db.write_status("resources", "app", ResourceStatus(ResourceState.ONLINE, "node1"))
    db.store.txn([], [Put(db.keys.history("Web"), b'{"timelines": []}')])
    db.rename("groups", "Web", "Website")
    snap = db.read_snapshot()
    assert "Web" not in snap.config.groups and "Web" not in snap.groups
    assert snap.group("Website").owner == "node1" and snap.group("Website").failovers_total == 3
    assert snap.resource("app").state is ResourceState.ONLINE  # untouched: still running
    assert snap.config.resources["app"].group == "Website"
    assert db.store.get(db.keys.history("Web")) is None
    assert db.store.get(db.keys.history("Website")) is not None


def test_an_offline_resource_renamed_takes_its_status_and_dependents_along(db: ClusterDB) -> None:
    db.write_status("resources", "ip", ResourceStatus(ResourceState.OFFLINE, restarts_total=2))
    db.rename("resources", "ip", "web-ip")
    snap = db.read_snapshot()
    assert snap.resource("web-ip").restarts_total == 2 and "ip" not in snap.resources
    assert snap.config.resources["app"].dependencies == (("web-ip",),)


@pytest.mark.parametrize(
    ("kind", "name", "setup", "code"),
    [
        ("resources", "app", "online", "RESOURCE_ACTIVE"),
        ("resources", "app", "failed-on-node", "RESOURCE_ACTIVE"),
        ("groups", "Web", "moving", "GROUP_IN_TRANSITION"),
        ("groups", "Web", "request", "REQUEST_PENDING"),
        ("resources", "solo", "request", "REQUEST_PENDING"),
    ],
)
def test_a_rename_that_must_wait_changes_nothing(
    db: ClusterDB, kind: str, name: str, setup: str, code: str
) -> None:
    if setup == "online":
        db.write_status("resources", name, ResourceStatus(ResourceState.ONLINE, "node1"))
    elif setup == "failed-on-node":
        db.write_status("resources", name, ResourceStatus(ResourceState.FAILED, "node1"))
    elif setup == "moving":
        move = Transition(TransitionKind.MOVE, "node2", "node1")
        db.write_status("groups", name, GroupStatus(owner="node1", transition=move))
    else:
        intent = IntentKind.ONLINE_GROUP if kind == "groups" else IntentKind.ONLINE_RESOURCE
        db.add_intent(intent, name)
    before = db.read_snapshot()
    with pytest.raises(RejectedError) as refused:
        db.rename(kind, name, "renamed")  # type: ignore[arg-type]
    assert refused.value.code == code
    assert db.read_snapshot() == before


def test_a_failed_resource_no_node_runs_may_be_renamed(db: ClusterDB) -> None:
    db.write_status("resources", "solo", ResourceStatus(ResourceState.FAILED, None))
    assert rename_refusal(db.read_snapshot(), "resources", "solo") is None
    db.rename("resources", "solo", "lonely")
    assert db.read_snapshot().resource("lonely").state is ResourceState.FAILED


def test_a_bad_new_name_names_the_field(db: ClusterDB) -> None:
    before = db.read_snapshot()
    with pytest.raises(ValidationError) as bad:
        db.rename("groups", "Web", "a/b")
    assert bad.value.errors[0].field.startswith("groups.a/b")
    with pytest.raises(AlreadyExistsError):
        db.rename("groups", "Web", "Other")
    assert db.read_snapshot() == before
