"""Model <-> plain data (JSON/YAML), through pydantic, at the boundary only.

Parsing checks types and names the bad field (``groups.Web.failover_threshold: Input should
be a valid integer``); semantic checks are :mod:`wolfpack.model.validation`. Mappings of named
objects may omit ``name`` inside each value: the key is the name. Parsing is strict where a
mistake would otherwise pass silently: an unknown key (a typo such as ``failover_treshold``
would leave the default in force) and ``true`` where a number belongs are refused. Output
omits defaults, so a dumped snapshot reads like a hand-written scenario.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import Snapshot

if TYPE_CHECKING:  # a plan is parsed by few; a read of the database needs no plan
    from wolfpack.model.plan import Plan

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
    errors = list(_strict_errors(cls, data, ()))
    try:
        result = _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        errors += _pydantic_errors(exc, data, cls.__name__)
    if errors:
        raise ValidationError(errors)
    return result


_UNION_TAGS = frozenset({"str", "int", "bool", "list[str]"})  # PropertyValue's alternatives
_PROPERTY_VALUE = "must be a string, a whole number, true or false, or a list of strings"


def _path(loc: tuple[str | int, ...], default: str = "") -> str:
    return ".".join(str(p) for p in loc) or default


def _pydantic_errors(exc: pydantic.ValidationError, data: Any, root: str) -> list[FieldError]:
    """One error per field. A property value that fits none of the alternatives of
    ``PropertyValue`` gets one error on its own path (pydantic gives one per alternative)."""
    out: list[FieldError] = []
    seen: set[tuple[str | int, ...]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        cut = next(
            (
                i
                for i in range(len(loc) - 1, 0, -1)
                if loc[i] in _UNION_TAGS
                and (loc[i - 1] == "default" or (i >= 2 and loc[i - 2] == "properties"))
            ),
            None,
        )
        if cut is None:
            out.append(FieldError(_path(loc, root), err["msg"]))
        elif loc[:cut] not in seen:
            seen.add(loc[:cut])
            out.append(
                FieldError(_path(loc[:cut]), f"{_PROPERTY_VALUE}; got {_at(data, loc[:cut])!r}")
            )
    return out


def _at(data: Any, loc: tuple[str | int, ...]) -> Any:
    try:
        for part in loc:
            data = data[part]
    except (KeyError, IndexError, TypeError):
        return "?"
    return data


@functools.cache
def _fields(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _strict_errors(tp: Any, data: Any, loc: tuple[str | int, ...]) -> Iterator[FieldError]:
    """What pydantic's lax mode lets through: unknown keys of a dataclass (with a guess at
    the field meant) and a bool where an int or float belongs."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            return
        fields = _fields(tp)
        for key, value in data.items():
            if key in fields:
                yield from _strict_errors(fields[key], value, (*loc, key))
                continue
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(fields)}"
            yield FieldError(_path((*loc, key)), f"unknown field ({hint})")
        return
    if tp in (int, float):
        if isinstance(data, bool):
            yield FieldError(_path(loc), f"must be a number, got {str(data).lower()}")
        return
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if data is not None and len(options) == 1:
            yield from _strict_errors(options[0], data, loc)
    elif origin in (Mapping, dict) and isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strict_errors(args[1], value, (*loc, key))
    elif origin in (tuple, list) and isinstance(data, list | tuple) and _homogeneous(origin, args):
        for i, item in enumerate(data):
            yield from _strict_errors(args[0], item, (*loc, i))


def _homogeneous(origin: Any, args: tuple[Any, ...]) -> bool:
    """``list[X]`` or ``tuple[X, ...]``."""
    return (origin is list and len(args) == 1) or (len(args) == 2 and args[1] is Ellipsis)


def dump(obj: Any, *, exclude_defaults: bool = True) -> Any:
    """Plain JSON-compatible data for a model object (names kept, defaults dropped)."""
    data = _adapter(type(obj)).dump_python(obj, mode="json", exclude_defaults=exclude_defaults)
    return data


def parse_config(data: Any) -> ClusterConfig:
    return parse(ClusterConfig, data)


def parse_snapshot(data: Any) -> Snapshot:
    return parse(Snapshot, data)


def parse_plan(data: Any) -> Plan:
    from wolfpack.model.plan import Plan

    return parse(Plan, data)
