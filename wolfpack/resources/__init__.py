"""Resource agents: the code that starts, stops and watches one kind of resource on a node.

The resource manager uses only what is exported here: :func:`create_agent` gives the
:class:`Agent` for a resource, whose contract is in :mod:`wolfpack.resources.base`.
"""

from wolfpack.resources.base import Agent, AgentContext, AgentError, AgentResult, error_fields
from wolfpack.resources.registry import agent_class, create_agent

__all__ = [
    "Agent",
    "AgentContext",
    "AgentError",
    "AgentResult",
    "agent_class",
    "create_agent",
    "error_fields",
]
