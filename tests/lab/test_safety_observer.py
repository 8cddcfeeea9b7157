"""The safety observer's judgement (issue 8), pure: intervals widened to the reads that did
not see a thing, their unions and overlaps across nodes, and when the quorum let a lease go.
No lab: every read is given."""

from __future__ import annotations

import json
import math

import pytest

from wolfpack.lab.safety_observer import Watched, mount_points
from wolfpack.lab.safety_record import (
    ADDRESS,
    ANY,
    INF,
    MOUNT,
    PROCESS,
    Interval,
    LeaseRun,
    Record,
    Run,
    Track,
    add_read,
    covering,
    overlaps,
    union,
)


def iv(start: float, end: float) -> Interval:
    return Interval(start, end, start, end)


def reads(track: Track, *rows: tuple[float, float, bool | None]) -> Track:
    for t0, t1, present in rows:
        track.observe(t0, t1, present)
    return track


# -- Track -----------------------------------------------------------------------------------
def test_an_interval_is_widened_to_the_reads_that_did_not_see_it() -> None:
    """Absent in the read [1.0, 1.1], present in [2.0, 2.1] and [3.0, 3.1], absent in
    [4.0, 4.1]: it may have begun right after 1.0 and lasted until 4.1."""
    track = reads(Track(), (1.0, 1.1, False), (2.0, 2.1, True), (3.0, 3.1, True), (4.0, 4.1, False))
    assert track.intervals() == [Interval(1.0, 4.1, 2.05, 3.05)]


def test_present_from_the_first_read_began_before_the_observer() -> None:
    track = reads(Track(), (1.0, 1.1, True), (2.0, 2.1, False))
    (only,) = track.intervals()
    assert only.start == -INF and only.end == 2.1


def test_still_present_is_open_ended() -> None:
    track = reads(Track(), (1.0, 1.1, False), (2.0, 2.1, True))
    assert track.intervals() == [Interval(1.0, INF, 2.05, 2.05)]
    assert track.intervals()[0].covers(1e9)


def test_a_failed_read_says_nothing() -> None:
    """A read that failed between two that saw it neither ends nor splits the interval;
    one between an absence and a presence does not narrow the start either."""
    track = reads(
        Track(),
        (1.0, 1.1, False),
        (2.0, 2.1, None),
        (3.0, 3.1, True),
        (4.0, 4.1, None),
        (5.0, 5.1, True),
        (6.0, 6.1, False),
    )
    assert [(i.start, i.end) for i in track.intervals()] == [(1.0, 6.1)]


def test_two_presences_with_an_absence_between_are_two_intervals() -> None:
    track = reads(Track(), (1.0, 1.1, True), (2.0, 2.1, False), (3.0, 3.1, True), (4.0, 4.1, False))
    assert [(i.start, i.end) for i in track.intervals()] == [(-INF, 2.1), (2.0, 4.1)]
    # widened, the two touch: whether it was gone in between, a read cannot say
    assert len(union(track.intervals())) == 1


# -- union, overlaps, covering ---------------------------------------------------------------------
def test_union_merges_what_shares_a_moment_and_keeps_the_rest_apart() -> None:
    merged = union([iv(5, 6), iv(1, 3), iv(2, 4), iv(4, 4.5)])
    assert [(i.start, i.end) for i in merged] == [(1, 4.5), (5, 6)]


def test_nodes_that_never_hold_at_once_do_not_overlap() -> None:
    assert overlaps("Web", PROCESS, {"node1": [iv(0, 1), iv(3, 4)], "node2": [iv(1.5, 2.5)]}) == []


def test_an_overlap_names_both_nodes_and_how_long() -> None:
    (found,) = overlaps("Web", ADDRESS, {"node1": [iv(0, 2.9)], "node2": [iv(2.0, 5.0)]})
    assert found.nodes == ("node1", "node2") and found.kind == ADDRESS
    assert found.seconds == pytest.approx(0.9)
    assert "node1 and node2" in found.describe()


def test_touching_counts_as_overlap() -> None:
    """Zero is the allowance: an end bound equal to the next start bound is not proof of
    a gap."""
    assert len(overlaps("Web", MOUNT, {"node1": [iv(0, 2)], "node2": [iv(2, 3)]})) == 1


