"""Shared disks for the lab: loop devices over sparse image files, formatted ext4 with MMP.

A lab "SAN disk" is one image file. :func:`make_shared_disk` creates it, attaches it to a
free loop device and formats it ``mkfs.ext4 -O mmp`` (what ``wolfpack disk prepare`` would do
on real shared storage: ``mkfs.ext4 -O mmp -L <label> <device>``). Every lab node sees the
same /dev, so one loop device can serve all nodes; :func:`attach_shared_disk` gives a node a
loop device of its own over the same image, which makes the kernel treat the two as separate
disks, as two machines would, so ext4 MMP is exercised for real.

:func:`remove_shared_disk` detaches exactly the loop device it is given (checked to still be
backed by that image) and never any other. :func:`make_lab_disks` makes the lab's own
(``DISKS``) and :func:`on_disk` runs a script with one mounted where only it sees it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import DISKS, Progress, disk_image, local_dir, mount_point
from wolfpack.lab.netns import LabError
from wolfpack.lab.state import LabState

__all__ = ["LoopDisk", "attach_shared_disk", "make_shared_disk", "remove_shared_disk"]

TOOL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LoopDisk:
    """An image file and the loop device this lab attached to it."""

    image: Path
    device: str  # /dev/loopN
    label: str
    uuid: str


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        raise LabError(f"{what}: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def _backing_file(device: str) -> Path | None:
    """The image a loop device is attached to, from sysfs (None if it is detached)."""
    name = os.path.basename(device)
    try:
        text = Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return Path(text.removesuffix(" (deleted)"))


def make_shared_disk(image_path: Path, size_mb: int, label: str) -> LoopDisk:
    """Create a sparse ``size_mb`` image, attach it and format it ext4 with MMP. The image
    must not exist yet (a lab never reuses someone's file); on failure the loop device is
    detached again."""
    if not 8 <= size_mb <= 1 << 20:
        raise LabError(f"disk size {size_mb} MB is not between 8 MB and 1 TB")
    if not label or len(label) > 16 or not label.replace("-", "").replace("_", "").isalnum():
        raise LabError(f"disk label {label!r} is not 1-16 letters, digits, '-' or '_'")
    image = Path(image_path).absolute()
    try:
        with image.open("xb") as f:
            f.truncate(size_mb << 20)
    except OSError as exc:
        raise LabError(f"cannot create disk image {image}: {exc}") from exc
    disk = attach_shared_disk(image, label="")
    try:
        _run(["mkfs.ext4", "-q", "-F", "-O", "mmp", "-L", label, disk.device], "mkfs.ext4")
        uuid = _run(["blkid", "-c", "/dev/null", "-s", "UUID", "-o", "value", disk.device], "blkid")
    except LabError:
        remove_shared_disk(disk)
        raise
    return LoopDisk(image, disk.device, label, uuid)


def attach_shared_disk(image_path: Path, label: str | None = None) -> LoopDisk:
    """One more loop device over an existing image: another node's view of the same disk."""
    image = Path(image_path).absolute()
    if not image.is_file():
        raise LabError(f"disk image {image} does not exist")
    device = _run(["losetup", "--find", "--show", str(image)], f"losetup {image}")
    if _backing_file(device) != image:
        raise LabError(f"losetup answered {device!r}, which is not backed by {image}")
    uuid = ""
    if label is None:
        try:
            uuid = _run(["blkid", "-c", "/dev/null", "-s", "UUID", "-o", "value", device], "")
            label = _run(["blkid", "-c", "/dev/null", "-s", "LABEL", "-o", "value", device], "")
        except LabError:
            label = ""
    return LoopDisk(image, device, label, uuid)


def remove_shared_disk(disk: LoopDisk) -> None:
    """Detach ``disk.device``, only if it is still backed by ``disk.image``. The image file
    stays (it lives in the lab's own directory, removed with it)."""
    if _backing_file(disk.device) != disk.image:
        return  # detached already, or now someone else's: not ours to touch
    _run(["losetup", "--detach", disk.device], f"losetup --detach {disk.device}")


# -- the lab's disks -------------------------------------------------------------------------
def make_lab_disks(state: LabState, progress: Progress) -> None:
    """The lab's shared disks (``DISKS``): loop devices with ext4 and MMP, recorded in
    ``state`` as they are made (``lab down`` removes exactly those); the site on Web's."""
    sizes = ", ".join(f"{n} ({mb} MB)" for n, mb in DISKS.items())
    progress(f"shared disks: {sizes}: loop devices, ext4 with MMP, seen by every node")
    (Path(state.dir) / "disks").mkdir(mode=0o700, exist_ok=True)
    for name, size_mb in DISKS.items():
        try:
            disk = make_shared_disk(disk_image(state, name), size_mb, f"{state.prefix}{name}"[:16])
        except LabError as exc:
            raise WolfpackError(f"shared disk {name}: {exc}") from exc
        state.loop_devices.append(disk.device)
        state.disks[name] = {"image": str(disk.image), "device": disk.device, "uuid": disk.uuid}
        state.save()
        where = mount_point(state, name)
        where.mkdir(mode=0o755, parents=True, exist_ok=True)
    # The site lives on the web disk; its page is a link into the node's own directory,
    # so the page a client gets names the node that serves it.
    page = local_dir(state) / "www" / "index.html"
    on_disk(state, "web", f'mkdir -m 755 "$1/htdocs" && ln -s {page} "$1/htdocs/index.html"')


def on_disk(state: LabState, name: str, script: str) -> None:
    """Run ``script`` (``$1``: the mount point) with disk ``name`` mounted in a private
    mount namespace of its own, which goes away with it: the host never sees the mount."""
    where, device = mount_point(state, name), state.disks[name]["device"]
    full = f'mount "{device}" "$1" && {{ {script}; }}; rc=$?; umount "$1"; exit $rc'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", full, "sh", str(where)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise WolfpackError(f"cannot prepare shared disk {name}: {result.stderr.strip()}")
