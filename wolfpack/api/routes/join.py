"""``POST /api/v1/cluster/join``: a node (or a witness) joins (issue 10, Add-ClusterNode).

No token: the request is signed with the cluster secret and the answer sealed with it
(:mod:`wolfpack.node.join_wire`), so the joiner needs no credential of the API and need not
trust its certificate yet. Only a node that runs its own etcd member admits (it holds the
cluster database CA and the administrator's credentials); any other answers 409
``NOT_A_MEMBER_NODE``. Every attempt, admitted or refused, is in the audit log as
``join:<node>``.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from wolfpack.api.routes.common import JSONBytes, json_response
from wolfpack.errors import RejectedError, WolfpackError

router = APIRouter()
PATH = "/api/v1/cluster/join"
Message = Annotated[dict[str, Any], Body()]


@router.post(PATH, summary="Join this cluster (signed with the cluster secret)")
async def join(request: Request, message: Message) -> JSONBytes:
    admit = request.app.state.join
    body = message.get("request")
    who = f"join:{body.get('node', '?') if isinstance(body, dict) else '?'}"
    status = 200
    try:
        if admit is None:
            raise RejectedError(
                "NOT_A_MEMBER_NODE",
                f"node {request.app.state.node} runs no etcd member of its own and admits no "
                "node: join through one that does, with 'wolfpack cluster join NAME --server "
                "ADDRESS' ('wolfpack node list' shows the nodes; the first six to join have "
                "a member)",
            )
        answer = await run_in_threadpool(admit, message)
    except WolfpackError as exc:
        status = getattr(exc, "http_status", 400)
        raise
    finally:
        with contextlib.suppress(WolfpackError):
            await run_in_threadpool(
                request.app.state.audit.record, request.app.state.node, who, "join", "POST",
                PATH, status, "",
            )  # fmt: skip
    return json_response(answer)
