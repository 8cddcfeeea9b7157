"""S26, S31: an OCF agent registered as a resource type of its own through the CLI
(Add-ClusterResourceType), its parameters checked as the type's properties, and a type
deleted only when nothing uses it. Runs Debian's own ``heartbeat:Dummy`` agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Cli

DUMMY = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")

pytestmark = pytest.mark.skipif(
    not DUMMY.exists(), reason="Debian's resource-agents is not installed (scripts/setup)"
)


def test_register_an_installed_agent_and_use_it(cluster: Cli) -> None:
    made = cluster.json("type", "register", "heartbeat:Dummy")
    assert made["name"] == "ocf:heartbeat:Dummy" and made["agent"] == "ocf"
    props = {p["name"]: p for p in made["properties"]}
    assert {"state", "fake", "ocf_root", "netns"} <= set(props)
    assert props["fake"]["default"] == "dummy"
    shown = cluster.json("type", "show", "ocf:heartbeat:Dummy")
    assert shown["name"] == "ocf:heartbeat:Dummy"
    listed = {a["agent"]: a for a in cluster.json("type", "agents")}
    assert listed["heartbeat:Dummy"]["registered"] is True
    assert listed["heartbeat:IPaddr2"]["registered"] is False
    # its parameters are the type's properties: an unknown one names the property
    cluster.ok("group", "create", "g")
    bad = cluster.fails(
        "resource", "create", "d", "--type", "ocf:heartbeat:Dummy", "--group", "g",
        "--prop", "colour=blue",
    )  # fmt: skip
    assert "colour" in json.dumps(bad)
    cluster.ok(
        "resource", "create", "d", "--type", "ocf:heartbeat:Dummy", "--group", "g",
        "--prop", "fake=wolf",
    )  # fmt: skip
    # in use: not deleted, and the error names the user
    refused = cluster.fails("type", "delete", "ocf:heartbeat:Dummy")
    assert refused["fields"][0]["field"] == "types.ocf:heartbeat:Dummy"
    assert "d" in refused["fields"][0]["message"]
    cluster.ok("resource", "delete", "d")
    assert cluster.json("type", "delete", "ocf:heartbeat:Dummy")["name"] == "ocf:heartbeat:Dummy"
    assert "ocf:heartbeat:Dummy" not in {t["name"] for t in cluster.json("type", "list")}


def test_registering_twice_needs_replace(cluster: Cli) -> None:
    cluster.ok("type", "register", "heartbeat:Dummy")
    again = cluster.fails("type", "register", "heartbeat:Dummy", code=1)
    assert again["type"] == "AlreadyExistsError"
    assert cluster.json("type", "register", "heartbeat:Dummy", "--replace")["name"] == (
        "ocf:heartbeat:Dummy"
    )


def test_register_from_saved_metadata(cluster: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "meta.xml"
    saved.write_text(
        '<?xml version="1.0"?><resource-agent name="Web"><parameters>'
        '<parameter name="port" required="1"><content type="integer"/></parameter>'
        '</parameters><actions><action name="start" timeout="20s"/></actions></resource-agent>'
    )
    made = cluster.json("type", "register", "acme:Web", "--metadata", str(saved))
    port = next(p for p in made["properties"] if p["name"] == "port")
    assert made["name"] == "ocf:acme:Web" and port["required"] is True


def test_bad_input_names_the_field_and_changes_nothing(cluster: Cli, tmp_path: Path) -> None:
    before = cluster.json("type", "list")
    cases = {
        ("heartbeat/../Dummy",): "agent",
        ("heartbeat:NoSuchAgent",): "agent",
        ("heartbeat:Dummy", "--ocf-root", "usr/lib/ocf"): "ocf_root",
    }
    garbage = tmp_path / "garbage.xml"
    garbage.write_text("usage: Web start|stop")
    cases[("acme:Web", "--metadata", str(garbage))] = "metadata"
    cases[("acme:Web", "--metadata", str(tmp_path / "missing.xml"))] = "metadata"
    for args, field in cases.items():
        error = cluster.fails("type", "register", *args)
        assert error["fields"][0]["field"] == field, (args, error)
    assert cluster.json("type", "list") == before


def test_a_builtin_type_is_never_deleted(cluster: Cli) -> None:
    refused = cluster.fails("type", "delete", "IP Address", code=1)
    assert (refused["type"], refused["code"]) == ("RejectedError", "BUILTIN_TYPE")
    assert "IP Address" in {t["name"] for t in cluster.json("type", "list")}
