"""The lab fence agent: "powers off" a lab node (S14), with the fence-agents interface.

    printf 'action=off\\nplug=node2\\n' | python -m wolfpack.lab.fence --dir /run/wolfpack-lab

``off`` (and ``reboot``) kill every process in the node's namespace and take its links down
(:func:`wolfpack.lab.power.power_off`): once it returns, nothing of the node runs, which is
what a fence must confirm. ``on`` confirms without starting anything: as after a real
STONITH, the administrator powers the node on (``wolfpack lab power on NODE``). ``status``
exits 0 (on) or 2 (off); ``monitor`` and ``list`` exit 0 when the lab exists.

The daemons do not run this module: their agent (``<lab dir>/fence_lab``) asks the lab's
power switch (:mod:`wolfpack.lab.power_switch`), which answers with :func:`act`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab import power
from wolfpack.lab.state import LabState
from wolfpack.node.fencing import parse_stdin

__all__ = ["act", "main"]

PROG = "fence_wolfpack_lab"


def act(lab_dir: Path, opts: Mapping[str, str]) -> tuple[int, str]:
    """Carry out one fence-agents request: its exit status and what to print with it."""
    action = opts.get("action", "reboot")
    node = opts.get("plug") or opts.get("port") or opts.get("nodename") or ""
    try:
        state = LabState.load(lab_dir)
        if action in ("monitor", "list"):
            return 0, ""
        if node not in state.nodes:
            return 1, f"{PROG}: plug {node!r} is not a lab node"
        if action in ("off", "reboot"):
            power.power_off(lab_dir, node)
        elif action == "status":
            return (2, f"{node}: off") if node in state.powered_off else (0, f"{node}: on")
        elif action != "on":
            return 1, f"{PROG}: unsupported action {action!r}"
    except WolfpackError as exc:
        return 1, f"{PROG}: {exc}"
    return 0, ""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wolfpack.lab.fence", description=__doc__)
    ap.add_argument("--dir", type=Path, required=True, help="the lab's directory")
    args = ap.parse_args(argv)
    code, message = act(args.dir, parse_stdin(sys.stdin.read()))
    if message:
        print(message, file=sys.stderr if code == 1 else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
