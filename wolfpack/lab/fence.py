"""The lab fence agent: "powers off" a lab node (S14), with the fence-agents interface.

    printf 'action=off\\nplug=node2\\n' | python -m wolfpack.lab.fence --dir /run/wolfpack-lab

``off`` (and ``reboot``) kill every process in the node's namespace and take its links down
(:func:`wolfpack.lab.world.power_off`): once it returns, nothing of the node runs, which is
what a fence must confirm. ``on`` confirms without starting anything: as after a real
STONITH, the administrator powers the node on (``wolfpack lab power on NODE``). ``status``
exits 0 (on) or 2 (off); ``monitor`` and ``list`` exit 0 when the lab exists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab import power
from wolfpack.lab.state import LabState
from wolfpack.node.fencing import parse_stdin


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wolfpack.lab.fence", description=__doc__)
    ap.add_argument("--dir", type=Path, required=True, help="the lab's directory")
    args = ap.parse_args(argv)
    opts = parse_stdin(sys.stdin.read())
    action = opts.get("action", "reboot")
    node = opts.get("plug") or opts.get("port") or opts.get("nodename") or ""
    try:
        state = LabState.load(args.dir)
        if action in ("monitor", "list"):
            return 0
        if node not in state.nodes:
            print(f"fence_wolfpack_lab: plug {node!r} is not a lab node", file=sys.stderr)
            return 1
        if action in ("off", "reboot"):
            power.power_off(args.dir, node)
        elif action == "status":
            return 2 if node in state.powered_off else 0
        elif action != "on":
            print(f"fence_wolfpack_lab: unsupported action {action!r}", file=sys.stderr)
            return 1
    except WolfpackError as exc:
        print(f"fence_wolfpack_lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
