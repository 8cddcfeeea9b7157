"""The install path from nothing (issue 10, S9, S20, S21): ``cluster create`` forms etcd
with the first node's managed member, ``cluster join`` admits nodes through the REST API
with the cluster secret, wolfpackd runs each node's member, and the voters grow 1 -> 3;
bad joins change nothing. Real daemons and etcd on 127.0.3.N / 127.0.4.N."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from wolfpack.cli.main import app
from wolfpack.errors import StoreUnavailable
from wolfpack.lab.layout import child_named
from wolfpack.lab.localcluster import wait_for
from wolfpack.node.install import Layout
from wolfpack.store import EtcdStore, KeySpace
from wolfpack.store import etcd_members as em
from wolfpack.store.etcd_process import free_port
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.repository import ClusterDB

pytestmark = pytest.mark.etcd
UP_S = 40.0
LEASE_TTL_S = 8


class Hosts:
    """Nodes node1..3 of cluster ``alpha``, each with its own directories and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.heartbeat = free_port()
        self.ports: dict[str, tuple[int, int, int]] = {}
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}

    def layout(self, node: str) -> Layout:
        d = self.root / node
        return Layout(d / "etc", d / "lib", d / "run")

    def addresses(self, node: str) -> list[str]:
        n = node.removeprefix("node")
        return [f"127.0.3.{n}/24", f"127.0.4.{n}/24"]

    def flags(self, node: str, addresses: list[str] | None = None) -> list[str]:
        etcd, peer, api = self.ports.setdefault(node, (free_port(), free_port(), free_port()))
        lay = self.layout(node)
        out = ["--node", node, "--etcd-port", str(etcd), "--peer-port", str(peer),
               "--api-port", str(api), "--api-listen", f"127.0.3.{node[-1]}",
               "--heartbeat-port", str(self.heartbeat), "--fence-agent", "none",
               "--config-dir", str(lay.config_dir), "--data-dir", str(lay.data_dir),
               "--run-dir", str(lay.run_dir)]  # fmt: skip
        for a in addresses or self.addresses(node):
            out += ["--address", a]
        return out

    def api(self, node: str) -> str:
        return f"127.0.3.{node[-1]}:{self.ports[node][2]}"

    def start(self, node: str) -> None:
        # a longer lease than the default 3 s: on a loaded shared test host etcd's fsync
        # has stalled every member for over 2.5 s, which self-fences nodes mid-test
        path = self.layout(node).daemon_settings
        settings = yaml.safe_load(path.read_text())
        settings["lease"] = {"ttl_s": LEASE_TTL_S}
        path.write_text(yaml.safe_dump(settings))
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 (owned by the child)
        argv = [sys.executable, "-m", "wolfpack.node.daemon", "--config",
                str(self.layout(node).daemon_settings)]  # fmt: skip
        self.daemons[node] = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()

    def stop(self, node: str) -> None:
        proc = self.daemons[node]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.daemons.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.daemons.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the daemon and etcd
                proc.wait()

    def store(self) -> EtcdStore:
        lay = self.layout("node1")
        admin = EtcdCredentials.from_dir(lay.admin_dir, "admin")
        endpoints = [f"https://127.0.3.{n}:{self.ports[f'node{n}'][0]}"
                     for n in range(1, 4) if f"node{n}" in self.ports]  # fmt: skip
        return EtcdStore(endpoints, timeout=3.0, credentials=admin)


def cli(*args: str, config: Path | None = None) -> Result:
    """The CLI on a host with no database configured, or as ``config``'s administrator."""
    env = {"WOLFPACK_ENDPOINT": None, "WOLFPACK_CONFIG": str(config) if config else None}
    return CliRunner().invoke(app, [*args, "--json"], env=env)


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    h = Hosts(tmp_path)
    try:
        yield h
    finally:
        h.stop_all()


def node_up(hosts: Hosts, node: str) -> bool:
    store = hosts.store()
    try:
        snap = ClusterDB(store, KeySpace("/wolfpack/")).read_snapshot()
        return node in snap.config.nodes and snap.node(node).state.value == "Up"
    except Exception:
        return False
    finally:
        store.close()


def serving(hosts: Hosts, node: str) -> bool:
    """Up, and its REST API (which starts after the node is Up) takes connections: only
    then can a joining node reach it."""
    host, port = hosts.api(node).rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return False
    return node_up(hosts, node)


def events(hosts: Hosts, node: str) -> list[dict[str, Any]]:
    """The daemon's log lines so far."""
    text = (hosts.root / f"{node}.log").read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]


def etcd_member_pid(daemon: int) -> int:
    """The etcd member the daemon started (its child; setpriv exec's etcd)."""
    member = child_named(daemon, "etcd")
    if member is None:
        raise AssertionError(f"wolfpackd {daemon} runs no etcd")
    return member


