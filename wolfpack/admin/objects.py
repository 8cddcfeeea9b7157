"""What every named configuration object shares: its JSON document, and create / modify /
delete as one ``update_config`` call each, so the whole configuration is validated and a
concurrent change is a conflict, never lost. Used by the CLI verbs (on a
:class:`~wolfpack.store.cluster.Cluster`: the database or the REST API) and by the API routes
(the ``*_stored`` forms, on the database, with the change's audit record).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from wolfpack.errors import AlreadyExistsError, NotFoundError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import Snapshot
from wolfpack.store.base import Compare, Op, mod_revision_is
from wolfpack.store.cluster import Cluster
from wolfpack.store.keys import STATE_KINDS, ConfigKind, StateKind
from wolfpack.store.repository import ClusterDB, DatabaseRead

T = TypeVar("T")

Column = tuple[str, Callable[[Snapshot, T], Any]]


def _no_details(snap: Snapshot, obj: Any) -> dict[str, Any]:
    return {}


def _no_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    return None


def own_state(kind: str) -> Callable[[ClusterConfig, str], list[tuple[StateKind, str]]]:
    """The object's own status, if its kind has one."""

    def keys(cfg: ClusterConfig, name: str) -> list[tuple[StateKind, str]]:
        return [(cast(StateKind, kind), name)] if kind in STATE_KINDS else []

    return keys


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as dotted property names: ``failback.mode``."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


@dataclasses.dataclass(frozen=True)
class Noun(Generic[T]):
    """One kind of configuration object (nodes, groups, ...) for the shared helpers."""

    kind: ConfigKind  # the ClusterConfig field and key segment: "nodes"
    label: str  # what a person calls one: "node"
    cls: type[T]  # the model dataclass
    columns: Sequence[Column[T]]
    #: facts beyond the configuration (state, derived values): JSON keys and extra rows
    details: Callable[[Snapshot, T], dict[str, Any]] = _no_details
    #: raises a WolfpackError when the object may not be deleted now
    guard_delete: Callable[[ClusterConfig, Snapshot, str], None] = _no_guard
    #: the statuses ``guard_delete`` reads (default: the object's own): their revisions are
    #: compared in the delete's transaction, so its verdict cannot go stale (M5)
    guarded_state: Callable[[ClusterConfig, str], Sequence[tuple[StateKind, str]]] | None = None
    #: how ``show`` presents the configuration rows (default: every field, flattened)
    rows: Callable[[T], list[tuple[str, Any]]] | None = None

    def objects(self, cfg: ClusterConfig) -> Mapping[str, T]:
        objects: Mapping[str, T] = getattr(cfg, self.kind)
        return objects

    def get(self, cfg: ClusterConfig, name: str) -> T:
        try:
            return self.objects(cfg)[name]
        except KeyError:
            raise NotFoundError(self.label, name) from None

    def with_objects(self, cfg: ClusterConfig, objects: Mapping[str, T]) -> ClusterConfig:
        changes: dict[str, Any] = {self.kind: dict(objects)}
        return dataclasses.replace(cfg, **changes)

    def document(self, snap: Snapshot, obj: T) -> dict[str, Any]:
        """JSON form: every configured field (defaults included) plus the details."""
        data: dict[str, Any] = codec.dump(obj, exclude_defaults=False)
        data.update(self.details(snap, obj))
        return data

    def sheet(self, snap: Snapshot, obj: T) -> list[tuple[str, Any]]:
        rows = self.rows(obj) if self.rows else flatten(codec.dump(obj, exclude_defaults=False))
        return rows + flatten(self.details(snap, obj))


def create(db: Cluster, noun: Noun[T], name: str, build: Callable[[ClusterConfig], T]) -> T:
    """Add ``build(cfg)`` as ``name`` in one validated transaction (``build`` may read the
    configuration, e.g. a resource type's property schema)."""
    made: list[T] = []
    db.update_config(_adding(noun, name, build, made))
    return made[0]


