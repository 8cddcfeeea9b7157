"""How a client proves itself to etcd: TLS with a client certificate from the cluster
database CA, and an etcd user's token (C1, issue 11).

:class:`EtcdCredentials` are the files of one principal (:mod:`wolfpack.store.pki`): the CA
that signed etcd's certificate, the client certificate and key, and the etcd user's password
(the user is named in the certificate). :class:`TokenAuth` keeps that user's etcd token:
fetched on first use from ``/v3/auth/authenticate``, sent as ``Authorization`` on every
request, fetched again when etcd says it is invalid (expired, or signed by a member that
restarted with other keys) and before half its lifetime has passed.

etcd must issue JWT tokens (``--auth-token jwt,...``, as every etcd Wolfpack starts does and
docs/install.md configures): a *simple* token dies with the member that issued it, and etcd
3.4's gateway then holds a request with a dead simple token until the client gives up
instead of refusing it, which would look like an unreachable database.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wolfpack.errors import FieldError, ValidationError
from wolfpack.store import verdict_memo
from wolfpack.store.etcd_token_cache import TokenCache

AUTHENTICATE = "/v3/auth/authenticate"
#: Fetch a new token after this long at most, whatever the token's own lifetime says.
REFRESH_MAX_S = 120.0
REFRESH_MIN_S = 5.0
#: how long :func:`check_in_child` waits for its child (a stalled machine: the caller checks)
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EtcdCredentials:
    """One principal's way into etcd. ``ca`` alone: TLS that checks etcd's certificate and
    presents none (what an outsider has; etcd refuses it)."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    #: where the token is kept between processes (the CLI's; None: in memory only)
    token_cache: TokenCache | None = field(default=None, repr=False, compare=False)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of a connection to etcd: its CA, this principal's certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if self.cert and self.key:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def auth(self) -> TokenAuth | None:
        if self.user is None or self.password is None:
            return None
        return TokenAuth(self.user, self.password, cache=self.token_cache)

    @classmethod
    def load(
        cls,
        ca: Path,
        cert: Path,
        key: Path,
        password_file: Path | None = None,
        *,
        field: str = "etcd",
        cache: Path | None = None,
        endpoints: str = "",
        in_child: bool = False,
    ) -> EtcdCredentials:
        """Read and check a principal's files; ValidationError naming the field at fault
        (``<field>.ca``, ``.cert``, ``.key``, ``.password_file``). The password file
        defaults to the certificate's path with ``.password``.

        ``cache`` (a directory; the CLI's): the token is kept there for the next process
        (:mod:`wolfpack.store.etcd_token_cache`) with the user these very files were checked
        to name, so a next process with the same files and ``endpoints`` skips the
        certificate checks (and the import of their library).

        ``in_child`` (wolfpackd's): files with no remembered verdict are checked by a child
        process first (:func:`check_in_child`), so that this process, which lives long,
        never loads cryptography (~9 MB resident); files the child found bad are checked
        here again, to name the field."""
        errors: list[FieldError] = []
        password_file = password_file or cert.with_suffix(".password")
        blobs: dict[str, bytes] = {}
        for name, path in (("ca", ca), ("cert", cert), ("key", key)):
            try:
                blobs[name] = path.read_bytes()
            except OSError as exc:
                errors.append(FieldError(f"{field}.{name}", f"cannot read {path}: {exc.strerror}"))
        password = ""
        try:
            mode = password_file.stat().st_mode
            password = password_file.read_text().strip()
            if mode & 0o077:
                errors.append(
                    FieldError(
                        f"{field}.password_file",
                        f"{password_file} is readable by others (mode {mode & 0o777:o}): "
                        f"chmod 600 it",
                    )
                )
            elif not password:
                errors.append(FieldError(f"{field}.password_file", f"{password_file} is empty"))
        except OSError as exc:
            errors.append(
                FieldError(
                    f"{field}.password_file",
                    f"cannot read {password_file}: {exc.strerror} (issued with the certificate "
                    "by 'wolfpack cluster certs issue')",
                )
            )
        if errors:
            raise ValidationError(errors)
        kept = None
        if cache is not None:
            kept = TokenCache(cache, endpoints, blobs["ca"], blobs["cert"], blobs["key"], password)
            user = kept.user()
            if user is not None:  # checked by an earlier process, byte for byte the same files
                return cls(ca, cert, key, user, password, kept)
        user = _remembered_user(blobs, (ca, cert, key), field, in_child=in_child)
        return cls(ca, cert, key, user, password, kept)

    @classmethod
    def from_dir(
        cls, directory: Path, stem: str, *, field: str = "etcd", in_child: bool = False
    ) -> EtcdCredentials:
        """``directory/ca.crt`` and ``directory/<stem>.crt/.key/.password``."""
        return cls.load(
            directory / "ca.crt",
            directory / f"{stem}.crt",
            directory / f"{stem}.key",
            field=field,
            in_child=in_child,
        )


def _memo(cert: Path) -> Path:
    return cert.with_name(f"{cert.name}.checked")


