"""``wolfpack resource``: resources of a group (Get-ClusterResource, ``cluster resource``).

Private properties (``--prop key=value``) are converted by the resource type's schema (int,
bool, comma-separated list); ``--prop key=`` removes one. Dependencies use WSFC syntax,
``[web-disk] and ([ip1] or [ip2])``, and stay inside the group.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.markup import escape

from wolfpack.admin.nouns import RESOURCES
from wolfpack.admin.objects import create, modify
from wolfpack.cli import parse
from wolfpack.cli.context import open_cluster
from wolfpack.cli.intent import add_request_verb, submit
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, add_rename_verb, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.cli.wait import NoWaitFlag, TimeoutOption
from wolfpack.model.config import ClusterConfig, Resource
from wolfpack.model.dependencies import format_expression, parse_expression
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import RestartAction

app = typer.Typer(
    help="Resources: create, list, show, set, depend, rename, delete, online, offline, fail, move.",
    no_args_is_help=True,
)

Description = Annotated[str | None, typer.Option(help="Free text.")]
Props = Annotated[
    list[str] | None,
    typer.Option("--prop", help="Private property key=value (repeatable); key= removes it."),
]
# The help is Rich markup: a bare [ip] would be read as a style tag and vanish.
Depends = Annotated[
    str | None,
    typer.Option(help=escape("Dependency expression, e.g. '[ip] and [disk]'; '' for none.")),
]
PossibleOwners = Annotated[
    str | None, typer.Option(help="Comma-separated nodes it may run on; '' for every node.")
]
RestartActionOpt = Annotated[
    RestartAction | None,
    typer.Option("--restart-action", help="dont-restart, restart, restart-and-failover (default)."),
]
RestartThreshold = Annotated[
    int | None, typer.Option(help="Restarts within the restart period (default 3).")
]
RestartPeriod = Annotated[str | None, typer.Option(help="e.g. 900s or 15m (default 900s).")]
PendingTimeout = Annotated[
    str | None, typer.Option(help="Longest online/offline pending time (default 180s).")
]
LooksAlive = Annotated[
    str | None, typer.Option(help="LooksAlive interval, e.g. 5s or 5000ms; '' for the type's.")
]
IsAlive = Annotated[str | None, typer.Option(help="IsAlive interval, e.g. 60s; '' for the type's.")]


@dataclasses.dataclass(frozen=True)
class ResourceOptions:
    """Resource settings from the command line; ``None`` means "leave as it is"."""

    description: str | None = None
    props: list[str] | None = None
    depends: str | None = None
    possible_owners: str | None = None
    restart_action: RestartAction | None = None
    restart_threshold: int | None = None
    restart_period: str | None = None
    pending_timeout: str | None = None
    looks_alive: str | None = None
    is_alive: str | None = None

    def apply(self, cfg: ClusterConfig, res: Resource) -> Resource:
        f = f"resources.{res.name}"
        changes: dict[str, Any] = {}
        if self.description is not None:
            changes["description"] = self.description
        if self.props:
            given = parse.properties(self.props, cfg.types.get(res.type), f"{f}.properties")
            changes["properties"] = parse.merge_properties(res.properties, given)
        if self.depends is not None:
            changes["dependencies"] = parse_expression(self.depends, f"{f}.dependencies")
        if self.possible_owners is not None:
            changes["possible_owners"] = parse.names(self.possible_owners) or None
        if self.restart_action is not None:
            changes["restart_action"] = self.restart_action
        if self.restart_threshold is not None:
            changes["restart_threshold"] = self.restart_threshold
        for option, fld, unit in (
            (self.restart_period, "restart_period_s", "s"),
            (self.pending_timeout, "pending_timeout_s", "s"),
            (self.looks_alive, "looks_alive_ms", "ms"),
            (self.is_alive, "is_alive_ms", "ms"),
        ):
            if option is not None:
                empty = option.strip() == "" and unit == "ms"
                changes[fld] = None if empty else parse.duration(option, f"{f}.{fld}", unit=unit)
        return dataclasses.replace(res, **changes)


add_read_verbs(app, RESOURCES)
add_rename_verb(app, RESOURCES, "resources", "offline only; its dependents follow the new name.")
add_delete_verb(app, RESOURCES)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="Resource name, e.g. web-ip.")],
    rtype: Annotated[str, typer.Option("--type", help="Resource type (wolfpack type list).")],
    group: Annotated[str, typer.Option(help="The group it belongs to.")],
    description: Description = None,
    props: Props = None,
    depends: Depends = None,
    possible_owners: PossibleOwners = None,
    restart_action: RestartActionOpt = None,
    restart_threshold: RestartThreshold = None,
    restart_period: RestartPeriod = None,
    pending_timeout: PendingTimeout = None,
    looks_alive: LooksAlive = None,
    is_alive: IsAlive = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a resource in a group (Add-ClusterResource)."""
    options = ResourceOptions(
        description, props, depends, possible_owners, restart_action, restart_threshold,
        restart_period, pending_timeout, looks_alive, is_alive,
    )  # fmt: skip
    with open_cluster() as db:
        res = create(
            db, RESOURCES, name, lambda cfg: options.apply(cfg, Resource(name, rtype, group))
        )
    report(res, as_json, f"created resource {name} ({rtype}) in group {group}")


