"""wolfpackd under systemd (issue 13 item 2, docs/daemon.md "Under systemd"): sd_notify's
READY/WATCHDOG/STOPPING datagrams to a socket the test binds, the watchdog interval from
systemd's environment, and the exit status that keeps a bad configuration from restart
looping."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from wolfpack import __version__
from wolfpack.model.config import ClusterSettings, Node
from wolfpack.node import systemd
from wolfpack.node.daemon import Daemon
from wolfpack.node.secret import new_secret, register
from wolfpack.node.settings import load_settings
from wolfpack.store import KeySpace, MemoryStore
from wolfpack.store.pki import ClusterCA
from wolfpack.store.repository import ClusterDB


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_notify_sends_one_datagram_to_the_socket_systemd_names(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    assert systemd.notify("READY=1\nSTATUS=x", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1\nSTATUS=x"


def test_notify_reaches_an_abstract_socket() -> None:
    """``@name`` in NOTIFY_SOCKET is Linux's abstract namespace (what nspawn and some
    systemd versions hand over)."""
    name = f"wolfpack-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert systemd.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_without_systemd_does_nothing(tmp_path: Path) -> None:
    assert not systemd.notify("READY=1", {})
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody")})


def test_watchdog_interval_is_half_of_watchdogsec_for_this_process_only() -> None:
    me = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": me}) == 5.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert systemd.watchdog_interval({}) is None


def test_the_daemon_says_ready_after_start_then_pings_then_stopping(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """READY=1 only once ``start`` returned (the lease is held: the node's key exists),
    WATCHDOG=1 from the main loop while the daemon's threads live, STOPPING=1 on SIGTERM
    before the shutdown (which logs ``stopped``)."""
    sock, path = notify_socket
    store = MemoryStore()
    keys = KeySpace("/t/")
    db = ClusterDB(store, keys)
    db.initialize(ClusterSettings(name="c"))
    db.update_config(lambda cfg: dataclasses.replace(cfg, nodes={"node1": Node("node1", 1)}))
    secret = new_secret()
    register(store, keys, secret)
    (tmp_path / "secret").write_bytes(secret)
    settings = load_settings(
        None,
        {
            "node": "node1",
            "prefix": "/t/",
            "fence.agent": "none",
            "run_dir": str(tmp_path / "run"),
            "secret_file": str(tmp_path / "secret"),
            "drain_on_shutdown": False,
            "api.enabled": False,
        },
    )
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # a ping every 50 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    daemon = Daemon(settings, store=store)
    got: list[tuple[bytes, bool]] = []  # (message, did the node hold its lease then)

    def listen() -> None:
        try:
            for _ in range(200):  # bounded: READY + a few pings, then SIGTERM
                msg = sock.recv(4096)
                lease = daemon.lease
                got.append((msg, lease is not None and lease.valid()))
                if sum(m == b"WATCHDOG=1" for m, _ in got) >= 3:
                    break
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # what systemctl stop sends

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        daemon.run_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    listener.join(10)
    sock.settimeout(2)
    rest: list[bytes] = []
    while b"STOPPING=1" not in rest and len(rest) < 100:  # pings sent before the SIGTERM
        rest.append(sock.recv(4096))
    messages = [m for m, _ in got]
    assert messages[0].startswith(b"READY=1\n") and got[0][1], got  # ready: lease held
    assert messages[1:4] == [b"WATCHDOG=1"] * 3, messages
    assert set(rest) <= {b"WATCHDOG=1", b"STOPPING=1"} and rest[-1] == b"STOPPING=1", rest


def _wolfpackd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wolfpack.node.daemon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_bad_configuration_exits_78_and_other_failures_2(tmp_path: Path) -> None:
    """The unit's RestartPreventExitStatus=78: a file systemd cannot fix by restarting
    exits EX_CONFIG (78); etcd unreachable (restarting may help) exits 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"node": "node1", "fence": {"agent": "none"}, "lease": 7}))
    proc = _wolfpackd("--config", str(bad))
    assert proc.returncode == systemd.EX_CONFIG == 78, proc.stderr
    assert proc.stderr.startswith("wolfpackd: lease: "), proc.stderr
    missing = _wolfpackd("--config", str(tmp_path / "nosuch.yaml"))
    assert missing.returncode == 78 and "cannot read" in missing.stderr, missing.stderr
    (tmp_path / "secret").write_bytes(new_secret())
    ClusterCA.create(tmp_path / "ca", "c").issue_principal("node", "node1", tmp_path / "etcd")
    files = {n: str(tmp_path / "etcd" / f) for n, f in
             (("ca", "ca.crt"), ("cert", "node.crt"), ("key", "node.key"))}  # fmt: skip
    good = tmp_path / "good.yaml"
    settings = {
        "node": "node1",
        "fence": {"agent": "none"},
        "endpoints": "https://127.0.0.1:9",  # discard port: nothing answers
        "etcd": files,
        "secret_file": str(tmp_path / "secret"),
        "run_dir": str(tmp_path / "run"),
        "api": {"enabled": False},
    }
    good.write_text(yaml.safe_dump(settings))
    unreachable = _wolfpackd("--config", str(good))
    assert unreachable.returncode == systemd.EX_FAILURE == 2, unreachable.stderr


def test_wolfpackd_version() -> None:
    proc = _wolfpackd("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"wolfpackd {__version__}"


def test_the_supervisor_notices_a_component_thread_that_died() -> None:
    """Issue 14: threads with an owner. A vital thread that ended (a bug killed it) is found,
    so the daemon exits with a failure instead of running on without it."""
    import threading

    from wolfpack.node.daemon import dead_threads

    ended = threading.Thread(target=lambda: None, name="lease")
    ended.start()
    ended.join()
    stop = threading.Event()
    alive = threading.Thread(target=stop.wait, name="manager")
    alive.start()
    try:
        assert dead_threads({"lease", "manager"}, [ended, alive]) == {"lease"}
        assert dead_threads({"manager"}, [ended, alive]) == set()
    finally:
        stop.set()
        alive.join()
