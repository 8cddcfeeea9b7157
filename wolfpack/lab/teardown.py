"""``wolfpack lab down``: remove everything a lab recorded, and only that (its processes,
loop devices, namespaces, files and directories), also after an ``up`` that died half-way."""

from __future__ import annotations

import contextlib
import shutil
import signal
from pathlib import Path
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.lab.disks import LoopDisk, remove_shared_disk
from wolfpack.lab.layout import Progress, hosts, quiet
from wolfpack.lab.netns import Lab, LabError
from wolfpack.lab.power import kill_namespace
from wolfpack.lab.state import LabState, LabStateError
from wolfpack.node.pidregistry import PidRegistry

__all__ = ["down"]


def _loop_backing(device: str) -> Path | None:
    try:
        text = Path(f"/sys/block/{Path(device).name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return Path(text.removesuffix(" (deleted)"))


def _our_loop_devices(state: LabState) -> list[str]:
    """The recorded loop devices, and any other whose image is in the lab's directory
    (attached by an up that died before it could record it)."""
    found = set(state.loop_devices)
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        device = f"/dev/{backing.parent.parent.name}"
        image = _loop_backing(device)
        if image is not None and image.is_relative_to(Path(state.dir) / "disks"):
            found.add(device)
    ours = []
    for device in sorted(found):
        image = _loop_backing(device)
        if image is not None and image.is_relative_to(Path(state.dir) / "disks"):
            ours.append(device)  # still backed by our image: never someone else's device
    return ours


def down(lab_dir: Path, progress: Progress = quiet) -> dict[str, Any]:
    """Remove everything the lab in ``lab_dir`` recorded, and only that; a summary."""
    lab_dir = lab_dir.resolve()
    try:
        state = LabState.load(lab_dir)
    except LabStateError:
        if not lab_dir.exists():
            progress(f"no lab in {lab_dir}: nothing to remove")
            return {"dir": str(lab_dir), "removed": False}
        raise
    killed: list[int] = []
    failures: list[str] = []
    for host in reversed(hosts(state)):
        killed += kill_namespace(state, host)
    PidRegistry(state.dir).kill([p.entry() for p in state.processes], signal.SIGKILL)
    progress(f"stopped {len(killed)} processes of the lab")
    for dev in _our_loop_devices(state):
        try:
            remove_shared_disk(LoopDisk(_loop_backing(dev) or Path("/"), dev, "", ""))
        except LabError as exc:
            failures.append(str(exc))
    present = set(Lab.existing(state.prefix))
    gone = []
    for ns in [*reversed(state.namespaces), *sorted(present - set(state.namespaces))]:
        if ns in present:
            try:
                Lab(state.prefix).ip(None, ["netns", "del", ns], what=f"delete namespace {ns}")
                gone.append(ns)
            except LabError as exc:
                failures.append(str(exc))
    progress(f"deleted {len(gone)} namespaces (with their bridges and veths)")
    for f in state.files:
        with contextlib.suppress(FileNotFoundError):
            Path(f).unlink()
    for d in reversed(state.directories):
        with contextlib.suppress(FileNotFoundError, OSError):
            Path(d).rmdir()  # only if empty: another lab's files stay
    if failures:
        raise WolfpackError("lab down left something: " + "; ".join(failures))
    shutil.rmtree(lab_dir)
    progress(f"removed {lab_dir}")
    return {
        "dir": str(lab_dir),
        "removed": True,
        "namespaces": gone,
        "processes_killed": len(killed),
        "files": state.files,
        "loop_devices": state.loop_devices,
    }
