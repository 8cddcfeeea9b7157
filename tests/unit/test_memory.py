"""wolfpackd's memory tuning calls reach glibc (this machine's C library)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wolfpack.node.memory import limit_malloc_arenas, release_free_memory


def test_arena_limit_and_trim_run_in_a_fresh_interpreter() -> None:
    # a child process: the limit must be set before threads start, and it stays for good
    code = (
        "from wolfpack.node.memory import limit_malloc_arenas, release_free_memory;"
        "print(limit_malloc_arenas(2), release_free_memory())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_a_zero_arena_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        limit_malloc_arenas(0)
    assert release_free_memory() is True
