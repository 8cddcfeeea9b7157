"""``create_app``: the FastAPI application of one node's REST API.

It reads and writes the cluster database through :class:`~wolfpack.store.repository.ClusterDB`
only, so every node's API gives the same answer; what a node alone knows (its log) is
asked of that node. The clock is injected (audit times, ``since`` windows, plans).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from wolfpack.admin.audit import DEFAULT_KEEP, AuditLog
from wolfpack.api import docs, errors, openapi
from wolfpack.api.cache import ClusterCache
from wolfpack.api.feed import ChangeFeed
from wolfpack.api.headers import SecurityHeaders
from wolfpack.api.metrics import RequestStats
from wolfpack.api.middleware import ApiMiddleware
from wolfpack.api.ratelimit import RateLimit
from wolfpack.api.routes import admin, cluster, events, log, objects, requests
from wolfpack.api.routes import health as health_routes
from wolfpack.api.routes import join as join_routes
from wolfpack.api.routes import validation as validation_routes
from wolfpack.model.config import ClusterConfig
from wolfpack.model.health import NodeHealth
from wolfpack.model.node_facts import NodeFacts
from wolfpack.store.repository import ClusterDB
from wolfpack.web import STATIC_DIR, mount_ui

VERSION = "1"


def create_app(
    open_db: Callable[[], ClusterDB],
    node: str,
    *,
    clock: Callable[[], float] = time.time,
    max_body_bytes: int = 1 << 20,
    audit_keep: int = DEFAULT_KEEP,
    keepalive_s: float = 15.0,
    change_rate: tuple[float, int] = (0.0, 1),
    log_file: Path | None = None,
    logger: Callable[..., None] | None = None,
    static_dir: Path | None = STATIC_DIR,
    ca_pem: bytes | None = None,
    health: Callable[[], NodeHealth] | None = None,
    peer_keys: Callable[[], Sequence[bytes]] | None = None,
    validation: Callable[[ClusterConfig], NodeFacts] | None = None,
    join: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> FastAPI:
    """The API of ``node`` on the database ``open_db()`` returns (called once). ``ca_pem``:
    the cluster CA, to verify the other nodes' APIs (the cluster log) when TLS is on.
    ``health``: what the daemon knows about itself (None: no daemon behind this API).
    ``peer_keys``: the fan-out keys from the cluster secret (:mod:`wolfpack.admin.peer`), the
    one to sign with first (None: this API asks no other node and answers none).
    ``validation``: this node's self-check for ``cluster validate``, given the configuration
    as the API last read it (None: no daemon here). ``join``: admits a joining node
    (``POST /api/v1/cluster/join``; None: this node runs no etcd member and admits nobody).

    ``change_rate``: (changes per second, burst) per client address (0: no limit)."""
    db = open_db()
    cache = ClusterCache(db)
    feed = ChangeFeed(cache, log=logger)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        feed.start()
        try:
            yield
        finally:
            feed.stop()

    app = FastAPI(
        title="Wolfpack",
        version=VERSION,
        description="The REST API of a Wolfpack failover cluster (docs/api.md).",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs and /redoc load from a CDN: ours are local (docs.py)
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry is on by default: a span per request costs CPU on
        # every read, and Wolfpack exports Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    stats = RequestStats()
    app.state.cache = cache
    app.state.feed = feed
    app.state.node = node
    app.state.clock = clock
    app.state.request_stats = stats
    app.state.keepalive_s = keepalive_s
    app.state.log_file = log_file
    app.state.ca_pem = ca_pem
    app.state.health = health
    app.state.peer_keys = peer_keys
    app.state.validation = validation
    app.state.join = join
    app.state.audit = audit = AuditLog(db, keep=audit_keep, clock=clock)
    errors.install(app)
    openapi.install(app)
    docs.install(app, "Wolfpack")
    # objects: its routes are generic (/{kind}/{name}), so last
    for module in (
        cluster,
        join_routes,
        health_routes,
        requests,
        admin,
        events,
        log,
        validation_routes,
        objects,
    ):
        app.include_router(module.router)
    if static_dir is not None and static_dir.is_dir():
        mount_ui(app, static_dir)  # the web Cluster Administrator at /ui/
    app.add_middleware(
        ApiMiddleware,
        node=node,
        audit=audit,
        metrics=stats,
        max_body_bytes=max_body_bytes,
        limit=RateLimit(*change_rate, clock=clock),
    )
    app.add_middleware(SecurityHeaders, tls=ca_pem is not None)  # outermost: every answer
    return app
