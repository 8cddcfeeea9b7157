"""Where Debian installs PostgreSQL: one ``bin`` directory per major version. Shared by the
PostgreSQL Server agent and the node's software inventory; it imports nothing heavy, so the
inventory does not load the agent (and psycopg) into a daemon that never runs a database."""

from __future__ import annotations

from pathlib import Path

#: where the node's PostgreSQL versions are installed (Debian's layout)
BIN_GLOB = "/usr/lib/postgresql/*/bin"


def version_key(bindir: str) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,), for ordering versions by number."""
    name = Path(bindir).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)
