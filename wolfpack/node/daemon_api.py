"""The REST API's part of wolfpackd: starting the server, its certificate (made, renewed,
rotated with the cluster's keys) and the keys nodes use to ask each other (M9).

A base of :class:`~wolfpack.node.daemon.Daemon`, kept apart so the daemon's wiring reads
on one page; it uses only the daemon's attributes declared below.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wolfpack.errors import StoreUnavailable
from wolfpack.model.config import ClusterConfig
from wolfpack.model.health import NodeHealth
from wolfpack.model.node_facts import NodeFacts, WatchdogFact
from wolfpack.node.jsonlog import JsonLog
from wolfpack.node.key_rotation import KeyFollower, rotate_certificate
from wolfpack.node.keyring import Keys
from wolfpack.node.membership import Membership
from wolfpack.node.settings import DaemonSettings
from wolfpack.node.watchdog import WatchdogClient
from wolfpack.store import KeySpace
from wolfpack.store.base import Store
from wolfpack.store.repository import ClusterDB
from wolfpack.store.view import ClusterReader

if TYPE_CHECKING:
    from wolfpack.api.server import ApiServer

API_TLS_ATTEMPTS = 3  # the API certificate at start: etcd may be slow on a loaded host
#: joins are admitted one at a time: a joiner that asks again after a lost answer must not
#: have its users' passwords set by the earlier attempt after the later one
_ONE_JOIN_AT_A_TIME = threading.Lock()


class DaemonApi:
    """The REST API of a node's daemon."""

    settings: DaemonSettings
    log: JsonLog
    reader: ClusterReader
    api_db: ClusterDB
    run_dir: Path
    api: ApiServer | None
    membership: Membership | None
    watchdog: WatchdogClient | None
    store: Store
    keys: KeySpace
    key_follower: KeyFollower | None
    _secret: bytes
    _stop: threading.Event

    def health(self) -> NodeHealth:
        """What the daemon knows about itself (``/healthz``, ``/metrics``)."""
        raise NotImplementedError

    def _heard_by_network(self) -> dict[str, list[str]]:
        """Heartbeat network -> the peers heard on it now."""
        raise NotImplementedError

    def validation_facts(self, cfg: ClusterConfig) -> NodeFacts:
        """This node's facts for ``cluster validate`` (S1), gathered now (bounded), for the
        configuration ``cfg`` (the API's newest read: no read of etcd needed here)."""
        from wolfpack.node import selfcheck  # lazy: only when someone validates

        s = self.settings
        checker = selfcheck.SelfcheckSettings(
            node=s.node,
            port=s.heartbeat.port,
            fence_agent=s.fence.agent,
            endpoints=s.endpoints,
            clock_skew_file=s.lab_clock_skew_file,
        )

        def watchdog() -> WatchdogFact:
            w = self.watchdog
            if w is None or not w.alive():
                return WatchdogFact(False, "not started" if w is None else "its process exited")
            return WatchdogFact(True, "running")

        return selfcheck.gather(
            cfg,
            checker,
            etcd_read=lambda: self.store.get(self.keys.schema_version),
            watchdog=watchdog,
            heard=self._heard_by_network if self.membership is not None else None,
        )

    def _start_api(self) -> None:
        """The REST API on its own thread; a node whose API cannot start still runs."""
        if not self.settings.api.active:
            return
        from wolfpack.api.server import ApiServer  # lazy: a node without the API stays small

        try:
            self.api = ApiServer(
                self.api_db,
                self.settings.node,
                self.settings.api,
                log=self.log,
                log_file=self.log.path,
                tls=self._api_tls_retried() if self.settings.api.tls else None,
                health=self.health,
                peer_keys=self._peer_keys,
                validation=self.validation_facts,
                join=self._admit if self.settings.etcd_member is not None else None,
            )
            self.api.start()
        except Exception as exc:  # the cluster must not depend on its API (a TLS or port fault)
            self.log("api_failed", error=str(exc))
            self.api = None
            return
        if self.api.wait_started():
            self.api.register()
            self.log("api_listening", url=self.api.url)

    def _admit(self, message: dict[str, Any]) -> dict[str, Any]:
        """A joining node's request (``POST /api/v1/cluster/join``), with the cluster secret
        this node holds and the credentials of its etcd member's section."""
        from wolfpack.node.join_child import admit_in_child  # ~9 MB of cryptography spared

        assert self.settings.etcd_member is not None  # the route is only given when there is one
        with _ONE_JOIN_AT_A_TIME:  # a joiner asking again waits for its first attempt to end
            return admit_in_child(
                message, settings=self.settings, secret=self._secret, now=time.time(), log=self.log
            )

    def _peer_keys(self) -> list[bytes]:
        """The API fan-out's keys (M9): from the cluster secret(s) this node holds, the one
        it signs with first (two during a key rotation)."""
        from wolfpack.admin.peer import peer_key

        keys = self.key_follower.current if self.key_follower else None
        return [peer_key(k) for k in (keys.accept if keys else (self._secret,))]

    def _apply_keys(self, keys: Keys) -> None:
        """A key rotation's phase: heartbeats signed and accepted with these keys."""
        if self.membership is not None:
            self.membership.set_keys(keys.send, keys.accept)
        self._secret = keys.current

    def _rotation_certificate(self, keys: Keys, phase: str) -> None:
        if self.api is None or self.api.tls is None:
            return
        cert, key = self.api.tls[0], self.api.tls[1]
        if rotate_certificate(self.api_db, keys, phase, self.settings.node,
                              self._api_addresses(), cert.parent):  # fmt: skip
            self.api.reload_certificate(cert, key)
            self.log("api_certificate_rotated", phase=phase)

    def _api_tls_retried(self) -> tuple[Path, Path, bytes]:
        """:meth:`_api_tls`, tried again when etcd is slow to answer (a loaded start):
        HTTPS is the default, and a node must not lose its API to one timeout."""
        for attempt in range(API_TLS_ATTEMPTS):
            try:
                return self._api_tls()
            except StoreUnavailable as exc:
                if attempt == API_TLS_ATTEMPTS - 1:
                    raise
                self.log("api_tls_retry", level="warning", error=str(exc))
                self._stop.wait(1.0)
        raise AssertionError("unreachable")

    def _api_tls(self) -> tuple[Path, Path, bytes]:
        """This node's API certificate (made or renewed now if needed) and the cluster CA.
        The same files found good by an earlier start are taken as they are; otherwise a
        child process checks or makes them: this process never loads cryptography
        (:mod:`wolfpack.admin.cert_memo`, :mod:`wolfpack.admin.cert_child`: ~9 MB)."""
        from wolfpack.admin import cert_child, cert_memo

        s = self.settings
        where = self.run_dir / "tls"
        addresses = self._api_addresses()
        ca_pem = self.api_db.ca_certificate()
        names = cert_memo.san_names(s.node, addresses)
        if ca_pem is not None and cert_memo.remembered(where, ca_pem, names, time.time()):
            return where / "api.crt", where / "api.key", ca_pem
        ca_key = self.api_db.encrypted_ca_key()
        if ca_pem is not None and ca_key is not None:  # checked or made by a child process
            cert_child.in_child(ca_pem, ca_key, self._secret, s.node, addresses, where)
            if cert_memo.remembered(where, ca_pem, names, time.time()):
                return where / "api.crt", where / "api.key", ca_pem
        from wolfpack.admin import tls  # no CA yet: made here (cryptography stays loaded)

        cfg = self.reader.read().snapshot.config
        cert, key = tls.node_certificate(
            self.api_db, self._secret, cfg.cluster.name, s.node, addresses, where
        )
        return cert, key, tls.ensure_ca(self.api_db, self._secret, cfg.cluster.name)

    def _api_addresses(self) -> list[str]:
        """What this node's API certificate names besides its name and 127.0.0.1."""
        s = self.settings
        cfg = self.reader.read().snapshot.config
        addresses = [i.address for i in cfg.interfaces.values() if i.node == s.node]
        return addresses + [a for a in (s.api.listen, s.api.advertise) if a]
