"""``update_doc`` from a read the caller already holds (the coordinator's read of the root):
no request of its own when the document is as read, and exactly the old read-modify-write
when it is not (bench/coordinator_scale.py counts the requests this saves)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from wolfpack.errors import ConflictError
from wolfpack.model import codec
from wolfpack.model.snapshot import GroupStatus
from wolfpack.model.states import Wanted
from wolfpack.store import KeySpace, MemoryStore, key_exists
from wolfpack.store.repository import encode
from wolfpack.store.view import DocChange, update_doc, update_docs

from .counting import Counting

KEYS = KeySpace()
KEY = KEYS.state("groups", "Web")


def read_of(store: MemoryStore) -> dict[str, Any]:
    kvs, _ = store.get_prefix(KEYS.root)
    return {kv.key: kv for kv in kvs}


def to_node2(status: GroupStatus | None) -> GroupStatus:
    return replace(status or GroupStatus(), owner="node2")


def stored(store: MemoryStore) -> GroupStatus:
    kv = store.get(KEY)
    assert kv is not None
    return codec.parse(GroupStatus, json.loads(kv.value))


def test_as_read_it_writes_without_reading_again() -> None:
    store = MemoryStore()
    store.put(KEY, encode(GroupStatus(owner="node1")))
    counting = Counting(store)
    update_doc(counting, KEY, GroupStatus, to_node2, read=read_of(store))  # type: ignore[arg-type]
    assert counting.calls == {"txn": 1}
    assert stored(store).owner == "node2"


def test_absent_in_the_read_is_created_only_if_still_absent() -> None:
    store = MemoryStore()
    read = read_of(store)
    store.put(KEY, encode(GroupStatus(owner="node3", wanted=Wanted.OFFLINE)))  # after the read
    counting = Counting(store)
    update_doc(counting, KEY, GroupStatus, to_node2, read=read)  # type: ignore[arg-type]
    assert stored(store) == GroupStatus(owner="node2", wanted=Wanted.OFFLINE)  # not lost
    assert counting.calls["get"] == 1


def test_written_since_the_read_it_is_read_again_and_keeps_the_other_write() -> None:
    store = MemoryStore()
    store.put(KEY, encode(GroupStatus(owner="node1")))
    read = read_of(store)
    store.put(KEY, encode(GroupStatus(owner="node1", wanted=Wanted.OFFLINE)))
    update_doc(store, KEY, GroupStatus, to_node2, read=read)
    assert stored(store) == GroupStatus(owner="node2", wanted=Wanted.OFFLINE)


def test_no_change_on_the_read_is_judged_again_on_a_fresh_read() -> None:
    store = MemoryStore()
    store.put(KEY, encode(GroupStatus(owner="node2")))
    read = read_of(store)
    store.put(KEY, encode(GroupStatus(owner="node1")))  # moved since the read
    update_doc(store, KEY, GroupStatus, to_node2, read=read)
    assert stored(store).owner == "node2"


def test_a_failed_guard_refuses_the_write() -> None:
    store = MemoryStore()
    store.put(KEY, encode(GroupStatus(owner="node1")))
    guard = key_exists(KEYS.coordinator)  # no coordinator: the guard fails
    with pytest.raises(ConflictError):
        update_doc(store, KEY, GroupStatus, to_node2, extra_compares=[guard], read=read_of(store))
    assert stored(store).owner == "node1"


# -- update_docs: many documents from one read, one transaction ------------------------------


def group_key(i: int) -> str:
    return KEYS.state("groups", f"g{i:03d}")


def stored_at(store: MemoryStore, key: str) -> GroupStatus:
    kv = store.get(key)
    assert kv is not None
    return codec.parse(GroupStatus, json.loads(kv.value))


def groups_on_node1(store: MemoryStore, n: int) -> list[DocChange[Any]]:
    for i in range(n):
        store.put(group_key(i), encode(GroupStatus(owner="node1")))
    return [DocChange(group_key(i), GroupStatus, to_node2) for i in range(n)]


def test_documents_as_read_are_written_in_one_transaction_per_hundred() -> None:
    store = MemoryStore()
    changes = groups_on_node1(store, 150)
    counting = Counting(store)
    update_docs(counting, changes, read_of(store))  # type: ignore[arg-type]
    assert counting.calls == {"txn": 2}  # 100 + 50, no read of their own
    assert {stored_at(store, group_key(i)).owner for i in range(150)} == {"node2"}


def test_one_written_since_the_read_sends_each_through_update_doc() -> None:
    store = MemoryStore()
    changes = groups_on_node1(store, 3)
    read = read_of(store)
    store.put(group_key(1), encode(GroupStatus(owner="node1", wanted=Wanted.OFFLINE)))
    counting = Counting(store)
    update_docs(counting, changes, read)  # type: ignore[arg-type]
    assert counting.calls == {"txn": 4, "get": 3}  # the refused one, then each on its own
    assert stored_at(store, group_key(1)) == GroupStatus(owner="node2", wanted=Wanted.OFFLINE)
    assert {stored_at(store, group_key(i)).owner for i in range(3)} == {"node2"}


def test_a_document_already_as_wanted_is_judged_again_on_a_fresh_read() -> None:
    store = MemoryStore()
    changes = groups_on_node1(store, 2)
    store.put(group_key(1), encode(GroupStatus(owner="node2")))
    read = read_of(store)
    store.put(group_key(1), encode(GroupStatus(owner="node1")))  # moved back since the read
    update_docs(store, changes, read)
    assert stored_at(store, group_key(0)).owner == stored_at(store, group_key(1)).owner == "node2"


def test_a_failed_guard_writes_none_of_them() -> None:
    store = MemoryStore()
    changes = groups_on_node1(store, 3)
    guard = key_exists(KEYS.coordinator)  # no coordinator: the guard fails
    with pytest.raises(ConflictError):
        update_docs(store, changes, read_of(store), extra_compares=[guard])
    assert {stored_at(store, group_key(i)).owner for i in range(3)} == {"node1"}


def test_one_document_twice_is_refused_before_anything_is_sent() -> None:
    store = MemoryStore()
    changes = groups_on_node1(store, 1)
    with pytest.raises(ValueError, match="once"):
        update_docs(store, changes * 2, read_of(store))
    assert stored_at(store, group_key(0)).owner == "node1"
