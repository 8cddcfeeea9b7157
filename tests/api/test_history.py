"""``GET /api/v1/groups/{name}/history`` in-process (issue 12 item 1): the transition under
way, the kept timelines, the roles and the errors. The integration test with real daemons is
in test_integration.py."""

from __future__ import annotations

import jsonschema_rs
import pytest

from wolfpack.model.snapshot import GroupStatus, Mark, ResourceStatus, Transition, TransitionKind
from wolfpack.model.states import ResourceState
from wolfpack.model.timeline import Ending, Event, History, Phase, Timeline
from wolfpack.store.repository import encode

from .conftest import Api

T0 = 1_800_000_000.0


def seed(api: Api) -> None:
    move = Transition(TransitionKind.MOVE, "node2", "node1", T0, "MOVE_REQUESTED", "asked")
    api.db.write_status("groups", "Web", GroupStatus(owner="node2", transition=move))
    done = Timeline(
        "Web",
        TransitionKind.PLACE,
        "node1",
        T0 - 60,
        ending=Ending.COMPLETE,
        ended=T0 - 59,
        events=(Event(Phase.DECIDED, T0 - 60), Event(Phase.COMPLETE, T0 - 59, "node1")),
    )
    api.db.store.put(api.db.keys.history("Web"), encode(History((done,))))


def test_history_answers_the_current_and_the_kept(api: Api) -> None:
    seed(api)
    r = api.get("/api/v1/groups/Web/history", token="reader")
    assert r.status_code == 200
    doc = r.json()
    assert doc["current"]["kind"] == "move" and doc["current"]["ending"] == "in-progress"
    assert [e["phase"] for e in doc["current"]["events"]] == ["decided"]
    [kept] = doc["timelines"]
    assert (kept["kind"], kept["target"], kept["duration_ms"]) == ("place", "node1", 1000)


def test_history_follows_what_the_nodes_report(api: Api) -> None:
    """A node's report (its status with the new mark) shows in the next answer."""
    seed(api)
    api.db.write_status(
        "resources",
        "web-ip",
        ResourceStatus(
            ResourceState.ONLINE_PENDING,
            "node2",
            trail=(Mark(ResourceState.ONLINE_PENDING, "node2", T0 + 0.25),),
        ),
    )
    # the resource must be configured in Web for its trail to count
    body = {
        "name": "web-ip",
        "type": "Generic Application",
        "group": "Web",
        "properties": {"command": "/bin/sleep 1000"},
    }
    assert api.call("POST", "/api/v1/resources", json=body).status_code == 201
    doc = api.get("/api/v1/groups/Web/history").json()
    events = [(e["phase"], e["node"], e["resource"]) for e in doc["current"]["events"]]
    assert events == [("decided", "", ""), ("starting", "node2", "web-ip")]
    assert doc["current"]["phases_ms"] == {"decided_to_starting": 250}


def test_history_of_an_unknown_group_is_404_and_needs_a_token(api: Api) -> None:
    r = api.get("/api/v1/groups/Nope/history")
    assert r.status_code == 404 and "Nope" in r.json()["error"]["message"]
    assert api.get("/api/v1/groups/Web/history", token=None).status_code == 401
    empty = api.get("/api/v1/groups/Web/history").json()
    assert empty == {"group": "Web", "current": None, "timelines": []}


def test_history_is_in_the_openapi_document(api: Api) -> None:
    seed(api)
    doc = api.get("/openapi.json").json()
    answer = api.get("/api/v1/groups/Web/history").json()
    schema = {"$ref": "#/components/schemas/GroupHistory", "components": doc["components"]}
    jsonschema_rs.validate(schema, answer)  # what it answers is what it documents
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.validate(schema, {**answer, "timelines": [{"group": "Web"}]})
    op = doc["paths"]["/api/v1/groups/{name}/history"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GroupHistory"
    }
    assert {"200", "401", "404", "503"} <= set(op["responses"])
    timeline = doc["components"]["schemas"]["Timeline"]["properties"]
    assert {"events", "phases_ms", "ending", "duration_ms"} <= set(timeline)
    trail = doc["components"]["schemas"]["ResourceStatus"]["properties"]["trail"]
    assert trail["type"] == "array"
