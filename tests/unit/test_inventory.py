"""A node's software inventory: PostgreSQL counts only with both postgres and initdb."""

from __future__ import annotations

from pathlib import Path

from wolfpack.node.inventory import postgresql_versions, probe


def binary(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_postgresql_versions_need_postgres_and_initdb(tmp_path: Path) -> None:
    binary(tmp_path / "15" / "bin" / "postgres")
    binary(tmp_path / "15" / "bin" / "initdb")
    binary(tmp_path / "9" / "bin" / "postgres")
    binary(tmp_path / "9" / "bin" / "initdb")
    binary(tmp_path / "16" / "bin" / "postgres")  # no initdb: a broken install
    (tmp_path / "13" / "bin").mkdir(parents=True)
    (tmp_path / "13" / "bin" / "postgres").write_text("not executable")
    (tmp_path / "13" / "bin" / "initdb").write_text("not executable")
    assert postgresql_versions(str(tmp_path / "*" / "bin")) == ("9", "15")
    assert postgresql_versions(str(tmp_path / "none" / "*")) == ()


def test_probe_finds_this_machines_programs() -> None:
    found = probe("node1", 5.0)
    assert found.node == "node1" and found.probed_at == 5.0
    assert found.programs["mount"].endswith("/mount")  # util-linux is everywhere
    assert "15" in found.postgresql_versions  # scripts/setup installs Debian's postgresql
