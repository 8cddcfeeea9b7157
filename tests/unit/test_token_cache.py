"""The etcd token the CLI keeps between commands (issue 12 item 4;
wolfpack.store.etcd_token_cache): a next process uses it until it is due and then fetches a
new one; it is kept as the password is (0600, the owner's, no links) and nothing else is
trusted; other credentials or endpoints find nothing; a refused token is forgotten; and the
user the files were checked to name lets the next load skip the certificate checks, for
exactly the same files only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from wolfpack.errors import ValidationError
from wolfpack.store.etcd_process import ADMIN, EtcdPki
from wolfpack.store.etcd_tls import REFRESH_MAX_S, EtcdCredentials, TokenAuth
from wolfpack.store.etcd_token_cache import STALE_S, TokenCache

WALL = 1_800_000_000.0


class Etcd:
    """Hands out numbered opaque tokens; counts authentications."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self, body: dict[str, str]) -> str:
        self.issued += 1
        return f"token-{self.issued}"


def process(cache: TokenCache, wall: list[float]) -> TokenAuth:
    """The TokenAuth of a new ``wolfpack`` process (a fresh monotonic clock at 0)."""
    return TokenAuth("admin:x", "pw", clock=lambda: 0.0, wall=lambda: wall[0], cache=cache)


def test_a_next_process_uses_the_kept_token_until_it_is_due(tmp_path: Path) -> None:
    etcd, wall = Etcd(), [WALL]
    first = process(TokenCache(tmp_path, "e", "files"), wall).token(etcd)
    assert etcd.issued == 1
    wall[0] = WALL + REFRESH_MAX_S - 1
    assert process(TokenCache(tmp_path, "e", "files"), wall).token(etcd) == first
    assert etcd.issued == 1  # no Authenticate (bcrypt on etcd's side) for this command
    wall[0] = WALL + REFRESH_MAX_S  # due (opaque token: the 120 s cap)
    assert process(TokenCache(tmp_path, "e", "files"), wall).token(etcd) == "token-2"
    doc = json.loads(TokenCache(tmp_path, "e", "files").path.read_text())
    assert doc == {"user": "admin:x", "token": "token-2", "due": WALL + 2 * REFRESH_MAX_S}


def test_other_endpoints_or_files_find_no_token(tmp_path: Path) -> None:
    etcd, wall = Etcd(), [WALL]
    process(TokenCache(tmp_path, "e", "files"), wall).token(etcd)
    for other in (TokenCache(tmp_path, "e2", "files"), TokenCache(tmp_path, "e", "files2")):
        assert other.load(WALL) is None and other.user() is None
        process(other, wall).token(etcd)
    assert etcd.issued == 3


def test_the_file_is_private_and_nothing_else_is_trusted(tmp_path: Path) -> None:
    etcd, wall = Etcd(), [WALL]
    cache = TokenCache(tmp_path / "new", "e", "files")
    process(cache, wall).token(etcd)
    assert cache.path.stat().st_mode & 0o777 == 0o600
    assert cache.directory.stat().st_mode & 0o777 == 0o700
    os.chmod(cache.path, 0o644)  # readable by others: never used again
    assert TokenCache(cache.directory, "e", "files").load(WALL) is None
    os.chmod(cache.path, 0o600)
    assert TokenCache(cache.directory, "e", "files").load(WALL) is not None
    planted = TokenCache(tmp_path, "e", "planted")  # a link to a file it did not write
    planted.path.symlink_to(cache.path)
    assert planted.load(WALL) is None and planted.user() is None
    garbled = TokenCache(tmp_path, "e", "garbled")
    garbled.path.write_text("{not json")
    garbled.path.chmod(0o600)
    assert garbled.load(WALL) is None
    process(garbled, wall).token(etcd)  # fetched, and kept in place of the garbage
    assert TokenCache(tmp_path, "e", "garbled").load(WALL) == ("token-2", REFRESH_MAX_S)


def test_a_refused_token_is_forgotten(tmp_path: Path) -> None:
    etcd, wall = Etcd(), [WALL]
    auth = process(TokenCache(tmp_path, "e", "files"), wall)
    auth.invalidate(auth.token(etcd))  # etcd: "revision of auth store is old"
    assert not TokenCache(tmp_path, "e", "files").path.exists()
    assert process(TokenCache(tmp_path, "e", "files"), wall).token(etcd) == "token-2"


def test_tokens_nobody_renewed_for_an_hour_are_removed(tmp_path: Path) -> None:
    now = time.time()  # files' times are the real clock's
    old = TokenCache(tmp_path, "a lab long gone", "files")
    old.save("t", now, now=now, user="u")
    os.utime(old.path, (now - STALE_S - 1, now - STALE_S - 1))
    recent = TokenCache(tmp_path, "another cluster", "files")
    recent.save("t", now, now=now, user="u")
    TokenCache(tmp_path, "e", "files").save("t", now + 60, now=now, user="u")
    assert not old.path.exists() and recent.path.exists()


def test_credentials_checked_once_are_taken_from_the_cache_for_the_same_files(
    tmp_path: Path,
) -> None:
    pki = EtcdPki(tmp_path / "pki")
    admin = pki.admin
    assert admin.cert is not None and admin.key is not None
    files = (admin.ca, admin.cert, admin.key)
    cache = tmp_path / "cache"
    first = EtcdCredentials.load(*files, cache=cache, endpoints="https://e:2379")
    assert first.user == f"admin:{ADMIN}" and first.token_cache is not None
    assert first.token_cache.user() is None  # checked, but nothing kept before a token
    first.token_cache.save("t", WALL + 60, now=WALL, user=f"admin:{ADMIN}")
    again = EtcdCredentials.load(*files, cache=cache, endpoints="https://e:2379")
    assert again == first and again.token_cache is not None
    assert again.token_cache.path == first.token_cache.path
    # another key in place of the right one: other files, so checked again, and refused
    other = pki.principal("node", "n9")
    assert other.key is not None
    with pytest.raises(ValidationError) as bad:
        EtcdCredentials.load(
            admin.ca, admin.cert, other.key, cache=cache, endpoints="https://e:2379"
        )
    assert bad.value.errors[0].field == "etcd.key"
