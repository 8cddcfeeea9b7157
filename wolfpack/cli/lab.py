"""``wolfpack lab``: build, inspect, power and remove the lab cluster in network namespaces
(DESIGN §4, docs/lab.md). The logic is :mod:`wolfpack.lab.world`; this is its command line.
Each verb imports it (and pyroute2 with it) itself, so other commands start without it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.cli import output
from wolfpack.cli.runner import JsonFlag, handle_errors, verb
from wolfpack.errors import ValidationError
from wolfpack.lab.state import DEFAULT_DIR, LabState

app = typer.Typer(
    help="The lab: a cluster in network namespaces on this machine (up, status, power, cable,"
    " exec, chaos, down).",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path,
    typer.Option("--dir", envvar="WOLFPACK_LAB_DIR", help="The lab's directory (its state)."),
]


def _progress(as_json: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        print(f"==> {text}", file=sys.stderr if as_json else sys.stdout, flush=True)

    return say


@verb(app, "up")
def up_(
    nodes: Annotated[
        int | None,
        typer.Option("--nodes", help="How many nodes (3 to 16, default 3; 2 with --witness)."),
    ] = None,
    cluster: Annotated[str, typer.Option("--cluster", help="The cluster's name.")] = "jean",
    faketime: Annotated[
        bool,
        typer.Option(
            "--faketime",
            help="Every wolfpackd under libfaketime: the chaos suite's clock jumps need it.",
        ),
    ] = False,
    witness: Annotated[
        bool,
        typer.Option(
            "--witness",
            help="The seed's two-node cluster and a witness host, built with 'cluster create',"
            " 'cluster join' and 'witness join' (give --nodes 2).",
        ),
    ] = False,
    lab_dir: DirOption = DEFAULT_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Build the lab (idempotent: a lab that is up is left as it is)."""
    from wolfpack.lab import world

    if nodes is None:
        nodes = world.WITNESS_NODES if witness else 3
    state, made = world.up(
        lab_dir, nodes, cluster, _progress(as_json), faketime=faketime, witness=witness
    )
    doc = {**world.status(lab_dir), "created": made}
    if as_json:
        output.print_json(doc)
    else:
        output.message(f"try: wolfpack lab exec admin -- wolfpack status   (dir {state.dir})")


@verb(app, "status")
def status_(lab_dir: DirOption = DEFAULT_DIR, as_json: JsonFlag = False) -> None:
    """What the lab holds: hosts, their processes, and the cluster's nodes and groups."""
    from wolfpack.lab import world

    doc = world.status(lab_dir)
    if as_json:
        output.print_json(doc)
        return
    _print_status(doc)


def _print_status(doc: dict[str, Any]) -> None:
    output.message(f"lab {doc['prefix']} in {doc['dir']}: {doc['phase']}, cluster {doc['cluster']}")
    rows = []
    for name, host in doc["hosts"].items():
        procs = ", ".join(
            f"{p['role']} {p['pid']}{'' if p['running'] else ' (dead)'}" for p in host["processes"]
        )
        rows.append((name, host["address"], "off" if host["powered_off"] else "on", procs))
    output.table("hosts", ("host", "address", "power", "processes"), rows)
    disks = [(n, d["device"], d["image"]) for n, d in doc.get("disks", {}).items()]
    if disks:
        output.table("shared disks", ("disk", "device", "image"), disks)
    cs = doc.get("cluster_state", {})
    if "error" in cs:
        output.message(f"cluster database: {cs['error']}")
    elif cs:
        output.table("nodes", ("node", "state"), sorted(cs["nodes"].items()))
        output.table(
            "groups",
            ("group", "owner", "state"),
            [(g, v["owner"], v["state"]) for g, v in cs["groups"].items()],
        )
    for problem in doc["problems"]:
        output.error(f"problem: {problem}")


