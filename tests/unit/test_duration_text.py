"""Reason messages write periods exactly (S30): 5400 s is "1 h 30 min", never "1 h"."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from wolfpack.model.durations import duration_text
from wolfpack.model.plan import ActionKind
from wolfpack.policy import plan
from wolfpack.tools import scenarios

SCENARIO = Path(__file__).parents[1] / "scenarios" / "024-failover-threshold-reached-exactly.yaml"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (21600, "6 h"),
        (5400, "1 h 30 min"),
        (3605, "1 h 5 s"),
        (90, "1 min 30 s"),
        (59, "59 s"),
        (0.5, "0.5 s"),
        (0, "0 s"),
    ],
)
def test_durations_are_written_exactly(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_the_failover_threshold_message_does_not_round_the_period_down() -> None:
    s = scenarios.load(SCENARIO)
    cfg = s.snapshot.config
    # two of the three recorded failovers fall within 1 h 30 min
    web = replace(cfg.groups["Web"], failover_period_s=5400, failover_threshold=2)
    snap = replace(s.snapshot, config=replace(cfg, groups={**cfg.groups, "Web": web}))
    failed = [a for a in plan(snap, s.now).actions if a.kind is ActionKind.GROUP_FAILED]
    assert failed and "2 times in 1 h 30 min;" in failed[0].reason.message
