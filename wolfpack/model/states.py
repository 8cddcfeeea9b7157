"""Enumerations an administrator sees: states, roles and policies (names follow MSCS/WSFC)."""

from __future__ import annotations

from enum import StrEnum


class NodeState(StrEnum):
    UP = "Up"
    DOWN = "Down"
    PAUSED = "Paused"
    JOINING = "Joining"


class ResourceState(StrEnum):
    OFFLINE = "Offline"
    ONLINE_PENDING = "OnlinePending"
    ONLINE = "Online"
    OFFLINE_PENDING = "OfflinePending"
    FAILED = "Failed"

    @property
    def pending(self) -> bool:
        return self in (ResourceState.ONLINE_PENDING, ResourceState.OFFLINE_PENDING)

    @property
    def active(self) -> bool:
        """True while the resource may be running on its node (must be stopped before a move)."""
        return self is not ResourceState.OFFLINE


class GroupState(StrEnum):
    """Derived from the group's resources (see :func:`wolfpack.model.fsm.group_state`)."""

    ONLINE = "Online"
    OFFLINE = "Offline"
    FAILED = "Failed"
    PARTIAL_ONLINE = "PartialOnline"
    PENDING = "Pending"


class NetworkRole(StrEnum):
    """S15: which traffic a network carries. Heartbeats use private and mixed networks."""

    NONE = "none"
    PRIVATE = "private"
    PUBLIC = "public"
    MIXED = "mixed"

    @property
    def carries_heartbeats(self) -> bool:
        return self in (NetworkRole.PRIVATE, NetworkRole.MIXED)

    @property
    def carries_clients(self) -> bool:
        return self in (NetworkRole.PUBLIC, NetworkRole.MIXED)


class NetworkState(StrEnum):
    """WSFC CLUSTER_NETWORK_STATE (docs/membership.md)."""

    UP = "Up"  # every live interface on it is Up
    PARTITIONED = "Partitioned"  # some pairs of live nodes cannot talk on it
    DOWN = "Down"  # no live node can use it
    UNAVAILABLE = "Unavailable"  # no live node has an interface on it


class InterfaceState(StrEnum):
    """WSFC CLUSTER_NETINTERFACE_STATE (docs/membership.md)."""

    UP = "Up"
    FAILED = "Failed"  # its link is lost, or it talks to no other node on its network
    UNREACHABLE = "Unreachable"  # it cannot reach at least one healthy peer
    UNAVAILABLE = "Unavailable"  # its node is not a live member


class RestartAction(StrEnum):
    """What the resource monitor does when a resource fails (WSFC RestartAction 0/1/2)."""

    DONT_RESTART = "dont-restart"
    RESTART_NO_FAILOVER = "restart"  # restart, but never fail the group over
    RESTART_AND_FAILOVER = "restart-and-failover"  # default: "affect the group"


class FailbackMode(StrEnum):
    """S38: prevent (default), immediately, or only inside an hour window."""

    PREVENT = "prevent"
    IMMEDIATE = "immediate"
    WINDOW = "window"


class Wanted(StrEnum):
    """The state an administrator asked for; persists across restarts (PersistentState)."""

    ONLINE = "online"
    OFFLINE = "offline"
