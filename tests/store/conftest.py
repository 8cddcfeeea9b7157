"""Fixtures for the store tests.

``etcd_server`` (session scope) is one real etcd shared by every etcd-backed test; tests stay
independent by writing under their own key prefix (``harness.ns``). Other test packages can
build the same fixture in a few lines from the package itself::

    from wolfpack.store.etcd_process import EtcdProcess

    @pytest.fixture(scope="session")
    def etcd_server(tmp_path_factory):
        proc = EtcdProcess(tmp_path_factory.mktemp("etcd") / "data")
        try:
            yield proc.start()
        finally:
            proc.stop()

It runs over TLS with authentication on (C1); ``etcd_server.store()`` is a client as its
administrator.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from wolfpack.store import EtcdStore, MemoryStore, Store
from wolfpack.store.etcd_process import EtcdProcess, free_port

#: upper bound of every wait in these tests: nothing may hang
MAX_WAIT = 6.0


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """A real etcd on 127.0.0.1 for the whole session, stopped (by PID) even on failure."""
    proc = EtcdProcess(tmp_path_factory.mktemp("etcd") / "data")
    try:
        yield proc.start()
    finally:
        proc.stop()


class FakeClock:
    """Monotonic clock for MemoryStore that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Callable[[], bool], timeout: float = MAX_WAIT) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@dataclass
class Harness:
    """One store under test plus what a contract test needs to drive it the same way for
    every implementation."""

    kind: str
    store: Store
    ns: str  # key prefix private to this test
    advance: Callable[[float], None]  # let time pass: fake clock (memory) or sleep (etcd)
    make_down_store: Callable[[], Store]  # a store whose backend cannot be reached
    down_hints: tuple[str, ...]  # texts the StoreUnavailable message of that store contains
    leases: list[int] = field(default_factory=list)

    def k(self, suffix: str) -> str:
        return self.ns + suffix

    def lease(self, ttl: int) -> int:
        """Grant a lease that teardown revokes, so no expiry can fire during a later test."""
        lease_id = self.store.lease_grant(ttl)
        self.leases.append(lease_id)
        return lease_id


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    ns = f"/test/{request.node.name}-{uuid.uuid4().hex[:8]}/"
    if request.param == "memory":
        clock = FakeClock()
        store: Store = MemoryStore(clock=clock)

        def down() -> Store:
            closed = MemoryStore()
            closed.close()
            return closed

        h = Harness("memory", store, ns, clock.advance, down, ("closed",))
        cleanup: Store | None = None
    else:
        server: EtcdProcess = request.getfixturevalue("etcd_server")
        store = server.store(timeout=5.0)  # over TLS as an administrator (C1)
        dead = f"https://127.0.0.1:{free_port()}"
        hints = (dead, "Is etcd running?")
        admin = server.admin

        def down() -> Store:
            return EtcdStore(dead, timeout=1.0, credentials=admin)

        h = Harness("etcd", store, ns, time.sleep, down, hints)
        cleanup = server.store(timeout=5.0)  # works even if the test closed store
    try:
        yield h
    finally:
        try:
            if cleanup is not None:
                for lease_id in h.leases:
                    cleanup.lease_revoke(lease_id)
                cleanup.delete(ns, prefix=True)
                cleanup.close()
        finally:
            h.store.close()
