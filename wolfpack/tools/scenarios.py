"""The policy's regression corpus, Pacemaker-style: run, compare, update.

Each ``tests/scenarios/NNN-name.yaml`` holds a ``description``, the requirements it
``covers``, ``now``, a ``snapshot`` and the ``expected`` plan. The runner parses the snapshot
with :func:`wolfpack.model.codec.parse_snapshot`, runs ``plan(snapshot, now)``, reduces the
plan to a stable structure (reason *codes*, never messages) and compares::

    python -m wolfpack.tools.scenarios                      # every scenario, exit 1 on a mismatch
    python -m wolfpack.tools.scenarios --run 012-failover   # one (the NNN- prefix is optional)
    python -m wolfpack.tools.scenarios --update --run NAME  # rewrite its ``expected`` block

Action order is meaningful and kept; notes, and the names inside one step (they run in
parallel), are sorted. ``--update`` replaces only the ``expected:`` block of a file; every
other key, its order and its comments stay as written. Read what it prints before you commit.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from wolfpack.errors import WolfpackError
from wolfpack.model.codec import parse_snapshot
from wolfpack.model.plan import Action, Plan
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import NodeState, ResourceState
from wolfpack.model.validation import config_errors
from wolfpack.policy import explain, plan
from wolfpack.policy.local import next_batch
from wolfpack.policy.writes import apply_plan

DEFAULT_DIR = Path("tests/scenarios")
#: A resource written without ``type`` gets this one: the policy never looks at types.
DEFAULT_RESOURCE_TYPE = "Generic Application"

_KEYS = ("description", "covers", "now", "snapshot", "expected")
#: Action fields in the order they are written; a field equal to its default is left out.
_ACTION_FIELDS: tuple[tuple[str, object], ...] = (
    ("node", None),
    ("source", None),
    ("target", None),
    ("intent", None),
    ("online", True),
    ("transition", None),
    ("counted", False),
    ("group_wanted", None),
    ("resources_wanted", None),
    ("resources", ()),
    ("forecast", False),
)

Normal = dict[str, Any]


class ScenarioError(WolfpackError):
    """A scenario file that cannot be run as written."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Scenario:
    path: Path
    description: str
    covers: tuple[str, ...]
    now: float
    snapshot: Snapshot
    expected: Normal | None  # None when the file has no ``expected`` yet

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    plan: Plan
    actual: Normal

    @property
    def ok(self) -> bool:
        return self.scenario.expected == self.actual

    def diff(self) -> str:
        expected = render(self.scenario.expected) if self.scenario.expected is not None else ""
        lines = difflib.unified_diff(
            expected.splitlines(keepends=True),
            render(self.actual).splitlines(keepends=True),
            fromfile=f"{self.scenario.name} expected",
            tofile=f"{self.scenario.name} actual",
        )
        return "".join(lines)

    def report(self) -> str:
        """What went wrong, for people: the diff and the policy's own explanation."""
        why = "\n".join("  " + line for line in explain(self.plan))
        return (
            f"{self.scenario.name}: {self.scenario.description}\n{self.diff()}"
            f"explanation of the actual plan:\n{why}\n"
        )


# -- loading ----------------------------------------------------------------------------------
def discover(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ScenarioError(path, "must be a YAML mapping")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ScenarioError(path, f"unknown keys {unknown}; a scenario has {list(_KEYS)}")
    for key in ("description", "covers", "now", "snapshot"):
        if key not in data:
            raise ScenarioError(path, f"missing {key!r}")
    covers = data["covers"]
    if not isinstance(covers, list) or not all(isinstance(c, str) for c in covers):
        raise ScenarioError(path, "'covers' must be a list of strings such as [S30, S37]")
    if not isinstance(data["now"], int | float):
        raise ScenarioError(path, "'now' must be seconds since the epoch")
    try:
        snapshot = parse_snapshot(_fill_types(data["snapshot"]))
    except WolfpackError as exc:
        raise ScenarioError(path, f"snapshot: {exc}") from None
    problems = snapshot_problems(snapshot)
    if problems:
        raise ScenarioError(path, "snapshot: " + "; ".join(problems))
    expected = data.get("expected")
    return Scenario(
        path=path,
        description=str(data["description"]).strip(),
        covers=tuple(covers),
        now=float(data["now"]),
        snapshot=snapshot,
        expected=None if expected is None else canonical(path, expected),
    )


def _fill_types(snapshot: Any) -> Any:
    if not isinstance(snapshot, Mapping):
        return snapshot
    config = snapshot.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("resources"), Mapping):
        return snapshot
    resources = {
        name: {"type": DEFAULT_RESOURCE_TYPE, **res} if isinstance(res, Mapping) else res
        for name, res in config["resources"].items()
    }
    return {**snapshot, "config": {**config, "resources": resources}}


