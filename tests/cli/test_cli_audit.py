"""M10 (issue 11): changes made with the CLI are audited like API changes: who (the etcd
user and the account), from where (the host), what (noun, verb, name; never option values),
when and how it ended. Reads leave no record."""

from __future__ import annotations

import getpass
import socket

from .conftest import Cli, Writer


def cli_records(cli: Cli) -> list[dict[str, object]]:
    return [r for r in cli.json("audit", "list", "--since", "1h") if r["method"] == "CLI"]


def test_cli_changes_leave_an_audit_record_and_reads_do_not(cluster: Cli, write: Writer) -> None:
    assert [r["path"] for r in cli_records(cluster)] == ["wolfpack cluster create jean"]
    cluster.ok("group", "create", "Web", "--description", "secret-looking text")
    cluster.ok("token", "create", "ops", "--role", "admin")
    cluster.ok("group", "list")
    cluster.ok("group", "show", "Web")
    cluster.fails("group", "delete", "Nope", code=1)  # refused before writing: nothing to audit
    doc = write("groups:\n  SQL: {description: imported}\n")
    cluster.ok("config", "import", doc)
    records = cli_records(cluster)
    assert [r["path"] for r in records] == [
        "wolfpack cluster create jean",
        "wolfpack group create Web",
        "wolfpack token create ops",
        "wolfpack config import",
    ]
    mine = records[1]
    assert mine["who"] == f"admin:lab ({getpass.getuser()})"
    assert mine["node"] == socket.gethostname() and mine["role"] == "admin"
    assert mine["status"] == 0 and mine["body"] == ""  # option values never recorded
    assert "secret-looking" not in str(records)
