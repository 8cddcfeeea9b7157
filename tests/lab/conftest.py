"""One lab per test module (building one takes seconds; sharing it keeps the suite short).

The fixture records what the machine holds before (namespaces, host links, loop devices,
mounts, /etc/netns) so the last test of a module can prove ``lab down`` removed exactly what
the lab made; the fixture's own teardown removes the lab even if a test failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wolfpack.lab.driver import LabDriver
from wolfpack.lab.state import LabState

pytestmark = pytest.mark.netns

NEEDS = ("ip", "etcd", "arping", "nginx", "curl", "psql", "nsenter")


def lab_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root"
    missing = [t for t in NEEDS if shutil.which(t) is None]
    if missing or not Path("/usr/sbin/named").exists():
        return f"not installed: {', '.join(missing) or 'named'} (run scripts/setup)"
    return None


@dataclass(frozen=True)
class Machine:
    """What this machine holds that a lab could leave behind."""

    namespaces: frozenset[str]
    host_links: frozenset[str]
    loop_devices: frozenset[str]
    mounts: frozenset[str]
    etc_netns: frozenset[str]

    def mentioning(self, needle: str) -> set[str]:
        """Every namespace, link, loop device, mount and /etc/netns entry naming ``needle``."""
        every = (self.namespaces, self.host_links, self.loop_devices, self.mounts, self.etc_netns)
        return {item for group in every for item in group if needle in item}

    @classmethod
    def now(cls) -> Machine:
        def out(*argv: str) -> str:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

        netns = json.loads(out("ip", "-j", "netns", "list") or "[]")
        links = json.loads(out("ip", "-j", "link", "show") or "[]")
        etc = Path("/etc/netns")
        return cls(
            frozenset(str(n["name"]) for n in netns),
            frozenset(str(link["ifname"]) for link in links),
            frozenset(out("losetup", "-a").splitlines()),
            frozenset(Path("/proc/mounts").read_text().splitlines()),
            frozenset(str(p) for p in etc.rglob("*")) if etc.exists() else frozenset(),
        )


def wolfpack_cli() -> str:
    return str(Path(sys.executable).parent / "wolfpack")


@pytest.fixture(scope="module")
def machine_before() -> Machine:
    return Machine.now()


@pytest.fixture(scope="module")
def lab_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="wpl-test-", dir="/tmp"))
    base.chmod(0o755)
    path = base / "lab"
    yield path
    subprocess.run(
        [wolfpack_cli(), "lab", "down", "--dir", str(path)], capture_output=True, timeout=120
    )
    shutil.rmtree(base, ignore_errors=True)


def demo_up(lab_dir: Path, *options: str) -> LabDriver:
    """The lab with the seed's groups (the demo's), built by the real commands."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-m", "wolfpack.lab.demo", "up", "--dir", str(lab_dir), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return LabDriver(lab_dir)


@pytest.fixture(scope="module")
def demo_lab(machine_before: Machine, lab_dir: Path) -> LabDriver:
    """The lab with the seed's groups (the demo's), built by the real commands."""
    return demo_up(lab_dir)


def down_removes_everything(lab: LabDriver, machine_before: Machine, disks: int) -> None:
    """``wolfpack lab down`` of ``lab`` removes every process, file, loop device (``disks``
    of them), namespace and directory the lab recorded, and nothing else; a second down
    finds nothing to remove."""
    state = lab.reload()
    pids = list(state.processes)
    assert pids and any(p.running for p in pids)
    files = [Path(f) for f in state.files]
    assert files and all(f.exists() for f in files)
    loops = list(state.loop_devices)
    assert len(loops) == disks
    result = subprocess.run(
        [wolfpack_cli(), "lab", "down", "--dir", state.dir, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] is True
    after = Machine.now()
    # Other programs may change the machine meanwhile: compare what names this lab.
    for needle in (state.prefix, state.dir):
        assert after.mentioning(needle) == machine_before.mentioning(needle) == set()
    assert after.host_links == machine_before.host_links  # the lab never adds one there
    assert not any(p.running for p in pids)
    assert not any(f.exists() for f in files)
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert not any(state.dir in line for line in attached.splitlines())
    assert not Path(state.dir).exists()
    assert not LabState.exists(Path(state.dir))
    again = subprocess.run(
        [wolfpack_cli(), "lab", "down", "--dir", state.dir], capture_output=True, text=True
    )
    assert again.returncode == 0 and "nothing to remove" in again.stdout
