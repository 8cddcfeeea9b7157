"""Shell completion (issue 5: ``wolfpack --install-completion``): the real console script
answers bash's completion protocol with nouns and verbs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def wolfpack() -> str:
    """The console script installed beside this interpreter (scripts/setup's virtualenv)."""
    exe = Path(sys.executable).with_name("wolfpack")
    if not exe.exists():
        pytest.fail(f"no console script {exe}: install wolfpack (bash scripts/setup)")
    return str(exe)


def complete(*words: str) -> list[str]:
    exe = wolfpack()
    env = {
        **os.environ,
        "_WOLFPACK_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["wolfpack", *words]),
        "COMP_CWORD": str(len(words)),
    }
    out = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.split()


def test_nouns_and_verbs_complete() -> None:
    assert complete("gr") == ["group"]
    assert "move" in complete("group", "")
    assert complete("group", "mo") == ["move"]
    assert complete("db", "") == ["create"]


def test_completion_script_for_bash_names_the_program() -> None:
    out = subprocess.run(
        [wolfpack(), "--show-completion", "bash"], capture_output=True, text=True, timeout=30
    )
    assert "_WOLFPACK_COMPLETE=complete_bash" in out.stdout
