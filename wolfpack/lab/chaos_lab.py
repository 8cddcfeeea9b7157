"""``wolfpack lab chaos``: the lab chaos suite as one command (issue 9 items 3 and 4).

    wolfpack lab chaos --faults 200 --seed 7      # a recorded run
    wolfpack lab chaos --faults 30 --ci           # the CI profile (tests/lab/test_lab_chaos.py)

On an up lab (the demo's groups are added if missing): the plan
(:mod:`~wolfpack.lab.chaos_lab_plan`), the run and its observers
(:mod:`~wolfpack.lab.chaos_lab_run`), the verdict (:mod:`~wolfpack.lab.chaos_lab_judge`).
The same ``--seed`` (and ``--ci``) replays the same faults.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from wolfpack.errors import ValidationError, WolfpackError
from wolfpack.lab import chaos_lab_run, demo
from wolfpack.lab.chaos_lab_plan import CI_WEIGHTS, WEIGHTS, plan
from wolfpack.lab.layout import Progress, quiet
from wolfpack.lab.state import LabState

__all__ = ["MAX_FAULTS", "main_run", "summary"]

MAX_FAULTS = 2000
#: pause before each fault, seconds: shorter than a failover, so they overlap
PAUSE_S, CI_PAUSE_S = (0.5, 4.0), (0.5, 2.5)


def main_run(
    lab_dir: Path, faults: int, seed: int | None, *, ci: bool = False,
    progress: Progress = quiet,
) -> dict[str, Any]:  # fmt: skip
    """One run; its document, with ``failed`` (readable reasons, empty when it passed)."""
    if not 1 <= faults <= MAX_FAULTS:
        raise ValidationError.single("--faults", f"1 to {MAX_FAULTS}, not {faults}")
    if seed is not None and not 0 <= seed < 2**63:
        raise ValidationError.single("--seed", f"0 to 2**63-1, not {seed}")
    lab_dir = lab_dir.resolve()
    if not LabState.exists(lab_dir) or LabState.load(lab_dir).phase != "up":
        raise WolfpackError(f"no lab is up in {lab_dir}: run 'wolfpack lab up' first")
    state = LabState.load(lab_dir)
    if os.geteuid() != 0:
        raise WolfpackError("the lab chaos suite needs root (it signals the lab's processes)")
    seed = int.from_bytes(os.urandom(4), "big") if seed is None else seed
    progress("the demo's groups Web and SQL: added if missing, waiting until Online")
    demo.install(state)
    chosen = plan(seed, state.nodes, list(demo.GROUPS), faults,
                  CI_WEIGHTS if ci else WEIGHTS, CI_PAUSE_S if ci else PAUSE_S)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wpl-chaos-", dir="/tmp") as work:
        doc = chaos_lab_run.run(lab_dir, seed, chosen, Path(work), progress)
    doc["profile"] = "ci" if ci else "full"
    doc["replay"] = f"wolfpack lab chaos --faults {faults} --seed {seed}{' --ci' if ci else ''}"
    doc["failed"] = chaos_lab_run.failed(doc)
    return doc


def summary(doc: dict[str, Any]) -> str:
    """A few lines for a reader: the verdict, the counts, the outage per kind."""
    lines = [
        f"chaos seed {doc['seed']} ({doc['profile']}): {doc['faults_injected']} faults injected "
        f"of {doc['faults_planned']} in {doc['faults_s']} s; recovered "
        f"{'in ' + str(doc['recovered_s']) + ' s' if doc['recovered_s'] is not None else 'NOT'}",
        f"double owners {len(doc['double_owners'])}, committed rows lost "
        f"{len(doc['lost_rows'])} of {doc['rows_acknowledged']}, configuration changes "
        f"{len(doc['config_changes'])}, isolated nodes not fenced "
        f"{doc['unfenced_isolations']['holding']} holding a group and "
        f"{doc['unfenced_isolations']['idle']} holding none, "
        f"nodes fenced or restarted by a clock jump {len(doc['clock_jumps_disturbed'])}",
        f"{'kind':<22} {'count':>5} {'p50 s':>7} {'p99 s':>7}  (client-observed outage)",
    ]
    for kind, v in doc["per_kind"].items():
        lines.append(f"{kind:<22} {v['count']:>5} {v['outage_p50_s']:>7} {v['outage_p99_s']:>7}")
    lines += [f"not settled: {line}" for line in doc.get("stuck", [])]
    verdict = "PASSED" if not doc["failed"] else "FAILED: " + "; ".join(doc["failed"])
    return "\n".join([*lines, f"{verdict}   replay: {doc['replay']}"])
