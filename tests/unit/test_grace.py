"""The fencing grace sized from etcd's round trips (docs/fencing.md, S14): short on a fast
etcd, longer on a slow one, fixed when the administrator sets ``heartbeat.grace_s``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wolfpack.node.grace import (
    CEILING,
    FACTOR,
    FLOOR_S,
    MIN_SAMPLES,
    WINDOW,
    RoundTrips,
    adaptive_grace,
)
from wolfpack.node.views import ViewPublisher
from wolfpack.store import Compare, KeySpace, MemoryStore, key_exists


def test_too_few_round_trips_keep_the_fallback() -> None:
    assert adaptive_grace([0.001] * (MIN_SAMPLES - 1), fallback_s=0.5, ceiling_s=3) == 0.5


def test_a_fast_etcd_gives_the_floor() -> None:
    assert adaptive_grace([0.002] * 100, fallback_s=0.5, ceiling_s=3) == FLOOR_S


def test_a_slow_etcd_gives_factor_times_its_p99() -> None:
    samples = [0.01] * 98 + [0.1, 0.1]  # p99 is 0.1 s
    assert adaptive_grace(samples, fallback_s=0.5, ceiling_s=3) == pytest.approx(FACTOR * 0.1)


def test_the_ceiling_caps_it() -> None:
    """A slow spell must not make every power-off wait for the lease (3 s) instead."""
    assert adaptive_grace([1.5] * 50, fallback_s=0.5, ceiling_s=CEILING * 0.5) == 1.0


@given(st.lists(st.floats(0, 10), min_size=MIN_SAMPLES, max_size=300))
def test_the_grace_covers_every_round_trip_but_the_slowest_percent(samples: list[float]) -> None:
    grace = adaptive_grace(samples, fallback_s=0.5, ceiling_s=3)
    assert FLOOR_S <= grace <= 3
    slower = sum(FACTOR * s > grace for s in samples)
    assert grace == 3 or slower <= len(samples) // 100


def test_a_slow_spell_ages_out_of_the_window() -> None:
    trips = RoundTrips(fallback_s=0.5, ceiling_s=3)
    for _ in range(MIN_SAMPLES):
        trips.observe(0.2)  # an etcd leader election
    assert trips.grace() == pytest.approx(1.6)
    for _ in range(WINDOW):
        trips.observe(0.003)
    assert trips.grace() == FLOOR_S


def test_an_administrators_grace_is_kept_whatever_etcd_does() -> None:
    trips = RoundTrips(fallback_s=0.5, ceiling_s=3, fixed_s=0.8)
    for _ in range(WINDOW):
        trips.observe(0.001)
    assert trips.grace() == 0.8


def test_the_view_publisher_times_its_writes_and_marks_with_the_grace_in_effect() -> None:
    store, keys = MemoryStore(), KeySpace()
    lease = store.lease_grant(30)
    store.put(keys.node_lease("a"), b"{}", lease=lease)
    peers = {"b": True}
    now = [10.0]
    trips: list[float] = []
    grace = [0.3]

    def guard() -> Compare:
        return key_exists(keys.node_lease("a"))

    pub = ViewPublisher(
        store, keys, "a", lambda: peers, lambda: True, lambda: lease, guard,
        grace=lambda: grace[0], on_round_trip=trips.append, clock=lambda: now[0],
    )  # fmt: skip
    assert pub.publish_once() is not None
    assert trips == [0.0]  # the injected clock did not move during the write
    peers["b"] = False
    grace[0] = 0.7
    assert pub.publish_once() is not None
    assert len(trips) == 2
    assert pub._graces == [10.7]  # the coordinator is woken when this grace ends
