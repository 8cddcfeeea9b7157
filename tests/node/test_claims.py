"""Claims bound to a node's lease (DESIGN §2: a disk is claimed in etcd before mount; S6, S24).

Unit tests on the in-memory store (the same Store contract as etcd); the disk tests use them
against a real etcd.
"""

from __future__ import annotations

import json

import pytest

from wolfpack.errors import ClaimHeld, LeaseNotFound
from wolfpack.node.claims import LeaseClaims
from wolfpack.store import KeySpace, MemoryStore

KEYS = KeySpace("/t/")


def claims(store: MemoryStore, node: str, lease: list[int]) -> LeaseClaims:
    return LeaseClaims(store, KEYS, node, lambda: lease[0], wall=lambda: 100.0)


def test_a_claim_is_one_key_on_the_nodes_lease_and_names_its_holder() -> None:
    store = MemoryStore()
    lease = [store.lease_grant(10)]
    node1 = claims(store, "node1", lease)
    node1.claim("disks", "u1", "web-disk")
    kv = store.get("/t/claims/disks/u1")
    assert kv is not None and kv.lease == lease[0]
    assert json.loads(kv.value) == {"node": "node1", "resource": "web-disk", "since": 100.0}
    node1.claim("disks", "u1", "web-disk")  # again: fine
    assert node1.holds("disks", "u1", "web-disk")
    assert not node1.holds("disks", "u1", "sql-disk")
    store.lease_revoke(lease[0])  # fenced: the claim goes with the lease
    assert store.get("/t/claims/disks/u1") is None and not node1.holds("disks", "u1", "web-disk")


def test_another_node_or_resource_is_refused_naming_the_holder() -> None:
    store = MemoryStore()
    node1 = claims(store, "node1", [store.lease_grant(10)])
    node2 = claims(store, "node2", [store.lease_grant(10)])
    node1.claim("disks", "u1", "web-disk")
    with pytest.raises(ClaimHeld, match="'web-disk' on node node1"):
        node2.claim("disks", "u1", "web-disk")
    with pytest.raises(ClaimHeld, match="'web-disk' on node node1"):
        node1.claim("disks", "u1", "sql-disk")
    node2.release("disks", "u1", "web-disk")  # not node2's: nothing happens
    assert node1.holds("disks", "u1", "web-disk")
    node1.release("disks", "u1", "web-disk")
    assert store.get("/t/claims/disks/u1") is None
    node2.claim("disks", "u1", "web-disk")
    assert node2.holds("disks", "u1", "web-disk")


def test_a_claim_from_before_a_daemon_restart_moves_to_the_new_lease() -> None:
    store = MemoryStore()
    old = store.lease_grant(10)
    lease = [old]
    node1 = claims(store, "node1", lease)
    node1.claim("disks", "u1", "web-disk")
    lease[0] = store.lease_grant(10)  # the restarted daemon's lease; the old one lives on
    assert not node1.holds("disks", "u1", "web-disk")
    node1.claim("disks", "u1", "web-disk")
    kv = store.get("/t/claims/disks/u1")
    assert kv is not None and kv.lease == lease[0]
    store.lease_revoke(old)  # the old lease ending no longer drops it
    assert node1.holds("disks", "u1", "web-disk")


def test_without_a_valid_lease_nothing_is_claimed() -> None:
    store = MemoryStore()
    with pytest.raises(LeaseNotFound, match="node1 has no valid lease"):
        claims(store, "node1", [0]).claim("disks", "u1", "web-disk")
    assert store.get("/t/claims/disks/u1") is None
    with pytest.raises(ValueError, match="claim name"):
        KEYS.claim("disks", "a/b")


def test_release_while_self_fencing_does_not_wait_for_etcd() -> None:
    """H4: a disk stopped at a self-fence (no valid lease) releases its claim without
    asking etcd, which may be unreachable: the claim goes with the lease. With a valid
    lease, release deletes the claim as before."""
    store = MemoryStore()
    lease = [store.lease_grant(10)]
    node1 = claims(store, "node1", lease)
    node1.claim("disks", "u1", "web-disk")
    granted = lease[0]
    lease[0] = 0  # the lease is no longer valid by this node's clock
    store.close()  # etcd is away: any call would raise StoreUnavailable
    node1.release("disks", "u1", "web-disk")  # returns at once, no error
    store = MemoryStore()
    lease[0] = store.lease_grant(10)
    node1 = claims(store, "node1", lease)
    node1.claim("disks", "u1", "web-disk")
    node1.release("disks", "u1", "web-disk")
    assert store.get("/t/claims/disks/u1") is None and granted
