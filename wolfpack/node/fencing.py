"""Fencing: making sure a node that stopped answering can no longer run anything.

A group may start elsewhere only after its old owner is fenced (a fence agent confirmed the
node is off) or its lease expired (DESIGN §2, safety invariant). Two agents:

- :class:`ExternalFenceAgent` runs a program with the interface of the Linux
  ``fence-agents`` package (``fence_ipmilan``, ``fence_xvm``, ``fence_scsi``, ...): options
  as ``key=value`` lines on standard input, ``action=off`` or ``action=on``, ``plug=<node>``,
  exit status 0 = done and confirmed.
- :class:`LocalTestFenceAgent` is for clusters whose nodes all run on this machine (tests,
  the lab): it "powers a node off" by killing every process in that node's PID registry.
  It is also a program with the fence-agents interface::

      printf 'action=off\\nplug=node2\\n' | python -m wolfpack.node.fencing test --run-root DIR

Both raise :class:`~wolfpack.errors.FenceError` with a clear message when the fence is not
confirmed; nothing of the node may then start elsewhere until its lease has expired.

Every agent has a :class:`FenceKind`. A **power** fence stops everything the node runs; an
**io** fence (``fence_scsi``, ``fence_mpath``) only cuts it off from shared storage, so its
processes and addresses keep running: after an io fence the node's groups still wait for
its lease, and the node must be unfenced (``action=on``) before it uses the storage again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from wolfpack.errors import FenceError
from wolfpack.node.pidregistry import LABEL_DAEMON, PidRegistry

__all__ = [
    "IO_AGENTS",
    "RESERVED_OPTIONS",
    "ExternalFenceAgent",
    "FenceAgent",
    "FenceKind",
    "LocalTestFenceAgent",
    "kind_of",
    "main",
    "parse_stdin",
]

#: options Wolfpack itself sets for each call; configuring them is an error
RESERVED_OPTIONS = frozenset({"action", "plug", "port", "nodename"})
#: how much of an agent's output goes into an error message
_MAX_OUTPUT = 2000


class FenceKind(StrEnum):
    POWER = "power"  # the node is off: nothing of it runs any more
    IO = "io"  # the node is cut off from shared storage; its processes may still run


#: fence-agents programs that fence by cutting storage access, not power
IO_AGENTS = frozenset({"fence_scsi", "fence_mpath"})


def kind_of(program: str) -> FenceKind:
    """The kind of a fence-agents program, by its name."""
    return FenceKind.IO if Path(program).name in IO_AGENTS else FenceKind.POWER


class FenceAgent(Protocol):
    """Powers nodes off and on (or cuts them off from storage and back: ``kind``). Both
    calls return only once the agent confirmed."""

    kind: FenceKind

    def fence(self, node: str) -> None:
        """Power ``node`` off; raises :class:`FenceError` if that is not confirmed."""
        ...

    def unfence(self, node: str) -> None:
        """Allow ``node`` to run again (power on, re-register a disk key, ...)."""
        ...


class ExternalFenceAgent:
    """A ``fence_*`` program from the Linux fence-agents package (or anything alike).

    Each call runs ``program`` with no arguments (so it reads its options from standard
    input) in a session of its own, and writes::

        action=off            (on, for unfence)
        plug=<node>           (or host_map[node])
        nodename=<node>
        <key>=<value>         one line per configured option

    Exit status 0 means confirmed. The run is bounded by ``timeout_s``; on timeout the
    program's whole process group is killed and :class:`FenceError` is raised. The option
    values (passwords included) never appear in an error message.
    """

    def __init__(
        self,
        program: str | Path | Sequence[str],
        options: Mapping[str, str] | None = None,
        timeout_s: float = 20.0,
        *,
        host_map: Mapping[str, str] | None = None,
        kind: FenceKind | None = None,
    ) -> None:
        self.argv = [str(program)] if isinstance(program, str | Path) else list(program)
        if not self.argv or not self.argv[0]:
            raise ValueError("a fence agent needs a program to run")
        self.kind = kind if kind is not None else kind_of(self.argv[0])
        self.options = dict(options or {})
        for key, value in self.options.items():
            if key in RESERVED_OPTIONS:
                raise ValueError(f"fence option {key!r} is set by Wolfpack for each node")
            if not key or "=" in key or any(c.isspace() for c in key):
                raise ValueError(f"fence option name {key!r} must be one word without '='")
            if "\n" in value or "\r" in value:
                raise ValueError(f"fence option {key!r} must be a single line")
        if timeout_s <= 0:
            raise ValueError("the fence timeout must be positive")
        self.timeout_s = timeout_s
        self.host_map = dict(host_map or {})

    def __repr__(self) -> str:
        return f"ExternalFenceAgent({' '.join(self.argv)!r}, timeout_s={self.timeout_s})"

    def fence(self, node: str) -> None:
        self._run("off", node)

    def unfence(self, node: str) -> None:
        self._run("on", node)

    def stdin_for(self, action: str, node: str) -> str:
        """What the program reads on standard input for ``action`` on ``node``."""
        lines = [f"action={action}", f"plug={self.host_map.get(node, node)}", f"nodename={node}"]
        lines += [f"{k}={v}" for k, v in self.options.items()]
        return "\n".join(lines) + "\n"

    def _run(self, action: str, node: str) -> None:
        what = f"fence agent {self.argv[0]} action={action} plug={self.host_map.get(node, node)}"
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout can kill all it started
            )
        except OSError as exc:
            raise FenceError(f"{what}: cannot run it: {exc.strerror or exc}") from None
        try:
            out, err = proc.communicate(self.stdin_for(action, node).encode(), self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise FenceError(
                f"{what}: not confirmed within {self.timeout_s:g} s; the agent was killed"
            ) from None
        if proc.returncode != 0:
            detail = _tail(err) or _tail(out) or "no output"
            raise FenceError(f"{what}: failed with exit status {proc.returncode}: {detail}")


class LocalTestFenceAgent:
    """Fences nodes that run on this machine, each with run_dir ``<run_root>/<node>``.

    "Power off" = SIGKILL every process in the node's PID registry (daemon, watchdog,
    resource process groups), then wait until all of them are gone. Unfence does nothing:
    a node "powers on" when its daemon is started again.
    """

    kind = FenceKind.POWER

    def __init__(self, run_root: Path | str, timeout_s: float = 5.0) -> None:
        self.run_root = Path(run_root)
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"LocalTestFenceAgent({str(self.run_root)!r})"

    def registry(self, node: str) -> PidRegistry:
        if not node or node in (".", "..") or "/" in node:
            raise FenceError(f"test fence agent: {node!r} is not a node name")
        run_dir = self.run_root / node
        if not run_dir.is_dir():
            # Refuse rather than "confirm": a wrong run_root must not pass for a fence.
            raise FenceError(f"test fence agent: node {node} has no run directory {run_dir}")
        return PidRegistry(run_dir)

    def fence(self, node: str) -> None:
        reg = self.registry(node)
        # The daemon first: a process it is starting is recorded before it may run, so once
        # the daemon is gone the registry holds everything that can run.
        reg.kill_all(signal.SIGKILL, labels=(LABEL_DAEMON,))
        reg.wait_gone(self.timeout_s, labels=(LABEL_DAEMON,))
        reg.kill_all(signal.SIGKILL)
        if not reg.wait_gone(self.timeout_s):
            left = ", ".join(str(p) for p in reg.running())
            raise FenceError(
                f"test fence agent: processes of node {node} still run after "
                f"{self.timeout_s:g} s: {left}"
            )

    def unfence(self, node: str) -> None:
        self.registry(node)

    def is_off(self, node: str) -> bool:
        return not self.registry(node).running()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a timed-out agent and everything in its session, and reap it (bounded)."""
    # Not reaped yet, so its PID (= its process group id) cannot have been reused.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=2.0)
    except subprocess.TimeoutExpired:  # something that left the group holds the pipes
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait(timeout=2.0)


