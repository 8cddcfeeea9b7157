"""The configuration lives in etcd: it survives a restart of the database."""

from __future__ import annotations

from pathlib import Path

from wolfpack.store.etcd_process import EtcdProcess

from .conftest import JEAN, Cli


def test_config_survives_an_etcd_restart(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")
    try:
        etcd.start()
        cli = Cli(etcd.endpoint, etcd.client_env())
        cli.ok("config", "import", str(JEAN))
        cli.ok("group", "set", "Web", "--failback-window", "22-6")
        before = cli.json("group", "show", "Web")
        pid = etcd.pid
        etcd.stop()  # SIGTERM to the PID it started
        assert pid is not None and not etcd.running
        assert cli.fails("group", "show", "Web", code=3)["type"] == "StoreUnavailable"
        etcd.start()  # same data dir, same ports
        assert etcd.pid != pid
        assert cli.json("group", "show", "Web") == before
        assert before["failback"]["window_start"] == 22
    finally:
        etcd.stop()
