"""Wolfpack's cluster database layer: the :class:`Store` contract and its implementations.

* :mod:`wolfpack.store.base` -- the contract (read it first) and value types
* :class:`MemoryStore` -- in-process fake for unit tests
* :class:`EtcdStore` -- etcd v3 through its HTTP gateway, for production
* :mod:`wolfpack.store.keys` -- the key layout (schema version 1)
* :mod:`wolfpack.store.mirror` -- a copy of the root kept current by a watch (the coordinator's)
* :class:`EtcdProcess` -- run a private etcd for tests and the demo

``EtcdStore`` and ``EtcdProcess`` are imported on first use: a CLI verb's ``--help`` and the
in-memory tests have no use for their HTTP and TLS code (issue 12).
"""

from typing import TYPE_CHECKING, Any

from wolfpack.store import keys
from wolfpack.store.base import (
    Compare,
    Delete,
    KeyValue,
    Op,
    Put,
    Store,
    TxnResult,
    Watch,
    WatchEvent,
    compare_and_swap,
    key_absent,
    key_exists,
    mod_revision_is,
    prefix_empty,
    put_if_absent,
    value_is,
)
from wolfpack.store.keys import SCHEMA_VERSION, KeySpace, ensure_schema
from wolfpack.store.memory import MemoryStore

if TYPE_CHECKING:
    from wolfpack.store.etcd import EtcdStore
    from wolfpack.store.etcd_process import EtcdProcess

_LAZY = {"EtcdStore": "wolfpack.store.etcd", "EtcdProcess": "wolfpack.store.etcd_process"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION",
    "Compare",
    "Delete",
    "EtcdProcess",
    "EtcdStore",
    "KeySpace",
    "KeyValue",
    "MemoryStore",
    "Op",
    "Put",
    "Store",
    "TxnResult",
    "Watch",
    "WatchEvent",
    "compare_and_swap",
    "ensure_schema",
    "key_absent",
    "key_exists",
    "keys",
    "mod_revision_is",
    "prefix_empty",
    "put_if_absent",
    "value_is",
]
