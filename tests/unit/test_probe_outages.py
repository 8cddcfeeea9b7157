"""How the lab's probe client turns its record into client-observed outages."""

from __future__ import annotations

from wolfpack.lab.probe_client import Sample, changeover, outages


def ok(t: float, answer: str, took: float = 0.01) -> Sample:
    return Sample(t, True, answer, t + took)


def failed(t: float, took: float = 1.0) -> Sample:
    return Sample(t, False, "", t + took)


def test_one_run_of_failures_is_one_gap_between_the_answers_around_it() -> None:
    samples = [ok(0.0, "node2"), ok(0.05, "node2"), failed(0.1), failed(0.15), ok(1.2, "node3")]
    gaps = outages(samples)
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.before, gap.after) == ("node2", "node3")
    assert abs(gap.seconds - (1.21 - 0.06)) < 1e-9


def test_tries_answered_late_do_not_hide_the_outage() -> None:
    """Started during the outage, hung, answered once the service was back: the client had
    no answer in between, which is the outage (by arrival, not by start)."""
    samples = [ok(0.0, "node2"), ok(0.1, "node3", took=1.4), ok(1.45, "node3")]
    gaps = outages(samples)
    assert len(gaps) == 1 and abs(gaps[0].seconds - (1.46 - 0.01)) < 1e-9


def test_steady_answers_are_no_outage_and_after_filters_old_gaps() -> None:
    steady = [ok(i * 0.05, "node1") for i in range(20)]
    assert outages(steady) == []
    samples = [ok(0.0, "a"), failed(0.05), ok(0.5, "a"), ok(5.0, "b", took=0.0)]
    assert [g.after for g in outages(samples)] == ["a", "b"]
    assert [g.after for g in outages(samples, after=1.0)] == ["b"]


def test_changeover_measures_even_a_short_failover() -> None:
    """Tries that hung through a 0.2 s outage and were answered late leave no failure and a
    silence below SILENCE_S: not an outage for outages(), but the changeover is measured."""
    samples = [ok(0.0, "n1"), ok(0.05, "n1"), ok(0.1, "n2", took=0.2), ok(0.3, "n2")]
    assert outages(samples) == []
    gap = changeover(samples, after=0.04)
    assert gap is not None and (gap.before, gap.after) == ("n1", "n2")
    assert abs(gap.seconds - (0.3 - 0.06)) < 1e-9
    assert changeover(samples[:2], after=0.04) is None  # never changed