def snapshot_problems(snap: Snapshot) -> list[str]:
    """Typos a scenario author makes: bad references in the config (types and their
    properties are not checked, the policy ignores them) and state for unknown objects."""
    problems = [
        str(e)
        for e in config_errors(snap.config)
        if not e.field.endswith(".type") and ".properties" not in e.field
    ]
    cfg = snap.config
    for section, names, known in (
        ("nodes", snap.nodes, cfg.nodes),
        ("groups", snap.groups, cfg.groups),
        ("resources", snap.resources, cfg.resources),
    ):
        problems += [
            f"{section}.{n}: not in config.{section}" for n in sorted(names) if n not in known
        ]
    return problems


# -- normal form ------------------------------------------------------------------------------
def normalise(result: Plan, snap: Snapshot | None = None) -> Normal:
    """The plan as plain data that only changes when a decision changes, with (given the
    snapshot) each node's own next batch (:func:`wolfpack.policy.local.next_batch`)."""
    out: Normal = {
        "actions": [_action(a) for a in result.actions],
        "notes": sorted(
            ({"subject": n.subject, "code": str(n.reason.code)} for n in result.notes),
            key=lambda n: (n["subject"], n["code"]),
        ),
    }
    if snap is not None:
        out["batches"] = node_batches(snap)
    return out


def node_batches(snap: Snapshot) -> dict[str, list[dict[str, str]]]:
    """What every node that is not down does next, once the plan is written (``snap`` is
    :func:`~wolfpack.policy.writes.apply_plan`'s), running what its reports say it runs.
    The cluster plan and the nodes' plans are checked together, so they cannot drift."""
    out: dict[str, list[dict[str, str]]] = {}
    for node in sorted(snap.config.nodes):
        if snap.node(node).state is NodeState.DOWN:
            continue
        local = {
            name: st.state
            for name, st in snap.resources.items()
            if st.node == node and st.state is not ResourceState.OFFLINE
        }
        batch = next_batch(snap, node, local, lease_ok=True)
        if batch:
            out[node] = sorted(
                ({"kind": str(a.kind), "resource": a.resource} for a in batch),
                key=lambda a: a["resource"],
            )
    return out


def _action(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": str(action.kind),
        "subject": action.subject,
        "code": str(action.reason.code),
    }
    for name, default in _ACTION_FIELDS:
        value = getattr(action, name)
        if value != default:
            out[name] = list(value) if isinstance(value, tuple) else _plain(value)
    if action.steps:
        out["steps"] = [sorted(step) for step in action.steps]
    return out


def _plain(value: object) -> object:
    return str(value) if isinstance(value, StrEnum) else value


