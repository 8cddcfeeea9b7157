"""An OCF agent's ``meta-data`` (no I/O but :func:`installed_agents`): the XML parsed into
:class:`OcfMetadata`, its parameters as a property schema and as a resource type
``ocf:<provider>:<type>`` (S26/S31), and the agents installed on this node.

The agent that runs them is :class:`wolfpack.resources.ocf.OcfAgent`.
"""

from __future__ import annotations

import contextlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from wolfpack.model.builtin_types import OCF, builtin_types
from wolfpack.model.config import PropertyKind, PropertySpec, PropertyValue, ResourceType

__all__ = [
    "DEFAULT_OCF_ROOT",
    "RUN_PROPERTIES",
    "TYPE_PREFIX",
    "OcfAction",
    "OcfMetadata",
    "OcfParameter",
    "installed_agents",
    "metadata_document",
    "parse_duration",
    "parse_metadata",
    "resource_type_from_metadata",
    "schema_from_metadata",
    "split_agent",
]

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
#: of a type made by :func:`resource_type_from_metadata`, where every other one is
RUN_PROPERTIES = ("ocf_root", "netns")
#: the prefix of the name of a type made by :func:`resource_type_from_metadata`
TYPE_PREFIX = "ocf:"

_GENERIC = builtin_types()[OCF]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_TRUE = frozenset({"1", "yes", "true", "on", "ja", "y"})
_FALSE = frozenset({"0", "no", "false", "off", "nein", "n"})


# -- meta-data, no I/O ------------------------------------------------------------------------
@dataclass(frozen=True)
class OcfParameter:
    name: str
    required: bool = False
    unique: bool = False
    #: the ``<content type>``: string, integer, boolean, select, ...
    content_type: str = "string"
    default: str | None = None
    shortdesc: str = ""
    longdesc: str = ""
    #: the ``<option value>`` of a ``select`` (OCF 1.1)
    options: tuple[str, ...] = ()
    deprecated: bool = False


@dataclass(frozen=True)
class OcfAction:
    name: str
    timeout_s: float | None = None
    interval_s: float | None = None
    depth: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class OcfMetadata:
    name: str
    version: str = ""
    shortdesc: str = ""
    longdesc: str = ""
    parameters: tuple[OcfParameter, ...] = ()
    actions: tuple[OcfAction, ...] = ()

    def parameter(self, name: str) -> OcfParameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def supports(self, action: str) -> bool:
        return any(a.name == action for a in self.actions)

    def timeout_s(self, action: str, depth: int | None = None) -> float | None:
        """The advised timeout of ``action`` (of the entry with ``depth`` if one has it)."""
        entries = [a for a in self.actions if a.name == action and a.timeout_s is not None]
        exact = [a for a in entries if (a.depth or 0) == (depth or 0)]
        chosen = exact or entries
        return chosen[0].timeout_s if chosen else None


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_UNITS_S = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 0.001,
    "msec": 0.001,
    "us": 1e-6,
    "usec": 1e-6,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
}


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OCF/Pacemaker duration (``20s``, ``20``, ``500ms``, ``2min``), or None."""
    if text is None:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    unit = _UNITS_S.get(match.group(2).lower())
    return None if unit is None else float(match.group(1)) * unit


def _text(elem: ET.Element | None, tag: str) -> str:
    child = None if elem is None else elem.find(tag)
    return " ".join((child.text or "").split()) if child is not None else ""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def parse_metadata(xml_text: str) -> OcfMetadata:
    """The ``meta-data`` an OCF agent prints. ValueError if it is not OCF meta-data."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"meta-data is not well-formed XML: {exc}") from exc
    if root.tag != "resource-agent" or not root.get("name"):
        raise ValueError(f"meta-data root is <{root.tag}>, not <resource-agent name=...>")
    params: list[OcfParameter] = []
    for p in root.iterfind("parameters/parameter"):
        name = p.get("name")
        if not name:
            raise ValueError("meta-data has a <parameter> without a name")
        content = p.find("content")
        ctype = "string" if content is None else (content.get("type") or "string")
        options = () if content is None else tuple(o.get("value") or "" for o in content)
        params.append(
            OcfParameter(
                name=name,
                required=_flag(p.get("required")),
                unique=_flag(p.get("unique")) or _flag(p.get("unique-group")),
                content_type=ctype.strip().lower(),
                default=None if content is None else content.get("default"),
                shortdesc=_text(p, "shortdesc"),
                longdesc=_text(p, "longdesc"),
                options=options,
                deprecated=p.find("deprecated") is not None,
            )
        )
    actions: list[OcfAction] = []
    for a in root.iterfind("actions/action"):
        depth = a.get("depth")
        actions.append(
            OcfAction(
                name=a.get("name") or "",
                timeout_s=parse_duration(a.get("timeout")),
                interval_s=parse_duration(a.get("interval")),
                depth=int(depth) if depth is not None and depth.strip().isdigit() else None,
                role=a.get("role"),
            )
        )
    return OcfMetadata(
        name=root.get("name") or "",
        version=_text(root, "version") or (root.get("version") or ""),
        shortdesc=_text(root, "shortdesc"),
        longdesc=_text(root, "longdesc"),
        parameters=tuple(params),
        actions=tuple(actions),
    )


