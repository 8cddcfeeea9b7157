"""Wolfpack's cluster database layer: the :class:`Store` contract and its implementations.

* :mod:`wolfpack.store.base` -- the contract (read it first) and value types
* :class:`MemoryStore` -- in-process fake for unit tests
* :class:`EtcdStore` -- etcd v3 through its HTTP gateway, for production
* :mod:`wolfpack.store.keys` -- the key layout (schema version 1)
* :class:`EtcdProcess` -- run a private etcd for tests and the demo
"""

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
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_process import EtcdProcess
from wolfpack.store.keys import SCHEMA_VERSION, KeySpace, ensure_schema
from wolfpack.store.memory import MemoryStore

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
