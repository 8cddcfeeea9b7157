"""What a read-only token may not see: secret values in resource properties (M10, issue 11).

A read-only token is handed to monitoring and dashboards; it must not reveal a database
password or a DNS update key. Three rules find secrets, all by shape, none by guessing at
what a command does:

* a property whose type marks it ``secret: true`` (any custom type or OCF parameter), or
  whose *name* says so (``password``, ``passwd``, ``secret``, ``token``, ``tsig``,
  ``credential``, ``private_key``, ``api_key``) — its whole value;
* inside any string (a ``command``, an ``environment`` entry): ``NAME=value`` where NAME
  says so (``PGPASSWORD=…``), ``--password value`` or ``--password=value`` (any option
  whose name says so), and the password of a URL (``postgres://u:pw@h``);
* lists: each entry alike.

The same rules shorten what the audit log keeps of a request body. Administrators see
everything (an admin equals root on every node anyway, docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

MASK = "***"
SECRET_WORDS = (
    "password", "passwd", "secret", "token", "tsig", "credential", "private_key", "api_key",
    "apikey",
)  # fmt: skip
_WORD = "|".join(SECRET_WORDS)
_ASSIGNMENT = re.compile(rf"(\b[A-Za-z_][A-Za-z0-9_]*(?:{_WORD})[A-Za-z0-9_]*=)(\S+)", re.I)
_OPTION = re.compile(rf"(--?[A-Za-z0-9_-]*(?:{_WORD})[A-Za-z0-9_-]*)(=|\s+)(\S+)", re.I)
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")


def secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``***``."""
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _ASSIGNMENT.sub(rf"\g<1>{MASK}", text)
    return _OPTION.sub(rf"\g<1>\g<2>{MASK}", text)


def redact_value(value: Any, secret: Collection[str] = ()) -> Any:
    """Secret-shaped parts of a value (strings, lists, mappings) replaced; a mapping's
    keys in ``secret`` (the types' secret property names) or named like a secret whole."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return [redact_value(v, secret) for v in value]
    if isinstance(value, Mapping):
        return {
            k: MASK
            if (k in secret or secret_name(str(k))) and v not in (None, "")
            else redact_value(v, secret)
            for k, v in value.items()
        }
    return value


def redact_properties(
    properties: Mapping[str, Any], secret: Collection[str] = ()
) -> dict[str, Any]:
    """A resource's ``properties`` as a read-only token sees them: those in ``secret`` (the
    type's secret properties) or named like a secret masked whole, the rest by shape."""
    return {
        name: MASK
        if (name in secret or secret_name(name)) and value not in (None, "", [])
        else redact_value(value)
        for name, value in properties.items()
    }
