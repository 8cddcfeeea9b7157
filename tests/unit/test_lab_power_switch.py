"""The lab's power switch and its fence agent (issue 12: the fence without a Python start
and the lab's imports per failover). The agent is run the way a daemon runs it, as a
program with options on stdin, against a switch started as its own process; powering a node
off for real is the lab tests' part (tests/lab)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.lab import fence_client, power_switch
from wolfpack.lab.state import LabState

AGENT = [sys.executable, "-I", "-S", fence_client.__file__]


@pytest.fixture()
def lab_dir(tmp_path: Path) -> Iterator[Path]:
    LabState(str(tmp_path), "wpl-test-", ["node1", "node2"], "jean", powered_off=["node2"]).save()
    switch = subprocess.Popen(
        [sys.executable, "-m", "wolfpack.lab.power_switch", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not power_switch.socket_path(tmp_path).exists():
            assert switch.poll() is None, "the switch exited"
            assert time.monotonic() < deadline, "the switch did not listen"
            time.sleep(0.01)
        yield tmp_path
    finally:
        switch.kill()
        switch.wait(5)


def agent(lab_dir: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    sock = str(power_switch.socket_path(lab_dir))
    return subprocess.run([*AGENT, sock], input=stdin, capture_output=True, text=True, timeout=30)


def test_status_says_on_and_off_by_exit_status(lab_dir: Path) -> None:
    assert agent(lab_dir, "action=status\nplug=node1\n").returncode == 0
    off = agent(lab_dir, "action=status\nplug=node2\n")
    assert (off.returncode, off.stdout.strip()) == (2, "node2: off")


def test_monitor_confirms_the_device_answers(lab_dir: Path) -> None:
    assert agent(lab_dir, "action=monitor\n").returncode == 0


def test_a_plug_that_is_no_lab_node_is_refused_and_named(lab_dir: Path) -> None:
    done = agent(lab_dir, "action=off\nplug=node9\nnodename=node9\n")
    assert done.returncode == 1
    assert "'node9' is not a lab node" in done.stderr


def test_every_request_is_logged_with_its_duration(lab_dir: Path) -> None:
    agent(lab_dir, "action=status\nplug=node2\n")
    log = (lab_dir / "power_switch.log").read_text().splitlines()
    assert '"action": "status", "plug": "node2", "status": 2' in log[-1]
    assert '"ms": ' in log[-1]


def test_no_switch_is_a_failed_fence_that_says_what_to_check(tmp_path: Path) -> None:
    done = agent(tmp_path, "action=off\nplug=node1\n")
    assert done.returncode == 1
    assert "power switch" in done.stderr and "did not answer" in done.stderr


def test_the_agent_runs_on_the_standard_library_alone() -> None:
    """Its start is the fence's cost: with ``-I -S`` nothing of wolfpack (nor of
    site-packages) can load, so an import of it would fail here."""
    code = (
        "import runpy, sys; sys.argv = ['x']; "
        f"runpy.run_path({fence_client.__file__!r}, run_name='not_main'); "
        "print(sorted(m for m in sys.modules if m.startswith('wolfpack')))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def _logged(lab_dir: Path) -> list[dict[str, object]]:
    lines = (lab_dir / "power_switch.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("how", ["stdin", "argument"])
def test_power_wait_delays_the_status_read_back_after_an_off(lab_dir: Path, how: str) -> None:
    """fence-agents' ``power_wait`` (the lab safety test's fenced freeze confirms 0.1 s after
    the off): the status is asked for that long after the off, and only then confirmed."""
    sock = str(power_switch.socket_path(lab_dir))
    stdin, flags = "action=off\nplug=node2\n", []
    if how == "stdin":
        stdin += "power_wait=0.3\n"
    else:
        flags = ["--power-wait=0.3"]
    done = subprocess.run([*AGENT, sock, *flags], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    off, status = _logged(lab_dir)[-2:]
    assert (off["action"], status["action"]) == ("off", "status")
    assert float(str(status["ts"])) - float(str(off["ts"])) >= 0.3 - 0.002  # ts: to the ms


def test_a_bad_power_wait_or_flag_is_refused_before_any_off(lab_dir: Path) -> None:
    sock = str(power_switch.socket_path(lab_dir))
    bad = agent(lab_dir, "action=off\nplug=node1\npower_wait=soon\n")
    assert bad.returncode == 1 and "power_wait must be a number" in bad.stderr
    flag = subprocess.run([*AGENT, sock, "--delay=1"], input="action=off\nplug=node1\n",
                          capture_output=True, text=True)  # fmt: skip
    assert flag.returncode == 1 and "usage" in flag.stderr
    assert (lab_dir / "power_switch.log").read_text() == ""  # nothing was asked of the switch
