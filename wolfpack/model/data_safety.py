"""Configuration rules that keep shared data safe, beyond what a property schema can say.

* **Shared ext4 disks (H7).** A Physical Disk is mounted with ``errors=remount-ro`` unless
  the administrator chose ``errors=panic``: when ext4 multi-mount protection (or anything
  else) finds the filesystem damaged, the writer is stopped instead of going on
  (``errors=continue``). Options that let committed writes be lost at a power fence are
  refused: ``nobarrier``, ``barrier=0``, ``data=writeback`` and a ``commit=`` interval above
  :data:`MAX_COMMIT_S` seconds.
* **PostgreSQL ``initialize`` (M8).** initdb may only ever create a database on the group's
  shared disk: with ``initialize`` true the resource must depend on a Physical Disk whose
  mount point holds its data directory (the agent checks the mount again before initdb).

Pure functions: the configuration validation and the agents use the same rules.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from wolfpack.errors import FieldError
from wolfpack.model.config import ClusterConfig, Resource

#: the agents these rules are about (a custom type on the same agent gets them too)
DISK_AGENT = "disk"
POSTGRESQL_AGENT = "postgresql"
#: what the disk agent adds when the administrator chose no ``errors=``
DEFAULT_ERRORS = "errors=remount-ro"
ALLOWED_ERRORS = ("remount-ro", "panic")
#: the longest journal commit interval accepted, in seconds (ext4's default is 5)
MAX_COMMIT_S = 5
_UNSAFE = {
    "nobarrier": "turns off write barriers: writes the disk acknowledged can be lost when a"
    " node is powered off, and the next owner mounts a damaged journal",
    "barrier=0": "turns off write barriers: writes the disk acknowledged can be lost when a"
    " node is powered off, and the next owner mounts a damaged journal",
    "data=writeback": "lets metadata reach the disk before the data it points to: after a"
    " fence, files can hold stale blocks",
}


def mount_option_problem(options: str) -> str | None:
    """Why ``options`` (``mount -o``, comma-separated) are unsafe on a shared disk, naming
    the option; None if they are fine."""
    for option in (o.strip() for o in options.split(",")):
        name, _, value = option.partition("=")
        if option in _UNSAFE:
            return f"{option} is refused on a shared disk: it {_UNSAFE[option]}"
        if name == "errors" and value not in ALLOWED_ERRORS:
            return (
                f"{option} is refused on a shared disk: a damaged filesystem (e.g. found by"
                " multi-mount protection) must stop the writer; use errors=remount-ro (the"
                " default) or errors=panic"
            )
        if name == "commit":
            if not value.isdigit():
                return (
                    f"{option}: commit= takes whole seconds on a shared disk"
                    f" (at most {MAX_COMMIT_S})"
                )
            if int(value) > MAX_COMMIT_S:
                return (
                    f"{option} is refused on a shared disk: at most commit={MAX_COMMIT_S}"
                    " seconds of committed writes may wait in memory when a node is fenced"
                )
    return None


def effective_mount_options(options: str) -> str:
    """What the disk agent passes to ``mount -o``: ``options`` plus ``errors=remount-ro``
    unless they choose an ``errors=`` of their own."""
    given = [o for o in options.split(",") if o]
    if any(o.partition("=")[0] == "errors" for o in given):
        return ",".join(given)
    return ",".join([*given, DEFAULT_ERRORS])


def resource_errors(cfg: ClusterConfig, r: Resource) -> Iterator[FieldError]:
    """The rules above for one resource (nothing for other agents)."""
    rtype = cfg.types.get(r.type)
    agent = rtype.agent if rtype is not None else None
    f = f"resources.{r.name}.properties"
    if agent == DISK_AGENT:
        options = r.properties.get("mount_options")
        if isinstance(options, str) and options:
            problem = mount_option_problem(options)
            if problem is not None:
                yield FieldError(f"{f}.mount_options", problem)
    if agent == POSTGRESQL_AGENT and r.properties.get("initialize") is True:
        yield from _initialize_errors(cfg, r, f)


def _initialize_errors(cfg: ClusterConfig, r: Resource, f: str) -> Iterator[FieldError]:
    data = r.properties.get("data_directory")
    if not isinstance(data, str) or not data.startswith("/"):
        return  # the schema reports it
    data = posixpath.normpath(data)
    disks: list[Resource] = []  # the disks the database cannot be online without
    for clause in r.dependencies:
        resources = [cfg.resources.get(name) for name in clause]
        if clause and all(d is not None and _agent(cfg, d) == DISK_AGENT for d in resources):
            disks.extend(d for d in resources if d is not None)
    if not disks:
        yield FieldError(
            f"{f}.initialize",
            f"initialize needs the data directory on the group's shared disk: make {r.name!r}"
            " depend on the Physical Disk that holds "
            f"{data} (wolfpack resource depend {r.name} ...), or set initialize false",
        )
        return
    mounts = {d.name: d.properties.get("mountpoint") for d in disks}
    if not any(isinstance(m, str) and _under(data, posixpath.normpath(m)) for m in mounts.values()):
        named = ", ".join(f"{name!r} at {mount}" for name, mount in sorted(mounts.items()))
        yield FieldError(
            f"{f}.data_directory",
            f"{data} is on none of the disks {r.name!r} depends on ({named}): with initialize"
            " true the data directory must be below one of their mount points",
        )


def _agent(cfg: ClusterConfig, r: Resource) -> str | None:
    rtype = cfg.types.get(r.type)
    return rtype.agent if rtype is not None else None


def _under(path: str, mount: str) -> bool:
    """``path`` is strictly below ``mount`` (the data directory is never the mount point
    itself: initdb wants an empty directory, a fresh filesystem has lost+found)."""
    return mount != "/" and path.startswith(mount.rstrip("/") + "/")
