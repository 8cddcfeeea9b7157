"""The REST API's settings, the ``api:`` section of ``wolfpackd.yaml`` (docs/daemon.md)."""

from __future__ import annotations

import pydantic


class ApiSection(pydantic.BaseModel):
    """The REST API every wolfpackd serves (docs/api.md). ``port: 0`` or ``enabled: false``
    turns it off. HTTPS by default (issue 11), with a node certificate signed by the cluster
    CA (made in ``run_dir/tls/`` when missing); ``tls: false`` serves plain HTTP, which the
    daemon logs as ``api_insecure`` (a warning) at every start: tokens would cross the
    network in clear."""

    model_config = pydantic.ConfigDict(extra="forbid")
    enabled: bool = True
    listen: str = "127.0.0.1"
    port: int = pydantic.Field(9443, ge=0, le=65535)
    #: The address other nodes and clients use to reach it (default: ``listen``).
    advertise: str | None = None
    tls: bool = True
    max_body_bytes: int = pydantic.Field(1 << 20, ge=1024)
    audit_keep: int = pydantic.Field(10_000, ge=10)
    keepalive_s: float = pydantic.Field(15.0, gt=0)
    #: Changes (POST, PATCH, PUT, DELETE) per second from one client address, and how many at
    #: once: more get 429 (H8: a flood cannot fill etcd). 0: no limit.
    change_rate_per_s: float = pydantic.Field(20.0, ge=0)
    change_burst: int = pydantic.Field(100, ge=1)
    #: The node's own log lines, for ``/api/v1/log``: rotated at this size, one old file kept.
    log_max_bytes: int = pydantic.Field(5 << 20, ge=4096)

    @property
    def active(self) -> bool:
        return self.enabled and self.port != 0