def test_three_nodes_are_compared_pairwise() -> None:
    found = overlaps("SQL", PROCESS, {"a": [iv(0, 10)], "b": [iv(1, 2)], "c": [iv(5, 6)]})
    assert sorted(o.nodes for o in found) == [("a", "b"), ("a", "c")]


def test_covering_finds_the_interval_present_at_a_moment() -> None:
    assert covering([iv(0, 1), iv(2, 3)], 2.5) == iv(2, 3)
    assert covering([iv(0, 1), iv(2, 3)], 1.5) is None


# -- Record --------------------------------------------------------------------------------------
def record() -> Record:
    return Record(
        nodes=["node1", "node2"],
        presence={
            ("Web", "node1", PROCESS): [iv(0, 3)],
            ("Web", "node1", ADDRESS): [iv(0, 3.2)],
            ("Web", "node2", ADDRESS): [iv(3.1, INF)],
            ("Web", "node2", MOUNT): [iv(4, INF)],
        },
        runs=[Run("Slow", "node1", 10, iv(0, 1)), Run("Slow", "node2", 11, iv(1.2, INF))],
        samples=5,
    )


def test_a_record_finds_overlaps_per_kind_and_across_kinds() -> None:
    found = record().overlaps("Web")
    assert {o.kind for o in found} == {ADDRESS, ANY}
    assert all(o.start == 3.1 and o.end == 3.2 for o in found)


def test_a_record_survives_json() -> None:
    """It travels as one JSON line from the observer's process; infinities included."""
    rec = record()
    rec.leases = {"node1": [(7, 0.0, 0.1, 1.0, 1.1), (0, 2.0, 2.1, 2.0, 2.1)]}
    again = Record.from_json(json.loads(json.dumps(rec.to_json())))
    assert again == rec
    assert math.isinf(again.intervals("Web", "node2", MOUNT)[0].end)
    assert [r.pid for r in again.process_runs("Slow")] == [10, 11]


# -- leases --------------------------------------------------------------------------------------
def lease_runs(*rows: tuple[float, float, int | None]) -> list[LeaseRun]:
    out: list[LeaseRun] = []
    for t0, t1, lease in rows:
        add_read(out, t0, t1, lease)
    return out


def test_reads_with_the_same_answer_are_one_run() -> None:
    runs = lease_runs((1, 1.01, 7), (2, 2.01, 7), (3, 3.01, None), (4, 4.01, 0))
    assert runs == [(7, 1, 1.01, 2, 2.01), (None, 3, 3.01, 3, 3.01), (0, 4, 4.01, 4, 4.01)]


def test_the_quorum_let_the_lease_go_between_the_last_read_that_saw_it_and_the_next() -> None:
    """The deadline a self-fence must beat: after the start of the last read that still
    saw the lease (a failed read in between says nothing), before the end of the first
    read that saw no key."""
    seen = lease_runs((1.0, 1.01, 7), (2.0, 2.01, 7), (3.0, 3.5, None), (4.0, 4.01, 0))
    add_read(seen, 9.0, 9.01, 8)
    rec = Record(["node2"], leases={"node2": seen})
    assert rec.expiry("node2", 7) == (2.0, 4.01)
    assert rec.lease_at("node2", 2.5) == 7 and rec.lease_at("node2", 9.5) == 8
    assert rec.lease_at("node2", 0.5) == 0
    assert rec.expiry("node2", 8) is None  # still held


def test_a_new_lease_at_once_ends_the_old_one() -> None:
    rec = Record(["n"], leases={"n": lease_runs((1.0, 1.01, 7), (2.0, 2.01, 8))})
    assert rec.expiry("n", 7) == (1.0, 2.01)


# -- recognising things ----------------------------------------------------------------------------
def test_a_process_is_recognised_by_name_or_command_line() -> None:
    web = Watched("Web", comms=("nginx",))
    slow = Watched("Slow", cmdline="--term-delay")
    assert web.is_mine("nginx", "") and not web.is_mine("nginx-debug", "nginx")
    assert slow.is_mine("python3", "python -m probe_app --term-delay 3")
    assert not slow.is_mine("python3", "python -m probe_app")


def test_mount_points_come_from_mountinfo() -> None:
    text = (
        "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "164 111 7:0 / /tmp/lab/mnt/web rw,relatime - ext4 /dev/loop0 rw,errors=remount-ro\n"
    )
    assert mount_points(text) == {"/", "/tmp/lab/mnt/web"}
