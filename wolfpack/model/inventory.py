"""What software a node has: the facts a wizard checks before it creates a group there.

Each ``wolfpackd`` probes its own node when it starts and stores the result in the cluster
database (``inventory/<node>``), so an administrator on any node learns, before anything is
created, that node3 lacks the PostgreSQL binaries (S40: "binaries local on every node").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Inventory:
    node: str
    #: when the node probed itself (wall clock, seconds)
    probed_at: float = 0.0
    #: PostgreSQL major versions whose ``postgres`` and ``initdb`` are both installed
    postgresql_versions: tuple[str, ...] = ()
    #: program name -> path, for the programs the built-in resource agents run
    programs: Mapping[str, str] = field(default_factory=dict)
