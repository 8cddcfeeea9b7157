"""A node's facts for ``wolfpack cluster validate`` (S1, Test-Cluster):
``GET /api/v1/nodes/{name}/validation``.

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

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from wolfpack.admin import peer
from wolfpack.admin.peer import plain_beyond_loopback
from wolfpack.api.auth import current, reader_or_peer
from wolfpack.api.routes.common import JSONBytes, cache, json_response
from wolfpack.errors import NotFoundError, WolfpackError
from wolfpack.model import codec
from wolfpack.model.node_facts import NodeFacts

router = APIRouter(prefix="/api/v1")
PATH = "/api/v1/nodes/{name}/validation"
#: the node's self-check is bounded at 5 s; this leaves room for the round trip
RELAY_TIMEOUT_S = 8.0


Asker = Annotated[str, Depends(reader_or_peer())]


def _answer(name: str, asked_by: str, facts: NodeFacts | None, error: str | None) -> JSONBytes:
    body = codec.dump(facts, exclude_defaults=False) if facts is not None else None
    return json_response({"node": name, "asked_by": asked_by, "facts": body, "error": error})


def _stamped(facts: NodeFacts, node: str, sent: float, received: float) -> NodeFacts:
    clock = dataclasses.replace(
        facts.clock, reference_node=node, reference_sent=sent, reference_received=received
    )
    return dataclasses.replace(facts, clock=clock)


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
    if name == state.node:
        if state.validation is None:
            return _answer(name, state.node, None, "no daemon behind this API")
        sent = state.clock()
        config = built.snapshot.config
        try:
            facts: NodeFacts = await run_in_threadpool(state.validation, config)
        except WolfpackError as exc:
            return _answer(name, state.node, None, f"the self-check failed: {exc}")
        return _answer(name, state.node, _stamped(facts, state.node, sent, state.clock()), None)
    if who.startswith("node:"):  # a relayed request is answered where it lands, never again
        return _answer(name, state.node, None, f"{state.node} relays no node's request")
    return await _relay(request, name, built)


async def _relay(request: Request, name: str, built: Any) -> JSONBytes:
    import httpx  # only here, as for the cluster log

    state = request.app.state
    url = built.apis.get(name, {}).get("url")
    keys: Sequence[bytes] = state.peer_keys() if state.peer_keys is not None else ()
    error = None
    if not url:
        error = "no API registered (is wolfpackd running there?)"
    elif plain_beyond_loopback(str(url)):
        error = f"refused: {url} is plain HTTP beyond loopback (api.tls: false there)"
    elif not keys:
        error = "this API holds no cluster key"
    if error is not None:
        return _answer(name, state.node, None, error)
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
            return _answer(name, state.node, None, str(body.get("error") or "no facts"))
        facts = codec.parse(NodeFacts, body["facts"])
    except (httpx.HTTPError, ValueError, AttributeError, WolfpackError) as exc:
        return _answer(name, state.node, None, f"{url}: {str(exc) or type(exc).__name__}")
    return _answer(name, state.node, _stamped(facts, state.node, sent, received), None)
