"""S20: a node joins by the cluster's name, resolved through the system resolver. The
resolver is replaced here so no test sends a DNS query off this machine."""

from __future__ import annotations

import socket

import pytest

from wolfpack.cli.cluster import resolve_cluster
from wolfpack.errors import ValidationError


def test_a_resolved_name_gives_the_database_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, *args: object) -> list[tuple[object, ...]]:
        assert host == "jean.cluster.test" and port == 2379
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.10", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert resolve_cluster("jean.cluster.test") == "https://198.51.100.10:2379"


def test_an_unresolvable_name_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(*args: object) -> list[tuple[object, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(ValidationError) as err:
        resolve_cluster("jean.cluster.test")
    assert err.value.errors[0].field == "name"
    assert "DNS registration must exist, or give the database" in str(err.value)
    assert "--endpoint" in str(err.value)
