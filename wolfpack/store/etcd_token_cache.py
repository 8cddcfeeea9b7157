"""An etcd token kept between processes, for the ``wolfpack`` command (issue 12).

Every ``wolfpack`` command is a new process, and a new process has no etcd token: it
authenticates first, a request on which etcd checks the password with bcrypt, before the
command's own request. The command keeps the token in a file of its user's instead and uses
it until it is due for renewal by the rule every store follows (half its lifetime, at most
:data:`~wolfpack.store.etcd_tls.REFRESH_MAX_S`; :class:`~wolfpack.store.etcd_tls.TokenAuth`).

For those minutes the file is as good as the password, so it is kept as the password file
is: created 0600 (in a directory created 0700), written whole (a rename), opened without
following a link, and not used unless the caller owns it and nobody else may read it. Its
name is a digest of the endpoints, the user, the certificate and the password: another
cluster, user, certificate or password finds no token and authenticates. A token that etcd
refuses (expired, or users changed since) is forgotten and a new one fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

#: a kept token file not written for this long is removed by the next save
STALE_S = 3600.0
#: directory entries a save looks at, at most
PRUNE_MAX = 200


class TokenCache:
    """One principal's kept token: :meth:`load`, :meth:`save`, :meth:`forget`. Every
    failure to read or write means "no token kept": the caller authenticates."""

    def __init__(self, directory: Path, *identity: str | bytes) -> None:
        digest = hashlib.sha256()
        for part in identity:
            digest.update(part.encode() if isinstance(part, str) else part)
            digest.update(b"\0")
        self.directory = directory
        self.path = directory / f"etcd-token-{digest.hexdigest()[:32]}.json"

        self._kept: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        """The kept document ({} if none, or not to be trusted), read once."""
        if self._kept is None:
            self._kept = {}
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                return self._kept
            with os.fdopen(fd, encoding="utf-8") as f:
                info = os.fstat(f.fileno())
                if info.st_uid != os.geteuid() or info.st_mode & 0o077:
                    return self._kept  # not ours, or readable by others: never trusted
                with contextlib.suppress(ValueError):
                    doc = json.loads(f.read(65536))
                    self._kept = doc if isinstance(doc, dict) else {}
        return self._kept

    def user(self) -> str | None:
        """The etcd user these credentials were checked to name, if a token was kept."""
        user = self._read().get("user")
        return user if isinstance(user, str) and user else None

    def load(self, wall: float) -> tuple[str, float] | None:
        """(the token, seconds until it is due) if one is kept and not due at ``wall``."""
        doc = self._read()
        token, due = doc.get("token"), doc.get("due")
        if not isinstance(token, str) or not token or not isinstance(due, (int, float)):
            return None
        left = float(due) - wall
        return (token, left) if left > 0 else None

    def save(self, token: str, due: float, *, now: float, user: str) -> None:
        """Keep ``token`` of ``user`` until ``due`` (epoch seconds; ``now``: the time now)."""
        doc = {"user": user, "token": token, "due": due}
        self._kept = doc
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Remove the tokens of other principals and clusters (a lab's, a test's) that
        nobody renewed for :data:`STALE_S`: they would pile up, one per certificate."""
        with contextlib.suppress(OSError), os.scandir(self.directory) as entries:
            for entry in itertools.islice(entries, PRUNE_MAX):
                if (
                    entry.name.startswith("etcd-token-")
                    and entry.name != self.path.name
                    and entry.stat(follow_symlinks=False).st_mtime < now - STALE_S
                ):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def forget(self, token: str) -> None:
        """Remove the kept token if it is ``token`` (etcd refused it)."""
        if self._read().get("token") == token:
            self._kept = {}
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
