"""The daemon's fence agent: built from the settings (``fence.*``), said loudly when there is
none, and asked at start to let this node back onto its disks (docs/fencing.md)."""

from __future__ import annotations

from wolfpack.errors import FenceError, ValidationError
from wolfpack.node.fencing import ExternalFenceAgent, FenceAgent, FenceKind, LocalTestFenceAgent
from wolfpack.node.jsonlog import JsonLog
from wolfpack.node.settings import DaemonSettings

#: what ``fence.agent: none`` costs, said at every start (docs/fencing.md)
FENCING_DISABLED_COST = (
    "fence.agent is none: a failed or cut-off node is never powered off; its groups move"
    " only after its lease expires, and safety then rests on its own watchdog stopping"
    " everything in time. Resources the watchdog cannot reach (systemd units, daemonising"
    " scripts, IP addresses, mounts) may keep running there: two owners, and for a shared"
    " disk, a corrupted filesystem. Configure a fence_* agent for production"
)


def build_fencer(settings: DaemonSettings) -> FenceAgent | None:
    """The fence agent the settings ask for. Settings validation catches bad options first;
    whatever the agent still refuses is reported against ``fence`` (never a traceback)."""
    f = settings.fence
    if f.agent == "none":
        return None
    if f.agent == "test":
        return LocalTestFenceAgent(f.run_root or settings.run_dir.parent)
    try:
        return ExternalFenceAgent(
            f.agent, f.options, f.timeout_s, host_map=f.host_map, kind=f.effective_kind
        )
    except ValueError as exc:
        raise ValidationError.single("fence", str(exc)) from None


def unfence_self(settings: DaemonSettings, fencer: FenceAgent | None, log: JsonLog) -> None:
    """An io fence (fence_scsi, fence_mpath) cut this node off from its disks when it was
    fenced; ``action=on`` registers it again. Run at start, before any resource (H6). A
    power agent is not asked: a node that is starting is on."""
    if fencer is None or fencer.kind is not FenceKind.IO:
        return
    try:
        fencer.unfence(settings.node)
    except FenceError as exc:
        raise FenceError(
            f"unfencing {settings.node} at start failed; check fence.agent, fence.options "
            f"and fence.host_map: {exc}"
        ) from None
    log("unfenced", node=settings.node, agent=settings.fence.agent, kind=str(fencer.kind))
