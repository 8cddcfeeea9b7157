"""Drain on shutdown (DrainOnShutdown) gives the node back the administrator's own flags
(L7), on MemoryStore: only ``Daemon.drain`` runs, nothing is started."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from wolfpack.model.config import ClusterSettings, Node
from wolfpack.node.daemon import Daemon
from wolfpack.node.liveness import NodeAdmin
from wolfpack.node.settings import load_settings
from wolfpack.store import KeySpace, KeyValue, MemoryStore
from wolfpack.store.repository import ClusterDB, encode


class HookedStore(MemoryStore):
    """Runs ``during`` once, at the drain's first read of the cluster: an administrator
    acting while the daemon drains."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Callable[[], None] | None = None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        hook, self.during = self.during, None
        if hook is not None:
            hook()
        return super().get_prefix(prefix)


@pytest.fixture
def store() -> HookedStore:
    store = HookedStore()
    db = ClusterDB(store, KeySpace("/t/"))
    db.initialize(ClusterSettings(name="c"))
    db.update_config(lambda cfg: dataclasses.replace(cfg, nodes={"node1": Node("node1", 1)}))
    return store


def daemon(store: MemoryStore, tmp_path: Path) -> Daemon:
    settings = load_settings(
        None, {"node": "node1", "prefix": "/t/", "fence.agent": "none", "run_dir": str(tmp_path)}
    )
    return Daemon(settings, store=store)


def admin(store: MemoryStore) -> bytes | None:
    kv = store.get(KeySpace("/t/").node_admin("node1"))
    return kv.value if kv is not None else None


def test_drain_restores_a_pause_the_administrator_set(store: HookedStore, tmp_path: Path) -> None:
    """L7: node1 was paused by its administrator (maintenance); a restart of wolfpackd
    drains and then gives back the pause, not a fresh NodeAdmin() that resumes it."""
    paused = encode(NodeAdmin(paused=True))
    store.put(KeySpace("/t/").node_admin("node1"), paused)
    seen: list[bytes | None] = []
    store.during = lambda: seen.append(admin(store))
    daemon(store, tmp_path).drain()
    assert seen and seen[0] is not None and json.loads(seen[0])["draining"] is True  # drained
    assert admin(store) == paused


def test_drain_of_a_node_without_flags_leaves_none(store: HookedStore, tmp_path: Path) -> None:
    """L7: no flags before, none after."""
    daemon(store, tmp_path).drain()
    assert admin(store) is None


def test_flags_changed_during_the_drain_are_kept(store: HookedStore, tmp_path: Path) -> None:
    """L7: an administrator who resumes the node while it drains is not overwritten."""
    resumed = encode(NodeAdmin())
    key = KeySpace("/t/").node_admin("node1")
    store.put(key, encode(NodeAdmin(paused=True)))
    store.during = lambda: store.put(key, resumed) and None
    daemon(store, tmp_path).drain()
    assert admin(store) == resumed


def test_the_drain_flags_are_stored_as_every_other_status(
    store: HookedStore, tmp_path: Path
) -> None:
    """Issue 14: one status encoding: while it drains, the node's flags are the document
    ``ClusterDB.write_node_admin`` would store (every field, keys sorted), not a copy
    encoded another way."""
    seen: list[bytes | None] = []
    store.during = lambda: seen.append(admin(store))
    daemon(store, tmp_path).drain()
    assert seen == [encode(NodeAdmin(paused=True, draining=True))]
