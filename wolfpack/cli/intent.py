"""Administrator requests (intents): ``group move|online|offline``, ``resource
online|offline|fail|move`` write one, and ``wolfpack intent`` lists or cancels them.

A request is carried out by the coordinator, which may still refuse it with a reason code;
``wolfpack plan --explain`` shows what it will do. Requests that can be judged now (unknown
objects, an ineligible move target, a resource with dependencies changing group) are refused
here at once, and nothing is written.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from wolfpack.admin import requests
from wolfpack.cli import output
from wolfpack.cli.context import open_cluster, open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.cli.wait import NoWaitFlag, TimeoutOption, wait_for_outcome
from wolfpack.errors import NotFoundError
from wolfpack.model import codec
from wolfpack.model.snapshot import Intent, IntentKind

app = typer.Typer(help="Pending administrator requests: list, delete.", no_args_is_help=True)


def submit(
    kind: IntentKind,
    subject: str,
    target: str | None,
    as_json: bool,
    *,
    wait: bool = True,
    timeout: float = 60.0,
) -> Intent:
    """Check the request (:func:`wolfpack.admin.requests.check_request`; over the API the
    server does), record it, and unless ``wait`` is off, follow it until it is carried out
    (or refused)."""
    with open_cluster() as db:
        intent = requests.submit(db, kind, subject, target)
        if wait:
            settled = wait_for_outcome(db, intent, timeout, quiet=as_json)
            if as_json:
                output.print_json(
                    {"intent": codec.dump(intent, exclude_defaults=False), **settled.as_dict()}
                )
            else:
                output.message(
                    f"{kind} {subject}: {settled.message}\n"
                    f"{settled.group}: {settled.state} on {settled.owner or '-'}"
                )
            return intent
    if as_json:
        output.print_json(codec.dump(intent, exclude_defaults=False))
    else:
        where = f" -> {target}" if target else ""
        output.message(
            f"requested {kind} {subject}{where} (request {intent.id}); "
            "see `wolfpack plan --explain` for what the coordinator will do"
        )
    return intent


def when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@verb(app, "list")
def list_(as_json: JsonFlag = False) -> None:
    """List pending requests, oldest first."""
    with open_cluster() as db:
        intents = db.list_intents()
    if as_json:
        output.print_json([codec.dump(i, exclude_defaults=False) for i in intents])
        return
    output.table(
        None,
        ("id", "request", "subject", "target", "created"),
        ((i.id, i.kind, i.subject, i.target, when(i.created)) for i in intents),
    )


@verb(app, "delete")
def delete_(
    intent_id: Annotated[str, typer.Argument(metavar="ID", help="The request's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a request the coordinator has not taken up yet."""
    with open_db("withdrawing a request") as db:
        found = next((i for i in db.list_intents() if i.id == intent_id), None)
        if found is None or not db.delete_intent(intent_id):
            raise NotFoundError("request", intent_id)
    if as_json:
        output.print_json(codec.dump(found, exclude_defaults=False))
    else:
        output.message(f"cancelled request {intent_id} ({found.kind} {found.subject})")


def add_request_verb(
    app: typer.Typer, name: str, kind: IntentKind, subject_help: str, doc: str
) -> None:
    """Register ``wolfpack <noun> <name> SUBJECT`` writing a ``kind`` request (and waiting)."""

    def request(
        subject: str,
        no_wait: NoWaitFlag = False,
        timeout: TimeoutOption = 60.0,
        as_json: JsonFlag = False,
    ) -> None:
        submit(kind, subject, None, as_json, wait=not no_wait, timeout=timeout)

    # Annotations are strings here (postponed evaluation): give typer the real one.
    metavar = "GROUP" if kind.is_group else "RESOURCE"
    request.__annotations__["subject"] = Annotated[
        str, typer.Argument(help=subject_help, metavar=metavar)
    ]
    request.__doc__ = doc
    verb(app, name)(request)
