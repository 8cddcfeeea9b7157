"""Physical Disk (agent ``disk``): a shared ext4 filesystem mounted on one node at a time
(S6, S24; DESIGN §2 "a disk is additionally claimed in etcd before mount").

Two independent guards keep a second node from mounting it:

* the **claim**: before touching the disk the agent creates ``claims/disks/<uuid>`` in the
  cluster database, attached to this node's lease, by a transaction that fails while anyone
  else holds it (:mod:`wolfpack.node.claims`). A fenced node's lease is revoked, so its claim
  goes with it. The claim is released only after the unmount succeeded.
* ext4 **MMP** (multi-mount protection): the kernel refuses a mount, and e2fsck a check,
  while another machine keeps the filesystem's MMP block ticking. A disk without MMP is
  refused; prepare one with :func:`wolfpack.lab.disks.make_shared_disk` or
  ``mkfs.ext4 -O mmp`` (``tune2fs -O mmp`` on an unmounted one).

*start*: resolve ``device`` (a path, ``UUID=`` or ``LABEL=``), read the superblock, claim,
run ``e2fsck -p`` (``-y`` with ``fsck_repair``) if it was not cleanly unmounted (journal to
replay, or errors recorded), mount with ``errors=remount-ro`` unless ``mount_options``
choose ``errors=panic`` (H7: MMP's alarm must stop the writer; options that lose
acknowledged writes at a fence, such as ``nobarrier``, are refused: see
:mod:`wolfpack.model.data_safety`). *stop*: unmount, waiting a bounded time for users to
go; if processes still use it, fail and name them (never a lazy unmount, which would let the
next owner mount a filesystem this node still writes to), then release the claim.
*looks_alive*: mounted here per ``/proc/self/mountinfo``. *is_alive*: also the claim is ours
and a small probe file can be written, fsync'ed and read back.

Every mount is recorded with the node's holdings (:mod:`.holdings`) before it is made, so
that the node's watchdog can unmount it by the lease deadline (after the processes are
killed) and a restarted daemon can unmount what it no longer owns.

All mounting happens in the daemon's own mount namespace (see :mod:`.mounts`).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from wolfpack.errors import AgentError, ClaimHeld, StoreError, WolfpackError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.model.data_safety import effective_mount_options, mount_option_problem
from wolfpack.resources import ext4, mounts
from wolfpack.resources.base import Agent, AgentContext, AgentResult, error_fields
from wolfpack.resources.commands import find_tool, run_tool
from wolfpack.resources.ext4 import Superblock
from wolfpack.resources.holdings import MOUNT

__all__ = ["CLAIM_KIND", "PROBE_FILE", "DiskAgent"]

#: ``UUID=…`` / ``LABEL=…`` -> the block device blkid found carrying it, in this daemon
_RESOLVED: dict[str, str] = {}


def _carries(spec: str, sb: Superblock) -> bool:
    """Does the filesystem ``sb`` answer to the ``device`` property ``spec``?"""
    kind, _, value = spec.partition("=")
    if kind == "UUID":
        return sb.uuid.lower() == value.lower()
    if kind == "LABEL":
        return sb.label == value
    return True  # a device path names the device itself


CLAIM_KIND = "disks"
#: the file is_alive writes, fsyncs and reads back at the top of the filesystem
PROBE_FILE = ".wolfpack-alive"
PROBE_TIMEOUT_S = 10.0
#: pause between two unmount attempts while the filesystem is busy
UMOUNT_RETRY_S = 0.2
#: lower bound for each tool run, whatever is left of the caller's timeout
MIN_TOOL_S = 5.0
#: program -> the Debian package that has it (mount/umount are in ``mount``, not util-linux)
PACKAGES = {
    "mount": "mount",
    "umount": "mount",
    "dumpe2fs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "fuser": "psmisc",
}
PROGRAMS = tuple(PACKAGES)

_OPTIONS = re.compile(r"^[A-Za-z0-9_.:/+=-]+(,[A-Za-z0-9_.:/+=-]+)*$")
#: mount options that would defeat the agent: it decides where, how and whether to mount
_FORBIDDEN = frozenset({"remount", "bind", "rbind", "move"})


@dataclass(frozen=True)
class _Settings:
    device: str  # as configured: a path, UUID=… or LABEL=…
    mount_point: str
    fstype: str
    options: str
    repair_all: bool


class DiskAgent(Agent):
    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._lock = threading.Lock()
        self._device: str | None = None  # resolved block device, once known
        self._uuid: str | None = None  # filesystem UUID: the claim's name

    @property
    def fsck_log(self) -> Path:
        return self.log_path("fsck.log")

    # -- validate ----------------------------------------------------------------------------
    def validate(self) -> None:
        self.settings()
        missing = [p for p in PROGRAMS if find_tool(p) is None]
        if missing:
            packages = ", ".join(sorted({PACKAGES[p] for p in missing}))
            raise self.error(
                AgentResult.ERR_INSTALLED,
                f"programs {', '.join(missing)} (Debian packages {packages}) are"
                " not installed on this node",
            )

    def settings(self) -> _Settings:
        """The properties, checked; AgentError naming the first one at fault."""
        device = self.prop_str("device", required=True)
        assert device is not None
        if device.startswith(("UUID=", "LABEL=")):
            if not device.partition("=")[2]:
                raise self.error(AgentResult.ERR_CONFIGURED, f"{device!r} names nothing", "device")
        elif not device.startswith("/dev/"):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{device!r} is not a block device path under /dev/, UUID=… or LABEL=…",
                "device",
            )
        mount_point = self.prop_str("mountpoint", required=True)
        assert mount_point is not None
        if not mount_point.startswith("/") or os.path.normpath(mount_point) in ("/", "//"):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{mount_point!r} is not an absolute path other than /",
                "mountpoint",
            )
        fstype = self.prop_str("fstype") or "ext4"
        if fstype != "ext4":
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{fstype!r} is not supported by this agent: only ext4 has the multi-mount"
                " protection it relies on",
                "fstype",
            )
        options = self.prop_str("mount_options") or ""
        if options and (not _OPTIONS.match(options) or _FORBIDDEN.intersection(options.split(","))):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{options!r} is not a comma-separated list of plain mount options"
                " (remount, bind and move are the agent's business)",
                "mount_options",
            )
        unsafe = mount_option_problem(options) if options else None
        if unsafe is not None:
            raise self.error(AgentResult.ERR_CONFIGURED, unsafe, "mount_options")
        return _Settings(
            device,
            os.path.normpath(mount_point),
            fstype,
            effective_mount_options(options),
            self.prop_bool("fsck_repair"),
        )

    # -- start -------------------------------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        cfg = self.settings()
        device, sb = self._found(cfg, deadline)
        entry = mounts.mount_at(cfg.mount_point)
        if entry is not None and entry.devno != mounts.block_devno(device):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{cfg.mount_point} already has {entry.source} ({entry.fstype}) mounted on it",
                "mountpoint",
            )
        if not sb.has_mmp:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"the filesystem on {device} has no multi-mount protection; enable it while"
                f" it is mounted nowhere with 'tune2fs -O mmp {device}'",
                "device",
            )
        self._claim(sb.uuid)
        if entry is not None:
            self._hold(cfg, device)
            self.log("disk_already_mounted", device=device, mountpoint=cfg.mount_point)
            return
        try:
            if sb.dirty:
                self._fsck(cfg, device, sb, deadline)
            if not self.ctx.may_run():  # L3: asked again just before the side effect
                raise self.error(AgentResult.ERR_GENERIC, "this node may no longer run resources")
            self._hold(cfg, device)  # recorded before it exists: never held unrecorded
            self._mount(cfg, device, deadline)
        except BaseException as exc:  # leave nothing: no mount, no claim
            self.log("disk_start_failed", **error_fields(exc))
            if mounts.mount_at(cfg.mount_point) is None:
                self.holdings.remove(MOUNT, self.name)
            self._release(sb.uuid)
            raise
        self.log("disk_mounted", device=device, mountpoint=cfg.mount_point, uuid=sb.uuid)

    def _found(self, cfg: _Settings, deadline: float) -> tuple[str, Superblock]:
        """The block device ``device`` names and its superblock, checked to carry the
        UUID or label asked for: a device remembered from an earlier start that another
        disk now holds is forgotten and the name looked up again."""
        device = self._resolve(cfg, deadline)
        sb = self._superblock(device, deadline)
        if not _carries(cfg.device, sb):
            _RESOLVED.pop(cfg.device, None)
            device = self._resolve(cfg, deadline)
            sb = self._superblock(device, deadline)
        return device, sb

    def _resolve(self, cfg: _Settings, deadline: float) -> str:
        """The block device ``device`` names, remembered for the cheap checks. A UUID= or
        LABEL= is looked up with blkid (a probe of every block device) once per daemon:
        then the device found is used again while it exists, and the start checks that its
        superblock still carries that UUID or label (:func:`_carries`)."""
        remembered = _RESOLVED.get(cfg.device)
        if remembered is not None and mounts.block_devno(remembered) is not None:
            device = remembered
        elif cfg.device.startswith(("UUID=", "LABEL=")):
            result = run_tool(
                ["blkid", "-c", "/dev/null", "-o", "device", "-t", cfg.device],
                _left(deadline),
            )
            found = sorted(set(result.output.split())) if result.returncode == 0 else []
            if not found:
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"no block device on this node carries {cfg.device}",
                    "device",
                )
            if len(found) > 1:
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"several block devices carry {cfg.device} ({', '.join(found)}): name the"
                    " device path instead",
                    "device",
                )
            device = _RESOLVED[cfg.device] = found[0]
        else:
            device = cfg.device
        if mounts.block_devno(device) is None:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{device} is not a block device on this node",
                "device",
            )
        with self._lock:
            self._device = device
        return device

    def _superblock(self, device: str, deadline: float) -> Superblock:
        sb = ext4.read_superblock(device, _left(deadline))
        if isinstance(sb, str):
            raise self.error(AgentResult.ERR_CONFIGURED, sb, "device")
        with self._lock:
            self._uuid = sb.uuid
        return sb

    def _claim(self, uuid: str) -> None:
        claims = self.ctx.claims
        if claims is None:
            raise self.error(
                AgentResult.ERR_GENERIC,
                "this node offers no cluster database claims, and a disk is never mounted"
                " unclaimed",
            )
        try:
            claims.claim(CLAIM_KIND, uuid, self.name)
        except ClaimHeld as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"the disk is claimed elsewhere: {exc}", "device"
            ) from exc
        except StoreError as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"cannot claim the disk in the cluster database: {exc}"
            ) from exc
        self.log("disk_claimed", uuid=uuid)

    def _release(self, uuid: str) -> None:
        claims = self.ctx.claims
        if claims is None:
            return
        try:
            claims.release(CLAIM_KIND, uuid, self.name)
        except StoreError as exc:  # it goes with the lease in the end
            self.log("disk_release_failed", uuid=uuid, error=str(exc))
            return
        self.log("disk_released", uuid=uuid)

    def _fsck(self, cfg: _Settings, device: str, sb: Superblock, deadline: float) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        mode = "-y" if cfg.repair_all else "-p"
        self.log("disk_fsck", device=device, mode=mode, state=sb.state)
        done = ext4.run_fsck(
            device, repair_all=cfg.repair_all, timeout_s=_left(deadline), log_path=self.fsck_log
        )
        self.log("disk_fsck_done", device=device, returncode=done.returncode, output=done.output)
        if done.ok:
            return
        if done.in_use_elsewhere:
            raise self._mmp_refusal(device, done.output)
        if done.returncode is None:
            why = "did not finish within the start timeout"
        else:
            why = f"exited with code {done.returncode}"
        hint = "" if cfg.repair_all else "; set fsck_repair=true to let e2fsck -y repair it"
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"e2fsck {mode} {device} {why} (full output in {self.fsck_log}){hint}: {done.output}",
            "device",
        )

    def _mount(self, cfg: _Settings, device: str, deadline: float) -> None:
        Path(cfg.mount_point).mkdir(parents=True, exist_ok=True)
        result = mounts.mount(device, cfg.mount_point, cfg.fstype, cfg.options, _left(deadline))
        devno = mounts.block_devno(device)
        entry = mounts.mount_at(cfg.mount_point)
        if result.returncode == 0 and entry is not None and entry.devno == devno:
            return
        if result.returncode == 0:  # mount said yes but it is not there: undo what it did
            mounts.umount(cfg.mount_point, MIN_TOOL_S)
        sb = ext4.read_superblock(device, MIN_TOOL_S)
        if isinstance(sb, Superblock) and sb.mmp_busy:
            raise self._mmp_refusal(device, result.output)
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"cannot mount {device} on {cfg.mount_point}: {result.output or 'timed out'}",
            "device",
        )

    def _mmp_refusal(self, device: str, said: str) -> AgentError:
        sb = ext4.read_superblock(device, MIN_TOOL_S)
        holder = sb.mmp_holder() if isinstance(sb, Superblock) else "unknown holder"
        return self.error(
            AgentResult.ERR_BUSY,
            f"{device} is in use elsewhere: refused by ext4 multi-mount protection"
            f" ({holder}): {said}",
            "device",
        )

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        cfg = self.settings()
        entry = mounts.mount_at(cfg.mount_point)
        if entry is not None:
            devno = self._devno(cfg)
            if devno is None:
                with contextlib.suppress(AgentError):
                    devno = mounts.block_devno(self._resolve(cfg, deadline))
            if devno is None:  # maybe ours on a vanished path: keep it claimed
                raise self.error(
                    AgentResult.ERR_GENERIC,
                    f"cannot tell whether {entry.source} mounted on {cfg.mount_point} is this"
                    " disk: the device is not found; left mounted and claimed",
                    "device",
                )
            if entry.devno == devno:
                self._unmount(cfg, deadline)
            else:
                self.log("disk_not_ours", mountpoint=cfg.mount_point, source=entry.source)
        self.holdings.remove(MOUNT, self.name)
        uuid = self._known_uuid(cfg)
        if uuid is not None:
            self._release(uuid)
        self.log("disk_offline", mountpoint=cfg.mount_point)

    def _unmount(self, cfg: _Settings, deadline: float) -> None:
        """Unmount, retrying while it is busy until the deadline; then name who keeps it."""
        last = ""
        for _ in range(10_000):  # bounded by the deadline; the count is a backstop
            result = mounts.umount(cfg.mount_point, max(_left(deadline), MIN_TOOL_S))
            if mounts.mount_at(cfg.mount_point) is None or result.returncode == 0:
                self.log("disk_unmounted", mountpoint=cfg.mount_point)
                return
            last = result.output
            if "busy" not in last or time.monotonic() + UMOUNT_RETRY_S >= deadline:
                break
            time.sleep(UMOUNT_RETRY_S)
        users = mounts.users(cfg.mount_point)
        who = ", ".join(f"{pid} ({comm})" for pid, comm in users) or "none found"
        self.log("disk_busy", mountpoint=cfg.mount_point, users=[p for p, _ in users])
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"cannot unmount {cfg.mount_point}: {last.rstrip('.') or 'umount failed'};"
            f" processes using it: {who}. Stop them first; the disk stays mounted and"
            " claimed by this node",
            "mountpoint",
        )

    # -- health ------------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        try:
            cfg = self.settings()
        except AgentError:
            return False
        devno = self._devno(cfg)
        entry = mounts.mount_at(cfg.mount_point)
        return devno is not None and entry is not None and entry.devno == devno

    def is_alive(self) -> bool:
        if not self.looks_alive():
            return False
        cfg = self.settings()
        uuid = self._known_uuid(cfg)
        claims = self.ctx.claims
        try:
            held = (
                uuid is not None
                and claims is not None
                and claims.holds(CLAIM_KIND, uuid, self.name)
            )
        except StoreError as exc:
            self.log("disk_claim_unknown", error=str(exc))
            held = True  # the lease, not this check, decides when the database is away
        if not held:
            self.log("disk_claim_lost", uuid=uuid)
            return False
        why = _probe(Path(cfg.mount_point) / PROBE_FILE, self.ctx.node)
        if why is not None:
            self.log("disk_probe_failed", why=why)
        return why is None

    # -- adopt -------------------------------------------------------------------------------
    def adopt(self) -> bool:
        """Mounted here and claimable (still ours, or re-attached to this daemon's lease)."""
        try:
            cfg = self.settings()
            device = self._resolve(cfg, time.monotonic() + MIN_TOOL_S)
        except WolfpackError as exc:
            self.log("disk_adopt_rejected", why=str(exc))
            return False
        if not self.looks_alive():
            return False
        try:
            sb = self._superblock(device, time.monotonic() + MIN_TOOL_S)
            self._claim(sb.uuid)
        except WolfpackError as exc:
            self.log("disk_adopt_rejected", why=str(exc))
            try:  # mounted here but not ours to keep: unmount, leave the claim alone
                self._unmount(cfg, time.monotonic() + MIN_TOOL_S)
            except WolfpackError as again:
                self.log("disk_adopt_cleanup_failed", error=str(again))
            return False
        self._hold(cfg, device)
        self.log("disk_adopted", device=device, mountpoint=cfg.mount_point)
        return True

    def pids(self) -> list[int]:
        return []

    # -- internals ---------------------------------------------------------------------------
    def _hold(self, cfg: _Settings, device: str) -> None:
        """Record the mount with the node's holdings, for its watchdog and a restarted daemon
        (:mod:`wolfpack.resources.holdings`): they unmount it only while this device is
        what is mounted there."""
        devno = mounts.block_devno(device)
        if devno is not None:
            self.holdings.add(
                MOUNT, self.name, mountpoint=cfg.mount_point, devno=list(devno), device=device
            )

    def _devno(self, cfg: _Settings) -> tuple[int, int] | None:
        with self._lock:
            device = self._device
        if device is None and not cfg.device.startswith(("UUID=", "LABEL=")):
            device = cfg.device
        return None if device is None else mounts.block_devno(device)

    def _known_uuid(self, cfg: _Settings) -> str | None:
        with self._lock:
            uuid, device = self._uuid, self._device
        if uuid is not None:
            return uuid
        if cfg.device.startswith("UUID="):
            return cfg.device.partition("=")[2]
        if device is None and not cfg.device.startswith("LABEL="):
            device = cfg.device
        if device is None:
            return None
        sb = ext4.read_superblock(device, MIN_TOOL_S)
        return sb.uuid if isinstance(sb, Superblock) else None


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), MIN_TOOL_S)


def _probe(path: Path, node: str) -> str | None:
    """Write, fsync and read back a small file, in a thread bounded by PROBE_TIMEOUT_S (a
    dead disk can hang I/O forever); why it failed, or None."""
    outcome: list[str | None] = []
    text = f"{node} {time.time():.3f}\n".encode()

    def run() -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, text)
                os.fsync(fd)
            finally:
                os.close(fd)
            outcome.append(None if path.read_bytes() == text else "read back something else")
        except OSError as exc:
            outcome.append(f"{path}: {exc.strerror or exc}")

    worker = threading.Thread(target=run, name="disk-probe", daemon=True)
    worker.start()
    worker.join(PROBE_TIMEOUT_S)
    return outcome[0] if outcome else f"{path}: no answer within {PROBE_TIMEOUT_S:.0f}s"
