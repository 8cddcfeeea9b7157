"""Turning option text into model values; every failure names the model field it is for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from wolfpack.errors import FieldError, ValidationError
from wolfpack.model.config import PropertyKind, PropertyValue, ResourceType
from wolfpack.model.durations import duration

__all__ = ["duration", "hour_window", "names", "property_value", "utc_offset"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list (``node2,node1``); an empty text is the empty list."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def hour_window(text: str, field: str) -> tuple[int, int]:
    """``22-6``: from 22:00 to 06:00 cluster local time (may wrap midnight)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", text)
    if match is None:
        raise ValidationError.single(
            field, f"{text!r} is not an hour window: use START-END, e.g. 22-6"
        )
    return int(match.group(1)), int(match.group(2))


def utc_offset(text: str, field: str) -> int:
    """Minutes east of UTC: ``120``, ``+02:00`` or ``-05:30``."""
    match = re.fullmatch(r"\s*([+-])?(\d{1,2}):(\d{2})\s*", text)
    if match is not None:
        sign = -1 if match.group(1) == "-" else 1
        return sign * (int(match.group(2)) * 60 + int(match.group(3)))
    try:
        return int(text)
    except ValueError:
        raise ValidationError.single(
            field, f"{text!r} is not a UTC offset: use minutes (120) or +HH:MM (+02:00)"
        ) from None


def property_value(kind: PropertyKind, text: str) -> PropertyValue:
    """``text`` as the schema's kind; text that does not convert stays text, so validation
    reports it together with every other problem."""
    if kind is PropertyKind.INT:
        return int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else text
    if kind is PropertyKind.BOOL:
        low = text.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if kind is PropertyKind.LIST:
        return list(names(text))
    return text


def properties(
    assignments: Iterable[str], rtype: ResourceType | None, field: str
) -> dict[str, PropertyValue | None]:
    """``key=value`` texts converted by the type's schema; ``key=`` (empty) maps to None,
    meaning "remove". Keys unknown to the type stay strings (validation names them)."""
    out: dict[str, PropertyValue | None] = {}
    errors: list[FieldError] = []
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            errors.append(FieldError(field, f"expected key=value, got {item!r}"))
            continue
        spec = rtype.spec(key) if rtype is not None else None
        if text == "":
            out[key] = None
        else:
            out[key] = property_value(spec.kind, text) if spec else text
    if errors:
        raise ValidationError(errors)
    return out


def merge_properties(
    current: Mapping[str, PropertyValue], changes: Mapping[str, PropertyValue | None]
) -> dict[str, PropertyValue]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
