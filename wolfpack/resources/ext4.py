"""What the Physical Disk agent reads from, and does to, an ext4 filesystem: its superblock
(``dumpe2fs -h``), its multi-mount protection block, and ``e2fsck``.

MMP (multi-mount protection, ``mkfs.ext4 -O mmp``): while a kernel has the filesystem
mounted, it rewrites a sequence number in the MMP block every few seconds; a mount (or an
``e2fsck``) elsewhere first watches that block for twice the interval and refuses if it
changed. ``EXT4_MMP_SEQ_CLEAN`` means cleanly unmounted, ``EXT4_MMP_SEQ_FSCK`` that e2fsck
runs. A crashed holder leaves some other value behind; the next mount then waits once and
goes ahead.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from wolfpack.resources.commands import Account, run_tool

__all__ = [
    "MMP_SEQ_CLEAN",
    "MMP_SEQ_FSCK",
    "Fsck",
    "Superblock",
    "parse_dumpe2fs",
    "read_superblock",
    "run_fsck",
]

MMP_SEQ_CLEAN = 0xFF4D4D50
MMP_SEQ_FSCK = 0xE24D4D50


@dataclass(frozen=True)
class Superblock:
    """The fields of ``dumpe2fs -h`` the agent decides by."""

    uuid: str
    label: str
    state: str  # "clean", "not clean", "clean with errors", ...
    features: frozenset[str]
    mmp_sequence: int | None = None
    mmp_node: str = ""
    mmp_device: str = ""
    mmp_update: str = ""
    raw: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dirty(self) -> bool:
        """Not cleanly unmounted (journal to replay) or marked as having errors."""
        return self.state != "clean" or "needs_recovery" in self.features

    @property
    def has_mmp(self) -> bool:
        return "mmp" in self.features

    @property
    def mmp_busy(self) -> bool:
        """The MMP block says someone mounts (or crashed while mounting) or checks it."""
        return self.mmp_sequence is not None and self.mmp_sequence != MMP_SEQ_CLEAN

    def mmp_holder(self) -> str:
        """``node vm, device loop3, last update Tue Dec 1 07:32:48 2026`` for messages."""
        if self.mmp_sequence == MMP_SEQ_FSCK:
            return f"e2fsck runs on node {self.mmp_node or '?'}"
        return (
            f"node {self.mmp_node or '?'}, device {self.mmp_device or '?'},"
            f" last update {self.mmp_update or '?'}"
        )


def parse_dumpe2fs(text: str) -> Superblock | None:
    """The superblock in ``dumpe2fs -h`` output, or None if it shows no ext2/3/4 superblock."""
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip() and key.strip() not in raw:
            raw[key.strip()] = value.strip()
    if "Filesystem UUID" not in raw or "Filesystem state" not in raw:
        return None
    seq_text = raw.get("mmp_sequence")
    try:
        seq = int(seq_text, 16) if seq_text else None
    except ValueError:
        seq = None
    label = raw.get("Filesystem volume name", "")
    return Superblock(
        uuid=raw["Filesystem UUID"],
        label="" if label == "<none>" else label,
        state=raw["Filesystem state"],
        features=frozenset(raw.get("Filesystem features", "").split()),
        mmp_sequence=seq,
        mmp_node=raw.get("mmp_node_name", ""),
        mmp_device=raw.get("mmp_device_name", ""),
        mmp_update=raw.get("mmp_update_date", ""),
        raw=raw,
    )


def read_superblock(device: str, timeout_s: float) -> Superblock | str:
    """``dumpe2fs -h device``: the superblock, or why it could not be read. dumpe2fs only
    reads and forks nothing, so a plain bounded run is enough."""
    try:
        done = subprocess.run(
            ["dumpe2fs", "-h", device],
            capture_output=True,
            text=True,
            timeout=max(timeout_s, 1.0),
            check=False,
            env=Account.current().environment({}),
        )
    except subprocess.TimeoutExpired:
        return f"dumpe2fs -h {device} did not finish within {max(timeout_s, 1.0):.0f}s"
    except OSError as exc:
        return f"cannot run dumpe2fs: {exc.strerror or exc}"
    sb = parse_dumpe2fs(done.stdout) if done.returncode == 0 else None
    if sb is None:
        said = (done.stderr.strip().splitlines() or ["no ext2/3/4 superblock"])[-1]
        return f"{device} holds no readable ext4 filesystem ({said})"
    return sb


@dataclass(frozen=True)
class Fsck:
    """How one ``e2fsck`` ended. Exit bits: 1 errors corrected, 2 reboot advised, 4 errors
    left, 8 operational error (MMP: in use elsewhere), 16 usage, 32 cancelled."""

    returncode: int | None  # None: timed out (and killed)
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode is not None and self.returncode & ~0b11 == 0

    @property
    def in_use_elsewhere(self) -> bool:
        text = self.output.lower()
        return "mmp" in text and ("in use" in text or "active" in text)


def run_fsck(device: str, *, repair_all: bool, timeout_s: float, log_path: Path) -> Fsck:
    """``e2fsck -p`` (fix what is safe, stop at the rest) or ``-y`` (fix everything); its
    whole output is appended to ``log_path``."""
    result = run_tool(["e2fsck", "-y" if repair_all else "-p", device], timeout_s, log_path)
    return Fsck(result.returncode, result.output)
