"""Durations in and out: what an administrator types (``6h``, ``500ms``) and what messages
say (``1 h 30 min``), for the CLI, the API and the policy alike."""

from __future__ import annotations

import re

from wolfpack.errors import ValidationError

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_MS_PER = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration(text: str, field: str, *, unit: str = "s") -> int:
    """``6h``, ``90m``, ``3600s``, ``500ms`` or a bare number in ``unit``; whole ``unit``s."""
    match = _DURATION.match(text)
    if match is None:
        raise ValidationError.single(
            field, f"{text!r} is not a duration: use e.g. 6h, 90m, 3600s or 500ms"
        )
    number, suffix = int(match.group(1)), (match.group(2) or unit).lower()
    ms = number * _MS_PER[suffix]
    if ms % _MS_PER[unit]:
        raise ValidationError.single(field, f"{text!r} is not a whole number of {unit}")
    return ms // _MS_PER[unit]


def duration_text(seconds: float) -> str:
    """A period written exactly, in the largest units that fit: 5400 -> "1 h 30 min",
    21600 -> "6 h", 90 -> "1 min 30 s", 0.5 -> "0.5 s" (never rounded: a message must not
    claim a shorter period than the one configured)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)} h"] if hours else []
    parts += [f"{int(minutes)} min"] if minutes else []
    parts += [f"{secs:g} s"] if secs or not parts else []
    return " ".join(parts)
