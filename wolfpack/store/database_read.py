"""One consistent read of the cluster database, and the stored JSON documents it parses.

:class:`DatabaseRead` holds every key under the root as of one revision and turns them
into model objects (the configuration, the observed state, the requests, a
:class:`~wolfpack.model.snapshot.Snapshot`), each document parsed once per mod revision
through a shared :class:`DecodeCache`.
"""

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, TypeAlias, TypeVar, cast

from wolfpack.errors import (
    NotFoundError,
    StoreError,
    ValidationError,
    WolfpackError,
)
from wolfpack.model import codec
from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
    Group,
    Interface,
    Network,
    Node,
    Resource,
    ResourceType,
)
from wolfpack.model.links import NodeLinks
from wolfpack.model.snapshot import (
    GroupStatus,
    Intent,
    NodeStatus,
    Outcome,
    ResourceStatus,
    Snapshot,
)
from wolfpack.store.base import (
    KeyValue,
)
from wolfpack.store.keys import (
    CONFIG_KINDS,
    SCHEMA_VERSION,
    ConfigKind,
    KeySpace,
    StateKind,
)

T = TypeVar("T")
Status: TypeAlias = NodeStatus | GroupStatus | ResourceStatus

_SCHEMA: Final = str(SCHEMA_VERSION).encode()
_CONFIG_TYPES: Final[Mapping[str, type[Any]]] = {
    "nodes": Node,
    "networks": Network,
    "interfaces": Interface,
    "groups": Group,
    "resources": Resource,
    "types": ResourceType,
}
#: the status class of each kind of observed state
STATE_TYPES: Final[Mapping[str, type[Any]]] = {
    "nodes": NodeStatus,
    "groups": GroupStatus,
    "resources": ResourceStatus,
}


class NoClusterError(NotFoundError):
    """The database under this key root holds no cluster (yet)."""

    def __init__(self, root: str) -> None:
        self.kind, self.name = "cluster", root
        WolfpackError.__init__(
            self,
            f"the cluster database under {root!r} holds no cluster: create one with "
            "`wolfpack cluster create NAME` or `wolfpack config import FILE`",
        )


class SchemaVersionError(StoreError):
    """The database was written by a Wolfpack with another key layout."""


def encode(obj: Any) -> bytes:
    """One stored JSON document: every field, keys sorted, compact."""
    data = codec.dump(obj, exclude_defaults=False)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _decode(cls: type[T], kv: KeyValue) -> T:
    try:
        return codec.parse(cls, json.loads(kv.value))
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"corrupt document at {kv.key!r}: {exc}") from None


