"""``wolfpack type``: the resource types the cluster knows, with their property schemas
(Get-ClusterResourceType, S26, S31)."""

from __future__ import annotations

from typing import Any

import typer

from wolfpack.cli.objects import Noun, add_read_verbs
from wolfpack.model.config import PropertySpec, ResourceType

app = typer.Typer(help="Resource types: list, show.", no_args_is_help=True)


def describe_spec(spec: PropertySpec) -> str:
    parts = [str(spec.kind), "required" if spec.required else f"default {spec.default!r}"]
    if spec.minimum is not None or spec.maximum is not None:
        parts.append(f"range {spec.minimum}..{spec.maximum}")
    if spec.choices:
        parts.append("one of " + "/".join(spec.choices))
    text = ", ".join(parts)
    return f"{text}: {spec.description}" if spec.description else text


def _rows(rtype: ResourceType) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("name", rtype.name),
        ("agent", rtype.agent),
        ("description", rtype.description),
        ("looks_alive_ms", rtype.looks_alive_ms),
        ("is_alive_ms", rtype.is_alive_ms),
        ("required_dependencies", list(rtype.required_dependencies)),
    ]
    return rows + [(f"properties.{p.name}", describe_spec(p)) for p in rtype.properties]


TYPES: Noun[ResourceType] = Noun(
    "types",
    "resource type",
    columns=(
        ("name", lambda s, t: t.name),
        ("agent", lambda s, t: t.agent),
        ("properties", lambda s, t: [p.name + ("*" if p.required else "") for p in t.properties]),
        ("description", lambda s, t: t.description),
    ),
    rows=_rows,
)
add_read_verbs(app, TYPES)
