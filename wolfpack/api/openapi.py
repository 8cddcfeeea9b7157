"""The OpenAPI document: every route with its request and response schema, every status it
can answer with (errors in their real shape, ``{"error": {...}}``), and the bearer token.

FastAPI generates the skeleton from the routes; this module completes it once, at the first
``/openapi.json``:

- the generic ``/api/v1/{kind}`` routes (one set for every kind, which keeps the daemon
  small) are documented as the paths a client uses, one per kind (``/api/v1/groups``), with
  the kind's own schema: the configuration dataclass for bodies, plus the observed fields
  for answers;
- every ``/api/v1`` operation names the statuses it can answer with, all errors with the
  ``Error`` schema (FastAPI's ``HTTPValidationError`` is not what the API sends);
- the security schemes: a bearer token (``NAME.SECRET``), and ``?token=`` for the event
  stream, which a browser's EventSource opens without headers.

Requirement numbers (S1..S41) are docs' and tests' business: they are left out here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pydantic
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from wolfpack.admin.nouns import BY_KIND
from wolfpack.api import schemas
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus
from wolfpack.model.states import GroupState, ResourceState

REF = "#/components/schemas/{model}"
JSON = "application/json"
Schema = dict[str, Any]

#: what each kind's answer adds to its configuration (docs/api.md, "Endpoints")
DETAILS: dict[str, Schema] = {
    "nodes": {
        "groups": {"type": "array", "items": {"type": "string"}, "description": "owned now"},
        "status": {"$ref": "#/components/schemas/NodeStatus"},
    },
    "groups": {
        "state": {"type": "string", "enum": [str(s) for s in GroupState]},
        "owner": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "resources": {"type": "array", "items": {"type": "string"}},
        "status": {"$ref": "#/components/schemas/GroupStatus"},
    },
    "resources": {
        "state": {"type": "string", "enum": [str(s) for s in ResourceState]},
        "node": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "status": {"$ref": "#/components/schemas/ResourceStatus"},
    },
}
ERRORS: dict[int, str] = {
    401: "No token, or not a valid one (`WWW-Authenticate: Bearer`)",
    403: "A read-only token asked for a change",
    404: "The named object does not exist (the message names it)",
    409: "Refused now: exists already, a request the policy refuses (`code`), or a "
    "concurrent change that kept winning",
    413: "The body is larger than `api.max_body_bytes`",
    422: "Bad input: every bad field is named in `fields`",
    429: "Too many changes from this address (`api.change_rate_per_s`): retry after "
    "`Retry-After` seconds; nothing was written",
    503: "This node cannot reach the cluster database (`Retry-After: 1`): ask another node",
}
_S_NUMBERS = re.compile(r"\s*\(S\d+(?:[-/,:][^)]*)?\)|\bS\d+(?:/S\d+)*[:.]\s+")


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            base = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(base)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(doc: Schema) -> Schema:
    """``doc`` (FastAPI's) with typed objects, every status, errors and security."""
    doc = copy.deepcopy(doc)
    components = doc.setdefault("components", {})
    defs: Schema = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        defs.pop(unused, None)
    defs.update(_model_schemas())
    _add_objects(doc["paths"], defs)
    defs["ClusterDocument"] = _cluster_document()
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "NAME.SECRET",
            "description": "An API token: wolfpack token create NAME --role admin|read-only",
        },
        "tokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "The same token, for the event stream only (EventSource)",
        },
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            _complete_operation(path, method, op)
    cleaned: Schema = _without_s_numbers(doc)
    return cleaned


def _model_schemas() -> Schema:
    """The answer models, the configuration dataclasses (bodies: unknown keys are refused)
    and the observed statuses."""
    out: Schema = {}
    _, top = models_json_schema([(m, "serialization") for m in schemas.MODELS], ref_template=REF)
    out.update(top.get("$defs", {}))
    config = pydantic.TypeAdapter(ClusterConfig).json_schema(ref_template=REF)
    for name, schema in config.get("$defs", {}).items():
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
        out[name] = schema
    for status in (NodeStatus, GroupStatus, ResourceStatus):
        schema = pydantic.TypeAdapter(status).json_schema(ref_template=REF, mode="serialization")
        out.update(schema.pop("$defs", {}))
        out[status.__name__] = schema
    return out


