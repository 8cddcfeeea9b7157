"""A node's self-check for ``cluster validate`` (S1), on this machine: loopback addresses
and connections, /etc/hosts names, real programs and devices, and the time bound. No
network traffic leaves 127.0.0.0/8 (names that fail do so before any query)."""

from __future__ import annotations

import glob
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import ClusterConfig, ClusterSettings, Group, Interface, Network, Node
from wolfpack.model.config import Resource as R
from wolfpack.model.node_facts import NameTarget, PeerTarget, WatchdogFact
from wolfpack.node import selfcheck
from wolfpack.node.selfcheck import SelfcheckSettings
from wolfpack.policy import validate


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def a_block_device() -> str | None:
    for path in sorted(glob.glob("/dev/loop*") + glob.glob("/dev/sd?") + glob.glob("/dev/vd?")):
        try:
            if stat.S_ISBLK(os.stat(path).st_mode):
                return path
        except OSError:
            continue
    return None


def test_addresses_include_loopback_up() -> None:
    facts = selfcheck.addresses()
    lo = [a for a in facts if a.ifname == "lo"]
    assert lo and lo[0].address == "127.0.0.1/8" and lo[0].up


def test_a_listening_or_refusing_peer_is_reached(listener: int) -> None:
    """A refused connection proves the path as well as an accepted one."""
    target = PeerTarget("public", "node2", "127.0.0.1", "127.0.0.1")
    assert selfcheck.reach(target, listener, 1.0).reachable
    refused = selfcheck.reach(target, free_port(), 1.0)
    assert refused.reachable and refused.latency_ms is not None


def test_a_source_address_this_node_lacks_is_unreachable() -> None:
    """S1: from an address the node does not have, nothing is reached (no packet sent)."""
    target = PeerTarget("private", "node2", "127.0.0.1", "203.0.113.99")
    fact = selfcheck.reach(target, free_port(), 1.0)
    assert not fact.reachable and "assign" in fact.error.lower()


def test_names_resolve_through_the_system_resolver() -> None:
    assert "127.0.0.1" in selfcheck.resolve(NameTarget("node", "localhost")).addresses
    bad = selfcheck.resolve(NameTarget("cluster", "x" * 70 + ".test"))  # a label over 63
    assert bad.addresses == () and bad.error


def test_disks_block_regular_and_missing(tmp_path: Path) -> None:
    """S24: a shared disk is a block device the node sees."""
    missing = selfcheck.disk("d", str(tmp_path / "nothing"))
    assert not missing.is_block and "No such file" in missing.error
    plain = tmp_path / "plain"
    plain.write_text("x")
    regular = selfcheck.disk("d", str(plain))
    assert not regular.is_block and "not a block device" in regular.error
    device = a_block_device()
    if device is None:
        pytest.skip("no block device on this machine")
    assert selfcheck.disk("d", device).is_block
    assert not selfcheck.disk("d", "UUID=00000000-dead-beef-0000-000000000000").is_block


def test_programs_by_name_and_by_path(tmp_path: Path) -> None:
    """S40: binaries local on the node; a file that is not executable does not count."""
    assert selfcheck.find_program("sh").endswith("/sh")
    assert selfcheck.find_program("/bin/sh") == "/bin/sh"
    assert selfcheck.find_program("wolfpack-no-such-program") == ""
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    assert selfcheck.find_program(str(script)) == ""
    script.chmod(0o755)
    assert selfcheck.find_program(str(script)) == str(script)


def test_fence_agents() -> None:
    assert selfcheck.fence("none").found and selfcheck.fence("test").found
    assert not selfcheck.fence("/usr/sbin/fence_wolfpack_missing").found


def test_etcd_read_is_timed_and_its_failure_reported() -> None:
    ok = selfcheck.etcd(lambda: None, "https://127.0.0.1:2379")
    assert ok.ok and ok.latency_ms is not None

    def refuse() -> None:
        raise ConnectionError("connection refused")

    bad = selfcheck.etcd(refuse, "https://127.0.0.1:2379")
    assert not bad.ok and bad.error == "connection refused"


