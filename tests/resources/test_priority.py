"""The daemon runs above the workloads, the resources' programs at the normal priority
(issue 12: a busy node must not look dead). Here the test's own thread plays the daemon."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.resources.commands import DEFAULT_PATH, Account, StartGate
from wolfpack.resources.priority import RESOURCE_NICE, raise_own

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a nice value below 0 needs root")


@pytest.fixture
def daemon_priority() -> Iterator[None]:
    """This thread at the daemon's nice value for the test (nice values are per thread)."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    assert raise_own(-7) is None
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def run(argv: list[str], tmp_path: Path, gate: StartGate | None = None) -> tuple[int, str]:
    out = tmp_path / "out"
    with out.open("wb") as f:
        proc = Account.current().popen(argv, cwd=str(tmp_path), env={"PATH": DEFAULT_PATH},
                                       output=f, gate=gate)  # fmt: skip
    if gate is not None:
        gate.spawned()
        gate.open()
    return proc.wait(timeout=10), out.read_text()


@pytest.mark.usefixtures("daemon_priority")
@pytest.mark.parametrize("gated", [False, True])
def test_a_program_runs_at_the_normal_priority_from_its_first_instruction(
    tmp_path: Path, gated: bool
) -> None:
    assert os.getpriority(os.PRIO_PROCESS, 0) == -7
    code, said = run(["sh", "-c", "exec nice"], tmp_path, StartGate() if gated else None)
    assert (code, said.strip()) == (0, str(RESOURCE_NICE))


@pytest.mark.usefixtures("daemon_priority")
def test_a_program_that_cannot_run_is_still_the_error_popen_gives(tmp_path: Path) -> None:
    """Behind ``nice -n`` a missing program would be nice's exit 127; the agents map
    Popen's own errors to ERR_INSTALLED and ERR_PERM, so those are raised first."""
    with pytest.raises(FileNotFoundError):
        run(["no-such-program-anywhere"], tmp_path)
    with pytest.raises(FileNotFoundError):
        run(["./missing"], tmp_path)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(PermissionError):
        run(["./not-executable"], tmp_path)


def test_at_the_normal_priority_nothing_is_put_before_the_program(tmp_path: Path) -> None:
    assert os.getpriority(os.PRIO_PROCESS, 0) == RESOURCE_NICE
    out = tmp_path / "out"
    with out.open("wb") as f:
        proc = Account.current().popen(["sleep", "0"], cwd=str(tmp_path),
                                       env={"PATH": DEFAULT_PATH}, output=f)  # fmt: skip
    assert proc.args == ["sleep", "0"]
    assert proc.wait(timeout=10) == 0
