"""Issue 10: ``cluster create``/``join`` take the managed-member path only on a host that has
no database of its own configured or that was formed that way: the package's example
wolfpackd.yaml (no ``etcd_member:``) must not count as formed (the deb test's install.md §4
path, with an administrator's etcd, failed on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wolfpack.cli import install
from wolfpack.node.install import manages_member

PACKAGED = Path(__file__).resolve().parents[2] / "packaging" / "wolfpackd.yaml"


def test_the_packaged_example_is_not_a_formed_host(tmp_path: Path) -> None:
    settings = tmp_path / "wolfpackd.yaml"
    assert not manages_member(settings)  # missing
    settings.write_text(PACKAGED.read_text())
    assert not manages_member(settings)
    settings.write_text("node: node1\netcd_member:\n  name: node1\n")
    assert manages_member(settings)
    settings.write_text("node: [unclosed\n")
    assert not manages_member(settings)


def test_an_explicit_endpoint_with_the_packaged_example_writes_into_that_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wolfpackd.yaml").write_text(PACKAGED.read_text())
    monkeypatch.setattr(install, "explicit_endpoint", lambda: "https://127.0.0.1:2379")
    assert not install.formed(tmp_path)
    (tmp_path / "wolfpackd.yaml").write_text("etcd_member:\n  name: node1\n")
    assert install.formed(tmp_path)
    monkeypatch.setattr(install, "explicit_endpoint", lambda: None)
    (tmp_path / "wolfpackd.yaml").unlink()
    assert install.formed(tmp_path)