def voters(hosts: Hosts) -> list[tuple[str, bool]]:
    store = hosts.store()
    try:
        return sorted((m.label, m.learner) for m in em.members(store))
    finally:
        store.close()


def test_create_and_join_three_nodes_from_nothing(hosts: Hosts) -> None:
    out = ok(cli("cluster", "create", "alpha", *hosts.flags("node1")))
    assert out["name"] == "alpha"
    again = cli("cluster", "create", "alpha", *hosts.flags("node1"))  # re-runnable
    assert again.exit_code == 0, again.output
    hosts.start("node1")
    wait_for(lambda: serving(hosts, "node1"), timeout=UP_S)
    secret = str(hosts.layout("node1").secret)

    # bad joins first: each is refused with what to fix, and nothing changes
    before = voters(hosts)
    wrong = hosts.root / "wrong-secret"
    wrong.write_text("not-the-cluster-secret-at-all\n")
    bad = cli("cluster", "join", "alpha", "--server", hosts.api("node1"),
              "--secret-file", str(wrong), *hosts.flags("node2"))  # fmt: skip
    assert bad.exit_code != 0
    assert "secret" in json.loads(bad.stdout)["error"]["message"]
    lost = cli("cluster", "join", "alpha", "--server", hosts.api("node1"), "--secret-file",
               secret, *hosts.flags("node2", ["10.99.0.2/24"]))  # fmt: skip
    error = json.loads(lost.stdout)["error"]
    assert lost.exit_code == 2 and "10.99.0.2/24" in error["message"], lost.output
    assert error["fields"][0]["field"] == "interfaces"
    nowhere = cli("cluster", "join", "alpha.invalid", "--secret-file", secret,
                  *hosts.flags("node2"))  # fmt: skip
    assert nowhere.exit_code == 2 and "cannot resolve" in nowhere.output
    assert voters(hosts) == before
    assert not hosts.layout("node2").daemon_settings.exists()

    for node in ("node2", "node3"):
        out = ok(cli("cluster", "join", "alpha", "--server", hosts.api("node1"),
                     "--secret-file", secret, *hosts.flags(node)))  # fmt: skip
        assert out["cluster"] == "alpha" and out["id"] == int(node[-1])
        assert out["interfaces"] == {"network1": f"127.0.3.{node[-1]}",
                                     "network2": f"127.0.4.{node[-1]}"}  # fmt: skip
        hosts.start(node)
        wait_for(lambda n=node: serving(hosts, n), timeout=UP_S)  # type: ignore[misc]
    # node1 admitted both in a child process: the daemon itself never loaded cryptography
    # (its Rust core would stay resident, ~9 MB: issue 12)
    maps = Path(f"/proc/{hosts.daemons['node1'].pid}/maps").read_text()
    assert "cryptography" not in maps
    # the voters grew to three: node2 waited as a learner until node3 came
    wait_for(lambda: voters(hosts) == [("node1", False), ("node2", False), ("node3", False)],
             timeout=UP_S)  # fmt: skip
    store = hosts.store()
    try:
        cfg, _ = ClusterDB(store, KeySpace("/wolfpack/")).load_config()
    finally:
        store.close()
    assert sorted(cfg.networks) == ["network1", "network2"]
    assert len(cfg.interfaces) == 6

    # node1 was formed with its own member as its only endpoint; it now asks every voter, so
    # its own member frozen for longer than the lease costs it nothing
    def asks_every_voter() -> bool:
        said = [e for e in events(hosts, "node1") if e.get("event") == "etcd_endpoints"]
        ports = {url.rsplit(":", 1)[1] for url in said[-1]["endpoints"]} if said else set()
        return ports == {str(hosts.ports[n][0]) for n in ("node1", "node2", "node3")}

    wait_for(asks_every_voter, timeout=UP_S)
    member = etcd_member_pid(hosts.daemons["node1"].pid)
    os.kill(member, signal.SIGSTOP)
    try:
        time.sleep(LEASE_TTL_S + 2)
        assert hosts.daemons["node1"].poll() is None
        assert node_up(hosts, "node1")
        lost = [e for e in events(hosts, "node1") if e.get("event", "").startswith("lease_lost")]
        assert lost == []
    finally:
        os.kill(member, signal.SIGCONT)

    # evict and rejoin node3: stopped, evicted from node1, its files destroyed, joined again
    admin = hosts.layout("node1").cli_config
    host3 = hosts.flags("node3")[-10:-4]  # --config-dir, --data-dir, --run-dir
    running = cli("cluster", "destroy", "--yes", *host3)
    assert running.exit_code != 0 and "MEMBER_RUNNING" in running.output
    hosts.stop("node3")
    refused = cli("cluster", "destroy", "--yes", *host3)
    assert "STILL_A_MEMBER" in refused.output  # evict first: nothing removed
    assert hosts.layout("node3").daemon_settings.exists()
    out = ok(cli("node", "evict", "node3", config=admin))
    assert out["etcd_member_removed"] and out["users_removed"] == ["node:node3", "api:node3"]
    assert voters(hosts) == [("node1", False), ("node2", False)]
    ok(cli("cluster", "destroy", "--yes", *host3))
    assert list((hosts.root / "node3").iterdir()) == []
    ok(cli("cluster", "join", "alpha", "--server", hosts.api("node1"), "--secret-file",
           secret, *hosts.flags("node3")))  # fmt: skip
    hosts.start("node3")
    wait_for(lambda: serving(hosts, "node3"), timeout=UP_S)
    wait_for(lambda: voters(hosts) == [("node1", False), ("node2", False), ("node3", False)],
             timeout=UP_S)  # fmt: skip

    # down to one node; the last voter cannot be evicted; destroy leaves nothing behind
    hosts.stop("node3")
    ok(cli("node", "evict", "node3", config=admin))
    ok(cli("cluster", "destroy", "--yes", *hosts.flags("node3")[-10:-4]))
    # two voters: node2 is evicted while it runs (with it down, 1 of 2 cannot commit)
    ok(cli("node", "evict", "node2", config=admin))
    hosts.stop("node2")
    ok(cli("cluster", "destroy", "--yes", *hosts.flags("node2")[-10:-4]))
    last = cli("node", "evict", "node1", config=admin)
    assert last.exit_code != 0 and json.loads(last.stdout)["error"]["code"] == "LAST_VOTER"
    assert voters(hosts) == [("node1", False)]
    hosts.stop("node1")
    ok(cli("cluster", "destroy", "--yes", *hosts.flags("node1")[-10:-4]))
    for node in ("node1", "node2", "node3"):
        assert list((hosts.root / node).iterdir()) == [], node


