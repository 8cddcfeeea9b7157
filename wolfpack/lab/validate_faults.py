"""Faults ``wolfpack cluster validate`` must find (S1), made on one lab node at a time.

Each is a context manager that makes the fault and undoes it, touching only the lab:

- :func:`cable_cut`: the node's cable on a network pulled (:mod:`wolfpack.lab.cables`);
- :func:`names_unresolvable`: the node's resolver pointed at a server that is not there
  (a file bind-mounted over ``/etc/resolv.conf`` in the node's own mount namespace);
- :func:`clock_skew`: the node reports a clock ``seconds`` off (the daemon's
  ``lab_clock_skew_file``; the machine's clock is never touched);
- :func:`disk_hidden`: a lab shared disk invisible on the node (``/dev/null`` bind-mounted
  over its loop device in the node's mount namespace only);
- :func:`program_hidden`: a program missing on the node (an empty, non-executable file
  bind-mounted over it in the node's mount namespace only: the machine's file is untouched);
- :func:`etcd_blocked`: new connections from the node to etcd's port dropped (an nftables
  table in the node's network namespace). Connections already open stay, so the node keeps
  its lease while the fault lasts: keep it short.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wolfpack.lab import cables
from wolfpack.lab.layout import ETCD_PORT, clock_skew_file, enter, netns_exec, node_dir
from wolfpack.lab.netns import LabError
from wolfpack.lab.state import LabState

__all__ = [
    "cable_cut",
    "clock_skew",
    "disk_hidden",
    "etcd_blocked",
    "names_unresolvable",
    "program_hidden",
]

TABLE = "wolfpack_validate"
TIMEOUT_S = 30.0


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        raise LabError(f"{what}: {(done.stderr or done.stdout).strip()}")


@contextmanager
def _bound_over(state: LabState, node: str, source: Path, target: str) -> Iterator[None]:
    """``source`` bind-mounted over ``target`` where only ``node``'s daemon (and what it
    starts) sees it; unmounted afterwards."""
    where = enter(state, node)
    _run([*where, "mount", "--bind", str(source), target], f"hide {target} on {node}")
    try:
        yield
    finally:
        _run([*where, "umount", target], f"restore {target} on {node}")


@contextmanager
def cable_cut(state: LabState, node: str, network: str) -> Iterator[None]:
    cables.cut(state, node, network)
    try:
        yield
    finally:
        cables.mend(state, node, network)


@contextmanager
def names_unresolvable(state: LabState, node: str) -> Iterator[None]:
    """Every name lookup on ``node`` asks a name server that is not there (refused at once)."""
    conf = node_dir(state, node) / "resolv.conf.broken"
    conf.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    with _bound_over(state, node, conf, "/etc/resolv.conf"):
        yield


@contextmanager
def clock_skew(state: LabState, node: str, seconds: float) -> Iterator[None]:
    path = clock_skew_file(state, node)
    path.write_text(f"{seconds}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def disk_hidden(state: LabState, node: str, disk: str) -> Iterator[None]:
    """Lab disk ``disk`` (``web``, ``sql``) is not there on ``node``."""
    device = str(state.disks[disk]["device"])
    with _bound_over(state, node, Path("/dev/null"), device):
        yield


@contextmanager
def program_hidden(state: LabState, node: str, program: str) -> Iterator[None]:
    """``program`` (a path, e.g. /usr/sbin/nginx) is no program on ``node``."""
    with tempfile.NamedTemporaryFile(dir=node_dir(state, node), prefix="hidden-") as empty:
        Path(empty.name).chmod(0o644)
        with _bound_over(state, node, Path(empty.name), program):
            yield


@contextmanager
def etcd_blocked(state: LabState, node: str) -> Iterator[None]:
    """New TCP connections from ``node`` to etcd's client port are dropped."""
    nft = [*netns_exec(state, node), "nft"]
    _run([*nft, "add", "table", "inet", TABLE], f"nft table on {node}")
    try:
        _run([*nft, "add", "chain", "inet", TABLE, "out",
              "{ type filter hook output priority 0 ; }"], f"nft chain on {node}")  # fmt: skip
        _run([*nft, "add", "rule", "inet", TABLE, "out", "tcp", "dport", str(ETCD_PORT),
              "ct", "state", "new", "drop"], f"nft rule on {node}")  # fmt: skip
        yield
    finally:
        _run([*nft, "delete", "table", "inet", TABLE], f"remove the nft table on {node}")
