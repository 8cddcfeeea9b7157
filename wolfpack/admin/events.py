"""A store change as an event: which part of the cluster changed (``section``: config,
state, intents, outcomes, admin, leases, tokens, api), the object's ``kind`` and ``name``,
and the store revision. The API's ``/api/v1/events`` and ``wolfpack events`` send these;
clients re-read what they show."""

from __future__ import annotations

from typing import Any

from wolfpack.store.base import WatchEvent


def describe(root: str, event: WatchEvent) -> dict[str, Any]:
    """``event`` of a watch on ``root`` (a ClusterDB's ``root``)."""
    rest = event.key[len(root) :] if event.key.startswith(root) else event.key
    parts = rest.split("/")
    section = parts[0]
    kind: str | None = None
    name: str | None = None
    if section in ("config", "state", "admin", "leases") and len(parts) >= 3:
        kind, name = parts[1], "/".join(parts[2:])
    elif section == "config" or (section == "leases" and len(parts) == 2):
        kind, name = ("cluster", None) if section == "config" else ("coordinator", None)
    elif len(parts) >= 2:
        kind, name = section, "/".join(parts[1:])
    else:
        kind = section
    return {
        "type": event.kind,
        "key": event.key,
        "section": section,
        "kind": kind,
        "name": name,
        "revision": event.mod_revision,
    }
