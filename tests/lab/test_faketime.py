"""The chaos suite's clock jump, proven small first (issue 9): a Python process started as
the lab starts wolfpackd under ``--faketime`` (:mod:`wolfpack.lab.faketime`) sees
``time.time()`` jump when its node's offset file changes, while its monotonic and
boot-time clocks (leases, the watchdog, timeouts) go on unmoved, and ``time.sleep`` works.
No lab, no root: a second or two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wolfpack.lab import faketime

pytestmark = pytest.mark.skipif(
    not faketime.LIBRARY.exists(), reason=f"{faketime.LIBRARY} missing (run scripts/setup)"
)

PROBE = """
import json, os, subprocess, time
from pathlib import Path
from wolfpack.lab.faketime import set_offset

offset = Path(os.environ["FAKETIME_TIMESTAMP_FILE"])
def sample():
    return [time.time(), time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME)]
out = {"before": sample()}
set_offset(offset, 30)
out["jumped"] = sample()
t0 = time.monotonic()
time.sleep(0.2)
out["slept"] = time.monotonic() - t0
out["child"] = float(subprocess.run(["date", "+%s.%N"], capture_output=True, text=True).stdout)
set_offset(offset, -30)
out["back"] = sample()
out["preload"] = os.environ.get("LD_PRELOAD")
print(json.dumps(out))
"""


def under_faketime(tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    offset = tmp_path / "faketime"
    faketime.set_offset(offset, 0)
    env = {**os.environ, **faketime.environment(offset), "LD_PRELOAD": str(faketime.LIBRARY)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=60, env=env
    )


def test_the_wall_clock_jumps_and_the_monotonic_clocks_do_not(tmp_path: Path) -> None:
    (tmp_path / "jump_probe.py").write_text(PROBE)
    result = under_faketime(tmp_path, ["-m", "wolfpack.lab.faketime", "jump_probe"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    (wall0, mono0, boot0), (wall1, mono1, boot1) = out["before"], out["jumped"]
    assert 29.5 < wall1 - wall0 < 31.0  # +30 s at once
    assert 0 <= mono1 - mono0 < 1.0 and 0 <= boot1 - boot0 < 1.0  # unmoved
    assert 0.19 < out["slept"] < 1.0  # time.sleep works (see the workaround below)
    assert abs(out["child"] - (wall1 - 30)) < 2.0  # what it starts keeps the host's clock
    assert out["preload"] is None
    wall2, mono2, _ = out["back"]
    assert -61.0 < wall2 - wall1 < -59.0 and mono2 >= mono1  # -30 s: back 60 s at once


def test_without_the_workaround_time_sleep_fails(tmp_path: Path) -> None:
    """Why :func:`wolfpack.lab.faketime.main` replaces time.sleep: libfaketime 0.9.10 with
    FAKETIME_DONT_FAKE_MONOTONIC fails Python 3.11's clock_nanosleep(TIMER_ABSTIME) with
    EINVAL (libfaketime issue 426). When this fails, libfaketime is fixed: drop it."""
    result = under_faketime(tmp_path, ["-c", "import time; time.sleep(0.01)"])
    assert result.returncode != 0 and "Invalid argument" in result.stderr
