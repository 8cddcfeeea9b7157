"""Rendering for people (rich tables) and for programs (JSON), on stdout.

Every cell goes through :class:`rich.text.Text`, so names and dependency expressions such as
``[web-ip] and [web-disk]`` are printed as they are, never read as console markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # rich is imported on first use: `--json` output never needs it (issue 12)
    from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    # A new console per call, so it writes to the sys.stdout of the moment (tests swap it).
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def json_line(data: Any) -> str:
    """One compact JSON document per line (streams: ``events --json``)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def cell(value: Any) -> str:
    """One value as a person reads it: lists comma-separated, absent as '-'."""
    if value is None or value == "" or value == [] or value == ():
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for h in headers:
        t.add_column(h, overflow="fold")
    for row in rows:
        t.add_row(*(Text(cell(v)) for v in row))
    console().print(t)


def properties(title: str | None, rows: Iterable[tuple[str, Any]]) -> None:
    """A two-column property sheet (Cluster Administrator's Properties dialog)."""
    table(title, ("property", "value"), rows)


def message(text: str) -> None:
    from rich.text import Text

    # soft_wrap: long lines (plan explanations) are left for the terminal to wrap
    console().print(Text(text), soft_wrap=True)


def error(text: str) -> None:
    from rich.text import Text

    console(stderr=True).print(Text(text, style="red"), soft_wrap=True)