def canonical(path: Path, expected: Any) -> Normal:
    """An ``expected`` block as written, in the same normal form (notes and steps sorted)."""
    if not isinstance(expected, Mapping) or set(expected) - {"actions", "notes", "batches"}:
        raise ScenarioError(
            path, "'expected' must be a mapping with 'actions', 'notes' and 'batches'"
        )
    batches = expected.get("batches") or {}
    if not isinstance(batches, Mapping) or not all(_list_of_mappings(b) for b in batches.values()):
        raise ScenarioError(path, "'expected.batches' must map node names to lists")
    actions = expected.get("actions") or []
    notes = expected.get("notes") or []
    if not _list_of_mappings(actions) or not _list_of_mappings(notes):
        raise ScenarioError(path, "'expected.actions' and 'expected.notes' must be lists")
    out_actions = []
    for a in actions:
        a = dict(a)
        if "steps" in a:
            a["steps"] = [sorted(step) for step in a["steps"]]
        out_actions.append(a)
    return {
        "actions": out_actions,
        "notes": sorted(
            (dict(n) for n in notes),
            key=lambda n: (str(n.get("subject")), str(n.get("code"))),
        ),
        "batches": {
            str(node): sorted((dict(a) for a in b), key=lambda a: str(a.get("resource")))
            for node, b in sorted(batches.items())
        },
    }


def _list_of_mappings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Mapping) for v in value)


def render(normal: Normal) -> str:
    """The ``expected:`` block: one line per action or note, so a diff shows each change."""
    lines = ["expected:"]
    for key in ("actions", "notes"):
        items = normal[key]
        lines.append(f"  {key}:" + ("" if items else " []"))
        lines += [f"  - {_flow(item)}" for item in items]
    batches = normal.get("batches", {})
    lines.append("  batches:" + ("" if batches else " {}"))
    for node, items in batches.items():
        lines.append(f"    {node}:")
        lines += [f"    - {_flow(item)}" for item in items]
    return "\n".join(lines) + "\n"


def _flow(item: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(dict(item), default_flow_style=True, sort_keys=False, width=1 << 20)
    return text.strip()


# -- running and updating ---------------------------------------------------------------------
def run(scenario: Scenario) -> Outcome:
    result = plan(scenario.snapshot, scenario.now)
    after = apply_plan(scenario.snapshot, result, scenario.now)
    return Outcome(scenario, result, normalise(result, after))


def update(outcome: Outcome) -> bool:
    """Rewrite the scenario's ``expected`` block with the actual plan; True if it changed."""
    if outcome.ok:
        return False
    path = outcome.scenario.path
    text = path.read_text(encoding="utf-8")
    path.write_text(replace_expected(text, render(outcome.actual)), encoding="utf-8")
    if load(path).expected != outcome.actual:
        raise ScenarioError(path, "--update wrote a block that does not read back; fix by hand")
    return True


def replace_expected(text: str, block: str) -> str:
    """``text`` with its top-level ``expected:`` block (up to the next top-level key) replaced
    by ``block``, or with ``block`` appended if it has none."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("expected:")), None)
    if start is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + block
    end = start + 1
    while end < len(lines) and not _top_level_key(lines[end]):
        end += 1
    return "".join([*lines[:start], block, *lines[end:]])


def _top_level_key(line: str) -> bool:
    return bool(line) and not line[0].isspace() and line[0] not in "#-"


def select(paths: Iterable[Path], name: str | None) -> list[Path]:
    paths = list(paths)
    if name is None:
        return paths
    return [p for p in paths if name in (p.stem, p.stem.partition("-")[2])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wolfpack.tools.scenarios",
        description="Run the policy's scenario files and compare each plan with its expectation.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--run", metavar="NAME", help="only this scenario (file stem)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="rewrite 'expected' with the actual plan (review the printed diff!)",
    )
    args = parser.parse_args(argv)

    paths = select(discover(args.directory), args.run)
    if not paths:
        what = f"scenario {args.run!r}" if args.run else "scenarios"
        print(f"no {what} in {args.directory}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            outcome = run(load(path))
        except WolfpackError as exc:
            print(f"ERROR {path.stem}: {exc}")
            failed += 1
            continue
        if outcome.ok:
            print(f"ok      {outcome.scenario.name}")
        elif args.update:
            print(f"UPDATED {outcome.scenario.name}\n{outcome.diff()}", end="")
            update(outcome)
        else:
            print(f"FAIL    {outcome.report()}", end="")
            failed += 1
    print(f"{len(paths)} scenarios, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