def create_stored(
    db: ClusterDB,
    noun: Noun[T],
    name: str,
    build: Callable[[ClusterConfig], T],
    also: Sequence[Op] = (),
    based_on: DatabaseRead | None = None,
) -> tuple[T, ClusterConfig]:
    """:func:`create` on the database itself, also returning the configuration as stored
    (``also``: more operations for the same transaction, e.g. its audit record;
    ``based_on``: a recent read to start from, see ``ClusterDB.update_config``)."""
    made: list[T] = []
    stored = db.update_config(_adding(noun, name, build, made), also=also, based_on=based_on)
    return made[0], stored


def modify(db: Cluster, noun: Noun[T], name: str, edit: Callable[[ClusterConfig, T], T]) -> T:
    """Replace object ``name`` with ``edit(cfg, current)`` in one validated transaction."""
    result: list[T] = []
    db.update_config(_editing(noun, name, edit, result))
    return result[0]


def modify_stored(
    db: ClusterDB,
    noun: Noun[T],
    name: str,
    edit: Callable[[ClusterConfig, T], T],
    also: Sequence[Op] = (),
    based_on: DatabaseRead | None = None,
) -> tuple[T, ClusterConfig]:
    """:func:`modify` on the database itself (``also``, ``based_on`` as in
    :func:`create_stored`)."""
    result: list[T] = []
    stored = db.update_config(_editing(noun, name, edit, result), also=also, based_on=based_on)
    return result[0], stored


def delete(db: Cluster, noun: Noun[T], name: str) -> T:
    """Remove object ``name`` if its delete guard allows it now; returns what was removed.

    The guard judges the same read the change starts from, and the revisions of the
    statuses it looked at are compared in the transaction (M5): a resource started between
    the check and the commit makes the delete a ``ConflictError`` (a retry checks again).
    Over the REST API the server runs this delete, guard included."""
    removed: list[T] = []
    db.update_config(_removing(noun, name, removed), check=_delete_guard(noun, name))
    return removed[0]


def delete_stored(db: ClusterDB, noun: Noun[T], name: str, also: Sequence[Op]) -> T:
    """:func:`delete` with ``also`` in the same transaction."""
    removed: list[T] = []
    db.update_config(_removing(noun, name, removed), also=also, check=_delete_guard(noun, name))
    return removed[0]


def _delete_guard(noun: Noun[T], name: str) -> Callable[[DatabaseRead], list[Compare]]:
    def check(read: DatabaseRead) -> list[Compare]:
        snap = read.snapshot()
        noun.get(snap.config, name)
        noun.guard_delete(snap.config, snap, name)
        looked_at = (noun.guarded_state or own_state(noun.kind))(snap.config, name)
        keys = [read.keys.state(kind, obj) for kind, obj in looked_at]
        return [mod_revision_is(k, read.kvs[k].mod_revision if k in read.kvs else 0) for k in keys]

    return check


# The changes themselves; each leaves the object it made, edited or removed in ``out``.


def _adding(
    noun: Noun[T], name: str, build: Callable[[ClusterConfig], T], out: list[T]
) -> Callable[[ClusterConfig], ClusterConfig]:
    def change(cfg: ClusterConfig) -> ClusterConfig:
        if name in noun.objects(cfg):
            raise AlreadyExistsError(noun.label, name)
        out[:] = [build(cfg)]
        return noun.with_objects(cfg, {**noun.objects(cfg), name: out[0]})

    return change


def _editing(
    noun: Noun[T], name: str, edit: Callable[[ClusterConfig, T], T], out: list[T]
) -> Callable[[ClusterConfig], ClusterConfig]:
    def change(cfg: ClusterConfig) -> ClusterConfig:
        out[:] = [edit(cfg, noun.get(cfg, name))]
        return noun.with_objects(cfg, {**noun.objects(cfg), name: out[0]})

    return change


def _removing(noun: Noun[T], name: str, out: list[T]) -> Callable[[ClusterConfig], ClusterConfig]:
    def change(cfg: ClusterConfig) -> ClusterConfig:
        out[:] = [noun.get(cfg, name)]
        return noun.with_objects(cfg, {k: v for k, v in noun.objects(cfg).items() if k != name})

    return change
