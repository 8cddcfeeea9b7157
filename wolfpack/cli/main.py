"""The ``wolfpack`` command: nouns with verbs after cluster.exe and the FailoverClusters
cmdlets. ``wolfpack --help`` lists them; ``docs/cli.md`` describes them."""

# ruff: noqa: E402  (the collector is turned off before the imports below)
from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()
gc.disable()  # until the CLI has loaded: see _thaw

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
import typer.main
from typer._click.core import Command

from wolfpack import __version__
from wolfpack.cli import context
from wolfpack.cli.runner import JsonErrors


def _thaw(collecting: bool) -> None:
    """Imports make many objects and almost no garbage, and the cyclic collector's passes
    over them cost a command 0.02 s (issue 12): it is off while this module loads, then what
    the imports made is frozen (never scanned again; once per process) and collection is on
    again, as it was."""
    gc.freeze()
    if collecting:
        gc.enable()


@contextmanager
def _loading() -> Iterator[None]:
    """A noun's or verb's modules load with the collector off, as it was afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _noun(module: str, *extras: str) -> Callable[[], Command]:
    """The noun's command group, imported when it is used: ``wolfpack status`` must not
    pay for the lab builder, the certificate tools or the API client (issue 12)."""

    def load() -> Command:
        with _loading():
            sub: typer.Typer = importlib.import_module(f"wolfpack.cli.{module}").app
            for extra in extras:  # verbs other modules add to this noun
                importlib.import_module(f"wolfpack.cli.{extra}").register(sub)
            return typer.main.get_group(sub)  # a group even with one verb (`db create`)

    return load


def _verb(module: str) -> Callable[[], Command]:
    """A top-level verb (``status``, ``plan``, ...), registered on an app of its own."""

    def load() -> Command:
        with _loading():
            own = typer.Typer()
            importlib.import_module(f"wolfpack.cli.{module}").register(own)
            return typer.main.get_command(own)  # the one command itself

    return load


class _Commands(JsonErrors):
    lazy = {
        "cluster": _noun("cluster", "backup", "status", "validate"),  # `cluster status` too
        "node": _noun("node", "evict"),  # `node evict` (issue 10)
        "network": _noun("network"),
        "interface": _noun("interface"),
        "group": _noun("group"),
        "resource": _noun("resource"),
        "type": _noun("rtype"),
        "db": _noun("db"),
        "intent": _noun("intent"),
        "config": _noun("config"),
        "snapshot": _noun("snapshot"),
        "token": _noun("token"),
        "audit": _noun("audit"),
        "lab": _noun("lab"),
        "witness": _noun("witness"),  # issue 10
        "events": _verb("events"),
        "log": _verb("log"),
        "plan": _verb("plan"),
        "status": _verb("status"),
    }


app = typer.Typer(
    cls=_Commands,
    name="wolfpack",
    help="Wolfpack: a failover cluster manager in the Microsoft Cluster Service model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wolfpack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="etcd URL(s) of the cluster database, comma-separated "
            "(default: $WOLFPACK_ENDPOINT, the config file, https://127.0.0.1:2379).",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="Talk to the nodes' REST API instead of etcd: URL(s), comma-separated, the "
            "next tried on failure (default: $WOLFPACK_API, 'api:' in the config file).",
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="API token for --api (default: $WOLFPACK_TOKEN, 'token:' in the config file).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    context.set_endpoint_override(endpoint)
    context.set_api(api, api_token)


_thaw(_COLLECTING)
