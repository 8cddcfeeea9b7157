"""The lab's fence agent for Pacemaker in bench/compare.py (the ``fenced`` configuration).

Pacemaker's fencer runs ``/usr/sbin/fence_<name>`` with the fence-agents interface (options
as ``key=value`` lines on stdin). bench/compare_pacemaker.py writes that file, recorded in
the lab's state so that the lab's removal deletes it: a shell line that enters the bench's
own mount namespace (a node's has its own /run, without /run/netns) and runs this module.
``off`` and ``reboot`` do what the lab's power-off does (:func:`wolfpack.lab.power.power_off`);
the node stays off until the bench powers it on (Pacemaker: ``stonith-action=off``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab.power import power_off
from wolfpack.lab.state import LabState

METADATA = """<?xml version="1.0" ?>
<resource-agent name="{name}" shortdesc="bench/compare.py: power a lab node off">
<longdesc>Kills every process of a lab node's network namespace and takes its links down.</longdesc>
<parameters>
<parameter name="action" unique="0" required="1"><getopt mixed="-o, --action=[action]"/>
<content type="string" default="off"/><shortdesc lang="en">Fencing action</shortdesc></parameter>
<parameter name="plug" unique="0" required="1" obsoletes="port"><getopt mixed="-n, --plug=[id]"/>
<content type="string"/><shortdesc lang="en">The lab node</shortdesc></parameter>
<parameter name="port" unique="0" required="0" deprecated="1"><getopt mixed="-n, --plug=[id]"/>
<content type="string"/><shortdesc lang="en">The lab node</shortdesc></parameter>
</parameters>
<actions>
<action name="off"/><action name="reboot"/><action name="status"/><action name="list"/>
<action name="monitor"/><action name="metadata"/>
</actions>
</resource-agent>
"""


def options(argv: list[str]) -> tuple[Path, dict[str, str]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--name", default="fence_wolfpack_compare")
    ap.add_argument("-o", "--action")
    ap.add_argument("-n", "--plug")
    args = ap.parse_args(argv)
    opts = {"name": args.name}
    if args.action is None:  # Pacemaker's way: key=value lines on stdin
        for line in sys.stdin.read().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                opts[key.strip()] = value.strip()
    else:
        opts["action"] = args.action
    if args.plug:
        opts["plug"] = args.plug
    return args.dir, opts


def main(argv: list[str] | None = None) -> int:
    lab_dir, opts = options(sys.argv[1:] if argv is None else argv)
    action = opts.get("action", "reboot")
    if action == "metadata":
        print(METADATA.format(name=opts["name"]))
        return 0
    state = LabState.load(lab_dir)
    if action in ("monitor", "list"):
        if action == "list":
            print("\n".join(f"{n}," for n in state.nodes))
        return 0
    plug = opts.get("plug") or opts.get("port") or opts.get("nodename", "")
    if plug not in state.nodes:
        print(f"{plug!r} is not a node of the lab in {lab_dir}", file=sys.stderr)
        return 1
    if action == "status":
        return 2 if plug in state.powered_off else 0
    if action in ("off", "reboot"):
        try:
            power_off(lab_dir, plug)
        except WolfpackError as exc:
            print(f"cannot power {plug} off: {exc}", file=sys.stderr)
            return 1
        print(f"{plug} powered off", file=sys.stderr)
        return 0
    print(f"action {action!r} is not supported", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
