"""What a node reports about itself for ``wolfpack cluster validate`` (S1, Test-Cluster).

A node gathers these facts (``wolfpack.node.selfcheck``) and never judges them: the pure
judge (``wolfpack.policy.validate``) compares them with the cluster's configuration. What to
look at is decided from the configuration too (:class:`Expectations`, made by
``wolfpack.policy.validate.expectations``), so a node probes exactly the peers, names,
disks and programs the cluster will need of it. Every class here is a frozen dataclass of
plain values, coded to and from JSON by :mod:`wolfpack.model.codec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wolfpack.model import codec

# -- what to look at (from the configuration) -----------------------------------------------


@dataclass(frozen=True)
class PeerTarget:
    """A peer's address on a cluster network that this node also has an address on."""

    network: str
    peer: str
    address: str
    #: this node's own address on that network (the connection's source)
    source: str


@dataclass(frozen=True)
class NameTarget:
    """A name that must resolve: the cluster's (``kind`` "cluster") or a node's ("node")."""

    kind: str
    name: str
    #: addresses it should resolve to (empty: any answer will do)
    expected: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiskTarget:
    """The block device of a Physical Disk resource this node is a possible owner of."""

    resource: str
    device: str


@dataclass(frozen=True)
class ProgramTarget:
    """A program a resource this node may own runs: a bare name (searched on PATH and the
    sbin directories) or an absolute path."""

    resource: str
    type: str
    program: str


@dataclass(frozen=True)
class Expectations:
    node: str
    peers: tuple[PeerTarget, ...] = ()
    names: tuple[NameTarget, ...] = ()
    disks: tuple[DiskTarget, ...] = ()
    programs: tuple[ProgramTarget, ...] = ()


# -- what the node found ----------------------------------------------------------------------


@dataclass(frozen=True)
class AddressFact:
    """An address on one of the node's interfaces (``198.51.100.11/24``)."""

    ifname: str
    address: str
    #: the link has carrier and is up
    up: bool


@dataclass(frozen=True)
class ReachFact:
    """Could this node open a connection to a peer's address (a refused connection counts:
    the peer answered)?"""

    network: str
    peer: str
    address: str
    reachable: bool
    latency_ms: float | None = None
    error: str = ""


@dataclass(frozen=True)
class HeardFact:
    """The peers whose heartbeats this node hears now on one heartbeat network."""

    network: str
    peers: tuple[str, ...] = ()


@dataclass(frozen=True)
class NameFact:
    kind: str
    name: str
    addresses: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class ClockFact:
    """The node's wall clock (seconds) as it started gathering, and the clock of the API
    node that asked it just before and just after (``reference_*``; 0 when nobody stamped
    it). With :attr:`NodeFacts.took_ms` this is one NTP-style exchange."""

    wall: float
    reference_node: str = ""
    reference_sent: float = 0.0
    reference_received: float = 0.0


@dataclass(frozen=True)
class DiskFact:
    resource: str
    device: str
    #: the path the device resolves to (``/dev/loop7``), empty when it names nothing
    path: str = ""
    is_block: bool = False
    error: str = ""


@dataclass(frozen=True)
class ProgramFact:
    resource: str
    type: str
    program: str
    #: where it was found, executable; empty when missing
    path: str = ""


@dataclass(frozen=True)
class EtcdFact:
    """One read of the cluster database from this node, timed."""

    ok: bool
    endpoints: str = ""
    latency_ms: float | None = None
    error: str = ""


@dataclass(frozen=True)
class EndpointFact:
    """A new TCP connection from this node to one etcd endpoint (``https://host:port``)."""

    url: str
    reachable: bool
    latency_ms: float | None = None
    error: str = ""


@dataclass(frozen=True)
class FenceFact:
    """This node's fence agent: ``none``, ``test`` or a program (found and executable?)."""

    agent: str
    found: bool
    detail: str = ""


@dataclass(frozen=True)
class WatchdogFact:
    """The node's watchdog process (kills its resources when the daemon freezes)."""

    running: bool
    detail: str = ""


@dataclass(frozen=True)
class NodeFacts:
    node: str
    clock: ClockFact
    addresses: tuple[AddressFact, ...] = ()
    reach: tuple[ReachFact, ...] = ()
    #: the daemon's heartbeat view (empty: no heartbeats run, or none was asked)
    heard: tuple[HeardFact, ...] = ()
    names: tuple[NameFact, ...] = ()
    disks: tuple[DiskFact, ...] = ()
    programs: tuple[ProgramFact, ...] = ()
    etcd: EtcdFact | None = None
    etcd_endpoints: tuple[EndpointFact, ...] = ()
    fence: FenceFact | None = None
    watchdog: WatchdogFact | None = None
    #: how long gathering took on the node (ms)
    took_ms: float = 0.0


# -- the judge's answer -----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRow:
    """One verdict: ``check`` on ``node`` is ``pass``, ``warn`` or ``fail``, with a reason
    code and a message that says what to fix."""

    check: str
    node: str
    verdict: str
    code: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    #: when it was judged (wall clock of the asker)
    at: float
    nodes: tuple[str, ...]
    rows: tuple[CheckRow, ...]

    def with_verdict(self, verdict: str) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.verdict == verdict)

    @property
    def unasked(self) -> tuple[str, ...]:
        """Nodes that could not be asked (their facts are unknown)."""
        return tuple(r.node for r in self.rows if r.code == "NODE_NOT_ASKED")


def report_document(report: ValidationReport) -> dict[str, Any]:
    """The report as JSON: what ``wolfpack cluster validate --json`` prints and
    ``GET /api/v1/cluster/validation`` answers (every field, defaults too)."""
    document: dict[str, Any] = codec.dump(report, exclude_defaults=False)
    return document
