"""``EtcdCluster``: several private etcd members on 127.0.0.1 (with ``--pre-vote``), for the
tests and benchmarks of leader elections; each member is an
:class:`~wolfpack.store.etcd_process.EtcdProcess`."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from wolfpack.errors import StoreError
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_process import EtcdPki, EtcdProcess, free_port
from wolfpack.store.etcd_tls import EtcdCredentials


class EtcdCluster:
    """``size`` etcd members on 127.0.0.1 (with ``--pre-vote``, as every member Wolfpack
    starts), for tests and benchmarks of leader elections. Ports are picked once and kept, so
    a killed member can be started again on its data. Only signals the PIDs it started."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        size: int = 3,
        *,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        ready_timeout: float = 30.0,
        tls: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError("an etcd cluster needs at least one member")
        root = Path(data_dir)
        self.pki = EtcdPki(root.parent / f"{root.name}-pki") if tls else None
        scheme = "https" if tls else "http"
        names = [f"m{i}" for i in range(1, size + 1)]
        ports = {n: (free_port(), free_port()) for n in names}
        while len({p for pair in ports.values() for p in pair}) < 2 * size:  # all distinct
            ports = {n: (free_port(), free_port()) for n in names}
        initial = ",".join(f"{n}={scheme}://127.0.0.1:{ports[n][1]}" for n in names)
        self.members = [
            EtcdProcess(
                root / n,
                name=n,
                client_port=ports[n][0],
                peer_port=ports[n][1],
                heartbeat_interval_ms=heartbeat_interval_ms,
                election_timeout_ms=election_timeout_ms,
                initial_cluster=initial,
                cluster_token=f"wolfpack-{root.name}",
                ready_timeout=ready_timeout,
                pki=self.pki,
            )
            for n in names
        ]
        self._status: dict[str, EtcdStore] = {}

    @property
    def admin(self) -> EtcdCredentials | None:
        return self.pki.admin if self.pki is not None else None

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self) -> EtcdCluster:
        """Start every member that is not running and wait until each serves requests."""
        try:
            stopped = [m for m in self.members if not m.running]
            fresh = self.pki is not None and all(
                not (m.data_dir / "member").exists() for m in self.members
            )
            for m in stopped:
                m.start(wait=False)
            for m in stopped:
                m.wait_ready()
            if fresh and self.pki is not None:
                self.pki.bootstrap(self.endpoints)
        except BaseException:
            self.stop()
            raise
        return self

    def leader(self) -> EtcdProcess | None:
        """The running member that is the leader now, by its own account (None: none is)."""
        for m in self.members:
            if not m.running:
                continue
            store = self._status.get(m.name)
            if store is None:
                store = self._status[m.name] = EtcdStore(
                    m.endpoint, timeout=1.0, credentials=self.admin
                )
            try:
                body = store.call_api("maintenance/status", {})
            except StoreError:
                continue
            me = str(body.get("header", {}).get("member_id", ""))
            if me and me == str(body.get("leader", "")):
                return m
        return None

    def stop(self) -> None:
        for store in self._status.values():
            store.close()
        self._status.clear()
        for m in self.members:
            m.stop()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
