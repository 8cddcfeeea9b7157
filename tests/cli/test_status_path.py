"""``wolfpack status`` as an administrator runs it (issue 12 item 4), against the real etcd
over TLS with its etcd user: the first command checks the certificates (the verdict is
kept beside them) and keeps its token; the next one answers the same from one read,
without the certificate library or an HTTP client library loaded, and a token etcd no
longer takes (users changed) is fetched again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from .conftest import Cli

#: what the status of a warm command must not load (cryptography: certificate checks; the
#: rest: HTTP client libraries, the REST API's stack, the node's netlink, rich for --json)
FORBIDDEN = ("cryptography", "requests", "urllib3", "etcd3gw", "httpx", "fastapi", "pyroute2")

CODE = """
import json, sys
from wolfpack.cli.main import app
sys.argv = ["wolfpack", "status", "--json"]
try:
    app()
except SystemExit as done:
    if done.code:
        raise
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def status(cli: Cli, cache: Path | str) -> tuple[dict[str, Any], set[str]]:
    """``status --json`` in a new process: its document and the top-level modules it loaded."""
    env = {
        **os.environ,
        **cli.etcd_env,
        "WOLFPACK_ENDPOINT": cli.endpoint,
        "WOLFPACK_PREFIX": cli.prefix,
        "WOLFPACK_ETCD_TOKEN_CACHE": str(cache),
    }
    done = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout), {m.split(".")[0] for m in modules}


def test_a_warm_status_loads_no_certificate_or_http_library(cluster: Cli, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    memo = Path(f"{cluster.etcd_env['WOLFPACK_ETCD_CERT']}.checked")
    memo.unlink(missing_ok=True)  # as if nothing had checked these files yet
    first, loaded_first = status(cluster, cache)
    assert first["cluster"] == "jean"
    # a cold start checks the certificate files and remembers its verdict beside them
    assert "cryptography" in loaded_first and memo.is_file()
    assert [p.name.startswith("etcd-token-") for p in cache.iterdir()] == [True]
    again, loaded = status(cluster, cache)
    assert again == first
    assert sorted(loaded & set(FORBIDDEN)) == []
    off, _ = status(cluster, "off")  # no cache: the same answer, nothing more kept
    assert off == first and len(list(cache.iterdir())) == 1


def test_a_kept_token_etcd_no_longer_takes_is_fetched_again(cluster: Cli, tmp_path: Path) -> None:
    """Any user change makes etcd refuse tokens issued before it ("revision of auth store is
    old"): the command fetches a new token and answers."""
    cache = tmp_path / "cache"
    first, _ = status(cluster, cache)
    kept = next(cache.iterdir()).read_text()
    user = f"tmp-{uuid.uuid4().hex[:8]}"
    with closing(cluster.store()) as store:
        store.call_api("auth/user/add", {"name": user, "password": uuid.uuid4().hex})
        store.call_api("auth/user/delete", {"name": user})
    again, _ = status(cluster, cache)
    assert again == first
    assert json.loads(next(cache.iterdir()).read_text())["token"] != json.loads(kept)["token"]
