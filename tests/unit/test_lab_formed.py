"""The lab built through ``cluster create`` and ``cluster join`` (issue 10): which nodes
carry an etcd member, the voters ``lab up`` waits for, and where a node's etcd member is
found (a child of its wolfpackd, not a process the lab started)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.lab import formed, layout
from wolfpack.lab.state import LabState


def lab(tmp_path: Path, nodes: int) -> LabState:
    names = [f"node{i}" for i in range(1, nodes + 1)]
    return LabState(dir=str(tmp_path), prefix="wpl-abc123-", nodes=names, cluster="jean",
                    formed=True)  # fmt: skip


@pytest.mark.parametrize(
    ("hosts", "voting"),
    [
        (["node1", "node2", "witness"], ["node1", "node2", "witness"]),  # the seed's (S7, S13)
        (["node1", "node2", "node3"], ["node1", "node2", "node3"]),
        (["node1", "node2", "node3", "node4"], ["node1", "node2", "node3"]),  # odd: 3 and a learner
        ([f"node{i}" for i in range(1, 6)], [f"node{i}" for i in range(1, 6)]),
        ([f"node{i}" for i in range(1, 7)], [f"node{i}" for i in range(1, 6)]),  # at most 5
        ([f"node{i}" for i in range(1, 17)], [f"node{i}" for i in range(1, 6)]),
    ],
)
def test_lab_up_waits_for_odd_voters_at_most_five(hosts: list[str], voting: list[str]) -> None:
    want = formed.expected_voters(hosts)
    assert [h for h, learner in want if not learner] == sorted(voting)
    assert sorted(h for h, _ in want) == sorted(hosts[:6])  # later joins get no member


def test_the_first_six_nodes_carry_a_member(tmp_path: Path) -> None:
    assert layout.members(lab(tmp_path, 3)) == ["node1", "node2", "node3"]
    assert layout.members(lab(tmp_path, 16)) == [f"node{i}" for i in range(1, 7)]


def test_a_nodes_credentials_are_where_join_wrote_them(tmp_path: Path) -> None:
    made = layout.etcd_files(lab(tmp_path, 3), "node2")
    assert made == tmp_path / "nodes" / "node2" / "etc" / "etcd"


@pytest.fixture
def daemon_with_member(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A stand-in wolfpackd (a shell) whose child is a program named etcd."""
    etcd = tmp_path / "etcd"
    shutil.copy("/bin/sleep", etcd)
    proc = subprocess.Popen(["/bin/sh", "-c", f'"{etcd}" 30 & wait'])
    try:
        yield proc.pid, etcd
    finally:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for child in children:  # ours: started by the shell this fixture started
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_a_formed_nodes_member_is_its_daemons_child(
    tmp_path: Path, daemon_with_member: tuple[int, Path]
) -> None:
    pid, _ = daemon_with_member
    formed_lab = lab(tmp_path, 3)
    formed_lab.add_process("node1", "wolfpackd", pid)
    deadline = time.monotonic() + 10
    while (member := layout.role_pid(formed_lab, "node1", "etcd")) is None:
        assert time.monotonic() < deadline, "the child was never found"
        time.sleep(0.05)
    assert Path(f"/proc/{member}/comm").read_text().strip() == "etcd"
    assert layout.role_pid(formed_lab, "node1", "wolfpackd") == pid
    assert layout.role_pid(formed_lab, "node2", "etcd") is None  # no daemon there