def _ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def _document_name(kind: str) -> str:
    return f"{BY_KIND[kind].cls.__name__}Document"


def _add_objects(paths: Schema, defs: Schema) -> None:
    """One documented path per kind in place of ``/api/v1/{kind}``: a client calls
    ``/api/v1/groups``; the server routes it through the generic handler."""
    many = paths.pop("/api/v1/{kind}", {})
    one = paths.pop("/api/v1/{kind}/{name}", {})
    for kind, noun in BY_KIND.items():
        cls = noun.cls.__name__
        document = copy.deepcopy(defs[cls])
        document.pop("additionalProperties", None)
        document["title"] = f"{cls}Document"
        document["properties"] = {**document["properties"], **DETAILS.get(kind, {})}
        document["description"] = f"A {noun.label} as configured, with what is observed."
        defs[f"{cls}Document"] = document
        patch = copy.deepcopy(defs[cls])
        patch.pop("required", None)
        patch["title"] = f"{cls}Patch"
        patch["description"] = (
            "JSON merge patch (RFC 7386): given fields change, mappings merge, null resets"
            " a field to its default; name cannot change."
        )
        patch["properties"] = {
            key: {"anyOf": [value, {"type": "null"}]} for key, value in patch["properties"].items()
        }
        defs[f"{cls}Patch"] = patch
        label = noun.label
        paths[f"/api/v1/{kind}"] = {
            method: _for_kind(op, kind, label, method) for method, op in many.items()
        }
        paths[f"/api/v1/{kind}/{{name}}"] = {
            method: _for_kind(op, kind, label, method) for method, op in one.items()
        }


def _for_kind(op: Schema, kind: str, label: str, method: str) -> Schema:
    out = copy.deepcopy(op)
    out["parameters"] = [p for p in out.get("parameters", []) if p.get("name") != "kind"]
    if not out["parameters"]:
        out.pop("parameters")
    out["operationId"] = f"{out.get('operationId', method)}_{kind}"
    out["summary"] = {
        "list_objects": f"List the {kind}",
        "get_object": f"One {label}",
        "create_object": f"Create a {label}",
        "patch_object": f"Change a {label} (JSON merge patch)",
        "delete_object": f"Delete a {label}",
    }.get(op.get("operationId", "").split("_api_")[0], out.get("summary", ""))
    out["tags"] = [kind]
    cls = BY_KIND[kind].cls.__name__
    if "requestBody" in out:
        body = cls if method == "post" else f"{cls}Patch"
        out["requestBody"]["content"] = {JSON: {"schema": _ref(body)}}
    return out


