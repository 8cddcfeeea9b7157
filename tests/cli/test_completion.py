"""Shell completion (issue 5: ``wolfpack --install-completion``): the real console script
answers bash's completion protocol with nouns and verbs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def complete(*words: str) -> list[str]:
    exe = shutil.which("wolfpack")
    if exe is None:
        pytest.fail("the wolfpack console script is not installed (run scripts/setup)")
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
    exe = shutil.which("wolfpack")
    assert exe is not None
    out = subprocess.run(
        [exe, "--show-completion", "bash"], capture_output=True, text=True, timeout=30
    )
    assert "_WOLFPACK_COMPLETE=complete_bash" in out.stdout