def test_two_nodes_and_a_witness(hosts: Hosts) -> None:
    """S7/S13: the witness is the third vote; either node or the witness may be lost; a node
    that loses both its peer and the witness has no quorum, stops and says so."""
    ok(cli("cluster", "create", "alpha", *hosts.flags("node1")))
    hosts.start("node1")
    wait_for(lambda: serving(hosts, "node1"), timeout=UP_S)
    secret = str(hosts.layout("node1").secret)
    ok(cli("cluster", "join", "alpha", "--server", hosts.api("node1"), "--secret-file", secret,
           *hosts.flags("node2")))  # fmt: skip
    hosts.start("node2")
    wait_for(lambda: serving(hosts, "node2"), timeout=UP_S)
    assert voters(hosts) == [("node1", False), ("node2", True)]  # two voters would be worse

    w = hosts.layout("witness")
    out = ok(cli("witness", "join", "alpha", "--server", hosts.api("node1"), "--secret-file",
                 secret, "--node", "witness", "--address", "127.0.3.9/24",
                 "--etcd-port", str(free_port()), "--peer-port", str(free_port()),
                 "--config-dir", str(w.config_dir), "--data-dir", str(w.data_dir)))  # fmt: skip
    assert out["witness"] is True and out["id"] == 0
    assert not (w.ca_dir / "ca.key").exists() and not (w.admin_dir / "admin.key").exists()
    argv = [str(Path(sys.executable).parent / "wolfpack"), "witness", "run",
            "--config-dir", str(w.config_dir)]  # fmt: skip

    def start_witness() -> None:
        log = open(hosts.root / "witness.log", "ab")  # noqa: SIM115 (owned by the child)
        hosts.daemons["witness"] = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()

    start_witness()
    three = [("node1", False), ("node2", False), ("witness", False)]
    wait_for(lambda: voters(hosts) == three, timeout=UP_S)
    store = hosts.store()
    try:
        cfg, _ = ClusterDB(store, KeySpace("/wolfpack/")).load_config()
        assert sorted(cfg.nodes) == ["node1", "node2"]  # the witness is no node
        hosts.stop("witness")  # the witness lost: the two nodes keep quorum
        store.put("/alpha-test/1", b"x")
        assert node_up(hosts, "node1") and node_up(hosts, "node2")
        start_witness()
        wait_for(lambda: len(voters(hosts)) == 3, timeout=UP_S)
        hosts.stop("node2")  # a node lost: node1 and the witness keep quorum
        wait_for(lambda: store.put("/alpha-test/2", b"x"), timeout=UP_S)
        assert node_up(hosts, "node1")
        hosts.stop("witness")  # both lost: node1 alone has no quorum, stops and says so
        log = hosts.layout("node1").run_dir / "wolfpackd.log"
        wait_for(lambda: "lease_lost" in log.read_text(), timeout=UP_S)
        with pytest.raises(StoreUnavailable):
            store.put("/alpha-test/3", b"x")
    finally:
        store.close()
