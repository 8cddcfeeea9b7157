"""The cluster log (Get-ClusterLog): wolfpackd's JSON log lines.

Each daemon also writes its lines to its ``log_file`` (or ``run_dir/wolfpackd.log``;
rotated, ``.1`` is read too) and serves them at ``/api/v1/log/local``. ``/api/v1/log`` asks
every node's API (where each listens is in ``<root>api/<node>``) in parallel and with a
short timeout, and merges the lines by time; a node that does not answer is named in
``unreachable`` rather than failing the whole answer.

The caller's token is never forwarded (M9): those addresses come from the database, so the
fan-out sends a short-lived credential signed with the cluster secret's key
(:mod:`wolfpack.admin.peer`), only over HTTPS verified with the cluster CA, or plain HTTP to
a loopback address (a whole cluster on one machine).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from wolfpack.admin import peer
from wolfpack.admin.peer import plain_beyond_loopback
from wolfpack.api.auth import Reader, current, reader_or_peer
from wolfpack.api.routes.admin import since_seconds
from wolfpack.api.routes.common import JSONBytes, json_response
from wolfpack.errors import NotFoundError

router = APIRouter(prefix="/api/v1")
FANOUT_TIMEOUT_S = 3.0
MAX_LINES = 10_000
LOCAL_PATH = "/api/v1/log/local"


LocalReader = Annotated[str, Depends(reader_or_peer(LOCAL_PATH))]


def read_local(path: Path | None, source: str, since: float, limit: int) -> list[dict[str, Any]]:
    """Lines at or after ``since`` from the log file and its rotated predecessor, each with
    ``source``: the node whose log it is (a line's own ``node`` field may name another
    node it is about)."""
    if path is None:
        return []
    out: list[dict[str, Any]] = []
    for part in (path.with_name(path.name + ".1"), path):
        try:
            text = part.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and float(data.get("ts", 0)) >= since:
                data["source"] = source
                out.append(data)
    return out[-limit:]


@router.get("/log/local", summary="This node's log lines")
def local_log(
    request: Request,
    who: LocalReader,
    since: str = Query("10m", description="How far back: e.g. 10m, 1h."),
    limit: int = Query(1000, ge=1, le=MAX_LINES),
) -> JSONBytes:
    start = request.app.state.clock() - since_seconds(since, "since")
    state = request.app.state
    return json_response(read_local(state.log_file, state.node, start, limit))


@router.get("/log", summary="The cluster log: every node's lines, merged by time")
async def cluster_log(
    request: Request,
    who: Reader,
    since: str = Query("10m", description="How far back: e.g. 10m, 1h."),
    node: str | None = Query(None, description="Only this node's lines."),
    limit: int = Query(1000, ge=1, le=MAX_LINES),
) -> JSONBytes:
    import httpx  # only here: it costs a daemon ~5 MB, and only the fan-out needs it

    start = request.app.state.clock() - since_seconds(since, "since")  # 422 before fan-out
    built = await current(request)
    names = sorted(built.snapshot.config.nodes)
    if node is not None:
        if node not in names:
            raise NotFoundError("node", node)
        names = [node]
    state = request.app.state
    keys = state.peer_keys() if state.peer_keys is not None else ()
    params = {"since": since, "limit": str(limit)}
    lines: list[dict[str, Any]] = []
    unreachable: list[dict[str, str]] = []
    verify: Any = True
    if request.app.state.ca_pem is not None:
        from wolfpack.admin.tls import client_context

        # the CA as of this read: during a key rotation, the old and the next one
        stored = built.read.kvs.get(built.read.keys.tls_ca_cert)
        verify = client_context(stored.value if stored else request.app.state.ca_pem)
    async with httpx.AsyncClient(
        timeout=FANOUT_TIMEOUT_S,
        verify=verify,
        trust_env=False,  # no proxy from the environment
    ) as client:

        async def one(name: str) -> None:
            if name == state.node:  # this node's own lines: no request at all
                lines.extend(read_local(state.log_file, name, start, limit))
                return
            url = built.apis.get(name, {}).get("url")
            if not url:
                unreachable.append({"node": name, "error": "no API registered"})
                return
            if plain_beyond_loopback(str(url)):
                error = f"refused: {url} is plain HTTP beyond loopback (api.tls: false there)"
                unreachable.append({"node": name, "error": error})
                return
            if not keys:
                unreachable.append({"node": name, "error": "this API holds no cluster key"})
                return
            signed = peer.sign(keys[0], state.node, name, LOCAL_PATH, state.clock())
            try:
                r = await client.get(
                    f"{url}{LOCAL_PATH}", params=params, headers={peer.HEADER: signed}
                )
                r.raise_for_status()
                lines.extend(r.json())
            except (httpx.HTTPError, ValueError) as exc:
                unreachable.append({"node": name, "error": str(exc) or type(exc).__name__})

        await asyncio.gather(*(one(n) for n in names))
    lines.sort(key=lambda line: float(line.get("ts", 0)))
    return json_response({"lines": lines[-limit:], "unreachable": unreachable})
