"""wolfpackd's own settings: a YAML file (``/etc/wolfpack/wolfpackd.yaml``) plus flags.

Defaults are chosen for sub-second failover on a LAN (see docs/daemon.md for the reasoning):
heartbeats every 125 ms, a node is Down after 4 silent intervals on every path (0.5 s); the
etcd lease lives 3 s, renewed every 0.5 s, and resources stop 0.5 s before it could expire,
which leaves room for an etcd leader election (up to 1.5 s with Wolfpack's etcd settings)
without spurious self-fencing (see :class:`LeaseSection`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml

from wolfpack.api.settings import ApiSection
from wolfpack.errors import FieldError, ValidationError
from wolfpack.node.etcd_member import MemberSection
from wolfpack.node.fencing import IO_AGENTS, RESERVED_OPTIONS, FenceKind, kind_of
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.etcd_wire import split_endpoint


class HeartbeatSection(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    interval_s: float = pydantic.Field(0.125, ge=0.01, le=5)
    threshold: int = pydantic.Field(4, ge=3, le=120)
    port: int = pydantic.Field(3343, ge=1, le=65535)
    #: After a peer falls silent on every heartbeat path, how long the coordinator waits
    #: for a sign of life from it in etcd before it is Down (docs/fencing.md). Default
    #: (None): sized from this node's measured etcd round trips (:mod:`wolfpack.node.grace`).
    grace_s: float | None = pydantic.Field(None, ge=0, le=60)


class LeaseSection(pydantic.BaseModel):
    """The node lease (docs/daemon.md, *Why these defaults*). A node self-fences when it has
    not renewed for ``ttl_s - margin_s`` since the last successful keep-alive was sent, so an
    etcd leader election must fit into that time with a renewal interval to spare:

        ttl_s - margin_s - renew_every_s  >=  3 x etcd's election timeout

    (a follower starts an election between 1 and 2 election timeouts after the leader went
    silent; one more for a pre-vote or split vote that fails, or for a keep-alive that a
    member without a leader holds for a whole timeout; the pre-vote round trip itself is
    milliseconds). Wolfpack's etcd members run with ``--election-timeout 500 --pre-vote``:
    3 - 0.5 - 0.5 = 2.0 s >= 1.5 s. Keep-alives go to every endpoint in turn within the time
    left, so a killed leader costs one refused connection. Measured by
    ``bench/etcd_election.py`` (20 leader kills): no lease lost, longest gap between
    renewals 1.6 s. With etcd's own default election timeout of 1 s, set ``ttl_s`` to 5."""

    model_config = pydantic.ConfigDict(extra="forbid")
    ttl_s: int = pydantic.Field(3, ge=2, le=60)
    margin_s: float = pydantic.Field(0.5, ge=0.1, validate_default=True)
    renew_every_s: float = pydantic.Field(0.5, gt=0, validate_default=True)

    @pydantic.field_validator("margin_s")
    @classmethod
    def _margin_in_ttl(cls, value: float, info: pydantic.ValidationInfo) -> float:
        ttl = info.data.get("ttl_s")
        if ttl is not None and value >= ttl:
            raise ValueError(f"must be less than lease.ttl_s ({ttl})")
        return value

    @pydantic.field_validator("renew_every_s")
    @classmethod
    def _two_tries(cls, value: float, info: pydantic.ValidationInfo) -> float:
        # Patroni's rule, enforced rather than silently corrected: a renewal must fit twice
        # into the time left before we stop our resources.
        ttl, margin = info.data.get("ttl_s"), info.data.get("margin_s")
        if ttl is not None and margin is not None and 2 * value + margin >= ttl:
            raise ValueError(
                f"2 x renew_every_s ({value}) + margin_s ({margin}) must be less than ttl_s"
                f" ({ttl}): at least two renewals must fit before the node self-fences"
            )
        return value


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


