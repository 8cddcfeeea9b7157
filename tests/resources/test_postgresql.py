"""PostgreSQL Server agent against a real PostgreSQL on 127.0.0.1 (free ports, temporary
directories; the data directory stands for the group's shared disk, each node has its own
run directory)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from wolfpack.model.builtin_types import POSTGRESQL, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.resources import Agent, AgentError, AgentResult, agent_class
from wolfpack.resources.postgresql import PostgresAgent, init_sync_args

from . import MAX_WAIT, Recorder, alive, free_port, running_in_group, running_with, wait_until

RTYPE = builtin_types()[POSTGRESQL]

pytestmark = pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/postgres") or os.geteuid() != 0,
    reason="needs PostgreSQL binaries and root (to run postgres as its account)",
)

#: initdb and a first start may take a while on a slow disk
START_WAIT = 60.0


class OnDiskPostgresAgent(PostgresAgent):
    """The agent with one fact of the node replaced: the test's ``disk`` directory, on the
    root filesystem here, stands for the group's mounted disk (the real check is tested
    below, against this machine's own mounts)."""

    def off_disk(self, path: str) -> str | None:
        return None


class Harness:
    """``disk`` is the shared volume (data directory ``disk/pgdata``); ``nodeN`` are the
    nodes' run directories. Everything is removed afterwards."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.disk = base / "disk"
        self.disk.mkdir()
        self.data = self.disk / "pgdata"
        self.port = free_port()
        self.agents: list[Agent] = []

    def agent(
        self, node: str = "node1", cls: type[PostgresAgent] = OnDiskPostgresAgent, **props: Any
    ) -> tuple[Agent, Recorder]:
        rec = Recorder(self.base / node, node=node)
        values: dict[str, PropertyValue] = {
            "data_directory": str(self.data),
            "listen_address": "127.0.0.1",
            "port": self.port,
            "initialize": True,
        }
        values.update(props)
        agent = cls(Resource("db", POSTGRESQL, "g", properties=values), RTYPE, rec.ctx)
        self.agents.append(agent)
        return agent, rec

    def socket_dir(self, node: str = "node1") -> Path:
        return self.base / node / "resources" / "db" / "socket"

    def postmasters(self) -> list[int]:
        return running_with(f" -D {self.data} ")

    def connect(self, node: str = "node1") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir(node)), port=self.port, user="postgres", dbname="postgres"
        )


@pytest.fixture
def h() -> Iterator[Harness]:
    base = Path(tempfile.mkdtemp(prefix="wp-pg-"))
    base.chmod(0o755)  # postgres must reach the data and socket directories
    harness = Harness(base)
    try:
        yield harness
    finally:
        for agent in harness.agents:  # leave nothing running, whatever the test did
            with contextlib.suppress(AgentError):
                agent.stop(timeout_s=10)
        for pid in harness.postmasters():  # should never happen; tests assert it
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def test_data_survives_a_move_and_a_second_postmaster_is_refused(h: Harness) -> None:
    first, rec1 = h.agent("node1")
    first.validate()
    first.start(timeout_s=START_WAIT)
    assert (h.data / "PG_VERSION").is_file()
    assert h.data.stat().st_uid == pwd.getpwnam("postgres").pw_uid
    assert first.looks_alive() and first.is_alive()
    master = first.pids()[0]
    assert "agent_initdb" in rec1.names()
    assert master in rec1.registered and rec1.registered <= set(first.pids())
    assert os.stat(f"/proc/{master}").st_uid == pwd.getpwnam("postgres").pw_uid
    with h.connect("node1") as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        conn.execute("INSERT INTO orders VALUES (1, 'wolfpack')")
    # TCP on the listen address answers too (and asks for a password: scram-sha-256)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host="127.0.0.1", port=h.port, user="postgres", connect_timeout=5)

    # node2 sees the same disk while node1 runs the database: refused, naming the directory
    second, rec2 = h.agent("node2")
    with pytest.raises(AgentError) as err:
        second.start(timeout_s=START_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "'db' on node2" in msg and "property data_directory" in msg and str(h.data) in msg
    assert "in use" in msg and str(master) in msg
    assert h.postmasters() == [master] and first.is_alive() and rec2.registered == set()

    pids = first.pids()
    first.stop(timeout_s=MAX_WAIT)
    assert not any(alive(p) for p in pids) and running_in_group(master) == []
    assert h.postmasters() == [] and rec1.failures == [] and rec1.registered == set()
    assert not (h.data / "postmaster.pid").exists()  # a clean (fast) shutdown
    assert not first.looks_alive() and not first.is_alive()
    assert "SIGINT" in [f.get("signal") for e, f in rec1.events if e == "agent_signal"]

    # the group moves: node2 starts the same data directory, no initdb, same rows
    second.start(timeout_s=START_WAIT)
    assert "agent_initdb" not in rec2.names() and second.is_alive()
    with h.connect("node2") as conn:
        assert conn.execute("SELECT item FROM orders WHERE id = 1").fetchall() == [("wolfpack",)]
    second.stop(timeout_s=MAX_WAIT)
    assert h.postmasters() == [] and rec2.failures == []


def test_a_killed_postmaster_is_reported_at_once_and_cleaned_up(h: Harness) -> None:
    agent, rec = h.agent()
    agent.start(timeout_s=START_WAIT)
    assert wait_until(lambda: len(agent.pids()) > 1, 5)  # checkpointer, walwriter, ...
    pids = agent.pids()
    assert set(pids) <= rec.registered  # children too: each leads its own session
    killed = time.monotonic()
    os.kill(pids[0], signal.SIGKILL)
    assert rec.failed.wait(1.0)
    name, why, when = rec.failures[0]
    assert name == "db" and "SIGKILL" in why and when - killed < 1.0
    assert not agent.looks_alive() and not agent.is_alive()
    agent.stop(timeout_s=MAX_WAIT)
    assert wait_until(lambda: not any(alive(p) for p in pids), 2)
    assert rec.registered == set()
    # its stale postmaster.pid does not block the next start (crash recovery)
    agent.start(timeout_s=START_WAIT)
    assert agent.is_alive()
    agent.stop(timeout_s=MAX_WAIT)
    assert h.postmasters() == [] and len(rec.failures) == 1

    # a start that does not answer in time leaves nothing running
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=0.01)
    assert err.value.code is AgentResult.ERR_GENERIC and "start timeout" in str(err.value)
    assert h.postmasters() == [] and agent.pids() == [] and rec.registered == set()
    assert len(rec.failures) == 1


def test_a_stale_postmaster_pid_naming_a_zombie_does_not_block_a_start(h: Harness) -> None:
    """In the lab every node shares one PID space: a postmaster killed with its node stays
    a zombie until reaped, and postgres would take its PID for a live postmaster."""
    agent, _ = h.agent()
    agent.start(timeout_s=START_WAIT)
    agent.stop(timeout_s=MAX_WAIT)
    zombie = subprocess.Popen(["true"])  # not waited for: a zombie until the end
    try:
        assert wait_until(lambda: _state(zombie.pid) == "Z", 5)
        (h.data / "postmaster.pid").write_text(f"{zombie.pid}\n{h.data}\n")
        other, rec = h.agent("node2")
        other.start(timeout_s=START_WAIT)
        assert other.is_alive() and "agent_stale_postmaster_pid" in rec.names()
        other.stop(timeout_s=MAX_WAIT)
    finally:
        zombie.wait()
    assert h.postmasters() == []


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_second_instance_adopts_the_running_postmaster(h: Harness) -> None:
    first, _ = h.agent()
    first.start(timeout_s=START_WAIT)
    master = first.pids()[0]
    second, rec2 = h.agent()  # same node after a daemon restart
    second.start(timeout_s=START_WAIT)  # adopts, starts nothing
    assert second.pids()[0] == master and second.is_alive() and h.postmasters() == [master]
    second.stop(timeout_s=MAX_WAIT)
    assert not alive(master) and h.postmasters() == [] and rec2.failures == []


def test_without_initialize_an_absent_data_directory_is_err_configured(h: Harness) -> None:
    agent, rec = h.agent(initialize=False)
    agent.validate()  # the disk may be online elsewhere: validate does not look at the data
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=START_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "'db' on node1" in msg and "property data_directory" in msg and str(h.data) in msg
    assert not h.data.exists() and h.postmasters() == [] and rec.registered == set()

    h.data.mkdir()
    (h.data / "precious.txt").write_text("not a database")
    agent, _ = h.agent(initialize=True)  # never initializes over files
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=START_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "PG_VERSION" in str(err.value)
    assert sorted(os.listdir(h.data)) == ["precious.txt"]


def test_initialize_refuses_a_data_directory_on_the_root_filesystem(h: Harness) -> None:
    """M8: the group's disk is not mounted here, so the data directory's parent (the mount
    point directory) is on the root filesystem: initdb would create an empty database
    beside the real one. Refused, naming the property; nothing is created."""
    assert os.stat(h.disk).st_dev == os.stat("/").st_dev  # the premise: on the root fs
    agent, rec = h.agent(cls=PostgresAgent)
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=START_WAIT)
    msg = str(err.value)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "property initialize" in msg
    assert "root filesystem" in msg and str(h.disk) in msg
    assert not h.data.exists() and "agent_initdb" not in rec.names()
    h.data.mkdir()  # an empty data directory on the root filesystem: the same
    with pytest.raises(AgentError, match="root filesystem"):
        agent.start(timeout_s=START_WAIT)
    assert os.listdir(h.data) == [] and h.postmasters() == []


def test_missing_binaries_are_err_installed_naming_the_node(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, _ = h.agent("node3", bin_directory=str(h.base / "no-such-bin"))
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_INSTALLED
    msg = str(err.value)
    assert "'db' on node3" in msg and "property bin_directory" in msg and "not installed" in msg

    monkeypatch.setattr("wolfpack.resources.postgresql.BIN_GLOB", str(h.base / "pg/*/bin"))
    agent, rec = h.agent("node3")
    for call in (agent.validate, lambda: agent.start(timeout_s=START_WAIT)):
        with pytest.raises(AgentError) as err:
            call()
        assert err.value.code is AgentResult.ERR_INSTALLED
        assert "'db' on node3" in str(err.value) and "PostgreSQL is not installed" in str(err.value)
    assert not h.data.exists() and rec.registered == set()


def test_a_run_directory_postgres_cannot_reach_is_err_configured(h: Harness) -> None:
    (h.base / "node1").mkdir(mode=0o700)
    agent, rec = h.agent()
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=START_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "'db' on node1" in msg and "'postgres' cannot reach" in msg
    assert str(h.base / "node1") in msg
    assert not h.data.exists() and h.postmasters() == [] and rec.registered == set()


def test_registered_as_the_postgresql_agent() -> None:
    assert RTYPE.agent == "postgresql" and agent_class("postgresql") is PostgresAgent


def test_root_is_refused_as_the_account(h: Harness) -> None:
    agent, _ = h.agent(user="root")
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED and "property user" in str(err.value)


def test_crash_recovery_syncs_the_disk_with_one_syncfs(h: Harness) -> None:
    """Issue 12: a start after a crash (a failover) does not fsync the data directory file
    by file; the server says which method it was started with."""
    agent, _ = h.agent()
    agent.start(timeout_s=START_WAIT)
    os.kill(agent.pids()[0], signal.SIGKILL)  # the old owner's crash
    agent.stop(timeout_s=MAX_WAIT)
    agent.start(timeout_s=START_WAIT)  # crash recovery
    with h.connect() as conn:
        row = conn.execute("SHOW recovery_init_sync_method").fetchone()
    assert row == ("syncfs",)
    agent.stop(timeout_s=MAX_WAIT)
    assert h.postmasters() == []


def test_syncfs_only_where_postgresql_and_the_kernel_offer_it(tmp_path: Path) -> None:
    assert init_sync_args(str(tmp_path), "6.1.0-13-amd64") == ()  # no cluster yet
    (tmp_path / "PG_VERSION").write_text("15\n")
    assert init_sync_args(str(tmp_path), "6.1.0-13-amd64") == (
        "-c",
        "recovery_init_sync_method=syncfs",
    )
    assert init_sync_args(str(tmp_path), "5.4.0") == ()  # syncfs errors not reported
    (tmp_path / "PG_VERSION").write_text("13\n")
    assert init_sync_args(str(tmp_path), "6.1.0") == ()  # no such setting before 14
