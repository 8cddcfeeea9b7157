"""API tests: unit-level ones run the FastAPI app in-process (httpx through Starlette's
TestClient) on the in-memory store; integration ones (``test_integration.py``) start a real
etcd and three real wolfpackd processes, each serving its API on its own loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wolfpack.admin import tokens
from wolfpack.api.app import create_app
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Network, Node
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def base_config(cfg: ClusterConfig) -> ClusterConfig:
    return replace(
        cfg,
        nodes={f"node{i}": Node(f"node{i}", i) for i in (1, 2, 3)},
        networks={"public": Network("public", "198.51.100.0/24")},
        groups={"Web": Group("Web", preferred_owners=("node1", "node2"))},
    )


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    db: ClusterDB
    admin: str  # full token texts
    reader: str
    clock: Clock

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, token: str | None = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(self._tok(token)), **kw)

    def call(self, method: str, path: str, token: str | None = "admin", **kw: Any) -> Any:
        headers = {**self.headers(self._tok(token)), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def _tok(self, token: str | None) -> str | None:
        return {"admin": self.admin, "reader": self.reader}.get(token or "", token)

    def dump(self) -> dict[str, Any]:
        """The stored configuration (and its epoch), to prove a refused request changed
        nothing."""
        kvs, _ = self.db.store.get_prefix(self.db.keys.config_root)
        epoch = self.db.store.get(self.db.keys.config_epoch)
        return {
            "config": {kv.key: kv.value for kv in kvs},
            "epoch": epoch.mod_revision if epoch else 0,
        }


@pytest.fixture
def api() -> Iterator[Api]:
    store = MemoryStore()
    clock = Clock()
    db = ClusterDB(store, clock=clock)
    db.initialize(ClusterSettings(name="unit"))
    db.update_config(base_config)
    _, admin = tokens.create(db, "alice", "admin", clock=clock)
    _, reader = tokens.create(db, "bob", "read-only", clock=clock)
    app = create_app(lambda: db, "node1", clock=clock, max_body_bytes=4096, keepalive_s=0.2)
    with TestClient(app) as client:
        yield Api(client, app, db, admin, reader, clock)
