"""ClusterDB against the in-memory store: atomic creation, validated optimistic updates,
consistent snapshots, state and intents."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from wolfpack.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from wolfpack.model.builtin_types import IP_ADDRESS, NETWORK_NAME, builtin_types
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Network, Node, Resource
from wolfpack.model.snapshot import GroupStatus, IntentKind, NodeStatus, ResourceStatus
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.store.base import KeyValue
from wolfpack.store.keys import KeySpace, ensure_schema
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import (
    ClusterDB,
    DatabaseRead,
    NoClusterError,
    SchemaVersionError,
    StateSection,
)

Change = Callable[[ClusterConfig], ClusterConfig]


def add(kind: str, obj: object) -> Change:
    def change(cfg: ClusterConfig) -> ClusterConfig:
        objects = {**getattr(cfg, kind), obj.name: obj}  # type: ignore[attr-defined]
        return dataclasses.replace(cfg, **{kind: objects})

    return change


def remove(kind: str, name: str) -> Change:
    def change(cfg: ClusterConfig) -> ClusterConfig:
        objects = {k: v for k, v in getattr(cfg, kind).items() if k != name}
        return dataclasses.replace(cfg, **{kind: objects})

    return change


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def db(store: MemoryStore) -> ClusterDB:
    db = ClusterDB(store, KeySpace("/t/"))
    db.initialize(ClusterSettings(name="jean"))
    return db


def dump_store(store: MemoryStore) -> dict[str, bytes]:
    kvs, _ = store.get_prefix("")
    return {kv.key: kv.value for kv in kvs}


def web_cluster(db: ClusterDB) -> None:
    for i in (1, 2, 3):
        db.update_config(add("nodes", Node(f"node{i}", i)))
    db.update_config(add("groups", Group("Web", preferred_owners=("node2",))))
    ip_props = {"address": "198.51.100.20", "network": "public"}
    db.update_config(add("resources", Resource("web-ip", IP_ADDRESS, "Web", properties=ip_props)))
    www = Resource(
        "www", NETWORK_NAME, "Web", dependencies=(("web-ip",),), properties={"name": "www"}
    )
    db.update_config(add("resources", www))


def test_initialize_writes_schema_settings_and_builtin_types(store: MemoryStore) -> None:
    db = ClusterDB(store, KeySpace("/t/"))
    db.initialize(ClusterSettings(name="jean", description="demo"))
    data = dump_store(store)
    assert data["/t/schema_version"] == b"1"
    assert json.loads(data["/t/config/cluster"])["name"] == "jean"
    assert "/t/config/types/IP Address" in data
    cfg, epoch = db.load_config()
    assert cfg.cluster.description == "demo"
    assert cfg.types == builtin_types()
    assert epoch == store.get("/t/config_epoch").mod_revision  # type: ignore[union-attr]


def test_initialize_twice_is_refused_and_changes_nothing(db: ClusterDB, store: MemoryStore) -> None:
    before = dump_store(store)
    with pytest.raises(AlreadyExistsError, match="jean"):
        db.initialize(ClusterSettings(name="other"))
    assert dump_store(store) == before


def test_initialize_after_the_schema_was_stamped(store: MemoryStore) -> None:
    keys = KeySpace("/t/")
    ensure_schema(store, keys)  # what a daemon does on an empty database
    db = ClusterDB(store, keys)
    db.initialize(ClusterSettings(name="jean"))
    assert db.load_config()[0].cluster.name == "jean"
    with pytest.raises(AlreadyExistsError):
        db.initialize(ClusterSettings(name="jean"))


def test_two_concurrent_creates_one_wins(store: MemoryStore) -> None:
    keys = KeySpace("/t/")
    other = ClusterDB(store, keys)

    class Racing(MemoryStore):
        """Lets the other administrator create the cluster just before our write."""

        def txn(self, compare, success, failure=()):  # type: ignore[no-untyped-def]
            other.initialize(ClusterSettings(name="first"))
            return store.txn(compare, success, failure)

        def get_prefix(self, prefix: str):  # type: ignore[no-untyped-def]
            return store.get_prefix(prefix)

    with pytest.raises(AlreadyExistsError, match="first"):
        ClusterDB(Racing(), keys).initialize(ClusterSettings(name="second"))
    assert other.load_config()[0].cluster.name == "first"


def test_initialize_rejects_a_bad_cluster_name(store: MemoryStore) -> None:
    db = ClusterDB(store, KeySpace("/t/"))
    with pytest.raises(ValidationError) as info:
        db.initialize(ClusterSettings(name="not a label"))
    assert [e.field for e in info.value.errors] == ["cluster.name"]
    assert dump_store(store) == {}


def test_load_config_of_an_empty_database_says_how_to_create_one(store: MemoryStore) -> None:
    with pytest.raises(NoClusterError, match="cluster create") as info:
        ClusterDB(store).load_config()
    assert isinstance(info.value, NotFoundError)


def test_unknown_schema_version_is_refused(db: ClusterDB, store: MemoryStore) -> None:
    store.put("/t/schema_version", b"7")
    with pytest.raises(SchemaVersionError, match="schema version 7"):
        db.load_config()
    with pytest.raises(SchemaVersionError):
        db.read_snapshot()


def test_update_config_stores_one_document_per_object(db: ClusterDB, store: MemoryStore) -> None:
    db.update_config(add("nodes", Node("node1", 1)))
    doc = json.loads(dump_store(store)["/t/config/nodes/node1"])
    assert doc == {"name": "node1", "id": 1, "description": ""}
    cfg, _ = db.load_config()
    assert cfg.nodes == {"node1": Node("node1", 1)}


def test_update_config_bumps_the_epoch_only_when_something_changed(db: ClusterDB) -> None:
    _, e0 = db.load_config()
    db.update_config(add("nodes", Node("node1", 1)))
    _, e1 = db.load_config()
    assert e1 > e0
    db.update_config(lambda cfg: cfg)
    db.update_config(add("nodes", Node("node1", 1)))  # the same object again: no change
    assert db.load_config()[1] == e1


def test_invalid_change_writes_nothing_and_names_every_field(
    db: ClusterDB, store: MemoryStore
) -> None:
    db.update_config(add("nodes", Node("node1", 1)))
    before = dump_store(store)

    def bad(cfg: ClusterConfig) -> ClusterConfig:
        cfg = add("nodes", Node("node2", 1))(cfg)  # duplicate id
        return add("groups", Group("Web", preferred_owners=("nodeX",)))(cfg)

    with pytest.raises(ValidationError) as info:
        db.update_config(bad)
    fields = {e.field for e in info.value.errors}
    assert fields == {"nodes.node2.id", "groups.Web.preferred_owners[0]"}
    assert dump_store(store) == before


def test_a_name_the_key_layout_cannot_hold_is_a_validation_error(
    db: ClusterDB, store: MemoryStore
) -> None:
    before = dump_store(store)
    with pytest.raises(ValidationError) as info:
        db.update_config(add("networks", Network("a/b", "10.0.0.0/24")))
    assert info.value.errors[0].field == "networks.a/b.name"
    assert dump_store(store) == before


def test_concurrent_writers_conflict_and_the_first_write_survives(store: MemoryStore) -> None:
    keys = KeySpace("/t/")
    first, second = ClusterDB(store, keys), ClusterDB(store, keys)
    first.initialize(ClusterSettings(name="jean"))

    def interleaved(cfg: ClusterConfig) -> ClusterConfig:
        # the other administrator writes between our read and our write
        first.update_config(add("nodes", Node("node1", 1)))
        return add("nodes", Node("node9", 1))(cfg)

    with pytest.raises(ConflictError, match="/t/config_epoch"):
        second.update_config(interleaved)
    cfg, _ = first.load_config()
    assert set(cfg.nodes) == {"node1"}


def test_expected_epoch_that_is_stale_conflicts(db: ClusterDB) -> None:
    _, epoch = db.load_config()
    db.update_config(add("nodes", Node("node1", 1)))
    with pytest.raises(ConflictError, match="config_epoch"):
        db.update_config(add("nodes", Node("node2", 2)), expected_epoch=epoch)
    assert set(db.load_config()[0].nodes) == {"node1"}
    _, current = db.load_config()
    db.update_config(add("nodes", Node("node2", 2)), expected_epoch=current)
    assert set(db.load_config()[0].nodes) == {"node1", "node2"}


def test_delete_removes_the_object_key_and_its_status(db: ClusterDB, store: MemoryStore) -> None:
    web_cluster(db)
    db.write_status("resources", "www", ResourceStatus(ResourceState.ONLINE, "node2"))
    db.update_config(remove("resources", "www"))
    data = dump_store(store)
    assert "/t/config/resources/www" not in data
    assert "/t/state/resources/www" not in data
    assert "/t/config/resources/web-ip" in data
    assert "www" not in db.load_config()[0].resources


def test_read_snapshot_round_trip(db: ClusterDB, store: MemoryStore) -> None:
    web_cluster(db)
    node = NodeStatus(NodeState.UP, since=100.0)
    group = GroupStatus(owner="node2", failovers=(5.0,))
    res = ResourceStatus(ResourceState.ONLINE, node="node2", since=7.0, restarts=(1.0, 2.0))
    db.write_status("nodes", "node2", node)
    db.write_status("groups", "Web", group)
    db.write_status("resources", "web-ip", res)
    snap = db.read_snapshot()
    cfg, _ = db.load_config()
    assert snap.config == cfg
    assert snap.nodes == {"node2": node}
    assert snap.groups == {"Web": group}
    assert snap.resources == {"web-ip": res}
    assert snap.revision == store.get_prefix("")[1]
    assert db.delete_status("nodes", "node2") is True
    assert db.read_snapshot().nodes == {}


def test_write_status_refuses_the_wrong_type(db: ClusterDB) -> None:
    with pytest.raises(TypeError):
        db.write_status("nodes", "node1", GroupStatus())


def test_intents_are_ordered_and_deletable() -> None:
    now = [1000.0]
    store = MemoryStore()
    db = ClusterDB(store, KeySpace("/t/"), clock=lambda: now[0])
    a = db.add_intent(IntentKind.MOVE_GROUP, "Web", "node3")
    now[0] = 999.0  # a clock step backwards still gives a unique id
    b = db.add_intent(IntentKind.OFFLINE_GROUP, "SQL")
    now[0] = 1001.0
    c = db.add_intent(IntentKind.ONLINE_GROUP, "SQL")
    assert a.created == 1000.0 and a.target == "node3"
    assert len({a.id, b.id, c.id}) == 3
    assert [i.id for i in db.list_intents()] == [b.id, a.id, c.id]
    assert c.id > a.id  # ids sort by time
    assert db.delete_intent(a.id) is True
    assert db.delete_intent(a.id) is False
    assert [i.id for i in db.list_intents()] == [b.id, c.id]


def test_snapshot_includes_intents(db: ClusterDB) -> None:
    intent = db.add_intent(IntentKind.MOVE_GROUP, "Web", "node1")
    assert db.read_snapshot().intents == (intent,)


def test_import_creates_the_cluster_with_state_in_one_transaction(store: MemoryStore) -> None:
    db = ClusterDB(store, KeySpace("/t/"))
    state = StateSection(nodes={"node1": NodeStatus(NodeState.UP, since=5.0)})

    def build(cfg: ClusterConfig) -> ClusterConfig:
        cfg = dataclasses.replace(cfg, cluster=ClusterSettings(name="jean"))
        return add("nodes", Node("node1", 1))(cfg)

    db.import_config(build, state)
    snap = db.read_snapshot()
    assert snap.config.cluster.name == "jean"
    assert snap.nodes == {"node1": NodeStatus(NodeState.UP, since=5.0)}
    assert snap.config.types == builtin_types()


def test_import_refuses_state_of_unknown_objects(db: ClusterDB, store: MemoryStore) -> None:
    before = dump_store(store)
    state = StateSection(groups={"Nope": GroupStatus()})
    with pytest.raises(ValidationError) as info:
        db.import_config(lambda cfg: cfg, state)
    assert [e.field for e in info.value.errors] == ["state.groups.Nope"]
    assert dump_store(store) == before


def test_import_replace_state_drops_other_statuses(db: ClusterDB) -> None:
    web_cluster(db)
    db.write_status("nodes", "node1", NodeStatus())
    db.write_status("nodes", "node2", NodeStatus())
    db.import_config(
        lambda cfg: cfg, StateSection(nodes={"node3": NodeStatus()}), replace_state=True
    )
    assert set(db.read_snapshot().nodes) == {"node3"}


def test_a_corrupt_document_is_a_store_error_naming_the_key(
    db: ClusterDB, store: MemoryStore
) -> None:
    store.put("/t/config/nodes/node1", b"{not json")
    with pytest.raises(StoreError, match="/t/config/nodes/node1"):
        db.load_config()


def test_sections_are_the_direct_children_of_their_prefix() -> None:
    """DatabaseRead indexes every key by its parent once per read; a section is still
    exactly the keys right under its prefix, in the read's order."""
    keys = KeySpace("/r/")
    names = ["/r/state/groups/b", "/r/state/groups/a", "/r/state/groups/a/deeper", "/r/x",
             "/r/state/groupsy", "/r/state/nodes/n", "/r/state/groups/"]  # fmt: skip
    kvs = {k: KeyValue(k, b"v", i + 2, i + 2, 1) for i, k in enumerate(names)}
    read = DatabaseRead(kvs, 10, keys)
    for prefix in ("/r/state/groups/", "/r/state/", "/r/", "/r/state/groups", "/r/none/"):
        expected = {
            k[len(prefix) :]: kv
            for k, kv in kvs.items()
            if k.startswith(prefix) and "/" not in k[len(prefix) :]
        }
        got = read.section(prefix)
        assert list(got.items()) == list(expected.items()), prefix
    assert list(read.section("/r/state/groups/")) == ["b", "a", ""]


def test_an_unchanged_configuration_is_the_same_object_read_after_read(
    db: ClusterDB, store: MemoryStore
) -> None:
    """Built once per change: its indexes (resources by group) are not rebuilt on every
    read of a large cluster; any change to any configuration document gives a new one."""
    db.update_config(add("nodes", Node("n1", 1)))
    store.put(db.keys.state("nodes", "n1"), b"{}")  # state changes leave it as it is
    first = db.read().config()
    assert db.read().config() is first
    db.update_config(add("nodes", Node("n2", 2)))
    second = db.read().config()
    assert second is not first and set(second.nodes) == {"n1", "n2"}
    store.delete(db.keys.config("nodes", "n2"))  # a delete alone changes it too
    assert set(db.read().config().nodes) == {"n1"}
