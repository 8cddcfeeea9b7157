"""Issue 14 (5): what the CLI, admin/ and api/ need of the database are ClusterDB methods
(no caller reaches into ``db.store``/``db.keys``), and a request is checked where it is
recorded (``add_intent(check=)``)."""

from __future__ import annotations

import pytest

from wolfpack.admin.requests import checker
from wolfpack.errors import NotFoundError
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group
from wolfpack.model.snapshot import IntentKind, NodeAdmin, Snapshot
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB


@pytest.fixture
def db() -> ClusterDB:
    db = ClusterDB(MemoryStore())
    db.initialize(ClusterSettings(name="seam"))

    def web(cfg: ClusterConfig) -> ClusterConfig:
        return ClusterConfig(cluster=cfg.cluster, types=cfg.types, groups={"Web": Group("Web")})

    db.update_config(web)
    return db


def test_a_request_refused_by_its_check_writes_nothing(db: ClusterDB) -> None:
    with pytest.raises(NotFoundError, match="NoSuch"):
        db.add_intent(
            IntentKind.ONLINE_GROUP,
            "NoSuch",
            check=checker(IntentKind.ONLINE_GROUP, "NoSuch", None),
        )
    assert db.list_intents() == ()
    made = db.add_intent(
        IntentKind.ONLINE_GROUP, "Web", check=checker(IntentKind.ONLINE_GROUP, "Web", None)
    )
    assert db.list_intents() == (made,)


def test_the_check_judges_the_snapshot_given(db: ClusterDB) -> None:
    """The API passes its cached snapshot: the check sees that one, not a fresh read."""
    seen: list[Snapshot] = []
    given = db.read_snapshot()
    db.add_intent(IntentKind.ONLINE_GROUP, "Web", check=seen.append, snapshot=given)
    assert seen == [given]


def test_tokens_are_made_once_and_deleted(db: ClusterDB) -> None:
    assert db.add_token("alice", b"{}")
    assert not db.add_token("alice", b"{...}")
    assert db.token_documents() == {"alice": b"{}"}
    assert db.read().token_documents() == {"alice": b"{}"}
    assert db.delete_token("alice") and not db.delete_token("alice")


def test_the_first_ca_counts(db: ClusterDB) -> None:
    assert db.ca_certificate() is None
    assert db.add_ca(b"cert-1", b"key-1")
    assert not db.add_ca(b"cert-2", b"key-2")
    assert (db.ca_certificate(), db.encrypted_ca_key()) == (b"cert-1", b"key-1")


def test_the_secret_verifier_is_written_once(db: ClusterDB) -> None:
    db.add_secret_verifier(b"v1")
    db.add_secret_verifier(b"v2")
    assert db.secret_verifier() == b"v1"


def test_audit_records_are_trimmed_oldest_first(db: ClusterDB) -> None:
    for i in range(5):
        db.write_audit(f"{i:03d}", f"record {i}".encode())
    assert db.trim_audit(keep=2) == 3
    assert db.audit_documents() == [b"record 3", b"record 4"]


def test_registered_apis_and_outcomes_are_read_as_documents(db: ClusterDB) -> None:
    db.register_api("node1", {"node": "node1", "url": "http://127.0.0.1:9443"})
    assert db.apis() == {"node1": {"node": "node1", "url": "http://127.0.0.1:9443"}}
    assert db.read().apis() == db.apis()
    assert db.read().outcomes() == {}


def test_node_admin_flags_only_for_a_configured_node(db: ClusterDB) -> None:
    with pytest.raises(NotFoundError, match="node9"):
        db.write_node_admin("node9", NodeAdmin(paused=True))
    assert db.read().section(db.keys.node_admin_prefix) == {}
