"""What a node reports about its own network interfaces (``links/<node>`` in the cluster
database): the condition of the link that holds each configured interface's address (media
sense, S41) and which peers it hears on that network's heartbeat path.

Each node writes its own report, on its own lease, when it changes (:mod:`wolfpack.node.links`).
A link condition is a verdict, not a sample: a loss counts only once it has lasted the media
sense window (:mod:`wolfpack.model.media`), so a flap never reaches the database. The states
an administrator sees are derived from every node's report (:mod:`wolfpack.model.networks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class LinkCondition(StrEnum):
    """The link of one interface as its node sees it (ip link: UP, LOWER_UP)."""

    UP = "up"  # administratively up, with carrier
    NO_CARRIER = "no-carrier"  # up, but the cable (or the switch port, the peer) is gone
    ADMIN_DOWN = "admin-down"  # set down (ip link set DEV down)
    MISSING = "missing"  # no link of the node holds the interface's address

    @property
    def usable(self) -> bool:
        return self is LinkCondition.UP

    @property
    def text(self) -> str:
        return {
            LinkCondition.UP: "link up",
            LinkCondition.NO_CARRIER: "no carrier",
            LinkCondition.ADMIN_DOWN: "link set down",
            LinkCondition.MISSING: "no link holds its address",
        }[self]


@dataclass(frozen=True)
class LinkReport:
    """One configured interface of the reporting node."""

    network: str
    ifname: str = ""  # the kernel link holding the address ("" when none does)
    link: LinkCondition = LinkCondition.UP
    #: the node's wall clock when ``link`` last changed (for people; never compared)
    since: float = 0.0
    #: peers heard on this network's heartbeat path; None: no heartbeats on this network
    heard: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NodeLinks:
    """A node's report: its configured interfaces by name."""

    interfaces: Mapping[str, LinkReport] = field(default_factory=dict)