def _cluster_document() -> Schema:
    props: Schema = {"cluster": _ref("ClusterSettings")}
    for kind in BY_KIND:
        props[kind] = {"type": "array", "items": _ref(_document_name(kind))}
    props["coordinator"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    props["revision"] = {"type": "integer", "description": "etcd revision of the newest key"}
    return {
        "title": "ClusterDocument",
        "type": "object",
        "properties": props,
        "required": list(props),
    }


def _array(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


#: (method, path) -> the success answer's schema; per-kind paths are matched by their shape
ANSWERS: dict[tuple[str, str], Schema] = {
    ("get", "/api/v1/cluster"): _ref("ClusterDocument"),
    ("get", "/api/v1/plan"): _ref("PlanAnswer"),
    ("get", "/api/v1/whoami"): _ref("Whoami"),
    ("get", "/api/v1/intents"): _array("Request"),
    ("get", "/api/v1/intents/{intent_id}"): _ref("Request"),
    ("get", "/api/v1/tokens"): _array("Token"),
    ("post", "/api/v1/tokens"): _ref("NewTokenAnswer"),
    ("delete", "/api/v1/tokens/{name}"): _ref("Token"),
    ("get", "/api/v1/audit"): _array("AuditRecord"),
    ("get", "/api/v1/log"): _ref("ClusterLog"),
    ("get", "/api/v1/log/local"): _array("LogLine"),
    ("get", "/api/v1/groups/{name}/history"): _ref("GroupHistory"),
    ("post", "/api/v1/groups/{name}/rename"): _ref("GroupDocument"),
    ("post", "/api/v1/resources/{name}/rename"): _ref("ResourceDocument"),
    ("get", "/api/v1/nodes/{name}/validation"): _ref("NodeValidation"),
}
_REQUEST_PATH = re.compile(r"^/api/v1/(groups|resources)/\{name\}/(move|online|offline|fail)$")
_NODE_ADMIN_PATH = re.compile(r"^/api/v1/nodes/\{name\}/(pause|resume|drain|maintenance)$")
_KIND_PATH = re.compile(r"^/api/v1/([a-z]+)(/\{name\})?$")


def _answer(method: str, path: str) -> Schema | None:
    found = ANSWERS.get((method, path))
    if found is not None:
        return found
    if _REQUEST_PATH.match(path):
        return _ref("Request")
    if _NODE_ADMIN_PATH.match(path):
        return _ref("NodeAdmin")
    m = _KIND_PATH.match(path)
    if m is None or m.group(1) not in BY_KIND:
        return None
    kind, named = m.group(1), m.group(2) is not None
    if method == "delete":
        return _ref(BY_KIND[kind].cls.__name__)  # the object as it was configured
    if method == "get" and not named:
        return _array(_document_name(kind))
    return _ref(_document_name(kind))


def _statuses(path: str, method: str, op: Schema) -> set[int]:
    """The errors an ``/api/v1`` operation can answer with."""
    out = {401, 503}
    if method != "get":
        out |= {403, 413, 422, 429}  # changes need admin; body limit; validation; rate (H8)
        if not _NODE_ADMIN_PATH.match(path) and path != "/api/v1/tokens/{name}":
            out.add(409)
    if path == "/api/v1/tokens":
        out.add(403)  # listing tokens is for admins too
    if "{" in path or path == "/api/v1/log":  # a named object (or ?node=) may not exist
        out.add(404)
    if any(p.get("in") == "query" for p in op.get("parameters", [])):
        out.add(422)
    if path == "/api/v1/tokens/{name}":
        out.discard(413)
    return out


def _error_response(status: int) -> Schema:
    response: Schema = {"description": ERRORS[status], "content": {JSON: {"schema": _ref("Error")}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    elif status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def _complete_operation(path: str, method: str, op: Schema) -> None:
    responses: Schema = op.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: not our shape
    if not path.startswith("/api/v1/"):
        op["security"] = []  # health, metrics: no token
        return
    op["security"] = [{"bearerAuth": []}]
    if path == "/api/v1/events":
        op["security"].append({"tokenQuery": []})
        ok = responses.setdefault("200", {"description": "The event stream"})
        ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    else:
        answer = _answer(method, path)
        success = next((code for code in responses if code.startswith("2")), "200")
        if answer is not None:
            responses[success]["content"] = {JSON: {"schema": answer}}
    for status in sorted(_statuses(path, method, op)):
        responses[str(status)] = _error_response(status)


def _without_s_numbers(node: Any) -> Any:
    """Docstrings cite the requirements (S39); a client's documentation should not."""
    strip: Callable[[str], str] = lambda text: _S_NUMBERS.sub("", text).replace("``", "`")  # noqa: E731
    if isinstance(node, dict):
        return {
            k: strip(v)
            if k in ("description", "summary") and isinstance(v, str)
            else _without_s_numbers(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_without_s_numbers(v) for v in node]
    return node
