"""Mounts as the Physical Disk agent sees them: ``/proc/self/mountinfo``, mount, umount,
who keeps a filesystem busy, and whether a path is on a disk of this cluster (M8).

Everything here works on the calling process's own **mount namespace**. wolfpackd in the lab
runs in a mount namespace of its own, so a disk mounted by a lab node is invisible to the
host and to the other nodes; on a real machine the daemon's namespace is the host's. Nothing
here enters or changes another namespace.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wolfpack.resources import ext4
from wolfpack.resources.commands import RunResult, run_tool

__all__ = [
    "MountEntry",
    "block_devno",
    "mount",
    "mount_at",
    "mount_holding",
    "parse_mountinfo",
    "umount",
    "users",
]

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    """One line of mountinfo (proc(5)): the fields the agent needs."""

    mount_id: int
    devno: tuple[int, int]  # major, minor of the mounted filesystem
    mount_point: str
    fstype: str
    source: str
    options: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\040`` and friends."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        major, _, minor = fields[2].partition(":")
        out.append(
            MountEntry(
                int(fields[0]),
                (int(major), int(minor)),
                _unescape(fields[4]),
                tail[0],
                _unescape(tail[1]),
                fields[5],
            )
        )
    return out


def mount_at(mount_point: str, mountinfo: Path = Path("/proc/self/mountinfo")) -> MountEntry | None:
    """What is visible at ``mount_point`` in this namespace (the last, topmost mount)."""
    try:
        entries = parse_mountinfo(mountinfo.read_text())
    except OSError:
        return None
    found = [e for e in entries if e.mount_point == mount_point]
    return found[-1] if found else None


def mount_holding(path: str, entries: list[MountEntry]) -> MountEntry | None:
    """The mount ``path`` (absolute, symlinks resolved) lies on: the topmost entry with the
    longest mount point that is ``path`` or an ancestor of it."""
    best: MountEntry | None = None
    for entry in entries:
        mp = entry.mount_point
        inside = path == mp or path.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) >= len(best.mount_point)):
            best = entry
    return best


def block_devno(path: str) -> tuple[int, int] | None:
    """(major, minor) of a block device path (symlinks followed), None if it is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def mount(device: str, mount_point: str, fstype: str, options: str, timeout_s: float) -> RunResult:
    argv = ["mount", "-t", fstype]
    if options:
        argv += ["-o", options]
    return run_tool([*argv, "--", device, mount_point], timeout_s)


def umount(mount_point: str, timeout_s: float) -> RunResult:
    """A plain unmount: never lazy (``-l``) or forced, so a busy filesystem says so."""
    return run_tool(["umount", "--", mount_point], timeout_s)


def users(mount_point: str, timeout_s: float = 5.0) -> list[tuple[int, str]]:
    """(pid, command name) of every process using the filesystem at ``mount_point``: open
    files, working or root directory, executable, mapped files (``fuser -M -m``, which prints
    the PIDs on stdout and everything else on stderr)."""
    try:
        done = subprocess.run(
            ["fuser", "-M", "-m", mount_point],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for pid in sorted({int(m) for m in re.findall(r"\d+", done.stdout)}):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # gone meanwhile
        out.append((pid, comm))
    return out


#: reading the superblock of the disk a path is on (a database's initdb would write to it)
SUPERBLOCK_TIMEOUT_S = 10.0


def not_on_a_disk(path: str) -> str | None:
    """Why ``path`` is not on a mounted shared disk, or None: it must lie on a mount of a
    block device other than the root filesystem's, per this process's
    ``/proc/self/mountinfo`` (its mount namespace) and the path's own ``st_dev``, whose ext4
    filesystem has multi-mount protection, as every Physical Disk has (M8)."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
        entries = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    except OSError as exc:
        return f"{path!r} cannot be checked: {exc.strerror or exc}"
    entry = mount_holding(real, entries)
    root = mount_holding("/", entries)
    devno = (os.major(st.st_dev), os.minor(st.st_dev))
    if entry is None or entry.mount_point == "/" or (root and entry.devno == root.devno):
        return f"{path!r} is on the root filesystem, not on a mounted disk"
    if entry.devno != devno:
        return f"{path!r} is not on the filesystem mounted at {entry.mount_point}"
    if entry.devno[0] == 0:  # tmpfs, overlay, nfs...: no block device behind it
        return f"{path!r} is on {entry.fstype} at {entry.mount_point}, not on a disk"
    # a node's own partition (/srv on its own volume) is a block device too: a disk of this
    # cluster is ext4 with multi-mount protection (the Physical Disk agent refuses others)
    candidates = (entry.source, f"/dev/block/{devno[0]}:{devno[1]}")
    device = next((d for d in candidates if block_devno(d) == devno), None)
    sb = ext4.read_superblock(device, SUPERBLOCK_TIMEOUT_S) if device else "no device node"
    if isinstance(sb, str):
        return f"{path!r} is on {entry.source} at {entry.mount_point}, unreadable: {sb}"
    if not sb.has_mmp:
        return (
            f"{path!r} is on {entry.source} at {entry.mount_point}, which has no multi-mount"
            " protection: a local filesystem, not a shared disk of this cluster"
        )
    return None
