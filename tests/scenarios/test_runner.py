"""The scenario runner itself: normal form, mismatch reporting, and --update in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from wolfpack.model.plan import Action, ActionKind, Code, Note, Plan, Reason
from wolfpack.tools import scenarios

SCENARIO = """\
description: Two nodes, one group; goes to node2.
# a comment that --update keeps
covers: [S37]
now: 1700000000
snapshot:
  config:
    nodes: {node1: {id: 1}, node2: {id: 2}}
    groups: {Web: {preferred_owners: [node2]}}
    resources: {ip: {group: Web}}
  nodes: {node1: {state: Up}, node2: {state: Up}}
expected:
  actions:
  - {kind: place-group, subject: Web, code: PLACE_INITIAL, node: node1, steps: [[ip]]}
  notes: []
"""


def _write(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "001-demo.yaml"
    path.write_text(text)
    return path


def test_normal_form_omits_defaults_and_messages_sorts_notes_keeps_action_order() -> None:
    plan = Plan(
        actions=(
            Action(ActionKind.FENCE_NODE, "node3", Reason(Code.FENCE_NODE, "x"), node="node3"),
            Action(
                ActionKind.PLACE_GROUP,
                "Web",
                Reason(Code.PLACE_INITIAL, "y"),
                node="node1",
                steps=(("ip", "disk"), ("app",)),
            ),
        ),
        notes=(
            Note("Web", Reason(Code.FAILBACK_PREVENTED, "z")),
            Note("App", Reason(Code.AWAITING_FENCE, "w")),
        ),
    )
    assert scenarios.normalise(plan) == {
        "actions": [
            {"kind": "fence-node", "subject": "node3", "code": "FENCE_NODE", "node": "node3"},
            {
                "kind": "place-group",
                "subject": "Web",
                "code": "PLACE_INITIAL",
                "node": "node1",
                "steps": [["disk", "ip"], ["app"]],
            },
        ],
        "notes": [
            {"subject": "App", "code": "AWAITING_FENCE"},
            {"subject": "Web", "code": "FAILBACK_PREVENTED"},
        ],
    }


def test_mismatch_exits_1_and_shows_diff_and_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path)
    assert scenarios.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "-  - {kind: place-group, subject: Web, code: PLACE_INITIAL, node: node1" in out
    assert "+  - {kind: place-group, subject: Web, code: PLACE_INITIAL, node: node2" in out
    assert "PLACE_INITIAL: place on node2" in out


def test_update_rewrites_only_expected(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert scenarios.main(["--update", "--run", "demo", str(tmp_path)]) == 0
    text = path.read_text()
    head = SCENARIO.split("expected:")[0]
    assert text.startswith(head)
    assert "node: node2" in text
    assert scenarios.main([str(tmp_path)]) == 0


def test_update_appends_expected_when_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENARIO.split("expected:")[0])
    assert scenarios.load(path).expected is None
    assert scenarios.main(["--update", str(tmp_path)]) == 0
    assert scenarios.run(scenarios.load(path)).ok


def test_replace_expected_keeps_keys_after_it() -> None:
    text = "expected:\n  actions: []\n  notes: []\nlater: 1\n"
    assert scenarios.replace_expected(text, "expected: X\n") == "expected: X\nlater: 1\n"


def test_typos_in_a_scenario_are_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENARIO.replace("[node2]", "[node9]"))
    with pytest.raises(scenarios.ScenarioError, match=r"preferred_owners\[0\].*node9"):
        scenarios.load(path)
    path = _write(tmp_path, SCENARIO.replace("covers:", "cover:"))
    with pytest.raises(scenarios.ScenarioError, match="unknown keys"):
        scenarios.load(path)


def test_unknown_run_name_exits_2(tmp_path: Path) -> None:
    _write(tmp_path)
    assert scenarios.main(["--run", "nope", str(tmp_path)]) == 2
