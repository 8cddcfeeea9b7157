"""``wolfpack cluster backup FILE`` and ``wolfpack cluster restore FILE``: the cluster's
configuration, administrator settings, tokens and identity in one file, and back
(:mod:`wolfpack.admin.backup` says what is in it, and why owners never are)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from wolfpack.admin import backup
from wolfpack.cli import files, output
from wolfpack.cli.context import endpoint, open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import ValidationError

FORCE_HELP = (
    "Restore onto a database that holds objects or another cluster identity (objects the "
    "backup lacks are deleted; active groups and resources are never removed)."
)


def _progress(as_json: bool) -> backup.Progress:
    """Steps on stderr, so stdout stays the answer (and --json stays one document)."""

    def say(step: str) -> None:
        if not as_json:
            output.console(stderr=True).print(f"  {step}", highlight=False)

    return say


def register(app: typer.Typer) -> None:
    """Add the two verbs to ``wolfpack cluster``."""

    @verb(app, "backup")
    def backup_(
        file: Annotated[Path, typer.Argument(help="Where to write the backup (JSON, mode 0600).")],
        as_json: JsonFlag = False,
    ) -> None:
        """Write the cluster's configuration to FILE: every object, paused nodes, offline
        groups and resources, API tokens (hashes only) and the cluster identity. Owners and
        other observed state are not in it."""
        say = _progress(as_json)
        say(f"reading the cluster database at {endpoint()}")
        with open_db("cluster backup") as db:
            taken = backup.take(db, time.time())
        text = json.dumps(backup.document(taken), indent=2, ensure_ascii=False) + "\n"
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        except OSError as exc:
            raise ValidationError.single(str(file), f"cannot write it: {exc.strerror}") from None
        summary = {"written": str(file), "revision": taken.revision, **taken.counts()}
        if as_json:
            output.print_json(summary)
            return
        counts = ", ".join(f"{n} {k}" for k, n in taken.counts().items())
        output.message(
            f"backed up cluster {taken.config.cluster.name} (revision {taken.revision}) to "
            f"{file}: {counts}"
        )

    @verb(app, "restore")
    def restore_(
        file: Annotated[Path, typer.Argument(help="A file written by 'wolfpack cluster backup'.")],
        force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Restore a backup's configuration into the cluster database (creating the cluster
        if there is none). Refused onto a database that already holds objects unless
        --force. Groups come back without owners: the nodes place them once they run."""
        say = _progress(as_json)
        taken = backup.parse(files.read_mapping(file))  # a bad file changes nothing
        say(f"restoring cluster {taken.config.cluster.name} into {endpoint()}")
        with open_db("cluster restore") as db:
            done = backup.restore(db, taken, force=force, progress=say)
        summary = {
            "restored": str(file),
            "cluster": taken.config.cluster.name,
            "identity": done.identity,
            "tokens_kept": list(done.tokens_kept),
            "running": list(done.running),
            **done.counts,
        }
        if as_json:
            output.print_json(summary)
            return
        counts = ", ".join(f"{n} {k}" for k, n in done.counts.items())
        output.message(f"restored cluster {taken.config.cluster.name} from {file}: {counts}")
        if done.tokens_kept:
            output.message(
                f"tokens already there, left as they were: {', '.join(done.tokens_kept)}"
            )
        if done.identity == "replaced":
            output.message(
                "the cluster identity was replaced: give every node the backup's secret file"
            )
