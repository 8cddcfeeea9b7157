"""Model <-> plain data (JSON/YAML), through pydantic, at the boundary only.

Parsing checks types and names the bad field (``groups.Web.failover_threshold: Input should
be a valid integer``); semantic checks are :mod:`wolfpack.model.validation`. Mappings of named
objects may omit ``name`` inside each value: the key is the name. Output omits defaults, so a
dumped snapshot reads like a hand-written scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.plan import Plan
from wolfpack.model.snapshot import Snapshot

T = TypeVar("T")

_NAMED_SECTIONS = ("nodes", "networks", "interfaces", "groups", "resources", "types")
_adapters: dict[type[Any], pydantic.TypeAdapter[Any]] = {}


def _adapter(cls: type[T]) -> pydantic.TypeAdapter[T]:
    if cls not in _adapters:
        _adapters[cls] = pydantic.TypeAdapter(cls)
    return _adapters[cls]


def _fill_names(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for section in _NAMED_SECTIONS:
        objects = out.get(section)
        if isinstance(objects, Mapping):
            out[section] = {
                key: ({"name": key, **value} if isinstance(value, Mapping) else value)
                for key, value in objects.items()
            }
    return out


def parse(cls: type[T], data: Any) -> T:
    """Build a model object from plain data, raising :class:`ValidationError` naming fields."""
    if cls is ClusterConfig and isinstance(data, Mapping):
        data = _fill_names(data)
    elif cls is Snapshot and isinstance(data, Mapping) and isinstance(data.get("config"), Mapping):
        data = {**data, "config": _fill_names(data["config"])}
    try:
        return _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [
                FieldError(".".join(str(p) for p in err["loc"]) or cls.__name__, err["msg"])
                for err in exc.errors()
            ]
        ) from None


def dump(obj: Any, *, exclude_defaults: bool = True) -> Any:
    """Plain JSON-compatible data for a model object (names kept, defaults dropped)."""
    data = _adapter(type(obj)).dump_python(obj, mode="json", exclude_defaults=exclude_defaults)
    return data


def parse_config(data: Any) -> ClusterConfig:
    return parse(ClusterConfig, data)


def parse_snapshot(data: Any) -> Snapshot:
    return parse(Snapshot, data)


def parse_plan(data: Any) -> Plan:
    return parse(Plan, data)
