"""The key layout of the Wolfpack cluster database (schema version 1).

Every key lives under one root (``/wolfpack/`` by default; tests use their own roots so they
can share one etcd). The layout is part of the on-disk format: changing it means bumping
:data:`SCHEMA_VERSION` and writing a migration. ``docs/store.md`` describes it for
administrators.

::

    <root>schema_version                 b"1"
    <root>secret_verifier                HMAC of a fixed text under the cluster secret
                                         (wolfpack.node.secret): checks a node's secret
    <root>config/cluster                 cluster-wide settings (JSON)
    <root>config/<kind>/<name>           kind in CONFIG_KINDS (JSON documents)
    <root>config_epoch                   bumped by every configuration write
    <root>state/<kind>/<name>            kind in STATE_KINDS: observed runtime state (JSON)
    <root>intents/<id>                   administrator requests (JSON)
    <root>outcomes/<id>                  what became of a request: accepted/rejected (JSON)
    <root>admin/nodes/<name>             an administrator's pause/drain of a node (JSON)
    <root>inventory/<name>               the software a node found on itself at start (JSON)
    <root>leases/nodes/<name>            node liveness, attached to that node's lease
    <root>leases/coordinator             coordinator election, attached to the winner's lease
    <root>views/<name>                   which peers a node hears on its heartbeats (JSON),
                                         attached to that node's lease (wolfpack.node.views)
    <root>links/<name>                   what a node sees of its own interfaces: link condition
                                         (media sense) and the peers heard on each network
                                         (JSON), attached to that node's lease
                                         (wolfpack.node.links)
    <root>claims/<kind>/<name>           an exclusive claim (kind ``disks``: a filesystem
                                         UUID), attached to the holding node's lease
    <root>tokens/<name>                  an API token: role and sha256 of its secret (JSON)
    <root>api/<node>                     where a node's REST API listens (JSON)
    <root>tls/ca.crt                     the cluster CA certificate (PEM)
    <root>tls/ca.key                     its key (PEM, encrypted with the cluster secret)
    <root>tls/next.key                   during a key rotation: the next CA's key (PEM,
                                         encrypted with the next cluster secret)
    <root>rotation/current               a key rotation under way or the last one (JSON:
                                         wolfpack.admin.rotation)
    <root>rotation/acks/<node>           the phase of it that node has applied (JSON)
    <root-without-slash>.audit/<id>      API audit records (JSON), a sibling of the root
                                         so the daemons' whole-root reads never carry them
    <root-without-slash>.history/<group> the group's last failover timelines (JSON,
                                         wolfpack.model.timeline.History), a sibling too

Names are single path segments: non-empty, without ``/``, so that a prefix such as
``config/groups/`` matches exactly the groups and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from wolfpack.errors import StoreError
from wolfpack.store.base import Store, put_if_absent

SCHEMA_VERSION: Final = 1
DEFAULT_ROOT: Final = "/wolfpack/"

ConfigKind: TypeAlias = Literal["nodes", "networks", "interfaces", "groups", "resources", "types"]
StateKind: TypeAlias = Literal["nodes", "groups", "resources"]
CONFIG_KINDS: Final[tuple[str, ...]] = get_args(ConfigKind)
STATE_KINDS: Final[tuple[str, ...]] = get_args(StateKind)


def _segment(what: str, name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{what} must be a non-empty name without '/', not {name!r}")
    return name


@dataclass(frozen=True)
class KeySpace:
    """All Wolfpack keys under one ``root`` (must start and end with ``/``)."""

    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        if not (self.root.startswith("/") and self.root.endswith("/")):
            raise ValueError(f"key root must start and end with '/', not {self.root!r}")

    # -- whole-database keys --------------------------------------------------------------

    @property
    def schema_version(self) -> str:
        return f"{self.root}schema_version"

    @property
    def secret_verifier(self) -> str:
        return f"{self.root}secret_verifier"

    @property
    def config_epoch(self) -> str:
        """Bumped (put) by every configuration write in the same transaction; writers compare
        its mod_revision so concurrent configuration changes are serialised."""
        return f"{self.root}config_epoch"

    # -- configuration --------------------------------------------------------------------

    @property
    def config_root(self) -> str:
        """Prefix of all configuration, ``config/cluster`` included: one ``get_prefix`` of it
        is a consistent snapshot of the whole configuration."""
        return f"{self.root}config/"

    @property
    def cluster(self) -> str:
        return f"{self.root}config/cluster"

    def config(self, kind: ConfigKind, name: str) -> str:
        return f"{self.config_prefix(kind)}{_segment(kind[:-1] + ' name', name)}"

    def config_prefix(self, kind: ConfigKind) -> str:
        if kind not in CONFIG_KINDS:
            raise ValueError(f"unknown configuration kind {kind!r}; one of {CONFIG_KINDS}")
        return f"{self.root}config/{kind}/"

    # -- observed state -------------------------------------------------------------------

    @property
    def state_root(self) -> str:
        return f"{self.root}state/"

    def state(self, kind: StateKind, name: str) -> str:
        return f"{self.state_prefix(kind)}{_segment(kind[:-1] + ' name', name)}"

    def state_prefix(self, kind: StateKind) -> str:
        if kind not in STATE_KINDS:
            raise ValueError(f"unknown state kind {kind!r}; one of {STATE_KINDS}")
        return f"{self.root}state/{kind}/"

    # -- intents --------------------------------------------------------------------------

    @property
    def intents_prefix(self) -> str:
        return f"{self.root}intents/"

    def intent(self, intent_id: str) -> str:
        return f"{self.intents_prefix}{_segment('intent id', intent_id)}"

    @property
    def outcomes_prefix(self) -> str:
        return f"{self.root}outcomes/"

    def outcome(self, intent_id: str) -> str:
        return f"{self.outcomes_prefix}{_segment('intent id', intent_id)}"

    @property
    def node_admin_prefix(self) -> str:
        return f"{self.root}admin/nodes/"

    def node_admin(self, name: str) -> str:
        return f"{self.node_admin_prefix}{_segment('node name', name)}"

    # -- node inventory -------------------------------------------------------------------

    @property
    def inventory_prefix(self) -> str:
        return f"{self.root}inventory/"

    def inventory(self, name: str) -> str:
        return f"{self.inventory_prefix}{_segment('node name', name)}"

    # -- REST API ---------------------------------------------------------------------------

    @property
    def tokens_prefix(self) -> str:
        return f"{self.root}tokens/"

    def token(self, name: str) -> str:
        return f"{self.tokens_prefix}{_segment('token name', name)}"

    @property
    def api_prefix(self) -> str:
        return f"{self.root}api/"

    def api(self, node: str) -> str:
        return f"{self.api_prefix}{_segment('node name', node)}"

    @property
    def tls_ca_cert(self) -> str:
        return f"{self.root}tls/ca.crt"

    @property
    def tls_ca_key(self) -> str:
        return f"{self.root}tls/ca.key"

    @property
    def tls_next_key(self) -> str:
        return f"{self.root}tls/next.key"

    @property
    def rotation(self) -> str:
        return f"{self.root}rotation/current"

    @property
    def rotation_acks_prefix(self) -> str:
        return f"{self.root}rotation/acks/"

    def rotation_ack(self, node: str) -> str:
        return f"{self.rotation_acks_prefix}{_segment('node name', node)}"

    @property
    def audit_prefix(self) -> str:
        """Outside the root on purpose: up to 10,000 records would otherwise be read by
        every daemon on every tick (one ``get_prefix`` of the root)."""
        return f"{self.root[:-1]}.audit/"

    def audit(self, record_id: str) -> str:
        return f"{self.audit_prefix}{_segment('audit id', record_id)}"

    @property
    def history_prefix(self) -> str:
        """Outside the root for the audit log's reason: no daemon reads it on every tick."""
        return f"{self.root[:-1]}.history/"

    def history(self, group: str) -> str:
        """The failover timelines kept for ``group`` (written by the coordinator)."""
        return f"{self.history_prefix}{_segment('group name', group)}"

    # -- liveness and election ------------------------------------------------------------

    @property
    def node_leases_prefix(self) -> str:
        return f"{self.root}leases/nodes/"

    def node_lease(self, name: str) -> str:
        return f"{self.node_leases_prefix}{_segment('node name', name)}"

    @property
    def coordinator(self) -> str:
        return f"{self.root}leases/coordinator"

    @property
    def views_prefix(self) -> str:
        return f"{self.root}views/"

    def view(self, name: str) -> str:
        """What ``name`` hears on its heartbeats, published on its own lease: etcd's
        arbitration of heartbeat silence (docs/fencing.md)."""
        return f"{self.views_prefix}{_segment('node name', name)}"

    @property
    def links_prefix(self) -> str:
        return f"{self.root}links/"

    def links(self, name: str) -> str:
        """``name``'s report of its own interfaces, on its own lease (wolfpack.node.links)."""
        return f"{self.links_prefix}{_segment('node name', name)}"

    # -- claims -------------------------------------------------------------------------

    @property
    def claims_prefix(self) -> str:
        return f"{self.root}claims/"

    def claim(self, kind: str, name: str) -> str:
        """A claim such as ``claims/disks/<uuid>``: who may use one shared object now."""
        return f"{self.claims_prefix}{_segment('claim kind', kind)}/{_segment('claim name', name)}"

    # -- parsing --------------------------------------------------------------------------

    def name_of(self, key: str, prefix: str) -> str:
        """The name segment of ``key`` under ``prefix`` (e.g. a ``config_prefix``)."""
        if not key.startswith(prefix) or "/" in key[len(prefix) :] or key == prefix:
            raise ValueError(f"{key!r} is not a direct child of {prefix!r}")
        return key[len(prefix) :]


