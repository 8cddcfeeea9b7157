"""What ``network list/show`` and ``interface list/show`` (and the API's documents of the same
objects) say beyond the configuration: the derived states (:mod:`wolfpack.model.networks`)
and, for an interface, what its node reports about its link."""

from __future__ import annotations

from typing import Any

from wolfpack.model.config import Interface, Network
from wolfpack.model.networks import derive
from wolfpack.model.snapshot import Snapshot


def network_state(snap: Snapshot, net: Network) -> str | None:
    verdict = derive(snap).networks.get(net.name)
    return str(verdict.state) if verdict is not None else None


def network_details(snap: Snapshot, net: Network) -> dict[str, Any]:
    states = derive(snap)
    verdict = states.networks.get(net.name)
    members = sorted(i.name for i in snap.config.interfaces.values() if i.network == net.name)
    return {
        "state": str(verdict.state) if verdict is not None else None,
        "reason": verdict.reason if verdict is not None else "",
        "interface_states": {
            name: str(states.interfaces[name].state)
            for name in members
            if name in states.interfaces
        },
    }


def interface_state(snap: Snapshot, itf: Interface) -> str | None:
    verdict = derive(snap).interfaces.get(itf.name)
    return str(verdict.state) if verdict is not None else None


def interface_link(snap: Snapshot, itf: Interface) -> str | None:
    """``eth0 up``: the kernel link and its condition, as the node reports them."""
    verdict = derive(snap).interfaces.get(itf.name)
    report = verdict.report if verdict is not None else None
    if report is None:
        return None
    return f"{report.ifname or '-'} {report.link}"


def interface_details(snap: Snapshot, itf: Interface) -> dict[str, Any]:
    verdict = derive(snap).interfaces.get(itf.name)
    report = verdict.report if verdict is not None else None
    return {
        "state": str(verdict.state) if verdict is not None else None,
        "reason": verdict.reason if verdict is not None else "",
        "link": None
        if report is None
        else {
            "ifname": report.ifname or None,
            "condition": str(report.link),
            "since": report.since,
            "heard": None if report.heard is None else list(report.heard),
        },
    }