#: What plain-text etcd costs, said when it is refused and logged when it is chosen.
INSECURE_COST = (
    "anyone who reaches etcd can read and write the cluster database, which is root on every "
    "node (a Generic Application runs as root) and admin API tokens"
)


def _endpoints(value: str, info: pydantic.ValidationInfo) -> str:
    items = [e for e in value.split(",") if e.strip()]
    if not items:
        raise ValueError("needs at least one etcd endpoint (https://HOST:PORT)")
    schemes = {split_endpoint(item)[0] for item in items}  # ValueError: no host, bad port...
    if len(schemes) > 1:
        raise ValueError("mixes http:// and https://: every endpoint must use https://")
    etcd = info.data.get("etcd")
    if schemes == {"http"} and not (isinstance(etcd, EtcdSection) and etcd.insecure):
        raise ValueError(
            "plain http:// is refused: reach etcd over https:// with this node's certificate "
            "(etcd.ca, etcd.cert, etcd.key; docs/install.md section 4), or set etcd.insecure: "
            f"true to accept that {INSECURE_COST}"
        )
    return value


ETCD_DIR = Path("/etc/wolfpack/etcd")


class EtcdSection(pydantic.BaseModel):
    """How this node proves itself to etcd (C1; files from ``wolfpack cluster certs issue
    --node NAME``). ``cert``/``key``/``password_file`` are the daemon's own etcd user
    (``node:<name>``), which cannot change the configuration; ``api_*`` are its REST API's
    (``api:<name>``), used when present (the API then changes the configuration for token
    holders, and the coordinator moves resources between groups with it). The password
    files default to the certificate's path with ``.password``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    ca: Path = ETCD_DIR / "ca.crt"
    cert: Path = ETCD_DIR / "node.crt"
    key: Path = ETCD_DIR / "node.key"
    password_file: Path | None = None
    api_cert: Path = ETCD_DIR / "api.crt"
    api_key: Path = ETCD_DIR / "api.key"
    api_password_file: Path | None = None
    #: Accept plain http:// endpoints without authentication (logged at every start).
    insecure: bool = False

    def node_credentials(self, *, in_child: bool = False) -> EtcdCredentials:
        """The daemon's files, checked (ValidationError naming ``etcd.<field>``); for
        ``in_child`` see :meth:`EtcdCredentials.load`."""
        return EtcdCredentials.load(
            self.ca, self.cert, self.key, self.password_file, in_child=in_child
        )

    def api_credentials(self, *, in_child: bool = False) -> EtcdCredentials | None:
        """The REST API's files if there are any (None: the API uses the node's and cannot
        change the configuration); set explicitly, they must be there."""
        explicit = {"api_cert", "api_key", "api_password_file"} & self.model_fields_set
        if not explicit and not self.api_cert.exists():
            return None
        try:
            return EtcdCredentials.load(
                self.ca, self.api_cert, self.api_key, self.api_password_file, field="etcd",
                in_child=in_child,
            )  # fmt: skip
        except ValidationError as exc:  # name the api_ fields, not the node's
            errors = [
                FieldError(e.field.replace("etcd.cert", "etcd.api_cert")
                           .replace("etcd.key", "etcd.api_key")
                           .replace("etcd.password_file", "etcd.api_password_file"), e.message)
                for e in exc.errors
            ]  # fmt: skip
            raise ValidationError(errors) from None


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
    #: "power" (the node is off) or "io" (cut off from shared storage only: its groups wait
    #: for its lease, and it is unfenced at start). Default: io for fence_scsi and
    #: fence_mpath, power for every other agent.
    kind: Literal["power", "io"] | None = None

    @pydantic.field_validator("kind")
    @classmethod
    def _kind(cls, kind: str | None, info: pydantic.ValidationInfo) -> str | None:
        agent = str(info.data.get("agent", "none"))
        name = Path(agent).name
        if kind == "power" and name in IO_AGENTS:
            raise ValueError(
                f"{name} only cuts a node off from its disks: it is an io fence "
                "(set kind: io, or leave kind out)"
            )
        if kind == "io" and agent in ("none", "test"):
            what = "fences nothing" if agent == "none" else "is a power fence"
            raise ValueError(f"io needs an io fence agent such as fence_scsi; {agent!r} {what}")
        return kind

    @property
    def effective_kind(self) -> FenceKind:
        return FenceKind(self.kind) if self.kind is not None else kind_of(self.agent)


class DaemonSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    node: str
    etcd: EtcdSection = EtcdSection()
    #: comma-separated ``https://HOST:PORT`` (``http://`` only with ``etcd.insecure: true``)
    endpoints: Annotated[str, pydantic.AfterValidator(_endpoints)] = "https://127.0.0.1:2379"
    prefix: str = "/wolfpack/"
    secret_file: Path = Path("/etc/wolfpack/secret")
    run_dir: Path = Path("/run/wolfpack")
    #: The daemon's log lines (the node's part of the cluster log), kept across reboots when
    #: set (the package: /var/log/wolfpack/wolfpackd.log, rotated by logrotate). Unset:
    #: ``run_dir/wolfpackd.log``, rotated by the daemon at ``api.log_max_bytes``.
    log_file: Path | None = None
    #: Resources' output (programs' output.log, nginx's access.log and error.log, fsck and
    #: OCF runs), one directory per resource, kept across reboots and moves when set (the
    #: package: /var/log/wolfpack/resources, rotated by logrotate). Unset: in run_dir.
    resource_log_dir: Path | None = None
    heartbeat: HeartbeatSection = HeartbeatSection()
    lease: LeaseSection = LeaseSection()
    fence: FenceSection  # required: see FENCE_CHOICES
    #: The coordinator decides on every change; this is the longest it waits without one
    #: (for time-based decisions: failback windows, stability delays, pending timeouts).
    tick_s: float = pydantic.Field(1.0, gt=0)
    #: The daemon's nice value (and its etcd member's): above the workloads, so that a busy
    #: node's heartbeats and lease renewals are not taken for a dead node's (resources'
    #: programs run at 0 whatever this is). Needs root to go below 0.
    nice: int = pydantic.Field(-10, ge=-20, le=19)
    drain_on_shutdown: bool = True
    drain_timeout_s: float = pydantic.Field(30.0, ge=0)
    dump_dir: Path | None = None
    watchdog_margin_s: float = pydantic.Field(0.3, ge=0.05, validate_default=True)
    api: ApiSection = ApiSection()
    #: This node's own etcd member, started and supervised by the daemon (issue 10); absent:
    #: etcd is run by someone else.
    etcd_member: MemberSection | None = None
    #: Ask every voting etcd member, read from the member list every few seconds, not only
    #: ``endpoints`` (:mod:`wolfpack.node.etcd_endpoints`). Unset: on with ``etcd_member:``,
    #: off for an etcd someone else runs (its members may advertise addresses only their own
    #: hosts can use). ``cluster join`` sets it for a node it admitted without a member of its
    #: own, whose endpoints are the voters of the day: it follows evictions and new voters.
    follow_members: bool | None = None
    #: The lab only (``wolfpack lab``): a file holding seconds added to the clock this node
    #: reports to ``cluster validate``, to show a skewed clock without touching the machine's.
    lab_clock_skew_file: Path | None = None

    @property
    def follows_members(self) -> bool:
        return self.follow_members if self.follow_members is not None else bool(self.etcd_member)

    @pydantic.field_validator("watchdog_margin_s")
    @classmethod
    def _watchdog_after_self_fence(cls, value: float, info: pydantic.ValidationInfo) -> float:
        """The daemon stops its resources at ``deadline - lease.margin_s``; the watchdog
        (for a frozen daemon) kills them later, at ``deadline - watchdog_margin_s``."""
        lease = info.data.get("lease")
        if isinstance(lease, LeaseSection) and value >= lease.margin_s:
            raise ValueError(f"must be less than lease.margin_s ({lease.margin_s})")
        return value


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