DEFAULT: Final = KeySpace()


def config(kind: ConfigKind, name: str) -> str:
    """``/wolfpack/config/<kind>/<name>`` in the default key space."""
    return DEFAULT.config(kind, name)


def config_prefix(kind: ConfigKind) -> str:
    return DEFAULT.config_prefix(kind)


def state(kind: StateKind, name: str) -> str:
    return DEFAULT.state(kind, name)


def state_prefix(kind: StateKind) -> str:
    return DEFAULT.state_prefix(kind)


def intent(intent_id: str) -> str:
    return DEFAULT.intent(intent_id)


def node_lease(name: str) -> str:
    return DEFAULT.node_lease(name)


def ensure_schema(store: Store, space: KeySpace = DEFAULT) -> int:
    """Stamp an empty database with :data:`SCHEMA_VERSION`, or check the stamp it has.

    Returns the version. Raises :class:`~wolfpack.errors.StoreError` if the database was
    written by a Wolfpack with another schema, so an old binary never misreads new data.
    """
    wanted = str(SCHEMA_VERSION).encode()
    if put_if_absent(store, space.schema_version, wanted):
        return SCHEMA_VERSION
    kv = store.get(space.schema_version)
    found = kv.value if kv is not None else b"<missing>"
    if found != wanted:
        raise StoreError(
            f"the cluster database under {space.root!r} has schema version "
            f"{found.decode(errors='replace')}, this Wolfpack understands {SCHEMA_VERSION}; "
            "upgrade Wolfpack or migrate the database"
        )
    return SCHEMA_VERSION
