"""Media sense (S41): a link's loss counts once it has lasted the window, a flap never."""

from __future__ import annotations

import pytest

from wolfpack.errors import ValidationError
from wolfpack.model.links import LinkCondition
from wolfpack.model.media import MediaSense

UP, NO_CARRIER, DOWN = LinkCondition.UP, LinkCondition.NO_CARRIER, LinkCondition.ADMIN_DOWN
WINDOW = 0.5


def sense(*keys: str) -> MediaSense:
    m = MediaSense(WINDOW)
    for key in keys:
        m.observe(key, UP, 0.0)
    return m


def test_first_observation_settles_at_once() -> None:
    m = MediaSense(WINDOW)
    m.observe("eth0", NO_CARRIER, 10.0)
    assert m.condition("eth0") is NO_CARRIER
    assert m.settle(10.0) == []
    assert m.condition("eth1") is None


def test_a_loss_counts_once_it_has_lasted_the_window() -> None:
    m = sense("eth0")
    m.observe("eth0", NO_CARRIER, 1.0)
    assert m.next_deadline() == pytest.approx(1.5)
    assert m.settle(1.49) == []
    assert m.condition("eth0") is UP
    (change,) = m.settle(1.5)
    assert (change.key, change.old, change.new, change.lost) == ("eth0", UP, NO_CARRIER, True)
    assert change.lasted_s == pytest.approx(0.5)
    assert m.condition("eth0") is NO_CARRIER
    assert m.settle(2.0) == []  # reported once
    assert m.next_deadline() is None


def test_a_flap_shorter_than_the_window_is_nothing() -> None:
    m = sense("eth0")
    m.observe("eth0", NO_CARRIER, 1.0)
    m.observe("eth0", UP, 1.3)
    assert m.settle(5.0) == []
    assert m.condition("eth0") is UP
    assert m.next_deadline() is None


def test_the_window_restarts_after_each_flap() -> None:
    """Down 0.3 s, up 0.1 s, down again: the loss counts 0.5 s after the last drop."""
    m = sense("eth0")
    m.observe("eth0", NO_CARRIER, 1.0)
    m.observe("eth0", UP, 1.3)
    m.observe("eth0", NO_CARRIER, 1.4)
    assert m.settle(1.8) == []
    assert [c.new for c in m.settle(1.9)] == [NO_CARRIER]


def test_a_new_reason_for_a_loss_in_progress_keeps_its_start() -> None:
    """No carrier at 1.0, then set down at 1.2: still lost since 1.0."""
    m = sense("eth0")
    m.observe("eth0", NO_CARRIER, 1.0)
    m.observe("eth0", DOWN, 1.2)
    (change,) = m.settle(1.5)
    assert change.new is DOWN
    m.observe("eth0", NO_CARRIER, 2.0)  # already lost: only the reason changes, at once
    (again,) = m.settle(2.0)
    assert (again.old, again.new, again.lost, again.restored) == (DOWN, NO_CARRIER, False, False)


def test_a_return_counts_once_it_has_lasted_the_window() -> None:
    m = MediaSense(WINDOW)
    m.observe("eth0", NO_CARRIER, 0.0)
    m.observe("eth0", UP, 1.0)
    assert m.settle(1.4) == []
    (change,) = m.settle(1.5)
    assert change.restored and not change.lost


def test_links_are_independent_and_forgotten_on_request() -> None:
    m = sense("eth0", "eth1")
    m.observe("eth1", DOWN, 1.0)
    assert [c.key for c in m.settle(2.0)] == ["eth1"]
    assert m.condition("eth0") is UP
    m.forget({"eth0"})
    assert m.condition("eth1") is None


def test_a_zero_window_settles_at_once_and_a_negative_one_is_refused() -> None:
    m = MediaSense(0.0)
    m.observe("eth0", UP, 0.0)
    m.observe("eth0", NO_CARRIER, 1.0)
    assert [c.new for c in m.settle(1.0)] == [NO_CARRIER]
    with pytest.raises(ValidationError, match="window_s"):
        MediaSense(-1.0)
