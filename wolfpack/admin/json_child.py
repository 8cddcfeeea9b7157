"""A short-lived ``python -m MODULE`` child that takes a JSON request on stdin (standard
library only). Work that needs cryptography (checking or making certificates, admitting a
joining node) runs in one, so that the long-lived daemon never loads it (issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from wolfpack.errors import WolfpackError

__all__ = ["last_words", "run_module"]


def run_module(
    module: str, request: dict[str, Any], *, timeout: float, what: str
) -> subprocess.CompletedProcess[str]:
    """``python -m module`` with ``request`` on stdin, finished; WolfpackError naming
    ``what`` if it could not start or did not finish within ``timeout`` seconds."""
    try:
        return subprocess.run(
            [sys.executable, "-m", module],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise WolfpackError(f"{what} did not finish ({exc})") from None


def last_words(done: subprocess.CompletedProcess[str]) -> str:
    """The last line a child wrote (stdout first, then stderr): what it said when it ended."""
    return (done.stdout.strip() or done.stderr.strip() or "no output").splitlines()[-1]
