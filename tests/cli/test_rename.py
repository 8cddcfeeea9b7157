"""S19: ``wolfpack group rename`` and ``wolfpack resource rename`` against a real etcd: every
reference follows, a bad or taken name and a rename that must wait change nothing."""

from __future__ import annotations

from .conftest import Cli


def test_group_rename_moves_its_resources_and_status(jean: Cli) -> None:
    made = jean.json("group", "rename", "Web", "Website")
    assert made["name"] == "Website" and made["preferred_owners"] == ["node2"]
    assert {r["name"] for r in jean.json("resource", "list") if r["group"] == "Website"} == {
        "web-disk", "web-ip", "www", "web",
    }  # fmt: skip
    assert "Web" not in {g["name"] for g in jean.json("group", "list")}
    assert jean.fails("group", "show", "Web", code=1)["type"] == "NotFoundError"
    assert "renamed group Website to Web" in jean.ok("group", "rename", "Website", "Web").stdout


def test_resource_rename_rewrites_its_dependents(jean: Cli) -> None:
    jean.ok("resource", "rename", "web-ip", "web-address")
    assert jean.json("resource", "show", "www")["dependencies"] == [["web-address"]]
    assert jean.json("resource", "show", "web")["dependencies"] == [["web-disk"], ["web-address"]]
    assert jean.json("resource", "show", "web-address")["properties"]["address"] == "198.51.100.20"


def test_bad_renames_change_nothing(jean: Cli) -> None:
    before = jean.json("config", "export")
    assert jean.fails("group", "rename", "Web", "SQL", code=1)["type"] == "AlreadyExistsError"
    assert jean.fails("group", "rename", "Nope", "X", code=1)["type"] == "NotFoundError"
    bad = jean.fails("resource", "rename", "web", "a/b")
    assert bad["fields"][0]["field"].startswith("resources.a/b")
    jean.ok("group", "online", "Web", "--no-wait")  # a pending request names it
    refused = jean.fails("group", "rename", "Web", "Website", code=1)
    assert refused["code"] == "REQUEST_PENDING" and "wolfpack intent list" in refused["message"]
    assert jean.json("config", "export") == before
