"""A resource running on this node, as the resource manager holds it: its agent and the
schedule of its health checks (LooksAlive, IsAlive), from the resource's own intervals or
else its type's."""

from __future__ import annotations

from dataclasses import dataclass

from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources import Agent


@dataclass
class Running:
    """A resource Online on this node: its agent and when it is checked next."""

    agent: Agent
    looks_every: float = float("inf")
    is_every: float = float("inf")
    next_looks: float = float("inf")
    next_is: float = float("inf")

    def schedule(self, now: float) -> None:
        self.next_looks, self.next_is = now + self.looks_every, now + self.is_every

    @classmethod
    def online(cls, agent: Agent, res: Resource, rtype: ResourceType, now: float) -> Running:
        """An Online resource, checked from ``now`` on at its own intervals, else its
        type's (LooksAlive, IsAlive)."""
        run = cls(
            agent,
            _interval(res.looks_alive_ms, rtype.looks_alive_ms),
            _interval(res.is_alive_ms, rtype.is_alive_ms),
        )
        run.schedule(now)
        return run


def _interval(own_ms: int | None, type_ms: int) -> float:
    return (own_ms if own_ms is not None else type_ms) / 1000.0
