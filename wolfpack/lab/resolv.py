"""A lab node's ``/etc/resolv.conf``, kept in its daemon's mount namespace (the
join-through-DNS flake, issue 9).

``ip netns exec`` bind-mounts ``/etc/netns/<ns>/resolv.conf`` over ``/etc/resolv.conf`` in
the mount namespace it makes. A bind mount on a file hangs on that file's dentry: when the
host *replaces* its ``/etc/resolv.conf`` (a new file renamed over it, as DHCP clients,
resolvconf and VM agents do, often in a machine's first minutes), Linux (since 3.18)
detaches the mounts on the old one in every other namespace. A wolfpackd's namespace is
made once, at lab up or power on, and lives on: from then on that node, and everything
run there through ``nsenter`` (``lab exec NODE``, the tests), asks the host's nameserver,
which knows nothing of ``cluster.test``. A command started with a fresh ``ip netns exec``
(the client and admin hosts) gets a fresh mount and is not affected; so only the test that
joins the cluster by name *from node3* failed, once, on a fresh machine.

:func:`keep` compares what the daemon's namespace shows with the lab's file and binds the
lab's file again when they differ; :func:`wolfpack.lab.world.enter` calls it before every
command it runs on a node.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import DNS_ADDRESS, ZONE, role_pid
from wolfpack.lab.state import LabState

__all__ = ["keep", "lab_file", "write"]


def lab_file(state: LabState, host: str) -> Path:
    """The lab's resolv.conf for ``host`` (``ip netns exec`` mounts it)."""
    return Path("/etc/netns") / (state.prefix + host) / "resolv.conf"


def write(state: LabState, host: str) -> None:
    """The lab's resolv.conf for ``host``: the lab's DNS host, search ``cluster.test``
    (recorded in the state first, with the directories made for it, for lab down)."""
    etc = Path("/etc/netns")
    for d in (etc, etc / (state.prefix + host)):
        if not d.exists():
            d.mkdir(mode=0o755)
            state.directories.append(str(d))
    path = lab_file(state, host)
    state.files.append(str(path))
    state.save()
    path.write_text(
        f"# wolfpack lab {state.prefix}: removed by 'wolfpack lab down'\n"
        f"nameserver {DNS_ADDRESS}\nsearch {ZONE}\noptions timeout:1 attempts:2\n"
    )


def keep(state: LabState, host: str) -> bool:
    """Bind the lab's resolv.conf again in ``host``'s daemon's mount namespace if that
    namespace no longer shows it; whether it had to (False too for a host without a
    running daemon: each command there gets a fresh mount)."""
    daemon = role_pid(state, host, "wolfpackd")
    if daemon is None:
        return False
    wanted = lab_file(state, host)
    try:
        text = wanted.read_text()
        shown = Path(f"/proc/{daemon}/root/etc/resolv.conf").read_text()
    except OSError:
        return False
    if shown == text:
        return False
    argv = ["nsenter", "-t", str(daemon), "-m", "--",
            "mount", "--bind", str(wanted), "/etc/resolv.conf"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise WolfpackError(
            f"{host}'s /etc/resolv.conf is no longer the lab's and could not be bound again:"
            f" {done.stderr.strip()}"
        )
    return True
