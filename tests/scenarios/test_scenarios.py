"""Every scenario file: the policy's plan must equal its ``expected`` block (S-numbered corpus).

Run one: ``pytest tests/scenarios -k 012-failover``; regenerate with
``python -m wolfpack.tools.scenarios --update --run NAME`` and review the diff it prints.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wolfpack.tools import scenarios

HERE = Path(__file__).parent
FILES = scenarios.discover(HERE)
MIN_SCENARIOS = 60
_COVER = re.compile(r"^(S([1-9]|[1-3][0-9]|4[01])|DESIGN:[a-z][a-z0-9-]*)$")
_NAME = re.compile(r"^\d{3}-[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_plan_matches_expected(path: Path) -> None:
    outcome = scenarios.run(scenarios.load(path))
    assert outcome.scenario.expected is not None, f"{path.name} has no 'expected' block"
    if not outcome.ok:
        pytest.fail(outcome.report(), pytrace=False)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_is_documented(path: Path) -> None:
    scenario = scenarios.load(path)
    assert _NAME.match(path.stem), f"{path.name}: name it NNN-short-name.yaml"
    assert scenario.description, f"{path.name}: 'description' is empty"
    assert scenario.covers, f"{path.name}: 'covers' is empty"
    bad = [c for c in scenario.covers if not _COVER.match(c)]
    assert not bad, f"{path.name}: covers {bad}: use S1..S41 or DESIGN:topic"


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= MIN_SCENARIOS, f"only {len(FILES)} scenarios"


def test_numbers_are_unique() -> None:
    numbers = [p.stem[:3] for p in FILES]
    assert len(numbers) == len(set(numbers)), "two scenario files share a number"
