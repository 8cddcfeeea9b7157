"""Confinement: every resource's processes in a cgroup v2 of their own, so that all of them,
including those that double-fork and ``setsid()`` out of their process group, can be
killed at once and none can escape (review C2, L10).

Where the cgroups live. The cgroup2 hierarchy is found in ``/proc/self/mountinfo``
(``/sys/fs/cgroup`` on a pure-v2 system, ``/sys/fs/cgroup/unified`` on a hybrid one) and
this process's own cgroup in ``/proc/self/cgroup`` (the ``0::`` line).

* Where systemd is PID 1 and the daemon runs in a unit of its own (its cgroup is not the
  root), the node's subtree is created *under the daemon's own cgroup*: the unit has
  ``Delegate=yes`` (packaging/wolfpackd.service), so systemd leaves that subtree to us and
  does not move our processes back; stopping the unit still ends everything in it.
* Otherwise (no systemd, a container, the lab) it is created under the cgroup2 root.

The subtree is ``wolfpack-<node>-<h>/<resource>``: the node name is in it because the lab
runs several nodes on one kernel (network namespaces share the cgroup tree), and ``<h>``
(a short hash of the node's run directory) keeps two clusters on one kernel (tests run in
parallel) apart. Names that are not safe path words are made so (``Cluster IP`` ->
``Cluster_IP-6f0c2a``). No controller is enabled: only the core files are used
(``cgroup.procs``, ``cgroup.kill``, ``cgroup.freeze``, ``cgroup.events``).

Placing. A child is moved into its cgroup by the daemon while the child is still held at
its :class:`~wolfpack.resources.commands.StartGate` (a ``/bin/sh`` waiting on a pipe, before
it has run or forked anything), not by a ``preexec_fn``: ``preexec_fn`` runs after the
switch to the resource's account (which may not write ``cgroup.procs``) and is unsafe in a
threaded daemon. Either way the program starts inside, so whatever it forks stays inside.

Killing. ``cgroup.kill`` (Linux 5.14+); before that, freeze, SIGKILL every PID in
``cgroup.procs`` (a frozen process cannot exit, so its PID cannot be reused meanwhile),
thaw. Then wait until ``cgroup.events`` says ``populated 0`` and remove the directory.

Without a writable cgroup2 hierarchy confinement is off (:attr:`Confinement.reason` says
why; the daemon logs it once, loudly) and the agents fall back to process-group tracking.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import time
from pathlib import Path

__all__ = ["Cgroup", "Confinement", "cgroup2_mount", "own_cgroup", "safe_name"]

_PROC = Path("/proc")
_SYSTEMD_RUN_DIR = Path("/run/systemd/system")
#: how long a kill waits for the cgroup to empty
KILL_WAIT_S = 5.0
_POLL_S = 0.02
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def safe_name(name: str) -> str:
    """``name`` if it is a safe path word, else a stable safe form of it."""
    if _SAFE.fullmatch(name) and len(name) <= 100:
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[:80] or "x"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def cgroup2_mount(mountinfo: Path = _PROC / "self/mountinfo") -> Path | None:
    """Where the cgroup2 hierarchy is mounted in this mount namespace, or None."""
    try:
        text = mountinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if sep and len(fields) >= 5 and tail and tail[0] == "cgroup2":
            return Path(fields[4].replace("\\040", " "))
    return None


def own_cgroup(cgroup_file: Path = _PROC / "self/cgroup") -> str | None:
    """This process's cgroup v2 path (``/`` for the root), or None."""
    try:
        text = cgroup_file.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