@verb(app, "set")
def set_(
    name: Annotated[str, typer.Argument(help="The resource's name.")],
    description: Description = None,
    props: Props = None,
    depends: Depends = None,
    possible_owners: PossibleOwners = None,
    restart_action: RestartActionOpt = None,
    restart_threshold: RestartThreshold = None,
    restart_period: RestartPeriod = None,
    pending_timeout: PendingTimeout = None,
    looks_alive: LooksAlive = None,
    is_alive: IsAlive = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a resource's settings and private properties."""
    options = ResourceOptions(
        description, props, depends, possible_owners, restart_action, restart_threshold,
        restart_period, pending_timeout, looks_alive, is_alive,
    )  # fmt: skip
    with open_cluster() as db:
        res = modify(db, RESOURCES, name, options.apply)
    report(res, as_json, f"changed resource {name}")


@verb(app, "depend")
def depend(
    name: Annotated[str, typer.Argument(help="The resource's name.")],
    expression: Annotated[
        str, typer.Argument(help=escape("e.g. '[web-disk] and [web-ip]'; '' for none."))
    ],
    as_json: JsonFlag = False,
) -> None:
    """Set the whole dependency expression (Set-ClusterResourceDependency)."""
    options = ResourceOptions(depends=expression)
    with open_cluster() as db:
        res = modify(db, RESOURCES, name, options.apply)
    shown = format_expression(res.dependencies) or "nothing"
    report(res, as_json, f"resource {name} depends on {shown}")


ResourceName = Annotated[str, typer.Argument(help="The resource's name.")]


add_request_verb(
    app,
    "online",
    IntentKind.ONLINE_RESOURCE,
    "The resource's name.",
    "Bring a resource online, with what it depends on (Start-ClusterResource).",
)
add_request_verb(
    app,
    "offline",
    IntentKind.OFFLINE_RESOURCE,
    "The resource's name.",
    "Take a resource offline, with what depends on it; never a failover.",
)
add_request_verb(
    app,
    "fail",
    IntentKind.FAIL_RESOURCE,
    "The resource's name.",
    "Initiate a failure (Test-ClusterResourceFailure): the restart policy then applies.",
)


@verb(app, "move")
def move(
    name: ResourceName,
    group: Annotated[str, typer.Argument(help="The group it should belong to.")],
    no_wait: NoWaitFlag = False,
    timeout: TimeoutOption = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Move a resource to another group (Move-ClusterResource); only a resource
    without dependencies in either direction may move."""
    submit(IntentKind.CHANGE_GROUP, name, group, as_json, wait=not no_wait, timeout=timeout)