class DecodeCache:
    """Parsed documents by key and mod revision: a daemon re-reads the whole database on
    every change, and most documents have not changed since the last read. Safe to share
    between threads (the objects are frozen values)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, type[Any], Any]] = {}
        self._lock = threading.Lock()
        #: the last configuration built, by the key and mod revision of every document in it
        self._config: tuple[tuple[object, ...], ClusterConfig] | None = None

    def decode(self, cls: type[T], kv: KeyValue) -> T:
        hit = self._entries.get(kv.key)
        if hit is not None and hit[0] == kv.mod_revision and hit[1] is cls:
            return cast(T, hit[2])
        obj = _decode(cls, kv)
        with self._lock:
            self._entries[kv.key] = (kv.mod_revision, cls, obj)
        return obj

    def config(self, documents: tuple[object, ...]) -> ClusterConfig | None:
        """The configuration built from exactly ``documents`` (keys and mod revisions), if
        it is the last one built: its derived indexes (resources by group) come with it."""
        kept = self._config
        return kept[1] if kept is not None and kept[0] == documents else None

    def keep_config(self, documents: tuple[object, ...], config: ClusterConfig) -> None:
        self._config = (documents, config)

    def forget_except(self, keys: Mapping[str, object]) -> None:
        with self._lock:
            for key in [k for k in self._entries if k not in keys]:
                del self._entries[key]


@dataclass(frozen=True)
class DatabaseRead:
    """One consistent read of the whole database root."""

    kvs: Mapping[str, KeyValue]
    revision: int
    keys: KeySpace
    cache: DecodeCache | None = None

    def decode(self, cls: type[T], kv: KeyValue) -> T:
        return self.cache.decode(cls, kv) if self.cache is not None else _decode(cls, kv)

    def section(self, prefix: str) -> dict[str, KeyValue]:
        """Direct children of ``prefix``, by name."""
        if prefix.endswith("/"):
            return dict(self._children.get(prefix, {}))
        out: dict[str, KeyValue] = {}
        for key, kv in self.kvs.items():
            if key.startswith(prefix) and "/" not in key[len(prefix) :]:
                out[key[len(prefix) :]] = kv
        return out

    @cached_property
    def _children(self) -> dict[str, dict[str, KeyValue]]:
        """Every key by the prefix up to its last ``/``, then its name: all sections in one
        pass over the read (a snapshot takes a dozen of them; at 24,000 keys a pass each
        was a tenth of a second per read)."""
        out: dict[str, dict[str, KeyValue]] = {}
        for key, kv in self.kvs.items():
            cut = key.rfind("/") + 1
            parent = key[:cut]
            found = out.get(parent)
            if found is None:
                found = out[parent] = {}
            found[key[cut:]] = kv
        return out

    @property
    def initialized(self) -> bool:
        return self.keys.cluster in self.kvs

    @property
    def epoch(self) -> int:
        kv = self.kvs.get(self.keys.config_epoch)
        return kv.mod_revision if kv is not None else 0

    def check_schema(self) -> None:
        kv = self.kvs.get(self.keys.schema_version)
        if kv is None and not self.initialized:
            return
        found = kv.value.decode(errors="replace") if kv is not None else "<missing>"
        if kv is None or kv.value != _SCHEMA:
            raise SchemaVersionError(
                f"the cluster database under {self.keys.root!r} has schema version {found}; "
                f"this Wolfpack understands {SCHEMA_VERSION}: upgrade Wolfpack or migrate "
                "the database"
            )

    def config(self) -> ClusterConfig:
        self.check_schema()
        cluster = self.kvs.get(self.keys.cluster)
        if cluster is None:
            raise NoClusterError(self.keys.root)
        kinds = cast(tuple[ConfigKind, ...], CONFIG_KINDS)
        found = {kind: self.section(self.keys.config_prefix(kind)) for kind in kinds}
        # the configuration changes seldom: the same documents at the same revisions give
        # the same (immutable) configuration, without a look-up of each of them
        documents = (
            cluster.mod_revision,
            *(tuple((name, kv.mod_revision) for name, kv in found[kind].items()) for kind in kinds),
        )
        if self.cache is not None and (kept := self.cache.config(documents)) is not None:
            return kept
        sections = {
            kind: {name: self.decode(_CONFIG_TYPES[kind], kv) for name, kv in found[kind].items()}
            for kind in kinds
        }
        config = ClusterConfig(cluster=self.decode(ClusterSettings, cluster), **sections)
        if self.cache is not None:
            self.cache.keep_config(documents, config)
        return config

    def statuses(self, kind: StateKind) -> dict[str, Any]:
        return {
            name: self.decode(STATE_TYPES[kind], kv)
            for name, kv in self.section(self.keys.state_prefix(kind)).items()
        }

    def intents(self) -> tuple[Intent, ...]:
        found = [self.decode(Intent, kv) for kv in self.section(self.keys.intents_prefix).values()]
        return tuple(sorted(found, key=lambda i: (i.created, i.id)))

    def snapshot(self) -> Snapshot:
        """Configuration, observed state and pending requests as of this read."""
        return Snapshot(
            config=self.config(),
            nodes=self.statuses("nodes"),
            groups=self.statuses("groups"),
            resources=self.statuses("resources"),
            intents=self.intents(),
            revision=self.revision,
            links=self.links(),
        )

    def links(self) -> dict[str, NodeLinks]:
        """Each node's report of its interfaces; a damaged one is left out: it is its
        node's to rewrite, and must not stop every reader of the database."""
        out: dict[str, NodeLinks] = {}
        for name, kv in self.section(self.keys.links_prefix).items():
            try:
                out[name] = self.decode(NodeLinks, kv)
            except StoreError:
                continue
        return out

    def token_documents(self) -> dict[str, bytes]:
        """The stored API tokens by name (:mod:`wolfpack.admin.tokens` parses them)."""
        return {name: kv.value for name, kv in self.section(self.keys.tokens_prefix).items()}

    def outcomes(self) -> dict[str, Outcome]:
        """The coordinator's answers by request id (unreadable ones left out)."""
        out: dict[str, Outcome] = {}
        for name, kv in self.section(self.keys.outcomes_prefix).items():
            try:
                out[name] = self.decode(Outcome, kv)
            except WolfpackError:
                continue
        return out

    def apis(self) -> dict[str, dict[str, Any]]:
        """Where each node's REST API listens, by node (``url``, ``started``)."""
        return _json_documents(self.section(self.keys.api_prefix))


def _json_documents(kvs: Mapping[str, KeyValue]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, kv in kvs.items():
        try:
            doc = json.loads(kv.value)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out[name] = doc
    return out
