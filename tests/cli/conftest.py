"""CLI tests run ``wolfpack`` in-process (typer's CliRunner) against a REAL etcd, started
once per session on 127.0.0.1 and stopped by its PID even when tests fail. Every test gets
its own key prefix (``WOLFPACK_PREFIX``), so tests never see each other's clusters."""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from wolfpack.cli.main import app
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_process import EtcdProcess
from wolfpack.store.etcd_tls import EtcdCredentials

ROOT = Path(__file__).resolve().parents[2]
JEAN = ROOT / "examples" / "jean.yaml"
Writer = Callable[[str], str]


@dataclass
class Cli:
    """Runs ``wolfpack`` with this test's endpoint and key prefix."""

    endpoint: str
    #: the etcd credentials (WOLFPACK_ETCD_*: an administrator's, C1)
    etcd_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"/wolfpack-test/{uuid.uuid4().hex}/")
    secret_file: str = field(
        default_factory=lambda: f"{tempfile.gettempdir()}/wolfpack-test-{uuid.uuid4().hex}.secret"
    )

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        environment = {
            **self.etcd_env,
            "WOLFPACK_ENDPOINT": self.endpoint,
            "WOLFPACK_PREFIX": self.prefix,
            "WOLFPACK_SECRET_FILE": self.secret_file,
            "COLUMNS": "200",
            **(env or {}),
        }
        return CliRunner().invoke(app, list(args), env=environment)

    def store(self) -> EtcdStore:
        """The database itself, as the same administrator."""
        env = self.etcd_env
        creds = None
        if env.get("WOLFPACK_ETCD_CA"):
            creds = EtcdCredentials.load(
                Path(env["WOLFPACK_ETCD_CA"]),
                Path(env["WOLFPACK_ETCD_CERT"]),
                Path(env["WOLFPACK_ETCD_KEY"]),
            )
        return EtcdStore(self.endpoint, credentials=creds)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, f"wolfpack {' '.join(args)}: {result.output}"
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str) -> Any:
        """Run with --json, expect success, return the parsed output."""
        return json.loads(self.ok(*args, "--json").stdout)

    def fails(self, *args: str, code: int = 2) -> dict[str, Any]:
        """Run with --json, expect exit ``code``, return the error document."""
        result = self.run(*args, "--json")
        assert result.exit_code == code, f"wolfpack {' '.join(args)}: {result.output}"
        assert "Traceback" not in result.output
        error: dict[str, Any] = json.loads(result.stdout)["error"]
        return error

    def export(self) -> str:
        return str(self.ok("config", "export", "--state").stdout)


def fields(error: dict[str, Any]) -> list[str]:
    return [f["field"] for f in error["fields"]]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """Write a YAML text to a new file; returns its path."""
    count = itertools.count()

    def write(text: str) -> str:
        path = tmp_path / f"file{next(count)}.yaml"
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture
def cli(etcd: EtcdProcess) -> Cli:
    return Cli(etcd.endpoint, etcd.client_env())


@pytest.fixture
def cluster(cli: Cli) -> Cli:
    """An empty cluster 'jean' (only the built-in types)."""
    cli.ok("cluster", "create", "jean")
    return cli


@pytest.fixture
def jean(cli: Cli) -> Cli:
    """The seed's demo cluster from examples/jean.yaml, all nodes Up, nothing placed."""
    cli.ok("config", "import", "--replace", str(JEAN))
    return cli
