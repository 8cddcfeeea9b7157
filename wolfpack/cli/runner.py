"""Running a verb: every Wolfpack error becomes a clear message and an exit code.

Exit codes: 0 success; 1 any other Wolfpack error (not found, exists, conflict, refused);
2 bad input (validation: the message names each field; also command-line usage errors);
3 the cluster database cannot be reached. A Wolfpack error never prints a traceback. With
``--json`` the error is a document on stdout::

    {"error": {"type": "ValidationError", "message": "...",
               "fields": [{"field": "groups.Web.failover_threshold", "message": "..."}]}}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, NoReturn, ParamSpec, TypeVar

import typer
import typer.main
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from wolfpack.cli import context, output
from wolfpack.errors import RejectedError, StoreUnavailable, ValidationError, WolfpackError

EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_UNAVAILABLE = 3

P = ParamSpec("P")
R = TypeVar("R")

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def exit_code(exc: WolfpackError) -> int:
    if isinstance(exc, ValidationError):
        return EXIT_INVALID
    if isinstance(exc, StoreUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def describe(exc: WolfpackError) -> str:
    text = str(exc)
    if isinstance(exc, RejectedError):
        text = f"{text} [{exc.code}]"  # the reason code, to look up or to script against
    if isinstance(exc, StoreUnavailable):
        text += (
            f"\nThe endpoint used was {_safe_endpoint()}: point wolfpack at the cluster "
            "database with --endpoint URL or WOLFPACK_ENDPOINT (`bash scripts/demo` starts a "
            "demo etcd on 127.0.0.1:23790)."
        )
    return text


def _safe_endpoint() -> str:
    try:
        return context.endpoint()
    except WolfpackError:
        return "(unreadable client config)"


def error_document(exc: WolfpackError) -> dict[str, Any]:
    fields = exc.errors if isinstance(exc, ValidationError) else ()
    return {
        "error": {
            "type": type(exc).__name__,
            "message": describe(exc),
            "fields": [{"field": f.field, "message": f.message} for f in fields],
            **({"code": exc.code} if isinstance(exc, RejectedError) else {}),
        }
    }


def fail(exc: WolfpackError, as_json: bool) -> NoReturn:
    if as_json:
        output.print_json(error_document(exc))
    elif isinstance(exc, ValidationError) and len(exc.errors) > 1:
        output.error(f"error: {len(exc.errors)} problems, nothing was changed:")
        for e in exc.errors:
            output.error(f"  {e.field}: {e.message}")
    else:
        output.error(f"error: {describe(exc)}")
    raise typer.Exit(exit_code(exc))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a verb so a WolfpackError ends it with a message and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except WolfpackError as exc:
            fail(exc, bool(kwargs.get("as_json", False)))

    return wrapper


def verb(
    app: typer.Typer, name: str, *, help: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register the function as verb ``name`` of ``app`` with Wolfpack error handling. A verb
    takes its ``--json`` flag as ``as_json: JsonFlag = False``; ``help`` defaults to the
    function's docstring."""

    def register(func: Callable[P, R]) -> Callable[P, R]:
        wrapped = handle_errors(func)
        app.command(name, help=help)(wrapped)
        return wrapped

    return register


class JsonErrors(TyperGroup):
    """Root group: command-line usage errors are JSON too when ``--json`` was given.

    ``lazy`` names the commands a subclass loads only when they are used (their modules are
    imported then): a verb pays for its own imports, not for every other's."""

    lazy: ClassVar[Mapping[str, Callable[[], Command]]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        loaded = super().list_commands(ctx)
        return [*loaded, *(name for name in self.lazy if name not in loaded)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in self.lazy:
            found = self.lazy[cmd_name]()
            found.name = cmd_name
            self.add_command(found, cmd_name)  # loaded once
        return found

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        as_json = "--json" in args
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta["wolfpack.json"] = as_json
        return ctx

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if not ctx.meta.get("wolfpack.json"):
                raise
            text = exc.format_message()
            field = {"field": _param_name(exc), "message": text}
            output.print_json({"error": {"type": "UsageError", "message": text, "fields": [field]}})
            raise typer.Exit(EXIT_INVALID) from None


def _param_name(exc: UsageError) -> str:
    param = getattr(exc, "param", None)
    if param is not None:
        opts = getattr(param, "opts", None) or [getattr(param, "name", "")]
        return str(opts[0])
    return "command line"