def test_the_lab_clock_skew_file_moves_the_reported_clock(tmp_path: Path) -> None:
    """The lab simulates a skewed clock without touching the machine's."""
    skew = tmp_path / "skew"
    assert selfcheck.clock(skew, lambda: 1000.0).wall == 1000.0  # no file: no skew
    skew.write_text("5\n")
    assert selfcheck.clock(skew, lambda: 1000.0).wall == 1005.0
    skew.write_text("garbage")
    assert selfcheck.clock(skew, lambda: 1000.0).wall == 1000.0


def one_node_config(device: str | None) -> ClusterConfig:
    resources = {
        "app": R("app", "Generic Application", "G", properties={"command": "/bin/sh -c true"})
    }
    if device is not None:
        resources["disk"] = R(
            "disk", "Physical Disk", "G", properties={"device": device, "mountpoint": "/mnt/x"}
        )
    return ClusterConfig(
        cluster=ClusterSettings("localhost"),
        nodes={"localhost": Node("localhost", 1)},
        networks={"loop": Network("loop", "127.0.0.0/8")},
        interfaces={"lo": Interface("lo", "localhost", "loop", "127.0.0.1")},
        groups={"G": Group("G")},
        resources=resources,
        types=builtin_types(),
    )


def test_gather_then_judge_on_this_machine(tmp_path: Path, listener: int) -> None:
    """S1 end to end on one machine: what this machine reports passes the judge, except
    the clock nobody compared."""
    cfg = one_node_config(a_block_device())
    endpoints = f"https://127.0.0.1:{listener}"  # stands for etcd: it accepts connections
    settings = SelfcheckSettings("localhost", free_port(), "test", endpoints)
    facts = selfcheck.gather(
        cfg, settings, etcd_read=lambda: None, watchdog=lambda: WatchdogFact(True, "pid 1")
    )
    report = validate.judge(cfg, {"localhost": facts}, time.time())
    bad = [(r.check, r.code, r.message) for r in report.rows if r.verdict != "pass"]
    assert bad == [
        ("clock", "CLOCK_UNMEASURED", "localhost's clock was not compared with another node's")
    ]
    assert facts.programs[0].path == "/bin/sh"


def test_a_hung_probe_is_cut_off_at_the_bound() -> None:
    """Every check is bounded in time: a read of etcd that hangs is reported, not waited for."""
    cfg = one_node_config(None)
    release = threading.Event()
    settings = SelfcheckSettings("localhost", free_port(), "none")
    start = time.monotonic()
    try:
        facts = selfcheck.gather(cfg, settings, etcd_read=release.wait, total_timeout_s=0.5)
    finally:
        release.set()
    assert time.monotonic() - start < 2.0
    assert facts.etcd is not None and not facts.etcd.ok and facts.etcd.error == "timed out"
    assert facts.watchdog is not None and not facts.watchdog.running


def test_etcd_endpoints_are_probed_with_new_connections(listener: int) -> None:
    """S12: a listening endpoint is reached; a closed port is not (nothing serves there)."""
    assert selfcheck.endpoint(f"https://127.0.0.1:{listener}", 1.0).reachable
    closed = selfcheck.endpoint(f"https://127.0.0.1:{free_port()}", 1.0)
    assert not closed.reachable and "refused" in closed.error.lower()
    assert not selfcheck.endpoint("https://127.0.0.1:notaport", 1.0).reachable


def test_the_heartbeat_view_is_reported_when_given() -> None:
    """What the daemon's heartbeats hear goes into the facts, per network, sorted."""
    cfg = one_node_config(None)
    settings = SelfcheckSettings("localhost", free_port(), "none")
    facts = selfcheck.gather(cfg, settings, heard=lambda: {"private": ["node3", "node2"]})
    assert [(h.network, h.peers) for h in facts.heard] == [("private", ("node2", "node3"))]
    assert selfcheck.gather(cfg, settings).heard == ()