def _tail(data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    return text if len(text) <= _MAX_OUTPUT else "..." + text[-_MAX_OUTPUT:]


# -- the test agent as a fence_* program ---------------------------------------------------


def parse_stdin(text: str) -> dict[str, str]:
    """Options in the fence-agents stdin form: ``name=value`` lines, ``#`` comments; a name
    alone means ``name=1``."""
    opts: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        opts[name.strip()] = value if "=" in line else "1"
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wolfpack.node.fencing",
        description="Wolfpack's fence agents as fence_* programs: options on standard input "
        "as key=value lines (action=off|on|reboot|status|monitor, plug=NODE).",
    )
    sub = ap.add_subparsers(dest="agent", required=True)
    test = sub.add_parser("test", help="the local test agent: kills a node's recorded processes")
    test.add_argument("--run-root", type=Path, help="where each node's run_dir is (or run_root=)")
    test.add_argument("--timeout-s", type=float, default=5.0)
    args = ap.parse_args(argv)

    opts = parse_stdin(sys.stdin.read())
    action = opts.get("action", "reboot")
    node = opts.get("plug") or opts.get("port") or opts.get("nodename") or ""
    run_root = args.run_root or (Path(opts["run_root"]) if "run_root" in opts else None)
    if run_root is None:
        print("fence_wolfpack_test: no run root: give --run-root or run_root=", file=sys.stderr)
        return 1
    if action in ("monitor", "list"):
        return 0 if run_root.is_dir() else 1
    if not node:
        print("fence_wolfpack_test: no plug= (node) given", file=sys.stderr)
        return 1
    agent = LocalTestFenceAgent(run_root, args.timeout_s)
    try:
        if action in ("off", "reboot"):
            agent.fence(node)
        elif action == "on":
            agent.unfence(node)
        elif action == "status":
            return 2 if agent.is_off(node) else 0  # fence-agents: 0 = on, 2 = off
        else:
            print(f"fence_wolfpack_test: unsupported action {action!r}", file=sys.stderr)
            return 1
    except FenceError as exc:
        print(f"fence_wolfpack_test: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
