"""wolfpackd's own settings: a YAML file (``/etc/wolfpack/wolfpackd.yaml``) plus flags.

Defaults are chosen for sub-second failover on a LAN (see docs/daemon.md for the reasoning):
heartbeats every 125 ms, a node is Down after 4 silent intervals on every path (0.5 s); the
etcd lease lives 3 s, renewed every second, and resources stop 0.5 s before it could expire,
which leaves room for an etcd leader election (about 1 s) without spurious self-fencing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pydantic
import yaml

from wolfpack.errors import FieldError, ValidationError
from wolfpack.node.fencing import RESERVED_OPTIONS
from wolfpack.store.etcd import endpoint_address


class HeartbeatSection(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    interval_s: float = pydantic.Field(0.125, ge=0.01, le=5)
    threshold: int = pydantic.Field(4, ge=3, le=120)
    port: int = pydantic.Field(3343, ge=1, le=65535)


class LeaseSection(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    ttl_s: int = pydantic.Field(3, ge=2, le=60)
    renew_every_s: float = pydantic.Field(1.0, gt=0)
    margin_s: float = pydantic.Field(0.5, ge=0.1)

    @pydantic.model_validator(mode="after")
    def _timing(self) -> LeaseSection:
        # Patroni's rule, enforced rather than silently corrected: a renewal must fit twice
        # into the time left before we stop our resources.
        if 2 * self.renew_every_s + self.margin_s >= self.ttl_s:
            raise ValueError(
                f"2 x renew_every_s ({self.renew_every_s}) + margin_s ({self.margin_s}) must be "
                f"less than ttl_s ({self.ttl_s})"
            )
        return self


def _option_name(key: str) -> str:
    if key in RESERVED_OPTIONS:
        raise ValueError("is set by Wolfpack for each node; remove it from fence.options")
    if not key or "=" in key or any(c.isspace() for c in key):
        raise ValueError("an option name must be one word without '='")
    return key


def _single_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value


def _plug(value: str) -> str:
    if not value or "\n" in value or "\r" in value:
        raise ValueError("must be a non-empty single line")
    return value


def _endpoints(value: str) -> str:
    items = [e for e in value.split(",") if e.strip()]
    if not items:
        raise ValueError("needs at least one etcd endpoint (http://HOST:PORT)")
    for item in items:
        endpoint_address(item)  # ValueError with the reason (https, no host, ...)
    return value


OptionName = Annotated[str, pydantic.AfterValidator(_option_name)]
OptionValue = Annotated[str, pydantic.AfterValidator(_single_line)]
Plug = Annotated[str, pydantic.AfterValidator(_plug)]


#: What a missing ``fence.agent`` says: running unfenced must be a choice, never a default.
FENCE_CHOICES = (
    "must be set: a fence_* agent (power fencing, e.g. /usr/sbin/fence_ipmilan; what"
    " production needs), 'test' (the lab's local agent), or 'none' (no fencing: you accept"
    " the risk in docs/fencing.md, 'Running without a fence agent')"
)


class FenceSection(pydantic.BaseModel):
    """Checked here, so that a bad option stops the daemon with the field's name before it
    starts anything (the agent itself checks again: it is also used on its own). There is
    no default agent: see :data:`FENCE_CHOICES`."""

    model_config = pydantic.ConfigDict(extra="forbid")
    #: "none" (wait for the lease to expire), "test" (local test agent) or a fence_* program.
    agent: str = pydantic.Field(min_length=1)
    options: dict[OptionName, OptionValue] = {}
    #: node -> the plug (VM, outlet, instance) the agent knows it by; default: the node name
    host_map: dict[str, Plug] = {}
    timeout_s: float = pydantic.Field(20.0, gt=0)
    run_root: Path | None = None  # for the test agent: where every node's run_dir lives


class ApiSection(pydantic.BaseModel):
    """The REST API every wolfpackd serves (docs/api.md). ``port: 0`` or ``enabled: false``
    turns it off. ``tls: true`` serves HTTPS with a node certificate signed by the cluster CA
    (made in ``run_dir/tls/`` when missing); plain HTTP belongs on loopback or a private
    network only."""

    model_config = pydantic.ConfigDict(extra="forbid")
    enabled: bool = True
    listen: str = "127.0.0.1"
    port: int = pydantic.Field(9443, ge=0, le=65535)
    #: The address other nodes and clients use to reach it (default: ``listen``).
    advertise: str | None = None
    tls: bool = False
    max_body_bytes: int = pydantic.Field(1 << 20, ge=1024)
    audit_keep: int = pydantic.Field(10_000, ge=10)
    keepalive_s: float = pydantic.Field(15.0, gt=0)
    #: The node's own log lines, for ``/api/v1/log``: rotated at this size, one old file kept.
    log_max_bytes: int = pydantic.Field(5 << 20, ge=4096)

    @property
    def active(self) -> bool:
        return self.enabled and self.port != 0


class DaemonSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    node: str
    #: comma-separated ``http://HOST:PORT`` (no TLS to etcd yet: ``https://`` is refused)
    endpoints: Annotated[str, pydantic.AfterValidator(_endpoints)] = "http://127.0.0.1:2379"
    prefix: str = "/wolfpack/"
    secret_file: Path = Path("/etc/wolfpack/secret")
    run_dir: Path = Path("/run/wolfpack")
    #: The daemon's log lines (the node's part of the cluster log), kept across reboots when
    #: set (the package: /var/log/wolfpack/wolfpackd.log, rotated by logrotate). Unset:
    #: ``run_dir/wolfpackd.log``, rotated by the daemon at ``api.log_max_bytes``.
    log_file: Path | None = None
    heartbeat: HeartbeatSection = HeartbeatSection()
    lease: LeaseSection = LeaseSection()
    fence: FenceSection  # required: see FENCE_CHOICES
    #: The coordinator decides on every change; this is the longest it waits without one
    #: (for time-based decisions: failback windows, stability delays, pending timeouts).
    tick_s: float = pydantic.Field(1.0, gt=0)
    drain_on_shutdown: bool = True
    drain_timeout_s: float = pydantic.Field(30.0, ge=0)
    dump_dir: Path | None = None
    watchdog_margin_s: float = pydantic.Field(0.3, ge=0.05)
    api: ApiSection = ApiSection()


def load_settings(path: Path | None, overrides: dict[str, Any]) -> DaemonSettings:
    """Settings from ``path`` (if given) with ``overrides`` (flags; ``fence.agent`` sets one
    field of a section) on top; bad values raise :class:`ValidationError` naming the field."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ValidationError.single("config", f"cannot read {path}: {exc.strerror}") from None
        if not isinstance(loaded, dict):
            raise ValidationError.single("config", f"{path} must hold a YAML mapping")
        data.update(loaded)
    for key, value in overrides.items():  # a dotted key sets one field of a section
        if value is None:
            continue
        *sections, name = key.split(".")
        target = data
        for section in sections:
            nested = target.get(section)
            target[section] = target = dict(nested) if isinstance(nested, dict) else {}
        target[name] = value
    try:
        return DaemonSettings.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError([_error(e) for e in exc.errors()]) from None


def _error(e: Any) -> FieldError:
    if e["type"] == "missing" and tuple(e["loc"]) in (("fence",), ("fence", "agent")):
        return FieldError("fence.agent", FENCE_CHOICES)
    return FieldError(_field(e["loc"]), e["msg"].removeprefix("Value error, "))


def _field(loc: tuple[int | str, ...]) -> str:
    """``("fence", "options", "plug", "[key]")`` -> ``fence.options.plug``: a bad key is
    named by the key itself."""
    return ".".join(str(p) for p in loc if p != "[key]") or "settings"
