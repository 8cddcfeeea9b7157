"""One range read of the database root, as :class:`~wolfpack.store.database_read.DatabaseRead`.

Shared by :meth:`ClusterDB.read <wolfpack.store.repository.ClusterDB.read>` and the verbs that
only look (``wolfpack status``): they need no write path, so they import neither
:mod:`wolfpack.store.repository` nor what its writes need (validation, renames, timelines).
"""

from __future__ import annotations

from collections.abc import Mapping

from wolfpack.store.base import KeyValue, Store
from wolfpack.store.database_read import DatabaseRead, DecodeCache
from wolfpack.store.keys import KeySpace


def read_root(store: Store, keys: KeySpace, cache: DecodeCache | None = None) -> DatabaseRead:
    """Everything under ``keys.root`` as of one revision (documents parsed lazily, each once
    per mod revision in ``cache``, which forgets the keys that are gone)."""
    kvs, revision = store.get_prefix(keys.root)
    return database_read({kv.key: kv for kv in kvs}, revision, keys, cache)


def database_read(
    by_key: Mapping[str, KeyValue], revision: int, keys: KeySpace, cache: DecodeCache | None
) -> DatabaseRead:
    """A :class:`DatabaseRead` of keys already read at ``revision`` (from the store, or from a
    watch-kept copy); ``cache`` forgets the keys that are gone."""
    if cache is not None:
        cache.forget_except(by_key)
    return DatabaseRead(by_key, revision, keys, cache)
