"""``lab up`` refuses bad input without making anything, and a build that fails half-way
removes what it made (DESIGN §4)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from wolfpack.lab import layout, world
from wolfpack.lab.state import LOCK_FILE, LabState
from wolfpack.node.pidregistry import proc_stat

from .conftest import Machine, lab_skip_reason, wolfpack_cli

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=str(lab_skip_reason())),
]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--nodes", "2"], "--nodes"),
        (["--cluster", "Bad_Name!"], "cluster.name"),
        (["--dir", "/root/wpl-lab"], "--dir"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tmp_path: Path, args: list[str], field: str
) -> None:
    before = Machine.now()
    lab_dir = tmp_path / "lab"
    if "--dir" in args:
        lab_dir = Path(args[args.index("--dir") + 1])
    result = subprocess.run(
        [wolfpack_cli(), "lab", "up", "--dir", str(lab_dir), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert field in result.stderr
    assert not lab_dir.exists()
    assert Machine.now().namespaces == before.namespaces


class Interrupted(Exception):
    pass


def test_up_failing_half_way_removes_what_it_made() -> None:
    """Interrupted once node1's wolfpackd runs its etcd member (namespaces, named, the
    daemon, its member and files exist by then)."""
    base = Path(tempfile.mkdtemp(prefix="wpl-test-", dir="/tmp"))
    base.chmod(0o755)
    lab_dir = base / "lab"
    lab_dir.mkdir()
    (lab_dir / LOCK_FILE).touch()  # left by a late fence call after a down: no lab, no refusal
    seen: list[LabState] = []

    members: list[int] = []

    def progress(text: str) -> None:
        if text.startswith("wolfpackd on node1"):
            seen.append(state := LabState.load(lab_dir))
            deadline = time.monotonic() + 30
            while (pid := layout.role_pid(state, "node1", "etcd")) is None:
                assert time.monotonic() < deadline, "node1's wolfpackd started no etcd member"
                time.sleep(0.1)
            members.append(pid)
            raise Interrupted(text)

    try:
        with pytest.raises(Interrupted):
            world.up(lab_dir, progress=progress)
    finally:
        world.down(lab_dir)  # nothing to do if the test passes
        base.rmdir()
    made = seen[0]
    assert len(made.namespaces) == 7
    assert {p.role for p in made.processes} == {"named", "power-switch", "wolfpackd"}
    member = proc_stat(members[0])  # gone with its node (a zombie for a moment, at most)
    assert member is None or not member.running
    assert len(made.loop_devices) == 2
    assert made.files
    after = Machine.now()
    assert after.mentioning(made.prefix) == after.mentioning(made.dir) == set()  # loops too
    assert not any(p.running for p in made.processes)
    assert not any(Path(f).exists() for f in made.files)
    assert not lab_dir.exists()


def test_a_directory_holding_something_else_is_refused() -> None:
    base = Path(tempfile.mkdtemp(prefix="wpl-test-", dir="/tmp"))
    base.chmod(0o755)
    lab_dir = base / "lab"
    lab_dir.mkdir()
    (lab_dir / "notes.txt").write_text("mine")
    before = Machine.now()
    try:
        result = subprocess.run(
            [wolfpack_cli(), "lab", "up", "--dir", str(lab_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        assert "holds no lab" in result.stderr
        assert sorted(f.name for f in lab_dir.iterdir()) == ["notes.txt"]
        assert Machine.now().namespaces == before.namespaces
    finally:
        (lab_dir / "notes.txt").unlink()
        lab_dir.rmdir()
        base.rmdir()