def _remembered_user(
    blobs: dict[str, bytes], paths: tuple[Path, Path, Path], field: str, *, in_child: bool = False
) -> str:
    """:func:`_checked_user`, or its verdict for byte for byte the same files, remembered
    beside the certificate (:mod:`wolfpack.store.verdict_memo`): a later process (a
    restarted daemon) needs no cryptography, ~9 MB resident for its whole life. With
    ``in_child`` a child makes the verdict when none is remembered."""
    parts = [blobs["ca"], blobs["cert"], blobs["key"]]
    memo = _memo(paths[1])

    def recalled() -> str | None:
        verdict = verdict_memo.recall(memo, parts, time.time())
        user = None if verdict is None else verdict.get("user")
        return user if isinstance(user, str) else None

    if (user := recalled()) is not None:
        return user
    if in_child:
        check_in_child(*paths)
        if (user := recalled()) is not None:
            return user
    user = _checked_user(blobs, paths, field)  # here: a bad file's field named
    verdict_memo.record(memo, parts, {"user": user})
    return user


def check_in_child(ca: Path, cert: Path, key: Path) -> None:
    """Have a child process check these files and remember its verdict, so that this
    process then loads them without cryptography (``EtcdCredentials.load(in_child=True)``).
    Nothing is raised here: if the files are bad the caller's own check names the field."""
    script = (
        "import sys; from pathlib import Path; from wolfpack.store import etcd_tls\n"
        "ca, cert, key = map(Path, sys.argv[1:4])\n"
        "blobs = {'ca': ca.read_bytes(), 'cert': cert.read_bytes(), 'key': key.read_bytes()}\n"
        "etcd_tls._remembered_user(blobs, (ca, cert, key), 'etcd')\n"
    )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [sys.executable, "-c", script, str(ca), str(cert), str(key)],
            capture_output=True,
            timeout=CHECK_TIMEOUT_S,
        )


def _checked_user(blobs: dict[str, bytes], paths: tuple[Path, Path, Path], field: str) -> str:
    """The etcd user the certificate names, once checked: signed by the CA, and the key its
    own (ValidationError naming the field at fault)."""
    from cryptography import x509  # lazy: only clients that use TLS pay for it
    from cryptography.exceptions import InvalidSignature

    from wolfpack.store.pki import user_of

    ca, cert, key = paths
    try:
        ca_cert = x509.load_pem_x509_certificate(blobs["ca"])
    except ValueError:
        raise ValidationError.single(f"{field}.ca", f"{ca} is not a PEM certificate") from None
    try:
        leaf = x509.load_pem_x509_certificate(blobs["cert"])
        leaf.verify_directly_issued_by(ca_cert)
    except ValueError:
        raise ValidationError.single(f"{field}.cert", f"{cert} is not a PEM certificate") from None
    except (InvalidSignature, TypeError):
        raise ValidationError.single(
            f"{field}.cert", f"{cert} was not signed by the CA in {field}.ca ({ca})"
        ) from None
    user = user_of(blobs["cert"])
    if user is None:
        raise ValidationError.single(
            f"{field}.cert",
            f"{cert} names no etcd user: issue it with 'wolfpack cluster certs issue'",
        )
    try:  # a bare context: the system's CAs are not needed to match a key (issue 12)
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ValidationError.single(
            f"{field}.key", f"{key} is not the key of {cert} ({exc.reason})"
        ) from None
    return user


def _lifetime(token: str, now: float) -> float | None:
    """Seconds from ``now`` (epoch) until a JWT's ``exp`` (None: not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return float(claims["exp"]) - now
    except (ValueError, KeyError, TypeError):
        return None


class TokenAuth:
    """One etcd user's token, shared by the threads of one store."""

    def __init__(
        self,
        user: str,
        password: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        cache: TokenCache | None = None,
    ) -> None:
        self.user = user
        self._password = password
        self._clock, self._wall = clock, wall
        self._cache = cache
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def body(self) -> dict[str, str]:
        return {"name": self.user, "password": self._password}

    def token(self, fetch: Callable[[dict[str, str]], str], *, renew: bool = True) -> str:
        """The current token, fetched with ``fetch(body)`` when there is none or it is
        due. ``fetch`` raises when etcd refuses (wrong password, unknown user) and returns
        ``""`` while etcd's authentication is off; so does this, and nothing is sent.
        ``renew=False`` (a lease keep-alive, on its deadline): a token that is due but still
        valid is used as it is, and the next unhurried request fetches the new one."""
        with self._lock:
            now = self._clock()
            if self._token is None and self._cache is not None:
                kept = self._cache.load(self._wall())
                if kept is not None:  # another process's token, until it is due
                    self._token, self._renew_at = kept[0], now + min(kept[1], REFRESH_MAX_S)
            if self._token is None or (renew and now >= self._renew_at):
                token = fetch(self.body())
                if not token:  # authentication is off (a database being set up): ask again
                    return ""
                left = _lifetime(token, self._wall())
                wait = max(
                    REFRESH_MIN_S, REFRESH_MAX_S if left is None else min(REFRESH_MAX_S, left / 2)
                )
                self._token, self._renew_at = token, now + wait
                if self._cache is not None:
                    wall = self._wall()
                    self._cache.save(token, wall + wait, now=wall, user=self.user)
            return self._token

    def invalidate(self, token: str) -> None:
        """etcd refused ``token``: the next :meth:`token` fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = None
            if self._cache is not None:
                self._cache.forget(token)
