"""Physical Disk against REAL loop devices, a REAL etcd and REAL mount namespaces (S6, S24).

Every disk is a sparse image in the test's tmp_path on a loop device this test attached
(:mod:`wolfpack.lab.disks`); the fixture detaches exactly that device, by the path losetup
gave, even when the test fails. Every mount happens inside a "node" process
(``tests/resources/disk_node.py``) started under ``unshare --mount --propagation private``:
its mounts live and die with that process, and the tests check that the host's own mount
table never shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wolfpack.lab.disks import LoopDisk, attach_shared_disk, make_shared_disk, remove_shared_disk
from wolfpack.model.builtin_types import PHYSICAL_DISK, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import AgentError, AgentResult, create_agent
from wolfpack.resources import disk as disk_module
from wolfpack.resources.disk import DiskAgent
from wolfpack.resources.ext4 import parse_dumpe2fs
from wolfpack.resources.mounts import mount_holding, parse_mountinfo
from wolfpack.store import EtcdProcess, KeySpace

from . import Recorder

_NO_LOOP = pytest.mark.skipif(
    not os.path.exists("/dev/loop-control"), reason="this machine has no /dev/loop-control"
)


def NEEDS_LOOP(test: Any) -> Any:
    """Attaches loop devices and mounts (as root): marked ``loop``."""
    return pytest.mark.loop(_NO_LOOP(test))


DRIVER = Path(__file__).with_name("disk_node.py")
ROOT = Path(__file__).resolve().parents[2]
#: bound of one request to a node process (an MMP refusal alone waits about 20 s)
CALL_TIMEOUT_S = 120.0


# -- independent looks (not the code under test) ------------------------------------------------
def mounted_in(pid: int | str, mount_point: Path) -> bool:
    text = Path(f"/proc/{pid}/mountinfo").read_text()
    return any(line.split()[4] == str(mount_point) for line in text.splitlines())


def superblock(device: str) -> dict[str, str]:
    out = subprocess.run(
        ["dumpe2fs", "-h", device], capture_output=True, text=True, check=True
    ).stdout
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def backing_file(device: str) -> str | None:
    try:
        return Path(f"/sys/block/{Path(device).name}/loop/backing_file").read_text().strip()
    except OSError:
        return None


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def disk(tmp_path: Path) -> Iterator[LoopDisk]:
    made = make_shared_disk(tmp_path / "shared.img", 64, "wptest")
    try:
        yield made
    finally:
        remove_shared_disk(made)
        assert backing_file(made.device) != str(made.image)


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    try:
        yield where
    finally:  # never mounted on the host; if it were, unmount exactly this one
        if mounted_in("self", where):
            subprocess.run(["umount", str(where)], check=False)
        assert not mounted_in("self", where)


class NodeProc:
    """One node process in its own mount namespace (see disk_node.py)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        argv = ["unshare", "--mount", "--propagation", "private", sys.executable, str(DRIVER)]
        self.proc = subprocess.Popen(
            [*argv, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        ready = self._read(30.0)
        self.pid = int(ready["ready"])

    def _read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        assert ready, f"node {self.cfg['node']} did not answer within {timeout_s}s"
        line = self.proc.stdout.readline()
        assert line, f"node {self.cfg['node']} exited ({self.proc.poll()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read(CALL_TIMEOUT_S)

    def ok(self, op: str, **args: Any) -> Any:
        answer = self.call(op, **args)
        assert answer["ok"], answer
        return answer.get("value")

    def events(self) -> list[str]:
        return [event for event, _ in self.ok("events")]

    def mounted(self, where: Path) -> bool:
        return mounted_in(self.pid, where)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its handle
            self.proc.wait(15)


@pytest.fixture
def nodes(etcd: EtcdProcess, tmp_path: Path) -> Iterator[Any]:
    started: list[NodeProc] = []
    prefix = f"/wolfpack-test/{uuid.uuid4().hex}/"

    def start(node: str, properties: dict[str, Any], *, own_prefix: str | None = None) -> NodeProc:
        cfg = {
            "endpoint": etcd.endpoint,
            "etcd": etcd.client_env(),  # its CA, certificate and key, as an administrator
            "prefix": own_prefix or prefix,
            "node": node,
            "run_dir": str(tmp_path / node),
            "resource": "shared-disk",
            "properties": properties,
        }
        proc = NodeProc(cfg)
        started.append(proc)
        return proc

    start.prefix = prefix  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for proc in started:
            proc.close()


def claim_of(etcd: EtcdProcess, prefix: str, fs_uuid: str) -> dict[str, Any] | None:
    store = etcd.store()
    try:
        kv = store.get(KeySpace(prefix).claim("disks", fs_uuid))
        return None if kv is None else {**json.loads(kv.value), "lease": kv.lease}
    finally:
        store.close()


def props(disk: LoopDisk | str, where: Path, **extra: Any) -> dict[str, Any]:
    device = disk if isinstance(disk, str) else disk.device
    return {"device": device, "mountpoint": str(where), **extra}


# -- the lab helper -----------------------------------------------------------------------------
@NEEDS_LOOP
def test_make_shared_disk_formats_ext4_with_mmp_and_remove_detaches_only_it(
    tmp_path: Path,
) -> None:
    disk = make_shared_disk(tmp_path / "a.img", 32, "wplab")
    try:
        assert backing_file(disk.device) == str(disk.image)
        sb = superblock(disk.device)
        assert "mmp" in sb["Filesystem features"].split()
        assert sb["Filesystem volume name"] == "wplab" and sb["Filesystem UUID"] == disk.uuid
        assert disk.image.stat().st_blocks * 512 < 32 << 20  # sparse
        view = attach_shared_disk(disk.image)
        assert view.device != disk.device and view.uuid == disk.uuid
        remove_shared_disk(view)
        assert backing_file(view.device) != str(disk.image)
        assert backing_file(disk.device) == str(disk.image)  # the other one is untouched
    finally:
        remove_shared_disk(disk)
    assert backing_file(disk.device) != str(disk.image)
    remove_shared_disk(disk)  # a second time: nothing to do, nothing touched


def test_shared_disk_refuses_bad_arguments(tmp_path: Path) -> None:
    from wolfpack.lab.netns import LabError

    with pytest.raises(LabError, match="size"):
        make_shared_disk(tmp_path / "x.img", 1, "ok")
    with pytest.raises(LabError, match="label"):
        make_shared_disk(tmp_path / "x.img", 32, "no spaces")
    assert not (tmp_path / "x.img").exists()


# -- properties ------------------------------------------------------------------------------------
def _agent(tmp_path: Path, properties: dict[str, Any]) -> DiskAgent:
    res = Resource("shared-disk", PHYSICAL_DISK, "g", properties=properties)
    agent = create_agent(res, builtin_types()[PHYSICAL_DISK], Recorder(tmp_path).ctx)
    assert isinstance(agent, DiskAgent)
    return agent


@pytest.mark.parametrize(
    ("properties", "prop", "words"),
    [
        ({"mountpoint": "/srv/x"}, "device", "required"),
        ({"device": "sda1", "mountpoint": "/srv/x"}, "device", "/dev/"),
        ({"device": "UUID=", "mountpoint": "/srv/x"}, "device", "names nothing"),
        ({"device": "/dev/loop7"}, "mountpoint", "required"),
        ({"device": "/dev/loop7", "mountpoint": "/"}, "mountpoint", "other than /"),
        ({"device": "/dev/loop7", "mountpoint": "/srv/x", "fstype": "xfs"}, "fstype", "ext4"),
        (
            {"device": "/dev/loop7", "mountpoint": "/srv/x", "mount_options": "rw,remount"},
            "mount_options",
            "remount",
        ),
        (
            {"device": "/dev/loop7", "mountpoint": "/srv/x", "mount_options": "a b"},
            "mount_options",
            "comma-separated",
        ),
        (
            {"device": "/dev/loop7", "mountpoint": "/srv/x", "fsck_repair": "yes"},
            "fsck_repair",
            "true or false",
        ),
    ],
)
def test_bad_properties_are_refused_naming_the_property(
    tmp_path: Path, properties: dict[str, Any], prop: str, words: str
) -> None:
    agent = _agent(tmp_path, properties)
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert f"property {prop}:" in str(err.value) and words in str(err.value)
    assert "'shared-disk' on node1" in str(err.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("nobarrier", "nobarrier"),
        ("noatime,barrier=0", "barrier=0"),
        ("data=writeback", "data=writeback"),
        ("errors=continue", "errors=continue"),
        ("commit=30", "commit=30"),
        ("noatime,commit=6", "commit=6"),
    ],
)
def test_unsafe_mount_options_are_refused_naming_the_option(
    tmp_path: Path, options: str, named: str
) -> None:
    """H7: options that lose acknowledged writes at a fence, or let a writer go on after
    ext4 found the filesystem damaged, are refused before anything is touched."""
    mount_point = tmp_path / "m"
    agent = _agent(
        tmp_path,
        {"device": "/dev/null", "mountpoint": str(mount_point)} | {"mount_options": options},
    )
    for action in (agent.validate, lambda: agent.start(timeout_s=10)):
        with pytest.raises(AgentError) as err:
            action()
        assert err.value.code is AgentResult.ERR_CONFIGURED
        assert "property mount_options:" in str(err.value) and named in str(err.value)
    assert not mount_point.exists()


def test_a_device_that_is_no_block_device_is_refused_before_anything(tmp_path: Path) -> None:
    agent = _agent(tmp_path, {"device": "/dev/null", "mountpoint": str(tmp_path / "m")})
    with pytest.raises(AgentError, match="property device: /dev/null is not a block device"):
        agent.start(timeout_s=10)
    assert not (tmp_path / "m").exists()
    assert not agent.looks_alive()


@NEEDS_LOOP
def test_without_claims_a_disk_is_never_mounted(
    tmp_path: Path, disk: LoopDisk, mount_point: Path
) -> None:
    agent = _agent(tmp_path, props(disk, mount_point))
    with pytest.raises(AgentError, match="never mounted unclaimed"):
        agent.start(timeout_s=30)
    assert not mount_point.exists()


# -- life cycle ------------------------------------------------------------------------------------
@NEEDS_LOOP
def test_life_cycle_claims_mounts_probes_unmounts_and_releases(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    node1 = nodes("node1", props(disk, mount_point, mount_options="noatime"))
    assert node1.ok("looks_alive") is False and node1.ok("adopt") is False
    node1.ok("start")
    assert node1.mounted(mount_point) and not mounted_in("self", mount_point)
    claim = claim_of(etcd, nodes.prefix, disk.uuid)
    assert claim is not None and claim["node"] == "node1" and claim["resource"] == "shared-disk"
    assert claim["lease"] == node1.ok("lease")
    options = [e.options for e in parse_mountinfo(Path(f"/proc/{node1.pid}/mountinfo").read_text())]
    assert any("noatime" in o for o in options)
    # H7: mounted errors=remount-ro (the administrator chose no errors=), as the node's own
    # mount namespace shows it: a damaged filesystem stops the writer
    mounts = Path(f"/proc/{node1.pid}/mounts").read_text().splitlines()
    ours = [line.split() for line in mounts if line.split()[1] == str(mount_point)]
    assert len(ours) == 1 and "errors=remount-ro" in ours[0][3].split(","), ours
    assert node1.ok("looks_alive") is True and node1.ok("is_alive") is True
    probe = Path(f"/proc/{node1.pid}/root") / str(mount_point).lstrip("/") / ".wolfpack-alive"
    assert probe.read_text().startswith("node1 ")
    node1.ok("start")  # starting a started disk does nothing
    assert node1.mounted(mount_point)
    node1.ok("stop")
    assert not node1.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid) is None
    assert node1.ok("looks_alive") is False and node1.ok("is_alive") is False
    node1.ok("stop")  # stopping a stopped disk is fine
    assert superblock(disk.device)["Filesystem state"] == "clean"
    assert "disk_fsck" not in node1.events()  # it was clean: no check


@NEEDS_LOOP
def test_a_dirty_filesystem_is_checked_before_mount(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any, tmp_path: Path
) -> None:
    # What a crash leaves: the superblock says "not clean".
    subprocess.run(
        ["debugfs", "-w", "-R", "ssv state 0", disk.device], check=True, capture_output=True
    )
    assert superblock(disk.device)["Filesystem state"] == "not clean"
    node1 = nodes("node1", props(disk, mount_point))
    node1.ok("start")
    assert node1.mounted(mount_point)
    events = node1.ok("events")
    done = [f for e, f in events if e == "disk_fsck_done"]
    assert [e for e, f in events if e == "disk_fsck"] and done and done[0]["returncode"] in (0, 1)
    assert (tmp_path / "node1/resources/shared-disk/fsck.log").read_text().strip()
    node1.ok("stop")
    assert superblock(disk.device)["Filesystem state"] == "clean"


@NEEDS_LOOP
def test_a_disk_without_mmp_is_refused(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    subprocess.run(["tune2fs", "-O", "^mmp", disk.device], check=True, capture_output=True)
    node1 = nodes("node1", props(disk, mount_point))
    answer = node1.call("start")
    assert not answer["ok"] and "no multi-mount protection" in answer["error"]
    assert "tune2fs -O mmp" in answer["error"]
    assert not node1.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid) is None


# -- one node at a time ----------------------------------------------------------------------------
@NEEDS_LOOP
def test_a_disk_claimed_by_another_node_is_refused(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    node1 = nodes("node1", props(disk, mount_point))
    node2 = nodes("node2", props(disk, mount_point))
    node1.ok("start")
    answer = node2.call("start")
    assert not answer["ok"] and answer["code"] == "err_generic"
    assert "claimed elsewhere" in answer["error"] and "node node1" in answer["error"]
    assert not node2.mounted(mount_point) and node1.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid)["node"] == "node1"  # type: ignore[index]
    node1.ok("stop")
    node2.ok("start")  # the next owner gets it once it is released
    assert node2.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid)["node"] == "node2"  # type: ignore[index]
    node2.ok("stop")


