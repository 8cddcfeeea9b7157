"""The verbs every named configuration object shares: list, show, delete. The nouns and
the create/modify/delete transactions live in :mod:`wolfpack.admin` (the API uses them too).
"""

# no "from __future__ import annotations": typer must see the verb annotations built here

from typing import Annotated, TypeVar

import typer

from wolfpack.admin.objects import Noun as Noun
from wolfpack.admin.objects import create as create
from wolfpack.admin.objects import delete
from wolfpack.admin.objects import modify as modify
from wolfpack.cli import output
from wolfpack.cli.context import open_cluster
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model import codec
from wolfpack.model.rename import Renamable
from wolfpack.model.snapshot import Snapshot

T = TypeVar("T")


def show(noun: Noun[T], snap: Snapshot, obj: T, name: str, as_json: bool) -> None:
    if as_json:
        output.print_json(noun.document(snap, obj))
    else:
        output.properties(f"{noun.label} {name}", noun.sheet(snap, obj))


def add_read_verbs(app: typer.Typer, noun: Noun[T]) -> None:
    """``list`` and ``show NAME`` for ``noun``."""

    @verb(app, "list", help=f"List the {noun.kind}.")
    def list_(as_json: JsonFlag = False) -> None:
        with open_cluster() as db:
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
        with open_cluster() as db:
            snap = db.read_snapshot()
        show(noun, snap, noun.get(snap.config, name), name, as_json)


def add_delete_verb(app: typer.Typer, noun: Noun[T]) -> None:
    @verb(app, "delete", help=f"Delete a {noun.label}.")
    def delete_(
        name: Annotated[str, typer.Argument(help=f"The {noun.label}'s name.")],
        as_json: JsonFlag = False,
    ) -> None:
        with open_cluster() as db:
            removed = delete(db, noun, name)
        report(removed, as_json, f"deleted {noun.label} {name}")


def add_rename_verb(app: typer.Typer, noun: Noun[T], kind: Renamable, when: str) -> None:
    """``rename OLD NEW`` (S19): every reference and the status follow, in one change."""

    @verb(app, "rename", help=f"Rename a {noun.label}: {when}")
    def rename_(
        old: Annotated[str, typer.Argument(help=f"The {noun.label}'s name.")],
        new: Annotated[str, typer.Argument(help="Its new name.")],
        as_json: JsonFlag = False,
    ) -> None:
        with open_cluster() as db:
            db.rename(kind, old, new)
            snap = db.read_snapshot()  # with its status, now under the new name
        if as_json:
            output.print_json(noun.document(snap, noun.get(snap.config, new)))
        else:
            output.message(f"renamed {noun.label} {old} to {new}")


def report(obj: object, as_json: bool, text: str) -> None:
    """After a write: the object as stored (``--json``) or one line for a person."""
    if as_json:
        output.print_json(codec.dump(obj, exclude_defaults=False))
    else:
        output.message(text)
