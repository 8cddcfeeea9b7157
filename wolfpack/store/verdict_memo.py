"""What a check of some files found, remembered beside them byte for byte (standard library
only).

Checking certificates needs cryptography, whose Rust core alone keeps about 9 MB resident
for the rest of a process's life: ``wolfpackd`` would carry it for a check it made once at
start (issue 12: at most 60 MB per daemon). So a check's verdict is written to a memo file
with a digest of every byte it depended on; a later process with byte for byte the same
inputs takes the verdict and never loads cryptography. Anything changed (a renewed
certificate, a new CA, another address wanted) changes the digest, and the check runs in
full again. A memo is trusted only if it is a regular file of our own user that nobody else
may write (it vouches for credentials), and every failure to read or write it just means
"check again".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["recall", "record"]


def _digest(parts: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def recall(memo: Path, parts: Sequence[bytes], now: float) -> dict[str, Any] | None:
    """The verdict recorded in ``memo`` for exactly ``parts``, unless it expired by ``now``
    (wall clock); None if there is none to trust."""
    try:
        fd = os.open(memo, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8") as f:
        info = os.fstat(f.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None  # not ours, or others may write it: it vouches for nothing
        try:
            doc = json.loads(f.read(65536))
        except ValueError:
            return None
    if not isinstance(doc, dict) or doc.get("digest") != _digest(parts):
        return None
    until, verdict = doc.get("until"), doc.get("verdict")
    if until is not None and (not isinstance(until, int | float) or now >= until):
        return None
    return verdict if isinstance(verdict, dict) else None


def record(
    memo: Path, parts: Sequence[bytes], verdict: dict[str, Any], until: float | None = None
) -> None:
    """Remember ``verdict`` for exactly ``parts`` (until ``until``, wall clock, if given)."""
    doc = {"digest": _digest(parts), "until": until, "verdict": verdict}
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, memo)
    except OSError:  # a directory we may not write (a user's CLI): nothing remembered
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
