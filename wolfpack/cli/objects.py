"""The verbs every named configuration object shares: list, show, delete, and the
create/modify transactions behind each noun's own ``create`` and ``set`` options.

A :class:`Noun` describes one kind of object (nodes, groups, ...) for these helpers: its
table columns, the extra facts ``show`` adds (observed state, derived group state), and what
must hold before one is deleted. Every write is one ``ClusterDB.update_config`` call, so the
whole configuration is validated and a concurrent change is a conflict, never lost.
"""

# no "from __future__ import annotations": typer must see the verb annotations built here

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

import typer

from wolfpack.cli import output
from wolfpack.cli.context import open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import AlreadyExistsError, NotFoundError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import Snapshot
from wolfpack.store.keys import ConfigKind
from wolfpack.store.repository import ClusterDB

T = TypeVar("T")

Column = tuple[str, Callable[[Snapshot, T], Any]]


def _no_details(snap: Snapshot, obj: Any) -> dict[str, Any]:
    return {}


def _no_guard(cfg: ClusterConfig, snap: Snapshot, name: str) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Noun(Generic[T]):
    kind: ConfigKind  # the ClusterConfig field and key segment: "nodes"
    label: str  # what a person calls one: "node"
    columns: Sequence[Column[T]]
    #: facts beyond the configuration (state, derived values): JSON keys and extra rows
    details: Callable[[Snapshot, T], dict[str, Any]] = _no_details
    #: raises a WolfpackError when the object may not be deleted now
    guard_delete: Callable[[ClusterConfig, Snapshot, str], None] = _no_guard
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
        rows = (
            self.rows(obj) if self.rows else output.flatten(codec.dump(obj, exclude_defaults=False))
        )
        return rows + output.flatten(self.details(snap, obj))


def create(db: ClusterDB, noun: Noun[T], name: str, build: Callable[[ClusterConfig], T]) -> T:
    """Add ``build(cfg)`` as ``name`` in one validated transaction (``build`` may read the
    configuration, e.g. a resource type's property schema)."""
    made: list[T] = []

    def change(cfg: ClusterConfig) -> ClusterConfig:
        if name in noun.objects(cfg):
            raise AlreadyExistsError(noun.label, name)
        made[:] = [build(cfg)]
        return noun.with_objects(cfg, {**noun.objects(cfg), name: made[0]})

    db.update_config(change)
    return made[0]


def modify(db: ClusterDB, noun: Noun[T], name: str, edit: Callable[[ClusterConfig, T], T]) -> T:
    """Replace object ``name`` with ``edit(cfg, current)`` in one validated transaction."""
    result: list[T] = []

    def change(cfg: ClusterConfig) -> ClusterConfig:
        new = edit(cfg, noun.get(cfg, name))
        result[:] = [new]
        return noun.with_objects(cfg, {**noun.objects(cfg), name: new})

    db.update_config(change)
    return result[0]


def show(noun: Noun[T], snap: Snapshot, obj: T, name: str, as_json: bool) -> None:
    if as_json:
        output.print_json(noun.document(snap, obj))
    else:
        output.properties(f"{noun.label} {name}", noun.sheet(snap, obj))


def add_read_verbs(app: typer.Typer, noun: Noun[T]) -> None:
    """``list`` and ``show NAME`` for ``noun``."""

    @verb(app, "list", help=f"List the {noun.kind}.")
    def list_(as_json: JsonFlag = False) -> None:
        with open_db() as db:
            snap = db.read_snapshot()
        objects = sorted(noun.objects(snap.config).items())
        if as_json:
            output.print_json([noun.document(snap, obj) for _, obj in objects])
            return
        output.table(
            None,
            [header for header, _ in noun.columns],
            ([fn(snap, obj) for _, fn in noun.columns] for _, obj in objects),
        )

    @verb(app, "show", help=f"Show every property of one {noun.label}.")
    def show_(
        name: Annotated[str, typer.Argument(help=f"The {noun.label}'s name.")],
        as_json: JsonFlag = False,
    ) -> None:
        with open_db() as db:
            snap = db.read_snapshot()
        show(noun, snap, noun.get(snap.config, name), name, as_json)


def add_delete_verb(app: typer.Typer, noun: Noun[T]) -> None:
    @verb(app, "delete", help=f"Delete a {noun.label}.")
    def delete_(
        name: Annotated[str, typer.Argument(help=f"The {noun.label}'s name.")],
        as_json: JsonFlag = False,
    ) -> None:
        removed: list[T] = []
        with open_db() as db:
            snap = db.read_snapshot()

            def change(cfg: ClusterConfig) -> ClusterConfig:
                removed[:] = [noun.get(cfg, name)]
                noun.guard_delete(cfg, snap, name)
                return noun.with_objects(
                    cfg, {k: v for k, v in noun.objects(cfg).items() if k != name}
                )

            db.update_config(change)
        report(removed[0], as_json, f"deleted {noun.label} {name}")


def report(obj: object, as_json: bool, text: str) -> None:
    """After a write: the object as stored (``--json``) or one line for a person."""
    if as_json:
        output.print_json(codec.dump(obj, exclude_defaults=False))
    else:
        output.message(text)
