"""Pieces of the lab's configuration documents (the demo's Web group, the safety
scenarios' groups): a virtual server's IP Address and Network Name registered in the lab's
DNS, the Cluster Group's transaction coordinator (S22), and adding a document to the
cluster."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import (
    DNS_ADDRESS,
    DTC_PORT,
    MANAGEMENT_ADDRESS,
    PUBLIC_SUBNET,
    ZONE,
    key_file,
)
from wolfpack.lab.state import LabState
from wolfpack.model import codec
from wolfpack.model.builtin_types import IP_ADDRESS, NETWORK_NAME
from wolfpack.model.config import ClusterConfig
from wolfpack.store.repository import ClusterDB

__all__ = [
    "COORDINATOR_DESCRIPTION",
    "add_config",
    "address_and_name",
    "coordinator_properties",
    "dns_properties",
    "public_network",
]


COORDINATOR_DESCRIPTION = "transaction coordinator (DTC analog, S22)"


def coordinator_properties() -> dict[str, str]:
    """The Cluster Group's Generic Application standing for the transaction coordinator
    (S22): a small server on the management address, checked by connecting to it."""
    return {
        "command": f"{sys.executable} -m wolfpack.lab.probe_app --port {DTC_PORT} "
        f"--address {MANAGEMENT_ADDRESS} --record /dev/null",
        "check_command": f"/bin/bash -c 'exec 3<>/dev/tcp/{MANAGEMENT_ADDRESS}/{DTC_PORT}'",
    }


def address_and_name(
    state: LabState, group: str, prefix: str, address: str, host: str, name: str | None = None,
    network: str = "public",
) -> dict[str, Any]:  # fmt: skip
    """A virtual server's IP Address ``<prefix>-ip`` on the public network (named
    ``network``) and the Network Name (``name``, default ``<prefix>-name``) registering
    ``host`` on it in the lab's DNS."""
    return {
        f"{prefix}-ip": {
            "type": IP_ADDRESS,
            "group": group,
            "properties": {"address": address, "network": network},
        },
        name or f"{prefix}-name": {
            "type": NETWORK_NAME,
            "group": group,
            "dependencies": [[f"{prefix}-ip"]],
            "properties": dns_properties(state, host),
        },
    }


def dns_properties(state: LabState, name: str) -> dict[str, Any]:
    """A Network Name's properties in this lab: registered with the dns host's BIND."""
    return {
        "name": name,
        "zone": ZONE,
        "server": DNS_ADDRESS,
        "port": 53,
        "key_file": str(key_file(state)),
    }


def public_network(cfg: ClusterConfig) -> str:
    """The name of the cluster's network on the lab's public subnet: ``network1`` say, as
    ``cluster create`` names the networks it finds (S21)."""
    for net in cfg.networks.values():
        if net.subnet == PUBLIC_SUBNET:
            return net.name
    raise WolfpackError(f"the cluster has no network on {PUBLIC_SUBNET}")


def add_config(db: ClusterDB, doc: dict[str, Any]) -> ClusterConfig:
    """Add (or overwrite) the objects of configuration document ``doc``."""

    def change(cfg: ClusterConfig) -> ClusterConfig:
        given = codec.parse_config({"cluster": codec.dump(cfg.cluster), **doc})
        return replace(
            cfg,
            nodes={**cfg.nodes, **given.nodes},
            networks={**cfg.networks, **given.networks},
            interfaces={**cfg.interfaces, **given.interfaces},
            groups={**cfg.groups, **given.groups},
            resources={**cfg.resources, **given.resources},
        )

    return db.update_config(change)
