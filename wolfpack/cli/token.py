"""``wolfpack token``: REST API tokens (create, list, rotate, delete), written straight to
the cluster database, so the first admin token can be made before any API answers."""

from __future__ import annotations

from typing import Annotated

import typer

from wolfpack.admin import tokens
from wolfpack.cli import output
from wolfpack.cli.context import open_db
from wolfpack.cli.intent import when
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model.durations import duration

app = typer.Typer(help="REST API tokens: create, list, rotate, delete.", no_args_is_help=True)

TokenName = Annotated[str, typer.Argument(help="The token's name (who it is for).")]


@verb(app, "create")
def create_(
    name: TokenName,
    role: Annotated[
        tokens.Role, typer.Option(help="admin (may change things) or read-only.")
    ] = tokens.Role.READ_ONLY,
    as_json: JsonFlag = False,
) -> None:
    """Make a token; its secret is printed once and only its sha256 is stored."""
    with open_db("API tokens") as db:
        token, text = tokens.create(db, name, role)
    if as_json:
        output.print_json({**token.public(), "token": text})
    else:
        output.message(f"created {token.role} token {name}; it is shown only now:\n{text}")


@verb(app, "list")
def list_(as_json: JsonFlag = False) -> None:
    """List the tokens (never their secrets)."""
    with open_db("API tokens") as db:
        found = tokens.list_tokens(db)
    if as_json:
        output.print_json([t.public() for t in found])
        return
    output.table(
        None, ("name", "role", "created"), ((t.name, t.role, when(t.created)) for t in found)
    )


@verb(app, "delete")
def delete_(name: TokenName, as_json: JsonFlag = False) -> None:
    """Delete a token: requests with it are refused from now on."""
    with open_db("API tokens") as db:
        removed = tokens.delete(db, name)
    if as_json:
        output.print_json(removed.public())
    else:
        output.message(f"deleted token {name}")


@verb(app, "rotate")
def rotate_(
    name: TokenName,
    overlap: Annotated[
        str, typer.Option(help="How long the old secret still works: e.g. 0, 30s, 10m, 1h.")
    ] = "10m",
    as_json: JsonFlag = False,
) -> None:
    """Give a token a new secret without an outage: the old one is accepted for --overlap,
    then refused; hand the new one (printed once) to its users meanwhile."""
    overlap_s = duration(overlap, "overlap")
    with open_db("API tokens") as db:
        token, text = tokens.rotate(db, name, overlap_s)
    if as_json:
        output.print_json({**token.public(), "token": text})
    else:
        output.message(
            f"rotated token {name}; the old secret works until {when(token.previous_until)}; "
            f"the new one is shown only now:\n{text}"
        )
