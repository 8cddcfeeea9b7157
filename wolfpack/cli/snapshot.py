"""``wolfpack snapshot``: the input of a decision, as a file (any situation -> a scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from wolfpack.cli import files
from wolfpack.cli.context import open_cluster
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.model import codec
from wolfpack.model.snapshot import Snapshot
from wolfpack.tools import scenarios

app = typer.Typer(help="Snapshots: dump.", no_args_is_help=True)


def load(path: Path) -> tuple[Snapshot, float | None]:
    """A snapshot file as written by ``snapshot dump``, or a scenario file of
    ``tests/scenarios`` (then also its ``now``)."""
    data = files.read_mapping(path)
    if "snapshot" in data:
        scenario = scenarios.load(path)
        return scenario.snapshot, scenario.now
    return codec.parse_snapshot(data), None


def document(snap: Snapshot) -> dict[str, Any]:
    data: dict[str, Any] = codec.dump(snap)
    return data


@verb(app, "dump")
def dump(
    file: files.OutFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the current snapshot (configuration, state, requests) as YAML, for
    ``wolfpack plan --from FILE`` and scenario files."""
    with open_cluster() as db:
        snap = db.read_snapshot()
    files.emit(document(snap), file, as_json, "the snapshot")
