"""The lab's power-off returns only once the node's recorded processes have ended: a killed
process leaves its network namespace before its exit is complete, and a power on right
after took such a process, still listed, for the new daemon having exited (CI, stop 25).
The links go down as soon as the namespace is empty, before that wait (CI, stop 26)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wolfpack.lab import power
from wolfpack.lab.state import LabProcess, LabState
from wolfpack.node.pidregistry import proc_stat


def test_power_off_waits_for_the_killed_processes_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        st = proc_stat(child.pid)
        assert st is not None
        state = LabState(dir=str(tmp_path), prefix="wpt-none-", nodes=[], cluster="c")
        state.processes.append(LabProcess("gone", "wolfpackd", child.pid, st.starttime))
        seen: list[bool] = []
        real = LabProcess.running.fget
        assert real is not None

        def still_exiting(p: LabProcess) -> bool:
            """Still 'running' for the first three looks after the kill, as a process whose
            exit takes a moment is."""
            alive = bool(real(p)) or len(seen) < 4
            seen.append(alive)
            return alive

        monkeypatch.setattr(LabProcess, "running", property(still_exiting))
        cut_at: list[int] = []  # how many looks had been made when the links went down
        power.kill_namespace(state, "gone", meanwhile=lambda: cut_at.append(len(seen)))
        assert seen[-1] is False  # it returned only once the process was seen to have ended
        # the links go down before the wait for the ends, not after it: a power cut takes the
        # addresses with the processes, and the observer measures that order
        assert cut_at == [1] and len(seen) > 2
        assert child.wait(timeout=5) == -9
    finally:
        child.kill()
        child.wait()