class Cgroup:
    """One cgroup v2 directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Cgroup({str(self.path)!r})"

    def create(self) -> None:
        """Make the directory (and missing parents); OSError if it cannot be made."""
        for _ in range(3):  # an empty parent may be removed meanwhile (remove_root): again
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                return
            except FileNotFoundError:
                continue
        self.path.mkdir(parents=True, exist_ok=True)

    def add(self, pid: int) -> None:
        """Move ``pid`` (a process held before it runs anything) into this cgroup."""
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def pids(self) -> list[int]:
        """The processes in it and in its descendants, sorted."""
        out: set[int] = set()
        for d in self._tree():
            with contextlib.suppress(OSError, ValueError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def populated(self) -> bool:
        """Whether any process is in it or its descendants (False once it is gone)."""
        try:
            text = (self.path / "cgroup.events").read_text()
        except OSError:
            return False
        return "populated 1" in text

    def signal(self, sig: int) -> list[int]:
        """Send ``sig`` to every process in it (freezing first for SIGKILL is :meth:`kill`'s
        job); returns those found."""
        found = self.pids()
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        return found

    def kill(self, timeout_s: float = KILL_WAIT_S) -> bool:
        """SIGKILL everything in it and wait until it is empty; True if it is (or is gone)."""
        if not self.path.is_dir():
            return True
        if self.populated():
            try:
                (self.path / "cgroup.kill").write_text("1\n")
            except FileNotFoundError:
                self._freeze_and_kill()
            except OSError:
                if self.path.is_dir():
                    self._freeze_and_kill()
        return self.wait_empty(timeout_s)

    def _freeze_and_kill(self) -> None:
        """For kernels before 5.14: freeze (nothing can fork or exit), kill each, thaw."""
        frozen = False
        with contextlib.suppress(OSError):
            (self.path / "cgroup.freeze").write_text("1\n")
            frozen = True
        try:
            self.signal(signal.SIGKILL)
        finally:
            if frozen:
                with contextlib.suppress(OSError):
                    (self.path / "cgroup.freeze").write_text("0\n")

    def wait_empty(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.populated():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL_S, left))
        return True

    def remove(self) -> None:
        """Remove it (and its descendants), deepest first; it must be empty. Missing: fine."""
        for d in reversed(self._tree()):
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()

    def kill_and_remove(self, timeout_s: float = KILL_WAIT_S) -> bool:
        """:meth:`kill`, then :meth:`remove`; False if something survives SIGKILL."""
        if not self.kill(timeout_s):
            return False
        with contextlib.suppress(OSError):
            self.remove()
        return True

    def children(self) -> list[Cgroup]:
        try:
            return sorted(
                (Cgroup(self.path / e.name) for e in os.scandir(self.path) if e.is_dir()),
                key=lambda c: c.path,
            )
        except OSError:
            return []

    def _tree(self) -> list[Path]:
        """This directory and its descendants, parents before children."""
        out = [self.path] if self.path.is_dir() else []
        i = 0
        while i < len(out) and i < 10_000:
            out.extend(c.path for c in Cgroup(out[i]).children())
            i += 1
        return out


class Confinement:
    """One node's subtree of cgroups, ``<base>/wolfpack-<node>-<h>``; ``root`` is None when
    confinement is off (then :attr:`reason` says why)."""

    def __init__(self, root: Path | None, reason: str = "") -> None:
        self.root, self.reason = root, reason

    @classmethod
    def for_node(cls, node: str, run_dir: Path) -> Confinement:
        """The node's subtree, created now; off (with the reason) if that cannot be done."""
        mount = cgroup2_mount()
        if mount is None:
            return cls(None, "no cgroup2 hierarchy is mounted")
        own = own_cgroup()
        base = mount
        if own not in (None, "/") and _SYSTEMD_RUN_DIR.is_dir():
            base = mount / own.lstrip("/")  # the daemon's unit, delegated to it
        digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:8]
        root = base / f"wolfpack-{safe_name(node)}-{digest}"
        try:
            root.mkdir(exist_ok=True)
            if not (root / "cgroup.procs").exists():
                raise OSError(f"{root} is not a cgroup directory")
            probe = root / "probe"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
        except OSError as exc:
            return cls(None, f"cannot create cgroups under {base}: {exc}")
        confinement = cls(root)
        confinement.remove_root()  # made again with the first resource's cgroup
        return confinement

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def cgroup(self, resource: str) -> Cgroup | None:
        """The resource's cgroup (not created), or None when confinement is off."""
        return None if self.root is None else Cgroup(self.root / safe_name(resource))

    def cgroups(self) -> list[Cgroup]:
        """Every resource cgroup in the subtree."""
        return [] if self.root is None else Cgroup(self.root).children()

    def remove_root(self) -> None:
        """Remove the node's subtree if it is empty (it exists only while it holds
        cgroups, so that a node killed outright leaves nothing behind once they are gone)."""
        if self.root is not None:
            with contextlib.suppress(OSError):
                self.root.rmdir()
