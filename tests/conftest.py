"""On a failure, show what the daemons logged: the JSON lines of every node, last ones first
(a CI log is often all there is to go on)."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from wolfpack.resources.confine import Confinement, cgroup2_mount
from wolfpack.store.etcd_process import EtcdProcess


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
        if isinstance(tmp, Path):
            for log in sorted(tmp.glob("node*.log")):
                lines = log.read_text(errors="replace").splitlines()[-25:]
                report.sections.append((f"daemon log {log.name} (last 25 lines)", "\n".join(lines)))
    return report


@pytest.fixture(scope="session", autouse=True)
def etcd_token_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The etcd tokens ``wolfpack`` commands keep between runs go to this run's temporary
    directory (and the commands it starts inherit it), not to ~/.cache/wolfpack."""
    path = tmp_path_factory.mktemp("etcd-tokens")
    before = os.environ.get("WOLFPACK_ETCD_TOKEN_CACHE")
    os.environ["WOLFPACK_ETCD_TOKEN_CACHE"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            del os.environ["WOLFPACK_ETCD_TOKEN_CACHE"]
        else:
            os.environ["WOLFPACK_ETCD_TOKEN_CACHE"] = before


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """One real etcd for the whole run, on 127.0.0.1, stopped by its PID even on failure;
    tests keep apart by their own key prefixes."""
    proc = EtcdProcess(tmp_path_factory.mktemp("etcd") / "data")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def confine(tmp_path: Path) -> Iterator[Confinement]:
    """This node's cgroup confinement under ``tmp_path`` (skipped where there is none);
    every cgroup made in it is killed and removed afterwards, and its root with them."""
    if cgroup2_mount() is None:
        pytest.skip("no cgroup2 hierarchy")
    c = Confinement.for_node("node1", tmp_path / "run")
    if not c.enabled:
        pytest.skip(f"confinement is off here: {c.reason}")
    try:
        yield c
    finally:
        for group in c.cgroups():
            group.kill_and_remove()
        c.remove_root()
    assert c.root is not None and not c.root.exists()
