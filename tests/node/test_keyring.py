"""Issue 11 item 4: the phases of a cluster secret rotation (wolfpack.node.keyring): which
keys a node signs and accepts with, the sealed new secret, and a node holding neither."""

from __future__ import annotations

import pytest

from wolfpack.errors import StoreError
from wolfpack.node import keyring
from wolfpack.node.keyring import Keys

OLD = b"old-secret-0123456789abcdef-0123"
NEW = b"new-secret-0123456789abcdef-0123"
OTHER = b"someone-elses-secret-0123456789a"


def at(phase: keyring.Phase) -> keyring.Rotation:
    started = keyring.start("r1", OLD, NEW, 1000.0)
    return keyring.Rotation(**{**started.__dict__, "phase": phase})


def test_the_new_secret_is_sealed_under_the_old_one() -> None:
    rotation = at("accept")
    assert NEW not in rotation.dump() and NEW.decode() not in rotation.dump().decode()
    assert keyring.unseal(OLD, rotation.sealed) == NEW
    assert keyring.unseal(OTHER, rotation.sealed) is None
    assert keyring.parse(rotation.dump()) == rotation
    with pytest.raises(StoreError, match="rotation"):
        keyring.parse(b'{"phase": "later"}')


def test_phases_of_a_node_holding_the_old_secret() -> None:
    assert keyring.keys_for(OLD, None) == Keys(OLD, (OLD,), OLD)
    assert keyring.keys_for(OLD, at("accept")) == Keys(OLD, (OLD, NEW), OLD, NEW)
    assert keyring.keys_for(OLD, at("send")) == Keys(NEW, (NEW, OLD), OLD, NEW)
    assert keyring.keys_for(OLD, at("done")) == Keys(NEW, (NEW,), NEW)


def test_a_node_with_the_new_or_another_secret_keeps_its_own() -> None:
    for phase in keyring.PHASES:
        assert keyring.keys_for(NEW, at(phase)) == Keys(NEW, (NEW,), NEW)
        assert keyring.keys_for(OTHER, at(phase)) == Keys(OTHER, (OTHER,), OTHER)


def test_a_tampered_document_changes_nothing() -> None:
    forged = keyring.Rotation(**{**at("send").__dict__, "sealed": keyring.seal(OLD, OTHER)})
    assert keyring.keys_for(OLD, forged) == Keys(OLD, (OLD,), OLD)  # not the announced one
