"""Networks in placement: a node whose interface on a group's client network is Failed
cannot serve that group (S41, media sense), so it is not a target, and a group failing
there fails over at once instead of restarting in place (a restart cannot bring the
network back).

Only Failed counts: an Unreachable interface still reaches some of the network, and a
node without a report yet is no evidence against it.
"""

from __future__ import annotations

from wolfpack.model.networks import derive, group_networks
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import InterfaceState


def network_unusable(snap: Snapshot, group: str, node: str) -> str | None:
    """Why ``node`` cannot serve ``group``'s clients now, or None if nothing says so."""
    cfg = snap.config
    networks = group_networks(cfg, group)
    if not networks or not snap.links:
        return None
    states = derive(snap)
    for network in sorted(networks):
        verdict = states.of_node(cfg, node, network)
        if verdict is not None and verdict.state is InterfaceState.FAILED:
            return f"network {network!r} ({verdict.reason})"
    return None
