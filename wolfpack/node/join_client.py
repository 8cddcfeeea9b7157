"""``wolfpack cluster join`` and ``wolfpack witness join`` on the joining host (issue 10).

The host sends its name and addresses, signed with the cluster secret, to the REST API of
a node of the cluster (found by the cluster name), and writes what comes back: the etcd
member's certificates, its daemon's and API's etcd users, the cluster database CA and the
administrator's credentials (a node acts for the cluster, docs/security.md), and its
settings with ``etcd_member: {initial_state: existing}``. ``systemctl start wolfpackd``
(or ``wolfpack witness run``) then starts the member, which catches up as a learner and is
promoted by the voters policy.

The API's certificate is not checked (the host has no CA yet): the answer is sealed with
the secret, so a server without it can neither read the request's intent nor forge an
answer (:mod:`wolfpack.node.join_wire`).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wolfpack import errors
from wolfpack.errors import ValidationError, WolfpackError
from wolfpack.node.etcd_member import MemberSection
from wolfpack.node.forming import NodePlan, cli_settings, daemon_settings
from wolfpack.node.install import write_private, write_yaml
from wolfpack.node.join_wire import new_nonce, sign, unseal

Progress = Callable[[str], None]
PATH = "/api/v1/cluster/join"
TIMEOUT_S = 60.0  # the server may wait for etcd to settle before it adds the member
#: how often a join is asked for when the API does not answer (a busy node, or the cluster
#: name moving meanwhile); each attempt is signed afresh, and the server admits one join at
#: a time, so a later attempt's answer is the one that counts
ATTEMPTS = 3
RETRY_PAUSE_S = 2.0


class Unreachable(WolfpackError):
    """The cluster's API did not answer the join (not a refusal: asking again is safe)."""


def _post(url: str, message: dict[str, Any]) -> dict[str, Any]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the answer is sealed: see the module's docstring
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    req = urllib.request.Request(
        url + PATH,
        data=json.dumps(message).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with opener.open(req, timeout=TIMEOUT_S) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read()).get("error", {})
        except ValueError:
            doc = {}
        if isinstance(doc, dict) and doc.get("message"):
            raise errors.from_document(doc, exc.code) from None
        raise WolfpackError(f"the cluster at {url} refused the join: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise Unreachable(
            f"cannot reach the cluster's API at {url} ({exc}): is wolfpackd running on the "
            "node that owns the cluster name, and is TCP 9443 open?"
        ) from None
    if not isinstance(answer, dict):
        raise WolfpackError(f"unexpected answer from {url}: {answer!r}")
    return answer


def join(
    plan: NodePlan,
    url: str,
    secret: bytes,
    *,
    witness: bool = False,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Join through the API at ``url``; the bundle's summary (no secrets)."""
    lay = plan.layout
    if lay.etcd_data.exists() and not lay.daemon_settings.exists():
        raise ValidationError.single(
            "data_dir",
            f"{lay.etcd_data} holds etcd data of an earlier member: remove it (or run "
            "'wolfpack cluster destroy --local') before joining",
        )
    payload = {
        "node": plan.node,
        "addresses": [f"{a.address}/{a.prefix}" for a in plan.addresses],
        "client_port": plan.client_port,
        "peer_port": plan.peer_port,
        "peer_address": plan.peer_address,
        "witness": witness,
    }
    progress(f"asking {url} to admit {plan.node}")
    bundle = _admitted(url, secret, payload, progress)
    if not lay.secret.exists():
        write_private(lay.secret, secret + b"\n")
    for rel, text in sorted(bundle["files"].items()):
        target = lay.config_dir / rel
        if ".." in Path(rel).parts:
            raise WolfpackError(f"the join answer names a file outside {lay.config_dir}: {rel}")
        write_private(target, text, 0o600 if rel.endswith((".key", ".password")) else 0o644)
    has_member = bool(bundle.get("member", True))
    member = _member(plan, bundle) if has_member else None
    endpoints = [str(e) for e in bundle["endpoints"]]
    if witness:
        assert member is not None  # the server refuses a witness it cannot give one
        write_yaml(lay.witness_settings, {"etcd_member": _member_doc(member)})
    else:
        write_yaml(lay.daemon_settings, daemon_settings(plan, endpoints, member))
        write_yaml(lay.cli_config, cli_settings(plan, endpoints))
    etcd = (
        f"etcd learner at {bundle['peer_url']}"
        if has_member
        else "no etcd member of its own (etcd has 5 voters and a learner: the node uses theirs)"
    )
    progress(f"{plan.node} admitted to cluster {bundle['cluster']}: {etcd}, settings in "
             f"{lay.config_dir}")  # fmt: skip
    return {
        "cluster": bundle["cluster"],
        "node": plan.node,
        "id": bundle["node_id"],
        "witness": witness,
        "interfaces": bundle["interfaces"],
        "peer_url": bundle["peer_url"],
        "etcd_member": has_member,
        "settings": str(lay.witness_settings if witness else lay.daemon_settings),
    }


def _admitted(
    url: str, secret: bytes, payload: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """The server's bundle, asked for again (signed afresh) while the API does not answer:
    a join run again finds its member and gives its users new passwords, so an attempt
    whose answer was lost leaves nothing behind that the next one does not replace."""
    for attempt in range(1, ATTEMPTS + 1):
        nonce = new_nonce()
        try:
            return unseal(secret, nonce, _post(url, sign(secret, payload, time.time(), nonce)))
        except Unreachable as exc:
            if attempt == ATTEMPTS:
                raise
            progress(f"{exc}: asking again ({attempt + 1} of {ATTEMPTS})")
            time.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")


def _member(plan: NodePlan, bundle: dict[str, Any]) -> MemberSection:
    """The ``etcd_member:`` section for the member the cluster added for this node."""
    lay = plan.layout
    return MemberSection(
        name=plan.node,
        data_dir=lay.etcd_data,
        peer_url=bundle["peer_url"],
        client_urls=bundle["client_urls"],
        initial_cluster=bundle["initial_cluster"],
        initial_state="existing",
        token=bundle["token"],
        pki_dir=lay.member_dir,
        ca_dir=lay.ca_dir,
        admin_dir=lay.admin_dir,
    )


def _member_doc(member: MemberSection) -> dict[str, Any]:
    doc: dict[str, Any] = member.model_dump(mode="json", exclude_defaults=True)
    return doc
