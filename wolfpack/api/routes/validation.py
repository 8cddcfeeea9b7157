"""Cluster validation (S1, Test-Cluster): a node's facts, ``GET
/api/v1/nodes/{name}/validation``, and the whole report, ``GET /api/v1/cluster/validation``
(every node asked at once, judged by :func:`wolfpack.policy.validate.judge`: what
``wolfpack cluster validate --json`` prints, and the web UI's Validate Cluster… shows).

What a node sees (its addresses, which peers it reaches, names, clock, disks, programs, etcd,
fence agent, watchdog) only that node can say, so the API asked relays to the named node's
API, as the cluster log does (:mod:`wolfpack.api.routes.log`): with a short-lived node
credential (:mod:`wolfpack.admin.peer`), never the caller's token, only over HTTPS verified
with the cluster CA or plain HTTP to loopback. The node asked answers from its daemon's
self-check (``create_app(validation=...)``) and never relays again. The relaying node stamps
the facts with its own clock just before and just after (``facts.clock.reference_*``), which
is what the clock check measures against.

A node that cannot be asked is an answer too (200 with ``facts: null`` and ``error``), like
``unreachable`` in the cluster log: the report names it rather than failing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from wolfpack.admin import peer
from wolfpack.admin.peer import plain_beyond_loopback
from wolfpack.api.auth import Reader, current, reader_or_peer
from wolfpack.api.routes.common import JSONBytes, cache, json_response
from wolfpack.errors import NotFoundError, WolfpackError
from wolfpack.model import codec
from wolfpack.model.node_facts import NodeFacts, report_document
from wolfpack.policy.validate import judge, nodes_to_ask

router = APIRouter(prefix="/api/v1")
PATH = "/api/v1/nodes/{name}/validation"
#: the node's self-check is bounded at 5 s; this leaves room for the round trip
RELAY_TIMEOUT_S = 8.0
#: one node's answer to the cluster report, however slow its connection (httpx's timeout is
#: per phase: connect, then read)
CLUSTER_TIMEOUT_S = RELAY_TIMEOUT_S + 2.0


Asker = Annotated[str, Depends(reader_or_peer())]


def _answer(name: str, asked_by: str, found: NodeFacts | str) -> JSONBytes:
    if isinstance(found, str):
        return json_response({"node": name, "asked_by": asked_by, "facts": None, "error": found})
    body = codec.dump(found, exclude_defaults=False)
    return json_response({"node": name, "asked_by": asked_by, "facts": body, "error": None})


def _stamped(facts: NodeFacts, node: str, sent: float, received: float) -> NodeFacts:
    clock = dataclasses.replace(
        facts.clock, reference_node=node, reference_sent=sent, reference_received=received
    )
    return dataclasses.replace(facts, clock=clock)


async def facts_of(request: Request, name: str, built: Any) -> NodeFacts | str:
    """``name``'s facts, stamped with this node's clock, or why they could not be had:
    this node's from its daemon's self-check, another's through its API."""
    state = request.app.state
    if name != state.node:
        return await _relay(request, name, built)
    if state.validation is None:
        return "no daemon behind this API"
    sent = state.clock()
    try:
        facts: NodeFacts = await run_in_threadpool(state.validation, built.snapshot.config)
    except WolfpackError as exc:
        return f"the self-check failed: {exc}"
    return _stamped(facts, state.node, sent, state.clock())


@router.get(
    "/nodes/{name}/validation",
    summary="A node's facts for cluster validation (asked of that node)",
)
async def node_validation(request: Request, name: str, who: Asker) -> JSONBytes:
    state = request.app.state
    # This node's own facts are asked for when its database may not answer (that is one
    # of the things it reports): the newest cached read will do, however old.
    last = cache(request).last() if name == state.node else None
    built = last if last is not None else await current(request)
    if name not in built.snapshot.config.nodes:
        raise NotFoundError("node", name)
    if name != state.node and who.startswith("node:"):
        # a relayed request is answered where it lands, never relayed again
        return _answer(name, state.node, f"{state.node} relays no node's request")
    return _answer(name, state.node, await facts_of(request, name, built))


@router.get(
    "/cluster/validation",
    summary="The cluster validation report: every node asked, judged (Test-Cluster)",
)
async def cluster_validation(
    request: Request,
    who: Reader,
    node: Annotated[
        list[str] | None, Query(description="Validate only this node; repeat for more.")
    ] = None,
) -> JSONBytes:
    """S1: what ``wolfpack cluster validate --json`` prints. Every node is asked at once,
    each bounded by :data:`CLUSTER_TIMEOUT_S`; one that cannot be asked is a row of the
    report (``NODE_NOT_ASKED``), never a failure of the request."""
    built = await current(request)
    config = built.snapshot.config
    names = nodes_to_ask(config, node, "node")

    async def bounded(name: str) -> NodeFacts | str:
        try:
            return await asyncio.wait_for(facts_of(request, name, built), CLUSTER_TIMEOUT_S)
        except TimeoutError:
            return f"no answer within {CLUSTER_TIMEOUT_S:.0f} s"

    answers = await asyncio.gather(*(bounded(n) for n in names))
    report = judge(config, dict(zip(names, answers, strict=True)), request.app.state.clock())
    return json_response(report_document(report))


async def _relay(request: Request, name: str, built: Any) -> NodeFacts | str:
    import httpx  # only here, as for the cluster log

    state = request.app.state
    url = built.apis.get(name, {}).get("url")
    keys: Sequence[bytes] = state.peer_keys() if state.peer_keys is not None else ()
    if not url:
        return "no API registered (is wolfpackd running there?)"
    if plain_beyond_loopback(str(url)):
        return f"refused: {url} is plain HTTP beyond loopback (api.tls: false there)"
    if not keys:
        return "this API holds no cluster key"
    verify: Any = True
    if state.ca_pem is not None:
        from wolfpack.admin.tls import client_context

        stored = built.read.kvs.get(built.read.keys.tls_ca_cert)
        verify = client_context(stored.value if stored else state.ca_pem)
    path = PATH.format(name=name)
    signed = peer.sign(keys[0], state.node, name, path, state.clock())
    sent = state.clock()
    try:
        async with httpx.AsyncClient(
            timeout=RELAY_TIMEOUT_S, verify=verify, trust_env=False
        ) as client:
            r = await client.get(f"{url}{path}", headers={peer.HEADER: signed})
            r.raise_for_status()
            body = r.json()
        received = state.clock()
        if body.get("facts") is None:
            return str(body.get("error") or "no facts")
        facts = codec.parse(NodeFacts, body["facts"])
    except (httpx.HTTPError, ValueError, AttributeError, WolfpackError) as exc:
        return f"{url}: {str(exc) or type(exc).__name__}"
    return _stamped(facts, state.node, sent, received)
