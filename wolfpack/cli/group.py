"""``wolfpack group``: groups, the unit of failover (Get-ClusterGroup, ``cluster group``).

Every group setting can be changed with ``set`` (S35): preferred owners (S25, S37), the
failover threshold and period, failback with its window and stability delay (S38), and
anti-affinity classes.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from wolfpack.admin.nouns import GROUPS
from wolfpack.admin.objects import create, modify
from wolfpack.cli import output, parse
from wolfpack.cli import timeline as timelines
from wolfpack.cli.context import open_cluster
from wolfpack.cli.intent import add_request_verb, submit
from wolfpack.cli.objects import add_delete_verb, add_read_verbs, add_rename_verb, report
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.cli.wait import NoWaitFlag, TimeoutOption
from wolfpack.model.config import Group
from wolfpack.model.snapshot import IntentKind
from wolfpack.model.states import FailbackMode

app = typer.Typer(
    help="Groups: create, list, show, set, rename, delete, move, online, offline, history.",
    no_args_is_help=True,
)

Description = Annotated[str | None, typer.Option(help="Free text.")]
PreferredOwners = Annotated[
    str | None,
    typer.Option(help="Ordered comma-separated nodes, e.g. node2,node1; '' for every node."),
]
FailoverThreshold = Annotated[
    int | None, typer.Option(help="Failovers allowed within the failover period (default 10).")
]
FailoverPeriod = Annotated[str | None, typer.Option(help="e.g. 6h, 90m or 3600s (default 6h).")]
Failback = Annotated[
    FailbackMode | None, typer.Option("--failback", help="prevent (default), immediate, window.")
]
FailbackWindow = Annotated[
    str | None,
    typer.Option(
        help="Hours START-END in cluster local time, e.g. 22-6; implies --failback window."
    ),
]
StabilityDelay = Annotated[
    str | None,
    typer.Option(help="How long the preferred owner must be Up before failback (default 60s)."),
]
AntiAffinity = Annotated[
    str | None, typer.Option(help="Comma-separated anti-affinity class names; '' for none.")
]


@dataclasses.dataclass(frozen=True)
class GroupOptions:
    """The group settings given on the command line; ``None`` means "leave as it is"."""

    description: str | None = None
    preferred_owners: str | None = None
    failover_threshold: int | None = None
    failover_period: str | None = None
    failback: FailbackMode | None = None
    failback_window: str | None = None
    stability_delay: str | None = None
    anti_affinity: str | None = None

    def apply(self, group: Group) -> Group:
        f = f"groups.{group.name}"
        changes: dict[str, Any] = {}
        if self.description is not None:
            changes["description"] = self.description
        if self.preferred_owners is not None:
            changes["preferred_owners"] = parse.names(self.preferred_owners)
        if self.failover_threshold is not None:
            changes["failover_threshold"] = self.failover_threshold
        if self.failover_period is not None:
            changes["failover_period_s"] = parse.duration(
                self.failover_period, f"{f}.failover_period_s"
            )
        if self.anti_affinity is not None:
            changes["anti_affinity"] = parse.names(self.anti_affinity)
        return dataclasses.replace(group, failback=self._failback(group), **changes)

    def _failback(self, group: Group) -> Any:
        f = f"groups.{group.name}.failback"
        fb = group.failback
        changes: dict[str, Any] = {}
        if self.failback_window is not None:
            changes["window_start"], changes["window_end"] = parse.hour_window(
                self.failback_window, f"{f}.window_start"
            )
            changes["mode"] = FailbackMode.WINDOW
        if self.failback is not None:
            changes["mode"] = self.failback
        if self.stability_delay is not None:
            changes["stability_delay_s"] = parse.duration(
                self.stability_delay, f"{f}.stability_delay_s"
            )
        return dataclasses.replace(fb, **changes)


add_read_verbs(app, GROUPS)
add_rename_verb(
    app, GROUPS, "groups", "its resources keep running where they are (refused while it moves)."
)
add_delete_verb(app, GROUPS)


@verb(app, "create")
def create_(
    name: Annotated[str, typer.Argument(help="Group name, free text such as 'Cluster Group'.")],
    description: Description = None,
    preferred_owners: PreferredOwners = None,
    failover_threshold: FailoverThreshold = None,
    failover_period: FailoverPeriod = None,
    failback: Failback = None,
    failback_window: FailbackWindow = None,
    stability_delay: StabilityDelay = None,
    anti_affinity: AntiAffinity = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a group (Add-ClusterGroup); unset settings get the MSCS defaults."""
    options = GroupOptions(
        description, preferred_owners, failover_threshold, failover_period,
        failback, failback_window, stability_delay, anti_affinity,
    )  # fmt: skip
    group = options.apply(Group(name))
    with open_cluster() as db:
        create(db, GROUPS, name, lambda cfg: group)
    report(group, as_json, f"created group {name}")


@verb(app, "set")
def set_(
    name: Annotated[str, typer.Argument(help="The group's name.")],
    description: Description = None,
    preferred_owners: PreferredOwners = None,
    failover_threshold: FailoverThreshold = None,
    failover_period: FailoverPeriod = None,
    failback: Failback = None,
    failback_window: FailbackWindow = None,
    stability_delay: StabilityDelay = None,
    anti_affinity: AntiAffinity = None,
    as_json: JsonFlag = False,
) -> None:
    """Change any setting of a group (its Properties dialog)."""
    options = GroupOptions(
        description, preferred_owners, failover_threshold, failover_period,
        failback, failback_window, stability_delay, anti_affinity,
    )  # fmt: skip
    with open_cluster() as db:
        group = modify(db, GROUPS, name, lambda cfg, group: options.apply(group))
    report(group, as_json, f"changed group {name}")


GroupName = Annotated[str, typer.Argument(help="The group's name.")]


@verb(app, "move")
def move(
    name: GroupName,
    node: Annotated[
        str | None, typer.Argument(help="Target node; omit for the best possible node.")
    ] = None,
    no_wait: NoWaitFlag = False,
    timeout: TimeoutOption = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Move a group to another node (Move-ClusterGroup): offline here, online there,
    back to where it was if anything fails there."""
    submit(IntentKind.MOVE_GROUP, name, node, as_json, wait=not no_wait, timeout=timeout)


@verb(app, "history")
def history(
    name: GroupName,
    limit: Annotated[int, typer.Option(help="At most this many finished ones.", min=1)] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Where the time of the group's failovers and moves went: each phase with its wall-clock
    time, from detection (or the request) to every resource online on the new node."""
    with open_cluster() as db:
        doc = db.group_history(name)
    if as_json:
        output.print_json({**doc, "timelines": doc["timelines"][:limit]})
    else:
        timelines.show_history(doc, limit)


add_request_verb(
    app,
    "online",
    IntentKind.ONLINE_GROUP,
    "The group's name.",
    "Bring a group online (Start-ClusterGroup); clears a failover-threshold stop.",
)
add_request_verb(
    app,
    "offline",
    IntentKind.OFFLINE_GROUP,
    "The group's name.",
    "Take a group offline (Stop-ClusterGroup); it does not fail over.",
)
