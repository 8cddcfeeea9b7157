"""What a lab made, on disk, so that any later process can find it and remove exactly that.

``<lab dir>/state.json`` lists the lab's prefix, its namespaces, every process it started
(PID *and* start time: a PID whose process is gone may name someone else's process later),
the files it created outside its directory (``/etc/netns/<ns>/resolv.conf``), its loop
devices, and which nodes are powered off. It is written before each object is created and
again after, so a ``lab up`` that dies half-way still leaves a record ``lab down`` can use.
Writers (lab up, power on/off, the lab fence agent run by a daemon) hold ``state.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.node.pidregistry import PidEntry, proc_stat

__all__ = ["DEFAULT_DIR", "LabProcess", "LabState", "LabStateError", "locked"]

#: where ``wolfpack lab`` keeps its state unless told otherwise (--dir)
DEFAULT_DIR = Path("/run/wolfpack-lab")
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
VERSION = 1


class LabStateError(WolfpackError):
    """The lab's state file is missing, unreadable or from another version."""


@dataclass
class LabProcess:
    """One process the lab started: where (host), what (role), and how to recognise it."""

    host: str
    role: str
    pid: int
    starttime: int

    def entry(self) -> PidEntry:
        return PidEntry(self.pid, self.starttime, self.role)

    @property
    def running(self) -> bool:
        st = proc_stat(self.pid)
        return st is not None and st.starttime == self.starttime and st.running


@dataclass
class LabState:
    dir: str
    prefix: str
    nodes: list[str]
    cluster: str
    phase: str = "building"  # building -> up
    namespaces: list[str] = field(default_factory=list)
    processes: list[LabProcess] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # created outside dir; removed at down
    directories: list[str] = field(default_factory=list)  # created outside dir, if empty
    loop_devices: list[str] = field(default_factory=list)
    #: shared disks by name: image, device, uuid (the loop devices are in loop_devices)
    disks: dict[str, dict[str, str]] = field(default_factory=dict)
    powered_off: list[str] = field(default_factory=list)
    #: every wolfpackd under libfaketime, its wall clock movable (lab up --faketime)
    faketime: bool = False
    #: sections of wolfpackd.yaml that override the lab's own (bench/compare.py's "tuned"
    #: heartbeat), merged key by key into each section
    daemon_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: built through the commands a user runs (cluster create/join, witness join), with a
    #: ``witness`` host: the seed's two-node cluster (lab up --nodes 2 --witness, issue 10)
    witness: bool = False
    #: built through ``cluster create`` and ``cluster join`` (every lab since issue 10):
    #: each wolfpackd runs its node's etcd member. False: a lab state from an older
    #: Wolfpack (a lab-run etcd, the cluster written as a document), which ``down`` removes
    #: and nothing else starts
    formed: bool = False
    version: int = VERSION

    @property
    def path(self) -> Path:
        return Path(self.dir) / STATE_FILE

    def save(self) -> None:
        Path(self.dir).mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(self.path)  # a reader never sees half a file

    @classmethod
    def load(cls, lab_dir: Path) -> LabState:
        path = lab_dir / STATE_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabStateError(f"no lab in {lab_dir} (no {STATE_FILE})") from None
        except (OSError, ValueError) as exc:
            raise LabStateError(f"cannot read {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise LabStateError(f"{path} is not a version {VERSION} lab state file")
        try:
            procs = [LabProcess(**p) for p in doc.pop("processes", [])]
            return cls(**doc, processes=procs)
        except TypeError as exc:
            raise LabStateError(f"{path} is damaged: {exc}") from None

    @classmethod
    def exists(cls, lab_dir: Path) -> bool:
        return (lab_dir / STATE_FILE).exists()

    def add_process(self, host: str, role: str, pid: int) -> LabProcess:
        st = proc_stat(pid)
        if st is None:
            raise LabStateError(f"{role} on {host} (pid {pid}) exited at once")
        proc = LabProcess(host, role, pid, st.starttime)
        self.processes.append(proc)
        self.save()
        return proc

    def processes_of(self, host: str) -> list[LabProcess]:
        return [p for p in self.processes if p.host == host]

    def forget_dead(self, host: str) -> None:
        self.processes = [p for p in self.processes if p.host != host or p.running]


@contextlib.contextmanager
def locked(lab_dir: Path) -> Iterator[None]:
    """Hold the lab's write lock (one writer of state.json at a time)."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lab_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
