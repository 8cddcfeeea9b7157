"""The REST API inside wolfpackd: uvicorn on its own thread, so the daemon's loops never
wait for HTTP and a failing API (a port in use) is logged without stopping the node.

Where the API listens is written to ``<root>api/<node>``, so any node's API can ask the
others (the cluster log) and clients can find every node's API.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wolfpack.api.settings import ApiSection
from wolfpack.errors import WolfpackError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.health import NodeHealth
from wolfpack.model.node_facts import NodeFacts
from wolfpack.store.repository import ClusterDB

SWITCH_INTERVAL_S = 0.0002
INSECURE_COST = "plain HTTP (api.tls: false): API tokens and answers cross the network in clear"


class ApiServer:
    def __init__(
        self,
        db: ClusterDB,
        node: str,
        settings: ApiSection,
        *,
        log: Callable[..., None],
        log_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        tls: tuple[Path, Path, bytes] | None = None,
        health: Callable[[], NodeHealth] | None = None,
        peer_keys: Callable[[], Sequence[bytes]] | None = None,
        validation: Callable[[ClusterConfig], NodeFacts] | None = None,
        join: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """``tls``: this node's certificate and key files and the cluster CA (PEM).
        ``health``: what the daemon knows about itself (metrics, ``/readyz``).
        ``peer_keys``: the cluster secret's fan-out keys (:mod:`wolfpack.admin.peer`).
        ``validation``: the node's self-check (``GET /api/v1/nodes/{name}/validation``)."""
        self.db, self.node, self.settings, self.log = db, node, settings, log
        self.log_file, self.clock, self.tls, self.health = log_file, clock, tls, health
        self.peer_keys = peer_keys
        self.validation = validation
        self.join = join
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.settings.advertise or self.settings.listen
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.settings.port}"

    def start(self) -> None:
        import uvicorn  # imported only when the API is on: keeps a node without it small

        from wolfpack.api.app import create_app
        from wolfpack.api.quiet_server import QuietServer

        # Hand the GIL over every 0.2 ms, not 5: a busy event loop serving reads must not
        # keep a change (or the daemon's own heartbeat and lease threads) waiting for it
        # (bench/api.py: write p99 under 1000 reads/s 62 ms at 1 ms, 43 ms at 0.2 ms).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        s = self.settings
        app = create_app(
            lambda: self.db,
            self.node,
            clock=self.clock,
            max_body_bytes=s.max_body_bytes,
            audit_keep=s.audit_keep,
            keepalive_s=s.keepalive_s,
            change_rate=(s.change_rate_per_s, s.change_burst),
            log_file=self.log_file,
            logger=self.log,
            ca_pem=self.tls[2] if self.tls is not None else None,
            join=self.join,
            health=self.health,
            peer_keys=self.peer_keys,
            validation=self.validation,
        )
        ssl: dict[str, Any] = {}
        if self.tls is not None:
            ssl = {"ssl_certfile": str(self.tls[0]), "ssl_keyfile": str(self.tls[1])}
        else:  # only when asked for (api.tls: false): say so at every start
            self.log("api_insecure", level="warning", url=self.url, cost=INSECURE_COST)
        config = uvicorn.Config(
            app,
            host=s.listen,
            port=s.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",  # uvloop would cost the daemon ~2 MB more for little gain here
            http="httptools",  # C parser: about half the CPU of h11 per request
            timeout_graceful_shutdown=2,
            **ssl,
        )
        self._server = QuietServer(config)
        self._thread = threading.Thread(target=self._run, name="api", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # SystemExit from a port in use: the node goes on
            self.log("api_failed", error=str(exc) or type(exc).__name__)
            return
        if not self._server.started:
            self.log("api_failed", error=f"could not listen on {self.url}")

    def reload_certificate(self, cert: Path, key: Path) -> None:
        """Serve a new certificate from the next TLS handshake on (a key rotation): the
        running server's context takes it, open connections keep theirs, nothing stops."""
        context = getattr(getattr(self._server, "config", None), "ssl", None)
        if context is not None:
            context.load_cert_chain(str(cert), str(key))

    def wait_started(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return True
            if self._thread is not None and not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    def register(self) -> None:
        """Publish where this node's API listens."""
        body = {"node": self.node, "url": self.url, "started": self.clock()}
        try:
            self.db.register_api(self.node, body)
        except WolfpackError as exc:
            self.log("api_register_failed", error=str(exc))

    def stop(self) -> None:
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=5)
