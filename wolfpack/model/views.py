"""What a node publishes about its heartbeats (which peers it hears), as a value: the
evidence the coordinator weighs before it calls a silent node dead (H5, docs/fencing.md).
Published and read by :mod:`wolfpack.node.views`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class PublishedView:
    """One node's published view. ``revision`` is the key's mod revision in etcd (0 until
    written): comparing it with a :class:`Silence` tells whether the node wrote after it."""

    heard: frozenset[str]
    epoch: int = 0  # bumped when ``heard`` changes, not when answering
    acks: Mapping[str, int] = field(default_factory=dict)  # peer -> its epoch we answered
    revision: int = 0

    def encode(self) -> bytes:
        doc = {"heard": sorted(self.heard), "epoch": self.epoch, "acks": dict(self.acks)}
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes, revision: int) -> PublishedView:
        """A damaged document still proves its writer wrote at ``revision``; it claims to
        hear nobody."""
        try:
            doc = json.loads(data)
            heard = frozenset(str(n) for n in doc["heard"])
            acks = {str(k): int(v) for k, v in doc.get("acks", {}).items()}
            return cls(heard, int(doc["epoch"]), MappingProxyType(acks), revision)
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(frozenset(), 0, MappingProxyType({}), revision)


@dataclass(frozen=True)
class Silence:
    """A peer missing from our published view since ``revision`` (our first view without it),
    published ``elapsed_s`` ago by our monotonic clock."""

    revision: int
    elapsed_s: float
