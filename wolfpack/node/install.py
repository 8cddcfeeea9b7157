"""Where an installed node keeps its files, and what the host's addresses are (issue 10).

``wolfpack cluster create`` / ``cluster join`` / ``witness join`` write them; wolfpackd and
``wolfpack witness run`` read them; ``node evict`` and ``cluster destroy`` remove exactly
these. Everything under ``config_dir`` (default ``/etc/wolfpack``) and ``data_dir``
(``/var/lib/wolfpack``):

=================================  ==========================================================
``secret``                         the cluster secret (0600): signs heartbeats, admits joins
``wolfpackd.yaml``                 the daemon's settings, with its ``etcd_member:`` section
``config.yaml``                    the CLI's: endpoints and the administrator's credentials
``etcd/ca/``                       the cluster database CA and JWT keys (issues certificates
                                   to joining nodes; docs/security.md says why every voter
                                   holds it)
``etcd/admin/``                    ``admin:cluster``, etcd's root role (membership changes)
``etcd/member/``                   the member's server and peer certificates
``etcd/node.*``, ``etcd/api.*``    the daemon's and its REST API's etcd users
``<data_dir>/etcd``                the member's data
=================================  ==========================================================
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wolfpack.errors import WolfpackError
from wolfpack.model.joining import HostAddress

ADMIN_NAME = "cluster"  # the administrator every installed cluster has: admin:cluster


def manages_member(daemon_settings: Path) -> bool:
    """Was this host formed by ``cluster create``/``join`` (its wolfpackd.yaml has an
    ``etcd_member:`` section)? The package ships an example wolfpackd.yaml without one,
    which says nothing about how the host is set up (it is replaced when the host forms)."""
    try:
        found = yaml.safe_load(daemon_settings.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(found, dict) and bool(found.get("etcd_member"))


@dataclass(frozen=True)
class Layout:
    config_dir: Path = Path("/etc/wolfpack")
    data_dir: Path = Path("/var/lib/wolfpack")
    run_dir: Path = Path("/run/wolfpack")

    @property
    def secret(self) -> Path:
        return self.config_dir / "secret"

    @property
    def etcd_dir(self) -> Path:
        return self.config_dir / "etcd"

    @property
    def ca_dir(self) -> Path:
        return self.etcd_dir / "ca"

    @property
    def admin_dir(self) -> Path:
        return self.etcd_dir / "admin"

    @property
    def member_dir(self) -> Path:
        return self.etcd_dir / "member"

    @property
    def daemon_settings(self) -> Path:
        return self.config_dir / "wolfpackd.yaml"

    @property
    def witness_settings(self) -> Path:
        return self.config_dir / "witness.yaml"

    @property
    def cli_config(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def etcd_data(self) -> Path:
        return self.data_dir / "etcd"

    def made(self) -> list[Path]:
        """Every file and directory an install makes, to remove (destroy, evict)."""
        return [
            self.secret, self.daemon_settings, self.witness_settings, self.cli_config,
            self.etcd_dir, self.etcd_data, self.run_dir,
        ]  # fmt: skip

    def remove(self) -> list[str]:
        """Delete what :meth:`made` lists (and the two directories if left empty); the
        paths removed."""
        gone = []
        for path in self.made():
            if path.is_dir():
                shutil.rmtree(path)
                gone.append(str(path))
            elif path.exists():
                path.unlink()
                gone.append(str(path))
        for d in (self.data_dir, self.config_dir):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
                gone.append(str(d))
        return gone


def write_private(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write ``path`` with ``mode`` (atomically: a half-written settings file is worse than
    none), making its directory 0700 if it is new."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    write_private(path, yaml.safe_dump(data, sort_keys=False))


def host_addresses() -> list[HostAddress]:
    """This host's IPv4 addresses (``ip -j -4 addr``), the loopback interface left out."""
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr", "show"], capture_output=True, check=True, timeout=10
        ).stdout
        links = json.loads(out or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise WolfpackError(f"cannot list this host's addresses with 'ip -j addr': {exc}") from exc
    found = []
    for link in links:
        if link.get("ifname") == "lo":
            continue
        for a in link.get("addr_info", []):
            if a.get("family") == "inet" and a.get("scope") == "global":
                found.append(HostAddress(a["local"], int(a["prefixlen"]), link["ifname"]))
    return found


def parse_addresses(given: Iterable[str], field: str = "--address") -> list[HostAddress]:
    """``ADDRESS/PREFIX`` texts (flags for scripts and tests) as host addresses."""
    from wolfpack.errors import ValidationError

    out = []
    for i, text in enumerate(given):
        address, sep, prefix = text.partition("/")
        if not sep or not prefix.isdigit():
            raise ValidationError.single(f"{field}[{i}]", f"{text!r} is not ADDRESS/PREFIX")
        out.append(HostAddress(address, int(prefix)))
    return out
