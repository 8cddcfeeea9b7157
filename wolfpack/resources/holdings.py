"""What a node holds in the kernel for its resources, besides processes: their cgroups,
virtual addresses and mounts, recorded so that the watchdog (self-fencing by the lease
deadline) and a restarted daemon can end exactly those (review C2, M7).

One JSON file per holding in ``<run_dir>/held/``, beside the PID registry, written before
the thing exists (so it is never held unrecorded) and removed once it is gone::

    cgroup.<resource>.json   {"kind": "cgroup", "resource": ..., "path": ..., "owned": true}
    address.<resource>.json  {"kind": "address", "resource": ..., "interface": "eth0",
                              "address": "198.51.100.10", "prefix_length": 24,
                              "label": "eth0:wp", "netns": null}
    mount.<resource>.json    {"kind": "mount", "resource": ..., "mountpoint": "/srv/x",
                              "devno": [7, 3]}

Releasing touches only what matches its record: an address only if it is on that interface
*with the cluster's* ``:wp`` *label*, a mount only if the filesystem at the mount point is
the recorded device; a cgroup is killed (and removed only if ``owned``: a systemd unit's
cgroup belongs to systemd). The order is processes first, then addresses, then mounts: a
lazy unmount (``umount -l``, the last resort after ``umount -f``) only detaches the mount
point; the filesystem stays in use, and the device with it, until every file open on it is
closed, which is why the processes are killed before.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wolfpack.resources.confine import KILL_WAIT_S, Cgroup, safe_name

# at import, not when releasing: the watchdog releases at ``deadline - 0.3 s``, and a first
# import of pyroute2 then takes 0.1-1.7 s on a loaded machine (issue 8, lab freeze_unfenced)
from wolfpack.resources.netlink import IPRoute

__all__ = ["ADDRESS", "CGROUP", "MOUNT", "Holding", "Holdings", "release"]

CGROUP, ADDRESS, MOUNT = "cgroup", "address", "mount"
KINDS = (CGROUP, ADDRESS, MOUNT)  # also the order of release
UMOUNT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Holding:
    kind: str
    resource: str
    fields: dict[str, Any]

    def describe(self) -> str:
        f = self.fields
        if self.kind == CGROUP:
            return f"cgroup {f.get('path')}"
        if self.kind == ADDRESS:
            where = f" in netns {f['netns']}" if f.get("netns") else ""
            cidr = f"{f.get('address')}/{f.get('prefix_length')}"
            return f"address {cidr} on {f.get('interface')}{where}"
        return f"mount {f.get('mountpoint')}"


class Holdings:
    """The records under ``<run_dir>/held``."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir) / "held"

    def _file(self, kind: str, resource: str) -> Path:
        return self.dir / f"{kind}.{safe_name(resource)}.json"

    def add(self, kind: str, resource: str, **fields: Any) -> Holding:
        if kind not in KINDS:
            raise ValueError(f"unknown holding kind {kind!r}")
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._file(kind, resource)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"kind": kind, "resource": resource, **fields}) + "\n")
        tmp.replace(path)  # readers never see half a file
        return Holding(kind, resource, fields)

    def remove(self, kind: str, resource: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(kind, resource).unlink()

    def entries(self, kinds: tuple[str, ...] = KINDS) -> list[Holding]:
        """Every readable record of ``kinds``, in release order (cgroups, addresses, mounts)."""
        out: list[Holding] = []
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return out
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                doc = json.loads((self.dir / name).read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(doc, dict):
                continue
            kind, resource = doc.pop("kind", None), doc.pop("resource", None)
            if kind in kinds and isinstance(resource, str):
                out.append(Holding(kind, resource, doc))
        return sorted(out, key=lambda h: (KINDS.index(h.kind), h.resource))

    def release(self, holding: Holding, *, log: Callable[..., None] | None = None) -> str | None:
        """End ``holding`` and forget it; returns why it failed (the record is kept) or None."""
        why = release(holding)
        if why is None:
            self.remove(holding.kind, holding.resource)
        elif log is not None:
            log("holding_release_failed", what=holding.describe(), error=why)
        return why


def release(holding: Holding) -> str | None:
    """End one holding (see the module docstring); why it failed, or None."""
    try:
        if holding.kind == CGROUP:
            return _release_cgroup(holding.fields)
        if holding.kind == ADDRESS:
            return _release_address(holding.fields)
        if holding.kind == MOUNT:
            return _release_mount(holding.fields)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"unknown kind {holding.kind!r}"


def _release_cgroup(f: dict[str, Any]) -> str | None:
    group = Cgroup(Path(str(f["path"])))
    if not group.kill(KILL_WAIT_S):
        return f"processes {group.pids()} in {group.path} survive SIGKILL"
    if f.get("owned", True):
        group.remove()
        parent = group.path.parent  # the node's subtree: gone once empty (mkdir'd again)
        if parent.name.startswith("wolfpack-"):
            with contextlib.suppress(OSError):
                parent.rmdir()
    return None


def _release_address(f: dict[str, Any]) -> str | None:
    netns = f.get("netns")
    ipr = IPRoute() if not netns else IPRoute(netns=str(netns), flags=0)
    try:
        links = ipr.link_lookup(ifname=str(f["interface"]))
        if not links:
            return None  # the interface is gone, and the address with it
        index = int(links[0])
        for msg in ipr.get_addr(family=2, index=index):
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            label = msg.get_attr("IFA_LABEL") or ""
            if local == f["address"] and label == f["label"]:
                ipr.addr("del", index=index, address=local, prefixlen=int(msg["prefixlen"]))
        return None
    finally:
        ipr.close()


def _devno_at(mount_point: str) -> tuple[int, int] | None:
    """The device of the topmost mount at ``mount_point`` in this mount namespace."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        fields = line.split(" - ")[0].split()
        if len(fields) >= 5 and fields[4].replace("\\040", " ") == mount_point:
            major, _, minor = fields[2].partition(":")
            found = (int(major), int(minor))
    return found


def _release_mount(f: dict[str, Any]) -> str | None:
    point = str(f["mountpoint"])
    want = tuple(int(x) for x in f["devno"])
    last = ""
    for flag in ("-f", "-l"):  # force first; lazy (detach only) as the last resort
        if _devno_at(point) != want:
            return None
        try:
            done = subprocess.run(
                ["umount", flag, point],
                capture_output=True,
                text=True,
                timeout=UMOUNT_TIMEOUT_S,
                check=False,
            )
            last = done.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            last = str(exc)
    return None if _devno_at(point) != want else f"cannot unmount {point}: {last}"
