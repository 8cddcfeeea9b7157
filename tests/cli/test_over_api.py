"""The CLI over the REST API (``wolfpack --api URL[,URL...]``, issue 5): the same verbs,
messages and exit codes as over etcd, against real wolfpackd processes serving their API
(S39), with the next URL tried when one does not answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from wolfpack.admin import tokens
from wolfpack.cli.main import app
from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ApiCli:
    def __init__(self, c: LocalCluster) -> None:
        self.c = c
        _, self.admin = tokens.create(c.db, "cli-admin", "admin")
        _, self.reader = tokens.create(c.db, "cli-reader", "read-only")

    def run(
        self,
        *args: str,
        api: str | None = None,
        token: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        environment = {
            # an etcd endpoint nobody serves: API mode must not touch etcd at all
            "WOLFPACK_ENDPOINT": f"https://127.0.0.1:{closed_port()}",
            "WOLFPACK_CONFIG": "/nonexistent",
            "COLUMNS": "200",
            "WOLFPACK_CA": str(self.c.api_ca_file),  # the APIs speak HTTPS (issue 11)
            **(env or {}),
        }
        if env is None:  # else the environment or the config file says where
            api = api or self.c.api_url("node2")
            args = ("--api", api, "--token", token or self.admin, *args)
        return CliRunner().invoke(app, list(args), env=environment)

    def ok(self, *args: str, **kw: Any) -> Any:
        result = self.run(*args, "--json", **kw)
        assert result.exit_code == 0, f"wolfpack {' '.join(args)}: {result.output}"
        return json.loads(result.stdout)

    def fails(self, *args: str, code: int, **kw: Any) -> dict[str, Any]:
        result = self.run(*args, "--json", **kw)
        assert result.exit_code == code, f"wolfpack {' '.join(args)}: {result.output}"
        assert "Traceback" not in result.output
        error: dict[str, Any] = json.loads(result.stdout)["error"]
        return error


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiCli]:
    c = LocalCluster(tmp_path_factory.mktemp("cli-over-api"), nodes=2)
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node1", "node2"))
        wait_for(lambda: c.answer("Web") == "node1", timeout=30)
        yield ApiCli(c)
    finally:
        c.close()


def test_group_create_set_show_list_delete(cli: ApiCli) -> None:
    made = cli.ok("group", "create", "ApiG", "--preferred-owners", "node2,node1")
    assert made["preferred_owners"] == ["node2", "node1"]
    cli.ok("group", "set", "ApiG", "--failover-threshold", "3", "--description", "over api")
    stored = cli.c.db.load_config()[0].groups["ApiG"]  # as written in etcd
    assert (stored.failover_threshold, stored.description) == (3, "over api")
    shown = cli.ok("group", "show", "ApiG")
    assert shown["failover_threshold"] == 3 and shown["preferred_owners"] == ["node2", "node1"]
    assert "ApiG" in [g["name"] for g in cli.ok("group", "list")]
    cli.ok("group", "set", "ApiG", "--preferred-owners", "")  # a field back to its default
    assert cli.c.db.load_config()[0].groups["ApiG"].preferred_owners == ()
    cli.ok("group", "delete", "ApiG")
    assert "ApiG" not in cli.c.db.load_config()[0].groups
    assert cli.fails("group", "show", "ApiG", code=1)["type"] == "NotFoundError"


def test_resource_create_with_properties(cli: ApiCli) -> None:
    cli.ok("group", "create", "ApiR")
    res = cli.ok(
        "resource", "create", "api-app", "--type", "Generic Application", "--group", "ApiR",
        "--prop", "command=sleep 600", "--prop", "directory=/tmp",
    )  # fmt: skip
    assert res["properties"] == {"command": "sleep 600", "directory": "/tmp"}
    cli.ok("resource", "set", "api-app", "--prop", "directory=")  # key= removes it
    stored = cli.c.db.load_config()[0].resources["api-app"]
    assert dict(stored.properties) == {"command": "sleep 600"}


@pytest.mark.skipif(
    not Path("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists(),
    reason="Debian's resource-agents is not installed (scripts/setup)",
)
def test_an_ocf_agent_registered_as_a_type_over_the_api(cli: ApiCli) -> None:
    """S26, S31: the agent's meta-data is read here, the type is made by the server (an
    audited change like any other) and deleted only while nothing uses it."""
    made = cli.ok("type", "register", "heartbeat:Dummy")
    assert made["name"] == "ocf:heartbeat:Dummy"
    stored = cli.c.db.load_config()[0].types["ocf:heartbeat:Dummy"]
    assert stored.spec("state") is not None and stored.spec("fake") is not None
    refused = cli.fails("type", "delete", "Generic Application", code=1)
    assert refused["code"] == "BUILTIN_TYPE"
    assert cli.fails("type", "register", "heartbeat:Dummy", code=1)["type"] == (
        "AlreadyExistsError"
    )
    cli.ok("type", "delete", "ocf:heartbeat:Dummy")
    assert "ocf:heartbeat:Dummy" not in cli.c.db.load_config()[0].types


def test_read_only_cli_output_hides_secret_values(cli: ApiCli) -> None:
    """Issue 11 item 3: ``resource show``/``list`` over the API with a read-only token print
    no secret value; with an admin token the stored value."""
    cli.ok("group", "create", "ApiS")
    cli.ok(
        "resource", "create", "api-secret", "--type", "Generic Application", "--group", "ApiS",
        "--prop", "command=psql postgres://app:pw-in-url-4@db/app",
        "--prop", "environment=PGPASSWORD=s3cret-cli-4,PGHOST=db",
    )  # fmt: skip
    shown = cli.ok("resource", "show", "api-secret", token=cli.reader)
    listed = cli.ok("resource", "list", token=cli.reader)
    for text in (
        json.dumps(shown),
        json.dumps(listed),
        cli.run("resource", "show", "api-secret", token=cli.reader).stdout,
    ):
        assert "s3cret-cli-4" not in text and "pw-in-url-4" not in text
    assert "PGPASSWORD=***" in shown["properties"]["environment"]
    assert "s3cret-cli-4" in json.dumps(cli.ok("resource", "show", "api-secret"))  # admin


def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(cli: ApiCli) -> None:
    """The server validates the whole configuration: an unknown group is named, exit 2."""
    before = cli.c.db.load_config()
    error = cli.fails(
        "resource", "create", "api-bad", "--type", "Generic Application", "--group", "NoSuch",
        "--prop", "command=true", code=2,
    )  # fmt: skip
    assert error["type"] == "ValidationError"
    assert any(f["field"].startswith("resources.api-bad") for f in error["fields"]), error
    assert cli.c.db.load_config() == before


def test_move_waits_for_its_outcome(cli: ApiCli) -> None:
    """S39: the move is a request to the coordinator; the CLI polls the API until it shows."""
    owner = cli.c.owner("Web")
    target = "node2" if owner != "node2" else "node1"
    settled = cli.ok("group", "move", "Web", target, "--timeout", "60")
    assert settled["status"] == "accepted" and settled["owner"] == target
    assert cli.c.owner("Web") == target


def test_a_refused_request_shows_its_reason_code(cli: ApiCli) -> None:
    error = cli.fails("group", "move", "Web", "node9", code=1)
    assert error["type"] == "RejectedError" and error["code"] == error["code"].upper()
    assert "node9" in error["message"]
    human = cli.run("group", "move", "Web", "node9")
    assert human.exit_code == 1 and f"[{error['code']}]" in human.output


def test_a_read_only_token_may_read_but_not_change(cli: ApiCli) -> None:
    assert "Web" in [g["name"] for g in cli.ok("group", "list", token=cli.reader)]
    error = cli.fails("group", "create", "ApiRO", token=cli.reader, code=1)
    assert error["type"] == "ForbiddenError" and error["message"]
    assert "ApiRO" not in cli.c.db.load_config()[0].groups
    assert cli.fails("group", "list", token="wrong", code=1)["type"] == "AuthError"


def test_the_next_url_is_tried_when_one_does_not_answer(cli: ApiCli) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    api = f"{dead},{cli.c.api_url('node1')}"
    cli.ok("group", "create", "ApiF", api=api)
    assert "ApiF" in cli.c.db.load_config()[0].groups
    assert cli.ok("group", "show", "ApiF", api=api)["name"] == "ApiF"
    error = cli.fails("group", "list", api=dead, code=3)
    assert error["type"] == "StoreUnavailable" and dead in error["message"]


def test_a_group_renamed_while_online_keeps_running_where_it_runs(cli: ApiCli) -> None:
    """S19, on real daemons: renaming an online group moves its configuration and status in
    one transaction; its application is neither stopped nor restarted nor moved, and
    nothing is planned for it afterwards. A resource that runs is renamed only offline."""
    c = cli.c
    wait_for(lambda: c.db.read_snapshot().group("Web").transition is None, timeout=30)
    owner = c.db.read_snapshot().group("Web").owner
    assert owner is not None and c.answer("Web") == owner
    starts = [r for r in c.runs("Web") if " start " in r]
    made = cli.ok("group", "rename", "Web", "Website")
    assert made["name"] == "Website" and made["owner"] == owner and made["state"] == "Online"
    for _ in range(10):  # two seconds of ticks: every node and the coordinator re-read it
        assert c.answer("Web") == owner
        time.sleep(0.2)
    snap = c.db.read_snapshot()
    assert snap.group("Website").owner == owner and "Web" not in snap.groups
    assert snap.config.resources["Web-app"].group == "Website"
    assert [r for r in c.runs("Web") if " start " in r] == starts  # never restarted
    plan = cli.ok("plan")
    assert [a for a in plan.get("actions", []) if a["subject"] in ("Web", "Website")] == []
    refused = cli.fails("resource", "rename", "Web-app", "web-app", code=1)
    assert refused["code"] == "RESOURCE_ACTIVE" and "offline" in refused["message"]
    cli.ok("group", "rename", "Website", "Web")
    assert c.db.read_snapshot().group("Web").owner == owner and c.answer("Web") == owner


def test_node_pause_and_resume_and_a_resource_changing_group(cli: ApiCli) -> None:
    cli.ok("node", "pause", "node2")
    kv = cli.c.store.get(cli.c.keys.node_admin("node2"))
    assert kv is not None and json.loads(kv.value).get("paused") is True
    cli.ok("node", "resume", "node2")
    kv = cli.c.store.get(cli.c.keys.node_admin("node2"))
    assert kv is None or not json.loads(kv.value).get("paused")
    cli.ok("group", "create", "ApiM")
    cli.ok(
        "resource", "create", "api-spare", "--type", "Generic Application", "--group", "ApiM",
        "--prop", "command=sleep 600",
    )  # fmt: skip
    intent = cli.ok("resource", "move", "api-spare", "Web", "--no-wait")
    assert (intent["kind"], intent["target"]) == ("change-group", "Web")
    wait_for(lambda: cli.c.db.load_config()[0].resources["api-spare"].group == "Web", timeout=30)


def test_api_and_token_from_the_environment_and_the_config_file(cli: ApiCli, tmp_path: Any) -> None:
    url = cli.c.api_url("node1")
    env = {"WOLFPACK_API": url, "WOLFPACK_TOKEN": cli.reader}
    assert "Web" in [g["name"] for g in cli.ok("group", "list", env=env)]
    config = tmp_path / "config.yaml"
    config.write_text(f"api: {url}\ntoken: {cli.reader}\n")
    assert "Web" in [
        g["name"] for g in cli.ok("group", "list", env={"WOLFPACK_CONFIG": str(config)})
    ]
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    no_token = cli.fails(
        "group", "list", env={"WOLFPACK_API": url, "WOLFPACK_CONFIG": str(empty)}, code=2
    )
    assert no_token["fields"][0]["field"] == "token"


def test_status_plan_and_export_read_through_the_api(cli: ApiCli) -> None:
    assert "Web" in json.dumps(cli.ok("status"))
    owner = cli.c.owner("Web")
    assert owner is not None
    assert "Web" in json.dumps(cli.ok("plan", "--assume-down", owner))  # what-if: a failover
    exported = cli.run("config", "export")
    assert exported.exit_code == 0 and "Web" in exported.stdout


def test_verbs_that_need_the_database_say_so(cli: ApiCli) -> None:
    error = cli.fails("token", "create", "x", code=2)
    assert "drop --api" in error["message"]


def test_the_cluster_log_uses_the_root_api_option(cli: ApiCli) -> None:
    """``wolfpack --api URL log`` asks that API (no ``--api`` of its own needed)."""
    body = cli.ok("log", "--since", "10m")
    assert {line["node"] for line in body["lines"]} & set(cli.c.names)


def test_a_change_is_sent_as_a_merge_patch_with_null_for_what_is_gone() -> None:
    """Unit: PATCH bodies carry only what changed; a removed property is ``null``."""
    from wolfpack.cli.remote import merge_patch_for
    from wolfpack.model.config import Resource

    old = Resource("a", "Generic Application", "G", properties={"command": "x", "directory": "/"})
    new = Resource("a", "Generic Application", "G", description="d", properties={"command": "y"})
    assert merge_patch_for(old, new) == {
        "description": "d",
        "properties": {"command": "y", "directory": None},
    }
    assert merge_patch_for(old, old) == {}


def test_resources_are_created_after_what_they_depend_on() -> None:
    """Unit: new resources are POSTed in dependency order and deleted in reverse."""
    from wolfpack.cli.remote import _create_order, _delete_order
    from wolfpack.model.config import ClusterConfig, Resource

    res = {
        "app": Resource("app", "T", "G", dependencies=(("disk", "ip"),)),
        "disk": Resource("disk", "T", "G"),
        "ip": Resource("ip", "T", "G", dependencies=(("disk",),)),
    }
    cfg = ClusterConfig(resources=res)
    assert _create_order("resources", cfg, ["app", "ip", "disk"]) == ["disk", "ip", "app"]
    assert _delete_order("resources", cfg, {"app", "ip", "disk"}) == ["app", "ip", "disk"]


def test_a_stopped_node_is_skipped(cli: ApiCli) -> None:
    """Failover of the CLI itself: node1's wolfpackd is stopped, its URL listed first."""
    cli.c.stop_node("node1")
    api = f"{cli.c.api_url('node1')},{cli.c.api_url('node2')}"
    cli.ok("group", "set", "Web", "--description", "while node1 is down", api=api)
    assert cli.c.db.load_config()[0].groups["Web"].description == "while node1 is down"
    assert cli.ok("group", "show", "Web", api=api)["description"] == "while node1 is down"


def test_group_history_through_the_api(cli: ApiCli) -> None:
    """Issue 12 item 1: the same document as from the database; the placement is kept."""
    doc = cli.ok("group", "history", "Web", token=cli.reader)
    assert doc["group"] == "Web"
    place = doc["timelines"][-1]
    assert (place["kind"], place["source"], place["ending"]) == ("place", None, "complete")
    assert place["events"][0]["phase"] == "decided"
    text = cli.run("group", "history", "Web").stdout
    assert "place - -> " in text and "decided -> starting" in text
    assert cli.fails("group", "history", "Nope", code=1)["type"] == "NotFoundError"