@verb(app, "down")
def down_(lab_dir: DirOption = DEFAULT_DIR, as_json: JsonFlag = False) -> None:
    """Remove everything the lab made (namespaces, processes, files, loop devices), only that."""
    from wolfpack.lab import world

    doc = world.down(lab_dir, _progress(as_json))
    if as_json:
        output.print_json(doc)


@verb(app, "power")
def power_(
    action: Annotated[str, typer.Argument(help="on or off.")],
    node: Annotated[str, typer.Argument(help="The lab node, e.g. node2 (or witness).")],
    lab_dir: DirOption = DEFAULT_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Power a lab node off (every process killed, links down) or on (started again)."""
    from wolfpack.lab import world

    if action == "off":
        killed = world.power_off(lab_dir, node)
        doc: dict[str, Any] = {"node": node, "power": "off", "killed": killed}
        text = f"{node} powered off ({len(killed)} processes killed, links down)"
    elif action == "on":
        world.power_on(lab_dir, node, _progress(as_json))
        doc, text = {"node": node, "power": "on"}, f"{node} powered on and Up"
    else:
        raise ValidationError.single("ACTION", f"{action!r}: use on or off")
    if as_json:
        output.print_json(doc)
    else:
        output.message(text)


@verb(app, "cable")
def cable_(
    action: Annotated[
        str, typer.Argument(help="cut (carrier lost), mend, down (ip link set down) or up.")
    ],
    node: Annotated[str, typer.Argument(help="The lab node, e.g. node2.")],
    network: Annotated[str, typer.Argument(help="public or private.")],
    lab_dir: DirOption = DEFAULT_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Pull or plug a node's cable, or set its interface down or up (media sense)."""
    from wolfpack.lab import cables

    change = cables.ACTIONS.get(action)
    if change is None:
        raise ValidationError.single("ACTION", f"{action!r}: use {', '.join(cables.ACTIONS)}")
    change(LabState.load(lab_dir.resolve()), node, network)
    if as_json:
        output.print_json({"node": node, "network": network, "action": action})
    else:
        output.message(f"{node} {network} ({cables.ifname(network)}): {action}")


@app.command(
    "exec",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@handle_errors
def exec_(
    host: Annotated[str, typer.Argument(help="admin, client, dns or a node.")],
    command: Annotated[list[str], typer.Argument(help="The command and its arguments.")],
    lab_dir: DirOption = DEFAULT_DIR,
) -> None:
    """Run a command on a lab host (in its namespace), with WOLFPACK_ENDPOINT set to the
    lab's cluster: ``wolfpack lab exec admin -- wolfpack status``."""
    from wolfpack.lab import world

    state = LabState.load(lab_dir.resolve())
    if host not in world.hosts(state):
        known = ", ".join(world.hosts(state))
        raise ValidationError.single("HOST", f"{host!r} is not a lab host ({known})")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **world.lab_env(state)}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    argv = [*world.enter(state, host), *command]
    os.execvpe(argv[0], argv, env)


@verb(app, "chaos")
def chaos_(
    faults: Annotated[int, typer.Option("--faults", help="How many faults (1 to 2000).")] = 200,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Replays a run (default: a random one).")
    ] = None,
    ci: Annotated[
        bool, typer.Option("--ci", help="The CI profile (no whole-cluster kinds).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the run's JSON here.")] = None,
    lab_dir: DirOption = DEFAULT_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Seeded, overlapping faults on an up lab, judged by an independent observer: never two
    owners, no committed row lost, no configuration change, every group Online again."""
    from wolfpack.lab import chaos_lab

    doc = chaos_lab.main_run(lab_dir, faults, seed, ci=ci, progress=_progress(as_json))
    if out is not None:
        out.write_text(json.dumps(doc, indent=2) + "\n")
    if as_json:
        output.print_json(doc)
    else:
        output.message(chaos_lab.summary(doc))
    if doc["failed"]:
        raise typer.Exit(1)
