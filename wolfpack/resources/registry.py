"""Which agent class implements which resource type's ``agent`` name.

Built-in agents are listed here by import path and imported on first use, so a node never
loads an agent (and its libraries) it does not run. A new agent is one more line.
"""

from __future__ import annotations

import importlib

from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources.base import Agent, AgentContext, AgentError, AgentResult

__all__ = ["AGENTS", "agent_class", "create_agent"]

#: agent name (ResourceType.agent) -> "module:Class"
AGENTS: dict[str, str] = {
    "application": "wolfpack.resources.application:ApplicationAgent",
    "script": "wolfpack.resources.script:ScriptAgent",
    "nginx": "wolfpack.resources.nginx:WebServerAgent",
    "postgresql": "wolfpack.resources.postgresql:PostgresAgent",
    "network-name": "wolfpack.resources.network_name:NetworkNameAgent",
    "ip": "wolfpack.resources.ip:IpAddressAgent",
    "ocf": "wolfpack.resources.ocf:OcfAgent",
    "disk": "wolfpack.resources.disk:DiskAgent",
    "service": "wolfpack.resources.service:ServiceAgent",
}


def agent_class(agent_name: str) -> type[Agent]:
    """The class of agent ``agent_name``; AgentError(ERR_INSTALLED) if there is none."""
    where = AGENTS.get(agent_name)
    if where is None:
        known = ", ".join(sorted(AGENTS))
        raise AgentError(
            AgentResult.ERR_INSTALLED,
            f"no resource agent {agent_name!r} is installed (installed: {known})",
        )
    module, _, name = where.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, Agent)
    return cls


def create_agent(resource: Resource, rtype: ResourceType, ctx: AgentContext) -> Agent:
    """An agent for ``resource`` of type ``rtype`` on this node."""
    try:
        cls = agent_class(rtype.agent)
    except AgentError as exc:
        raise AgentError(
            exc.code,
            f"resource {resource.name!r} on {ctx.node}: resource type {rtype.name!r} needs"
            f" agent {rtype.agent!r}, which this node does not have yet",
        ) from exc
    return cls(resource, rtype, ctx)
