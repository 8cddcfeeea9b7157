"""Requests: group move/online/offline, resource online/offline/fail/move, intent list/delete."""

from __future__ import annotations

from .conftest import Cli

NOW = "1767229200"


def test_group_move_is_a_request_the_plan_carries_out(jean: Cli) -> None:
    intent = jean.json("group", "move", "Web", "node3", "--no-wait")
    assert (intent["kind"], intent["subject"], intent["target"]) == ("move-group", "Web", "node3")
    assert [i["id"] for i in jean.json("intent", "list")] == [intent["id"]]
    plan = jean.json("plan", "--now", NOW)
    web = next(a for a in plan["actions"] if a["subject"] == "Web")
    assert (web["kind"], web["node"], web["reason"]["code"]) == (
        "place-group",
        "node3",
        "MOVE_REQUESTED",
    )
    assert web["intent"] == intent["id"]
    assert intent["id"] in jean.ok("intent", "list").stdout


def test_a_move_that_cannot_be_done_is_refused_at_once(jean: Cli) -> None:
    error = jean.fails("group", "move", "Web", "node9", code=1)
    assert error["type"] == "RejectedError" and "node9" in error["message"]
    assert jean.fails("group", "move", "Nope", code=1)["type"] == "NotFoundError"
    assert jean.json("intent", "list") == []


def test_a_refusal_shows_its_reason_code(jean: Cli) -> None:
    """The refusal's stable reason code is in the --json error document and the human line."""
    code = jean.fails("group", "move", "Web", "node9", code=1)["code"]
    assert code and code == code.upper()
    human = jean.run("group", "move", "Web", "node9")
    assert human.exit_code == 1 and f"[{code}]" in human.output


def test_online_offline_and_fail_requests(jean: Cli) -> None:
    kinds = [
        jean.json("group", "offline", "SQL", "--no-wait")["kind"],
        jean.json("group", "online", "SQL", "--no-wait")["kind"],
        jean.json("resource", "offline", "www", "--no-wait")["kind"],
        jean.json("resource", "online", "www", "--no-wait")["kind"],
        jean.json("resource", "fail", "web", "--no-wait")["kind"],
    ]
    assert kinds == [
        "offline-group",
        "online-group",
        "offline-resource",
        "online-resource",
        "fail-resource",
    ]
    assert [i["kind"] for i in jean.json("intent", "list")] == kinds  # oldest first
    assert jean.fails("resource", "fail", "nothing", code=1)["type"] == "NotFoundError"


def test_resource_move_only_without_dependencies(jean: Cli) -> None:
    error = jean.fails("resource", "move", "web-disk", "SQL", code=1)
    assert "web" in error["message"] and "S36" in error["message"]
    assert jean.fails("resource", "move", "web", "Web", code=1)["type"] == "RejectedError"
    assert jean.fails("resource", "move", "web", "Nope", code=1)["type"] == "NotFoundError"
    jean.ok(
        "resource", "create", "spare-ip", "--type", "IP Address", "--group", "Web",
        "--prop", "address=198.51.100.40", "--prop", "network=public",
    )  # fmt: skip
    intent = jean.json("resource", "move", "spare-ip", "SQL", "--no-wait")
    assert (intent["kind"], intent["target"]) == ("change-group", "SQL")
    assert len(jean.json("intent", "list")) == 1


def test_intent_delete_cancels_a_request(jean: Cli) -> None:
    first = jean.json("group", "move", "Web", "--no-wait")  # to the best possible node
    second = jean.json("group", "offline", "SQL", "--no-wait")
    assert first["target"] is None
    assert jean.json("intent", "delete", first["id"])["id"] == first["id"]
    assert [i["id"] for i in jean.json("intent", "list")] == [second["id"]]
    assert jean.fails("intent", "delete", first["id"], code=1)["type"] == "NotFoundError"
