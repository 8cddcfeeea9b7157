"""``wolfpack config``: the whole configuration as one YAML file (export, import).

The file has the sections of the cluster database (``cluster``, ``nodes``, ``networks``,
``interfaces``, ``groups``, ``resources``, ``types``; object names are the mapping keys and
defaults are left out) and, optionally, ``state:`` with observed ``nodes``, ``groups`` and
``resources`` statuses. Built-in resource types are implied. Import validates everything
first and writes it in one transaction, so a bad file changes nothing.

Import is for configuration; observed state belongs to the running daemons (H3). A file's
``state:`` section is written only while the cluster is stopped (no node holds a lease),
and so is ``--replace`` with a ``state:`` section, which also deletes every other status.
``--replace`` without one removes the objects the file does not have, with their statuses,
as ``delete`` does: refused while such a group or resource is active.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.cli import files, output
from wolfpack.cli.context import open_cluster, open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import FieldError, ValidationError
from wolfpack.model import codec
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import Snapshot
from wolfpack.store.keys import CONFIG_KINDS
from wolfpack.store.repository import ClusterDB, StateSection

app = typer.Typer(help="The configuration as a file: export, import.", no_args_is_help=True)

STATE_SECTIONS = ("nodes", "groups", "resources")
REPLACE_HELP = (
    "Delete objects the file does not have (refused while one is active); with a state: "
    "section, also every status it does not have (only with the cluster stopped)."
)


def document(cfg: ClusterConfig, snap: Snapshot | None = None) -> dict[str, Any]:
    """The configuration (and ``snap``'s state) as a file reads best: no defaults, names as
    keys only, built-in types left out unless changed."""
    builtin = builtin_types()
    custom = {k: v for k, v in cfg.types.items() if builtin.get(k) != v}
    data: dict[str, Any] = codec.dump(dataclasses.replace(cfg, types=custom))
    for kind in CONFIG_KINDS:
        for obj in data.get(kind, {}).values():
            obj.pop("name", None)
    data = {k: v for k, v in data.items() if v}
    if snap is not None:
        state = codec.dump(
            dataclasses.replace(
                Snapshot(), nodes=snap.nodes, groups=snap.groups, resources=snap.resources
            )
        )
        if state:
            data["state"] = state
    return data


def parse_state(data: Any) -> StateSection:
    if not isinstance(data, dict):
        raise ValidationError.single("state", "must be a mapping of nodes, groups, resources")
    unknown = sorted(set(data) - set(STATE_SECTIONS))
    if unknown:
        raise ValidationError.single(
            f"state.{unknown[0]}", f"unknown section; use {', '.join(STATE_SECTIONS)}"
        )
    try:
        snap = codec.parse_snapshot(data)
    except ValidationError as exc:
        raise files.within("state", exc) from None
    return StateSection(snap.nodes, snap.groups, snap.resources)


def merge(
    current: ClusterConfig, given: ClusterConfig, keys: set[str], replace: bool
) -> ClusterConfig:
    """``given`` over ``current``: with ``replace`` objects missing from the file go, else
    they stay. The cluster settings change only if the file has a ``cluster`` section."""
    cluster = given.cluster if "cluster" in keys else current.cluster
    sections: dict[str, Any] = {}
    for kind in CONFIG_KINDS:
        base = (
            builtin_types()
            if kind == "types" and replace
            else ({} if replace else getattr(current, kind))
        )
        sections[kind] = {**base, **getattr(given, kind)}
    return ClusterConfig(cluster=cluster, **sections)


def _parse(data: dict[str, Any]) -> tuple[StateSection | None, ClusterConfig]:
    """Both parts of a file, reporting the problems of both at once."""
    errors: list[FieldError] = []
    state: StateSection | None = None
    given = ClusterConfig()
    try:
        state = parse_state(data.pop("state")) if "state" in data else None
    except ValidationError as exc:
        errors.extend(exc.errors)
    try:
        given = codec.parse_config(data)
    except ValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return state, given


def import_document(db: ClusterDB, data: dict[str, Any], *, replace: bool) -> ClusterConfig:
    """``config import [--replace]`` of a parsed file: configuration, and state only if the
    file has a ``state:`` section (``--replace`` then deletes the statuses it lacks)."""
    state, given = _parse(data)
    return db.import_config(
        lambda current: merge(current, given, set(data), replace),
        state,
        replace_state=replace and state is not None,
    )


@verb(app, "export")
def export(
    file: files.OutFile = None,
    with_state: Annotated[bool, typer.Option("--state", help="Include observed state.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write the configuration as YAML (JSON with --json), ready for ``config import``."""
    with open_cluster() as db:
        snap = db.read_snapshot()
    files.emit(
        document(snap.config, snap if with_state else None), file, as_json, "the configuration"
    )


@verb(app, "import")
def import_(
    file: Annotated[Path, typer.Argument(help="YAML (or JSON) configuration file.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help=REPLACE_HELP),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Load a configuration file (creating the cluster if there is none), all or nothing.
    A state: section needs a stopped cluster (every wolfpackd stopped)."""
    data = files.read_mapping(file)
    with open_db("config import") as db:
        cfg = import_document(db, data, replace=replace)
    if as_json:
        output.print_json(document(cfg))
        return
    counts = ", ".join(
        f"{len(getattr(cfg, k))} {k}"
        for k in ("nodes", "networks", "interfaces", "groups", "resources")
    )
    output.message(f"imported {file} into cluster {cfg.cluster.name}: {counts}")
