"""The agent registry and the public surface of wolfpack.resources."""

from __future__ import annotations

from pathlib import Path

import pytest

import wolfpack.resources
from wolfpack.errors import WolfpackError
from wolfpack.model.builtin_types import (
    BUILTIN_TYPES,
    GENERIC_APPLICATION,
    GENERIC_SCRIPT,
    GENERIC_SERVICE,
    IP_ADDRESS,
    NETWORK_NAME,
    OCF,
    PHYSICAL_DISK,
    POSTGRESQL,
    WEB_SERVER,
    builtin_types,
)
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources import Agent, AgentError, AgentResult, agent_class, create_agent
from wolfpack.resources.application import ApplicationAgent
from wolfpack.resources.disk import DiskAgent
from wolfpack.resources.ip import IpAddressAgent
from wolfpack.resources.network_name import NetworkNameAgent
from wolfpack.resources.nginx import WebServerAgent
from wolfpack.resources.ocf import OcfAgent
from wolfpack.resources.postgresql import PostgresAgent
from wolfpack.resources.registry import AGENTS
from wolfpack.resources.script import ScriptAgent
from wolfpack.resources.service import ServiceAgent

from . import Recorder

IMPLEMENTED: dict[str, type[Agent]] = {
    GENERIC_APPLICATION: ApplicationAgent,
    GENERIC_SCRIPT: ScriptAgent,
    IP_ADDRESS: IpAddressAgent,
    NETWORK_NAME: NetworkNameAgent,
    WEB_SERVER: WebServerAgent,
    POSTGRESQL: PostgresAgent,
    OCF: OcfAgent,
    PHYSICAL_DISK: DiskAgent,
    GENERIC_SERVICE: ServiceAgent,
}


def test_public_surface() -> None:
    assert sorted(wolfpack.resources.__all__) == [
        "Agent",
        "AgentContext",
        "AgentError",
        "AgentResult",
        "agent_class",
        "create_agent",
        "error_fields",  # the resource manager logs an agent's code and message with it
    ]
    assert issubclass(AgentError, WolfpackError)


@pytest.mark.parametrize("rtype", BUILTIN_TYPES, ids=lambda t: t.name)
def test_every_builtin_type_has_its_agent(rtype: ResourceType, tmp_path: Path) -> None:
    res = Resource("r", rtype.name, "g")
    ctx = Recorder(tmp_path).ctx
    assert agent_class(rtype.agent) is IMPLEMENTED[rtype.name]
    assert isinstance(create_agent(res, rtype, ctx), IMPLEMENTED[rtype.name])


def test_a_type_whose_agent_this_node_lacks_gets_a_clear_error(tmp_path: Path) -> None:
    rtype = ResourceType("Tape Library", agent="tape")
    res = Resource("r", rtype.name, "g")
    ctx = Recorder(tmp_path).ctx
    with pytest.raises(AgentError) as err:
        agent_class(rtype.agent)
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert repr(rtype.agent) in str(err.value)
    with pytest.raises(AgentError) as err:
        create_agent(res, rtype, ctx)
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert repr(rtype.name) in str(err.value) and "node1" in str(err.value)


def test_every_registered_agent_is_an_agent() -> None:
    for name in AGENTS:
        assert issubclass(agent_class(name), Agent)


def test_a_resource_of_another_type_is_refused(tmp_path: Path) -> None:
    types = builtin_types()
    res = Resource("r", IP_ADDRESS, "g")
    with pytest.raises(AgentError) as err:
        create_agent(res, types[GENERIC_APPLICATION], Recorder(tmp_path).ctx)
    assert err.value.code is AgentResult.ERR_ARGS
