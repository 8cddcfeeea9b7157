"""Probe this node's software for its :class:`~wolfpack.model.inventory.Inventory`."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from wolfpack.model.inventory import Inventory
from wolfpack.resources.pg_install import BIN_GLOB, version_key

#: programs the built-in agents run (nginx: Web Server; e2fsck/mount: Physical Disk; ...)
PROGRAMS = ("nginx", "e2fsck", "mount", "umount", "arping", "systemctl", "named", "etcd")
#: sbin directories are not on every daemon's PATH
EXTRA_PATH = ("/usr/sbin", "/sbin")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def postgresql_versions(pattern: str = BIN_GLOB) -> tuple[str, ...]:
    """Major versions with both ``postgres`` and ``initdb``, oldest first."""
    found = []
    for directory in sorted(glob.glob(pattern), key=version_key):
        bin_dir = Path(directory)
        if _executable(bin_dir / "postgres") and _executable(bin_dir / "initdb"):
            found.append(bin_dir.parent.name)
    return tuple(found)


def probe(node: str, now: float) -> Inventory:
    search = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PATH])
    programs = {}
    for name in PROGRAMS:
        where = shutil.which(name, path=search)
        if where is not None:
            programs[name] = where
    return Inventory(node, now, postgresql_versions(), programs)
