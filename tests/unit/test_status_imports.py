"""Issue 12 item 4: ``wolfpack status`` loads only what it uses. The command's module, and
what its run imports (the etcd client, the one read of the root), bring neither the node's
network library, the REST API's stack, the certificate library, an HTTP client library, nor
Wolfpack's write path, daemon or lab. Checked in a fresh interpreter (``sys.modules``)."""

from __future__ import annotations

import json
import subprocess
import sys

#: third-party packages the status path must not import (pyroute2: the node's netlink;
#: fastapi/uvicorn/httpx: the REST API; cryptography: certificate checks; requests, urllib3,
#: etcd3gw: the HTTP stack the etcd client had; yaml: only with a config file)
FORBIDDEN = (
    "pyroute2",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "cryptography",
    "requests",
    "urllib3",
    "etcd3gw",
    "yaml",
    "psycopg",
    "dns",
)
#: Wolfpack's packages and modules status has no use for
NOT_WOLFPACK = (
    "wolfpack.store.repository",
    "wolfpack.store.config_writes",
    "wolfpack.cli.audited",
    "wolfpack.admin",
    "wolfpack.api",
    "wolfpack.node",
    "wolfpack.lab",
    "wolfpack.resources",
    "wolfpack.policy",
    "wolfpack.web",
)

CODE = """
import json, sys
import typer.main
from typer._click.core import Context
from wolfpack.cli.main import app
root = typer.main.get_command(app)
assert root.get_command(Context(root), "status") is not None  # loads the verb, as a run does
import wolfpack.store.etcd, wolfpack.store.root_read  # what the verb imports when it runs
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by_status() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def test_status_loads_no_heavy_library_and_no_write_path() -> None:
    modules = loaded_by_status()
    assert "wolfpack.cli.status" in modules and "wolfpack.store.etcd" in modules  # it ran
    assert sorted({m.split(".")[0] for m in modules} & set(FORBIDDEN)) == []
    assert [m for m in modules if m.startswith(NOT_WOLFPACK)] == []
