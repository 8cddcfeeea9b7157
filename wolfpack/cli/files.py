"""Reading and writing YAML/JSON documents for ``config``, ``snapshot`` and ``plan --from``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from wolfpack.cli import output
from wolfpack.errors import FieldError, ValidationError

OutFile = Annotated[Path | None, typer.Argument(help="Write here instead of to stdout.")]


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML (or JSON, which is YAML) file holding a mapping; errors name the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValidationError.single(str(path), f"cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError.single(str(path), f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError.single(str(path), "must hold a YAML mapping")
    return data


def within(section: str, exc: ValidationError) -> ValidationError:
    """``exc`` with every field moved under ``section`` (``state.nodes.node1.state``)."""
    return ValidationError([FieldError(f"{section}.{e.field}", e.message) for e in exc.errors])


def render(data: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def emit(data: Any, path: Path | None, as_json: bool, what: str) -> None:
    """``data`` as YAML (JSON with ``--json``) to ``path``, or to stdout without one."""
    text = render(data, as_json)
    if path is None:
        typer.echo(text, nl=False)
        return
    try:
        path.write_text(text)
    except OSError as exc:
        raise ValidationError.single(str(path), f"cannot write it: {exc.strerror}") from None
    if as_json:
        output.print_json({"written": str(path)})
    else:
        output.message(f"wrote {what} to {path}")