def _typed_default(param: OcfParameter, kind: PropertyKind) -> PropertyValue | None:
    raw = param.default
    if raw is None or raw.strip() == "" or param.required:
        return None
    if kind is PropertyKind.INT:
        try:
            return int(raw.strip())
        except ValueError:
            return None
    if kind is PropertyKind.BOOL:
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return raw


def schema_from_metadata(meta: OcfMetadata) -> tuple[PropertySpec, ...]:
    """The agent's parameters as a property schema: integer and boolean parameters become
    INT and BOOL properties, a ``select`` a string with choices, the rest strings; an empty
    default becomes no default (a string property may not be empty)."""
    specs: list[PropertySpec] = []
    for p in meta.parameters:
        kind = {"integer": PropertyKind.INT, "boolean": PropertyKind.BOOL}.get(
            p.content_type, PropertyKind.STRING
        )
        default = _typed_default(p, kind)
        if kind is PropertyKind.INT and default is None and p.default not in (None, ""):
            kind = PropertyKind.STRING  # e.g. "5s" in an integer: keep what the agent said
            default = p.default
        choices = tuple(o for o in p.options if o) if p.content_type == "select" else ()
        if choices and isinstance(default, str) and default not in choices:
            default = None
        specs.append(
            PropertySpec(
                p.name,
                kind,
                required=p.required,
                default=default,
                description=p.shortdesc,
                choices=choices,
            )
        )
    return tuple(specs)


def resource_type_from_metadata(agent: str, meta: OcfMetadata) -> ResourceType:
    """A resource type ``ocf:<provider>:<type>`` for one installed agent (S26/S31): its
    parameters are the type's properties (given to the agent as ``OCF_RESKEY_``), plus
    ``ocf_root`` and ``netns`` unless the agent has parameters of those names."""
    schema = schema_from_metadata(meta)
    names = {spec.name for spec in schema}
    run = tuple(
        spec
        for spec in (_GENERIC.spec(name) for name in RUN_PROPERTIES)
        if spec is not None and spec.name not in names
    )
    return ResourceType(
        f"{TYPE_PREFIX}{agent}",
        agent="ocf",
        description=meta.shortdesc or f"OCF resource agent {agent}",
        properties=schema + run,
    )


def split_agent(spec: str) -> tuple[str, str] | None:
    """``provider:type`` (e.g. ``heartbeat:Dummy``) as (provider, type), or None if it is
    not one: both parts letters, digits and ``_.+-``, so neither can name another path."""
    provider, sep, kind = spec.partition(":")
    if not sep or not _NAME.fullmatch(provider) or not _NAME.fullmatch(kind):
        return None
    return provider, kind


def metadata_document(text: str) -> str:
    """The meta-data document in an agent's output (stderr is mixed in)."""
    start = text.find("<?xml")
    if start < 0:
        start = text.find("<resource-agent")
    end = text.rfind("</resource-agent>")
    if start < 0 or end < 0:
        return text
    return text[start : end + len("</resource-agent>")]


def installed_agents(ocf_root: str | Path = DEFAULT_OCF_ROOT) -> list[str]:
    """Every agent under ``ocf_root/resource.d`` as ``provider:type``, sorted."""
    base = Path(ocf_root) / "resource.d"
    found: list[str] = []
    with contextlib.suppress(OSError):
        for provider in base.iterdir():
            if provider.name.startswith(".") or not provider.is_dir():
                continue
            for agent in provider.iterdir():
                if not agent.name.startswith(".") and agent.is_file() and os.access(agent, os.X_OK):
                    found.append(f"{provider.name}:{agent.name}")
    return sorted(found)
