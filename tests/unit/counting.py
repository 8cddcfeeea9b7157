"""A store that counts the calls made on it: for tests of how many requests a path costs."""

from __future__ import annotations

import collections
from typing import Any

from wolfpack.store.memory import MemoryStore


class Counting:
    """The store, with every call counted by method."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        self.calls[name] += 1
        return getattr(self.store, name)
