"""An installed OCF agent as a resource type (S26, S31; WSFC's Add-ClusterResourceType,
Pacemaker's ``crm_resource --show-metadata``): run its ``meta-data`` action on this machine,
bounded, and make the type ``ocf:<provider>:<type>`` from what it prints.

``wolfpack type register`` uses it on the administrator's machine (a node that has the
agent); the type then lives in the cluster database like any other and every node runs the
agent under that name (:class:`wolfpack.resources.ocf.OcfAgent`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wolfpack.errors import ValidationError
from wolfpack.model.config import ResourceType
from wolfpack.resources.commands import Account, find_program, run_bounded
from wolfpack.resources.ocf_metadata import (
    DEFAULT_OCF_ROOT,
    OcfMetadata,
    metadata_document,
    parse_metadata,
    resource_type_from_metadata,
    split_agent,
)

__all__ = ["METADATA_TIMEOUT_S", "agent_type", "read_metadata", "type_from_document"]

#: how long an agent's meta-data action may take (OCF advises 5 s; some agents are slow)
METADATA_TIMEOUT_S = 20.0


def _split(agent: str) -> tuple[str, str]:
    parts = split_agent(agent)
    if parts is None:
        raise ValidationError.single(
            "agent", f"{agent!r} is not provider:type (e.g. heartbeat:Dummy)"
        )
    return parts


def _agent_path(agent: str, parts: tuple[str, str], ocf_root: str) -> str:
    if not ocf_root.startswith("/"):
        raise ValidationError.single("ocf_root", f"{ocf_root!r} is not an absolute path")
    path = os.path.join(ocf_root, "resource.d", *parts)
    if find_program(path, "/") is None:
        raise ValidationError.single(
            "agent",
            f"OCF agent {agent!r} is not installed here ({path} is not an executable file): "
            "run this on a node that has it (wolfpack type agents lists them), or give its "
            "meta-data with --metadata FILE",
        )
    return path


def read_metadata(
    agent: str, ocf_root: str = DEFAULT_OCF_ROOT, timeout_s: float = METADATA_TIMEOUT_S
) -> OcfMetadata:
    """``agent``'s meta-data as this machine's copy prints it. ValidationError naming
    ``agent`` if it is not installed, does not answer in time or prints no meta-data."""
    provider, kind = _split(agent)
    path = _agent_path(agent, (provider, kind), ocf_root)
    env = {
        "OCF_ROOT": ocf_root,
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_TYPE": kind,
        "OCF_RESOURCE_PROVIDER": provider,
        "OCF_RESOURCE_INSTANCE": "wolfpack-meta-data",
    }
    account = Account.current()
    with tempfile.TemporaryDirectory(prefix="wolfpack-ocf-") as tmp:
        out = Path(tmp) / "meta-data.xml"  # all of it: a RunResult keeps only the tail
        try:
            result = run_bounded(
                account,
                [path, "meta-data"],
                timeout_s=timeout_s,
                cwd="/",
                env=account.environment(env),
                log_path=out,
            )
        except OSError as exc:
            raise ValidationError.single("agent", f"cannot run {path}: {exc}") from None
        if result.returncode is None:
            raise ValidationError.single(
                "agent", f"{path} meta-data did not finish within {timeout_s:g} s"
            )
        if result.returncode != 0:
            raise ValidationError.single(
                "agent",
                f"{path} meta-data exited {result.returncode}: {result.output.strip()[-300:]}",
            )
        return _parse(agent, out.read_text(errors="replace"))


def _parse(agent: str, text: str) -> OcfMetadata:
    try:
        meta = parse_metadata(metadata_document(text))
    except ValueError as exc:
        raise ValidationError.single(
            "metadata", f"the meta-data of {agent!r} is not an OCF document: {exc}"
        ) from None
    if not meta.parameters and not meta.actions:
        raise ValidationError.single(
            "metadata", f"the meta-data of {agent!r} names no parameters and no actions"
        )
    return meta


def type_from_document(agent: str, text: str) -> ResourceType:
    """The type ``ocf:<agent>`` from a saved meta-data document (``--metadata FILE``)."""
    _split(agent)
    return resource_type_from_metadata(agent, _parse(agent, text))


def agent_type(agent: str, ocf_root: str = DEFAULT_OCF_ROOT) -> ResourceType:
    """The type ``ocf:<agent>`` of the agent installed here."""
    return resource_type_from_metadata(agent, read_metadata(agent, ocf_root))