@NEEDS_LOOP
def test_a_second_mount_elsewhere_is_refused_by_mmp(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any, tmp_path: Path
) -> None:
    # node2 sees the disk through a loop device of its own (as a second machine would) and
    # has a cluster database of its own, so no claim stops it: only MMP can.
    view = attach_shared_disk(disk.image)
    try:
        other = f"/wolfpack-test/{uuid.uuid4().hex}/"
        node1 = nodes("node1", props(disk, mount_point))
        node2 = nodes("node2", props(view.device, tmp_path / "mnt2"), own_prefix=other)
        node1.ok("start")
        answer = node2.call("start", timeout=90)
        assert not answer["ok"], answer
        assert "multi-mount protection" in answer["error"], answer
        assert not node2.mounted(tmp_path / "mnt2") and node1.mounted(mount_point)
        assert claim_of(etcd, other, disk.uuid) is None  # released after the refusal
        node1.ok("stop")
    finally:
        for proc_dir in ("mnt2",):
            assert not mounted_in("self", tmp_path / proc_dir)
        remove_shared_disk(view)


# -- stop ------------------------------------------------------------------------------------------
@NEEDS_LOOP
def test_a_busy_disk_is_not_unmounted_and_its_users_are_named(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    node1 = nodes("node1", props(disk, mount_point))
    node1.ok("start")
    holder = node1.ok("hold", cwd=str(mount_point))
    answer = node1.call("stop", timeout=1)
    assert not answer["ok"] and answer["code"] == "err_generic"
    assert f"{holder} (sleep)" in answer["error"] and "property mountpoint" in answer["error"]
    assert node1.mounted(mount_point)  # no lazy unmount
    assert claim_of(etcd, nodes.prefix, disk.uuid) is not None  # still mounted: still claimed
    node1.ok("unhold")
    node1.ok("stop")
    assert not node1.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid) is None


