"""The OpenAPI document tells the truth (issue 13 item 5): schemathesis reads it from a
running wolfpackd (real etcd, three daemons) and sends every documented operation valid
and invalid requests; every answer must have a documented status code, a documented
content type, a body that fits the documented schema and the documented headers, and
never a server error. A bounded number of examples per operation keeps it to about a
minute. Over HTTPS, verified with the cluster CA (the API's default, issue 11). The event
stream is left out: it never ends by design (tests/api/test_integration.py covers it). The
in-process properties (nothing refused changes anything) are test_fuzz.py's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wolfpack.admin import tokens
from wolfpack.lab.localcluster import LocalCluster, wait_for

pytestmark = pytest.mark.etcd

#: per operation and generation mode; WOLFPACK_OPENAPI_EXAMPLES=200 for a deeper run
EXAMPLES = int(os.environ.get("WOLFPACK_OPENAPI_EXAMPLES", "15"))
SEEDED = "WOLFPACK_OPENAPI_EXAMPLES" not in os.environ  # the same cases every run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Node:
    def __init__(self, c: LocalCluster) -> None:
        self.c = c
        _, self.token = tokens.create(c.db, "schemathesis-admin-7f3", "admin")
        self.url = c.api_url("node1")
        assert self.url.startswith("https://")  # the API's default (issue 11)
        self.ca = str(c.api_ca_file)  # requests (schemathesis) takes a CA file
        self.verify = c.ca_context() or True


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    c = LocalCluster(tmp_path_factory.mktemp("openapi-cluster"))
    try:
        c.start()
        c.start_all()
        c.add_app_group("Web", preferred=("node1", "node2"))
        wait_for(lambda: c.answer("Web") == "node1", timeout=30)
        yield Node(c)
    finally:
        c.close()


def test_the_document_is_complete(node: Node) -> None:
    """Every route the app serves is in the document, typed, with the bearer scheme."""
    doc = httpx.get(node.url + "/openapi.json", timeout=10, verify=node.verify).json()
    paths = doc["paths"]
    assert "/api/v1/{kind}" not in paths  # documented per kind instead
    for kind in ("nodes", "networks", "interfaces", "groups", "resources", "types"):
        assert {"get", "post"} <= set(paths[f"/api/v1/{kind}"]), kind
        assert {"get", "patch", "delete"} <= set(paths[f"/api/v1/{kind}/{{name}}"]), kind
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Error"]["required"] == ["error"]
    group = schemas["GroupDocument"]["properties"]
    assert {"preferred_owners", "failback", "state", "owner", "status"} <= set(group)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    text = str(doc)
    assert not re.search(r"\bS\d{1,2}\b", text), "requirement numbers are for docs and tests"
    for path, ops in paths.items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (method, path)
            if path.startswith("/api/v1/"):
                assert {"401", "503"} <= codes, (method, path)
                assert op["security"][0] == {"bearerAuth": []}
                for code in codes - {"200", "201", "202"}:
                    ref = op["responses"][code]["content"]["application/json"]["schema"]
                    assert ref == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    # the interactive docs come from this node, not from a CDN
    page = httpx.get(node.url + "/docs", timeout=10, verify=node.verify).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        assert httpx.get(node.url + asset, timeout=10, verify=node.verify).status_code == 200, asset
    redoc = httpx.get(node.url + "/redoc", timeout=10, verify=node.verify).text
    assert "/docs-assets/redoc.standalone.js" in redoc and "cdn" not in redoc


def test_every_answer_is_documented(node: Node) -> None:
    schema = schemathesis.openapi.from_url(node.url + "/openapi.json", verify=node.ca).exclude(
        path="/api/v1/events"
    )
    headers = {"Authorization": f"Bearer {node.token}"}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, mode, headers, node.ca)  # raises schemathesis' report of what it found
    assert operations > 50


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str], ca: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=SEEDED,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=headers, timeout=10, verify=ca)  # HTTPS, the cluster CA
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid: an operation without input
        assert mode is GenerationMode.NEGATIVE, operation.label
