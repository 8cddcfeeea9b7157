"""Property-based fuzzing of the OpenAPI schema with schemathesis (on the in-memory store):
no request, however malformed, gets a 5xx, and no refused request (4xx) changes the
configuration. Bounded examples per operation keep it quick."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from wolfpack.admin import tokens
from wolfpack.api.app import create_app
from wolfpack.model.config import ClusterSettings
from wolfpack.store.memory import MemoryStore
from wolfpack.store.repository import ClusterDB

from .conftest import Clock, base_config


class Target:
    def __init__(self) -> None:
        self.clock = Clock()
        self.db = ClusterDB(MemoryStore(), clock=self.clock)
        self.db.initialize(ClusterSettings(name="fuzz"))
        self.db.update_config(base_config)
        _, self.token = tokens.create(self.db, "fuzzer", "admin", clock=self.clock)
        self.app: FastAPI = create_app(lambda: self.db, "node1", clock=self.clock)

    def dump(self) -> Any:
        kvs, _ = self.db.store.get_prefix(self.db.keys.config_root)
        return {kv.key: kv.value for kv in kvs}


TARGET = Target()


SCHEMA = (
    schemathesis.openapi.from_asgi("/openapi.json", TARGET.app)
    .exclude(path="/api/v1/events")  # the event stream never ends by design; it has its own test
    .exclude(path_regex="^/(readyz|healthz)$")  # 503 by design here: no daemon, node1 is Down
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def check(case: schemathesis.Case) -> None:
    before = TARGET.dump()
    response = case.call(headers={"Authorization": f"Bearer {TARGET.token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        assert TARGET.dump() == before, (case.method, case.formatted_path, response.text)
        assert "error" in response.json()


@FUZZ
@given(case=SCHEMA.as_strategy(GenerationMode.POSITIVE))
def test_schema_valid_requests_never_fail_the_server(case: schemathesis.Case) -> None:
    check(case)


@FUZZ
@given(case=SCHEMA.as_strategy(GenerationMode.NEGATIVE))
def test_schema_invalid_requests_are_refused_and_change_nothing(case: schemathesis.Case) -> None:
    check(case)