# -- daemon restart --------------------------------------------------------------------------------
@NEEDS_LOOP
def test_a_mounted_claimed_disk_is_adopted_after_a_daemon_restart(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    node1 = nodes("node1", props(f"UUID={disk.uuid}", mount_point))
    node1.ok("start")
    old_lease = node1.ok("lease")
    answer = node1.call("restart")
    assert answer["ok"] and answer["value"] is True, answer
    assert answer["lease"] != old_lease
    claim = claim_of(etcd, nodes.prefix, disk.uuid)
    assert claim is not None and claim["lease"] == answer["lease"]  # on the new lease
    assert node1.mounted(mount_point) and node1.ok("is_alive") is True
    node1.ok("stop")
    assert not node1.mounted(mount_point)
    assert claim_of(etcd, nodes.prefix, disk.uuid) is None


@NEEDS_LOOP
def test_a_mounted_disk_claimed_by_another_node_is_not_adopted(
    etcd: EtcdProcess, disk: LoopDisk, mount_point: Path, nodes: Any
) -> None:
    node1 = nodes("node1", props(disk, mount_point))
    node1.ok("start")
    # While node1's daemon is away its claim goes (lease revoked) and node2 takes it.
    store = etcd.store()
    try:
        keys = KeySpace(nodes.prefix)
        kv = store.get(keys.claim("disks", disk.uuid))
        assert kv is not None
        store.lease_revoke(kv.lease)
        lease = store.lease_grant(30)
        doc = {"node": "node2", "resource": "shared-disk", "since": time.time()}
        store.put(keys.claim("disks", disk.uuid), json.dumps(doc).encode(), lease=lease)
        answer = node1.call("restart")
        assert answer["ok"] and answer["value"] is False, answer
        assert not node1.mounted(mount_point)  # not ours to keep: unmounted
        assert claim_of(etcd, nodes.prefix, disk.uuid)["node"] == "node2"  # type: ignore[index]
        store.lease_revoke(lease)
    finally:
        store.close()


def test_superblock_parsing() -> None:
    sb = parse_dumpe2fs(
        "Filesystem volume name:   <none>\nFilesystem UUID:          u-1\n"
        "Filesystem features:      has_journal mmp needs_recovery\n"
        "Filesystem state:         clean\n    mmp_sequence: 0x12345678\n"
        "    mmp_node_name: vm\n    mmp_device_name: loop3\n"
    )
    assert sb is not None and sb.label == "" and sb.uuid == "u-1"
    assert sb.dirty and sb.has_mmp and sb.mmp_busy and "node vm, device loop3" in sb.mmp_holder()
    assert parse_dumpe2fs("dumpe2fs: Bad magic number in super-block") is None


def test_mountinfo_parsing_unescapes_paths() -> None:
    line = (
        "36 35 7:3 / /srv/my\\040disk rw,noatime shared:1 master:2 - ext4 /dev/loop3 rw,mmp\n"
        "garbage line\n"
    )
    [entry] = parse_mountinfo(line)
    assert entry.mount_point == "/srv/my disk" and entry.devno == (7, 3)
    assert (entry.fstype, entry.source, entry.options) == ("ext4", "/dev/loop3", "rw,noatime")


def test_mount_holding_finds_the_topmost_longest_mount_point() -> None:
    """M8: what the PostgreSQL agent asks before initdb: which mount holds a path."""
    text = (
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "40 27 7:3 / /srv/sql rw - ext4 /dev/loop3 rw\n"
        "41 27 0:50 / /srv/sqlother rw - tmpfs tmpfs rw\n"
        "42 40 7:4 / /srv/sql rw - ext4 /dev/loop4 rw\n"
    )
    entries = parse_mountinfo(text)
    holding = lambda path: mount_holding(path, entries)  # noqa: E731
    assert holding("/srv/sql/data").source == "/dev/loop4"  # type: ignore[union-attr]
    assert holding("/srv/sql").source == "/dev/loop4"  # type: ignore[union-attr]
    assert holding("/srv/sqlother/data").fstype == "tmpfs"  # type: ignore[union-attr]
    assert holding("/srv/sqldata").mount_point == "/"  # type: ignore[union-attr]
    assert holding("/var/lib/postgresql").mount_point == "/"  # type: ignore[union-attr]


_ON_DISK_PROBE = """
import json, subprocess, sys
from wolfpack.resources.mounts import not_on_a_disk
device, where = sys.argv[1:3]
before = not_on_a_disk(where)
subprocess.run(["mount", "-t", "ext4", "--", device, where], check=True, capture_output=True)
print(json.dumps([before, not_on_a_disk(where), not_on_a_disk(where + "/lost+found")]))
"""


@NEEDS_LOOP
def test_postgresql_initialize_sees_a_mounted_disk_and_the_bare_mount_point(
    disk: LoopDisk, mount_point: Path
) -> None:
    """M8: what the PostgreSQL agent checks before initdb, for real: the mount point
    directory alone is on the root filesystem (refused); with the disk mounted on it (in a
    private mount namespace) it is on a disk (allowed)."""
    mount_point.mkdir()
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, "-c"]
    done = subprocess.run(
        [*argv, _ON_DISK_PROBE, disk.device, str(mount_point)],
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    before, mounted, below = json.loads(done.stdout)
    assert before is not None and "root filesystem" in before
    assert mounted is None and below is None
    assert not mounted_in("self", mount_point)  # the host never saw the mount


@NEEDS_LOOP
def test_postgresql_initialize_refuses_a_local_filesystem_without_mmp(
    disk: LoopDisk, mount_point: Path
) -> None:
    """M8: a node's own partition (here: the same loop disk without multi-mount
    protection) is a block device too, but no shared disk of the cluster: refused."""
    subprocess.run(["tune2fs", "-O", "^mmp", disk.device], check=True, capture_output=True)
    mount_point.mkdir()
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, "-c"]
    done = subprocess.run(
        [*argv, _ON_DISK_PROBE, disk.device, str(mount_point)],
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT_S,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    _, mounted, _ = json.loads(done.stdout)
    assert mounted is not None and "no multi-mount protection" in mounted
    assert disk.device in mounted or "/dev/" in mounted


@NEEDS_LOOP
def test_a_uuid_is_looked_up_once_and_a_stale_device_is_noticed(
    disk: LoopDisk, tmp_path: Path
) -> None:
    """issue 12: blkid (a probe of every block device) runs on the first start only; the
    device remembered is used while its superblock still carries the UUID, and looked up
    again once another filesystem holds it."""
    other = make_shared_disk(tmp_path / "other.img", 64, "wpother")
    try:
        agent = _agent(tmp_path, props(f"UUID={disk.uuid}", tmp_path / "mnt"))
        cfg = agent.settings()
        disk_module._RESOLVED.pop(cfg.device, None)
        assert agent._found(cfg, time.monotonic() + 10)[0] == disk.device
        assert disk_module._RESOLVED[cfg.device] == disk.device
        disk_module._RESOLVED[cfg.device] = other.device  # as if loop devices were renumbered
        device, sb = agent._found(cfg, time.monotonic() + 10)
        assert (device, sb.uuid) == (disk.device, disk.uuid)
        assert disk_module._RESOLVED[cfg.device] == disk.device
    finally:
        disk_module._RESOLVED.clear()
        remove_shared_disk(other)
