"""What every benchmark does with its result: name the machine, print, write the JSON file."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(result: dict[str, Any], results: Path, *, as_json: bool) -> None:
    """One ``key: value`` line each (to stderr with ``as_json``), the JSON file, and with
    ``as_json`` the result as the last line of stdout."""
    out = sys.stderr if as_json else sys.stdout
    for key, value in result.items():
        print(f"{key:>26}: {value}", file=out)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print(json.dumps(result))
