"""The link toward an address, in a network namespace of the test's own (S41): a Network
Name's deregistration is skipped at once when that link has lost its carrier."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"wpn-{secrets.token_hex(3)}-routes"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer")
        ip("-n", name, "addr", "add", "198.51.100.11/24", "dev", "eth0")
        for dev in ("eth0", "peer", "lo"):
            ip("-n", name, "link", "set", dev, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def lost_toward(netns: str, address: str) -> str:
    code = (
        "from wolfpack.resources.routes import lost_link_toward; "
        f"print(lost_link_toward({address!r}))"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def test_a_usable_link_or_no_route_is_none(netns: str) -> None:
    assert lost_toward(netns, "198.51.100.2") == "None"
    assert lost_toward(netns, "127.0.0.1") == "None"
    assert lost_toward(netns, "203.0.113.2") == "None"  # no route: the caller just tries


def test_the_link_without_carrier_is_named(netns: str) -> None:
    ip("-n", netns, "link", "set", "peer", "down")
    assert lost_toward(netns, "198.51.100.2") == "eth0"
