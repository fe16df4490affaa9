"""Every API request the sandbox serves, checked against the helpdesks' official API descriptions.

The descriptions live beside the project checkout in `shared/reference/openapi/` (CI has them; a plain clone does
not, and then nothing is validated: `load_contracts` says so once in the log). For each request: the method and
path must be an operation the description has (else the helpdesk's own 404), the query parameters ones it names
with values of their type, and a JSON body valid against the operation's request schema. Unknown body keys are
refused too: the real APIs drop them silently, which is a write slaclock believes it made and did not.

The Zendesk file has documented defects (openapi/README.md); `ZENDESK_PATCHES` handles each as that README says.
Validators are compiled once per operation and shared by every sandbox in the process.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable


log = logging.getLogger("sandbox.contract")

ZENDESK_FILE = "zendesk-support.yaml"
JIRA_FILES = ("jira-platform-v3.json", "jsm-servicedeskapi-extract.json")


def openapi_dir() -> Path | None:
    """`SANDBOX_OPENAPI_DIR`, else the first `shared/reference/openapi` beside a folder above this package."""
    configured = os.environ.get("SANDBOX_OPENAPI_DIR")
    if configured:
        return Path(configured) if Path(configured).is_dir() else None
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "reference" / "openapi"
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class Violation:
    """Why a request is refused: `kind` is `endpoint` (no such operation), `query` or `body`; `field` names the
    parameter or the body location (`ticket/priority`), `problems` every (location, message) in the body."""

    kind: str
    field: str
    message: str
    problems: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if len(self.problems) > 1:
            return "; ".join(f"{where}: {message}" for where, message in self.problems)
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass
class Operation:
    """One described operation: its query parameters (name → schema, required names) and request body schema."""

    method: str
    template: str
    query: dict[str, dict[str, Any]]
    required: frozenset[str]
    body: dict[str, Any] | None
    _validator: Any = field(default=None, repr=False)  # a jsonschema Draft202012Validator, built on first use
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def body_validator(self) -> Any:
        """The compiled body validator (built on first use, then reused); None for an operation without a body."""
        if self.body is None:
            return None
        with self._lock:
            if self._validator is None:
                from jsonschema import Draft202012Validator
                self._validator = Draft202012Validator(self.body)
            return self._validator


class Contract:
    """One helpdesk's described operations, matched by method and concrete path."""

    def __init__(self, name: str, operations: Iterable[Operation], extra_query: dict[str, dict[str, Any]],
                 strip_suffix: str = ""):
        self.name, self._extra_query, self._suffix = name, extra_query, strip_suffix
        self._by_path: list[tuple[re.Pattern[str], str, dict[str, Operation]]] = []
        grouped: dict[str, dict[str, Operation]] = {}
        for op in operations:
            grouped.setdefault(op.template, {})[op.method] = op
        # Literal segments win over parameters (`/tickets/show_many` before `/tickets/{ticket_id}`).
        for template in sorted(grouped, key=lambda t: (t.count("{"), -len(t))):
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            self._by_path.append((pattern, template, grouped[template]))

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation serving `method path`, or None when the real API has no such endpoint."""
        if self._suffix and path.endswith(self._suffix):
            path = path[:-len(self._suffix)]
        for pattern, _, methods in self._by_path:
            if pattern.match(path):
                return methods.get(method.upper())
        return None

    def check(self, method: str, path: str, args: Any, body: bytes | None) -> Violation | None:
        """The first problem with this request, or None if the description allows it."""
        op = self.operation(method, path)
        if op is None:
            return Violation("endpoint", "", f"{self.name} has no endpoint {method.upper()} {path}")
        problem = self._check_query(op, args)
        if problem is None and op.body is not None and body and body.strip():
            problem = _check_body(op, body)
        return problem

    def _check_query(self, op: Operation, args: Any) -> Violation | None:
        known = {**self._extra_query, **op.query}
        for name in args.keys():
            schema = known.get(name)
            if schema is None:
                return Violation("query", name, f"unknown query parameter for {op.method} {op.template}")
            for value in args.getlist(name):
                problem = _query_value_problem(schema, value)
                if problem:
                    return Violation("query", name, problem)
        missing = sorted(op.required - set(args.keys()))
        if missing:
            return Violation("query", missing[0], "required query parameter is missing")
        return None


def _query_value_problem(schema: dict[str, Any], value: str) -> str | None:
    """A query string value against its parameter schema (arrays: comma-separated items)."""
    if schema.get("type") == "array":
        item = schema.get("items") or {}
        return next((p for p in (_query_value_problem(item, v) for v in value.split(",")) if p), None)
    kind = schema.get("type")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return f"{value!r} is not an integer"
    if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        return f"{value!r} is not a number"
    if kind == "boolean" and value.lower() not in ("true", "false"):
        return f"{value!r} is not true or false"
    if "enum" in schema and value not in [str(v) for v in schema["enum"]]:
        return f"{value!r} is not one of {schema['enum']}"
    return None


def _check_body(op: Operation, raw: bytes) -> Violation | None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return Violation("body", "", f"the body is not JSON ({e})")
    validator = op.body_validator()
    assert validator is not None
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
        path = [str(part) for part in error.absolute_path]
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # One problem per key the schema does not name, at that key.
            allowed = set(error.schema.get("properties", {}))
            problems += [("/".join([*path, key]), "is not a property the API describes")
                         for key in sorted(set(error.instance) - allowed)]
        else:
            problems.append(("/".join(path) or "(body)", error.message))
    if not problems:
        return None
    return Violation("body", problems[0][0], problems[0][1], tuple(problems))


# --- turning OpenAPI 3.0 schemas into strict JSON Schema ------------------------------------------------------

class _Resolver:
    """Inlines `$ref`s (a cycle becomes an open schema), merges `allOf`, turns `nullable` into a null type and
    closes every object that lists its properties and says nothing of others."""

    def __init__(self, document: dict[str, Any]):
        self.document = document

    def lookup(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def schema(self, node: Any, seen: tuple[str, ...] = ()) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return {}
            return self.schema(self.lookup(ref), seen + (ref,))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("properties", "patternProperties"):
                out[key] = {name: self.schema(sub, seen) for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not"):
                out[key] = self.schema(value, seen)
            elif key in ("oneOf", "anyOf", "allOf"):
                out[key] = [self.schema(sub, seen) for sub in value]
            elif key in ("example", "examples", "description", "discriminator", "xml", "externalDocs"):
                continue
            else:
                out[key] = value
        if "allOf" in out and all(isinstance(p, dict) for p in out["allOf"]):
            out = _merge_all_of(out)
        if out.pop("nullable", False):
            if "type" in out:
                out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        if "properties" in out and "additionalProperties" not in out and not _combines(out):
            out["additionalProperties"] = False
        # OpenAPI's `format`s are advice; only the structure is checked.
        out.pop("format", None)
        return out


def _combines(schema: dict[str, Any]) -> bool:
    return any(k in schema for k in ("oneOf", "anyOf", "allOf"))


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """`allOf` of object parts as one object (so closing it does not refuse the other parts' keys)."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    properties = dict(merged.pop("properties", {}))
    required = list(merged.pop("required", []))
    for part in schema["allOf"]:
        part = _merge_all_of(part) if "allOf" in part else part
        properties.update(part.get("properties", {}))
        required += [r for r in part.get("required", []) if r not in required]
        for key, value in part.items():
            if key not in ("properties", "required", "additionalProperties"):
                merged.setdefault(key, value)
        if part.get("additionalProperties") not in (None, False):
            merged["additionalProperties"] = part["additionalProperties"]
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _operations(document: dict[str, Any], resolver: _Resolver) -> list[Operation]:
    found = []
    for template, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            query, required = {}, set()
            for parameter in [*shared, *op.get("parameters", [])]:
                if "$ref" in parameter:
                    parameter = resolver.lookup(parameter["$ref"])
                if parameter.get("in") == "query":
                    query[parameter["name"]] = resolver.schema(parameter.get("schema", {}))
                    if parameter.get("required"):
                        required.add(parameter["name"])
            content = (op.get("requestBody") or {}).get("content", {})
            schema = (content.get("application/json") or {}).get("schema")
            found.append(Operation(method.upper(), template, query, frozenset(required),
                                   resolver.schema(schema) if schema is not None else None))
    return found


# --- Zendesk, with the README's documented defects handled ----------------------------------------------------

# Zendesk's Pagination page documents cursor (page[size], page[after], page[before]) and offset (page, per_page)
# paging for every list endpoint; no operation lists them as parameters.
ZENDESK_PAGINATION = {"page[size]": {"type": "integer"}, "page[after]": {"type": "string"},
                      "page[before]": {"type": "string"}, "page": {"type": "integer"},
                      "per_page": {"type": "integer"}}
# A custom field value on a ticket: "Setting custom field values" sends {"id": <int>, "value": ...}.
CUSTOM_FIELD_VALUE = {"type": "object", "properties": {"id": {"type": "integer"}, "value": {}},
                      "required": ["id"], "additionalProperties": False}
# Update Many Tickets / Tags: documented, absent from TicketUpdateInput. Zendesk takes a list (or one string).
TAG_LIST = {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]}


def _zendesk_ticket_input(schema: dict[str, Any], write_only: dict[str, Any]) -> dict[str, Any]:
    """TicketUpdateInput / TicketCreateInput with the README's defects fixed, plus the ticket object's "Write only"
    properties (`requester`, `metadata`, `macro_id`, …), which the input schemas leave out."""
    schema = copy.deepcopy(schema)
    props = schema.setdefault("properties", {})
    for name, sub in write_only.items():
        props.setdefault(name, sub)
    if "custom_fields" in props:
        props["custom_fields"] = {"type": "array", "items": CUSTOM_FIELD_VALUE}
    props["additional_tags"] = TAG_LIST
    props["remove_tags"] = TAG_LIST
    # FollowerObject.user_id is typed string; ids are integers everywhere else.
    followers = props.get("followers", {}).get("items", {}).get("properties", {})
    if "user_id" in followers:
        followers["user_id"] = {"type": ["integer", "string"]}
    return schema


def _zendesk_operations(document: dict[str, Any]) -> list[Operation]:
    resolver = _Resolver(document)
    schemas = document["components"]["schemas"]
    ticket_object = schemas["TicketObject"]["properties"]
    write_only = {name: resolver.schema(sub) for name, sub in ticket_object.items() if sub.get("writeOnly")}
    update_input = _zendesk_ticket_input(resolver.schema(schemas["TicketUpdateInput"]), write_only)
    create_input = _zendesk_ticket_input(resolver.schema(schemas["TicketCreateInput"]), write_only)
    operations = []
    for op in _operations(document, resolver):
        if op.template in ("/api/v2/tickets", "/api/v2/tickets/{ticket_id}") and op.method in ("POST", "PUT"):
            ticket = create_input if op.method == "POST" else update_input
            op.body = {"type": "object", "properties": {"ticket": ticket}, "required": ["ticket"],
                       "additionalProperties": False}
        elif op.template == "/api/v2/tickets/update_many" and op.method == "PUT":
            # No body schema in the file: each batch element is a TicketUpdateInput with its `id`; a bulk update
            # (`?ids=`) sends one `ticket`.
            element = copy.deepcopy(update_input)
            element["properties"]["id"] = {"type": "integer"}
            element["required"] = ["id"]
            op.body = {"type": "object", "properties": {"tickets": {"type": "array", "items": element,
                                                                    "minItems": 1, "maxItems": 100},
                                                        "ticket": update_input},
                       "minProperties": 1, "maxProperties": 1, "additionalProperties": False}
        elif op.template == "/api/v2/incremental/tickets/cursor":
            # start_time is marked required, yet "cursor: ... for all subsequent exports after the initial
            # request" is sent alone; either one will do. per_page (≤ 1000), include and exclude_deleted are in
            # "Using the Incremental Exports API".
            op.required = frozenset()
            op.query = {**op.query, "per_page": {"type": "integer"}, "include": {"type": "string"},
                        "exclude_deleted": {"type": "boolean"}}
        elif op.template == "/api/v2/tickets/{ticket_id}/comments":
            # ListTicketComments' description: "sort": "created_at" or "-created_at" with cursor pagination.
            op.query = {**op.query, "sort": {"type": "string", "enum": ["created_at", "-created_at"]}}
        operations.append(op)
    # No path item for List Memberships (documented: GET /api/v2/users/{user_id}/group_memberships).
    operations.append(Operation("GET", "/api/v2/users/{user_id}/group_memberships", {}, frozenset(), None))
    # Nor for a group's (documented beside it: GET /api/v2/groups/{group_id}/memberships).
    operations.append(Operation("GET", "/api/v2/groups/{group_id}/memberships", {}, frozenset(), None))
    for op in operations:
        if op.template == "/api/v2/ticket_fields" and op.method == "POST" and op.body is None:
            # Create Ticket Field has no body schema in the file; the docs send {"ticket_field": TicketFieldObject}
            # with `type` and `title` required (https://developer.zendesk.com/api-reference/ticketing/tickets/
            # ticket_fields/#create-ticket-field).
            field_schema = resolver.schema(schemas["TicketFieldObject"])
            field_schema["required"] = ["type", "title"]
            op.body = {"type": "object", "properties": {"ticket_field": field_schema}, "required": ["ticket_field"],
                       "additionalProperties": False}
        elif op.template == "/api/v2/ticket_fields/{ticket_field_id}/options" and op.method == "POST":
            # No body schema in the file; its description sends {"custom_field_option": {"name", "value"}}.
            option = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                       "value": {"type": "string"}, "position": {"type": "integer"}},
                      "required": ["name"], "additionalProperties": False}
            op.body = {"type": "object", "properties": {"custom_field_option": option},
                       "required": ["custom_field_option"], "additionalProperties": False}
        elif op.template == "/api/v2/triggers" and op.method == "POST" and op.body is not None:
            # TriggerWithCategoryRequest ends up with an `anyOf` (a category object or id) that refuses every real
            # trigger: the docs' Create Trigger sends {"trigger": {"title", "conditions", "actions", …}}
            # (https://developer.zendesk.com/api-reference/ticketing/business-rules/triggers/#create-trigger).
            op.body["properties"]["trigger"].pop("anyOf", None)
    return operations + zendesk_webhook_operations()


# The Webhooks API is not in the Support file (openapi/README.md). Its operations and the webhook object as
# documented at https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks ("JSON format":
# name, endpoint, http_method, request_format, status mandatory; subscriptions ["conditional_ticket_events"] or
# zen:event-type:… names; List Webhooks pages by cursor and filters by name_contains / status).
ZENDESK_WEBHOOK = {
    "type": "object",
    "properties": {
        "name": {"type": "string"}, "description": {"type": "string"}, "endpoint": {"type": "string"},
        "http_method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "request_format": {"enum": ["json", "xml", "form_encoded"]},
        "status": {"enum": ["active", "inactive"]},
        "subscriptions": {"type": "array", "items": {"type": "string"}},
        "authentication": {"type": "object"}, "custom_headers": {"type": "object"},
        "signing_secret": {"type": "object", "properties": {"algorithm": {"type": "string"},
                                                            "secret": {"type": "string"}},
                           "additionalProperties": False},
        "external_source": {"type": "object"},
    },
    "required": ["name", "endpoint", "http_method", "request_format", "status"],
    "additionalProperties": False,
}


def zendesk_webhook_operations() -> list[Operation]:
    """List, create and show webhooks, and show the signing secret (the documented Webhooks API subset)."""
    listing = {"page[size]": {"type": "integer"}, "page[after]": {"type": "string"},
               "page[before]": {"type": "string"}, "filter[name_contains]": {"type": "string"},
               "filter[status]": {"type": "string", "enum": ["active", "inactive"]}, "sort": {"type": "string"}}
    create = {"type": "object", "properties": {"webhook": ZENDESK_WEBHOOK}, "required": ["webhook"],
              "additionalProperties": False}
    return [Operation("GET", "/api/v2/webhooks", listing, frozenset(), None),
            Operation("POST", "/api/v2/webhooks", {}, frozenset(), create),
            Operation("GET", "/api/v2/webhooks/{webhook_id}", {}, frozenset(), None),
            Operation("GET", "/api/v2/webhooks/{webhook_id}/signing_secret", {}, frozenset(), None)]


# Jira admin webhooks are not in the platform file (openapi/README.md). The REST resource and its body as
# documented at https://developer.atlassian.com/server/jira/platform/webhooks/#registering-a-webhook-via-the-jira-
# rest-api (name, url, events, filters {"issue-related-events-section": JQL}, excludeBody); `secret` is the
# admin UI's "Secret" (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
JIRA_ADMIN_WEBHOOK = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1}, "url": {"type": "string", "minLength": 1},
        "events": {"type": "array", "items": {"type": "string"}},
        "filters": {"type": "object", "additionalProperties": {"type": "string"}},
        "excludeBody": {"type": "boolean"}, "enabled": {"type": "boolean"}, "description": {"type": "string"},
        "secret": {"type": "string"},
    },
    "required": ["name", "url", "events"],
    "additionalProperties": False,
}


def jira_admin_webhook_operations() -> list[Operation]:
    """List and register admin webhooks."""
    return [Operation("GET", "/rest/webhooks/1.0/webhook", {}, frozenset(), None),
            Operation("POST", "/rest/webhooks/1.0/webhook", {}, frozenset(), JIRA_ADMIN_WEBHOOK),
            Operation("GET", "/rest/webhooks/1.0/webhook/{id}", {}, frozenset(), None)]


# JSM's request feedback is not in the JSM extract (openapi/README.md); "Get feedback" as documented at
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-requestidorkey-feedback-get
# (no query, no body; CSATFeedbackFullDTO {type, rating, comment} or 404).
def jsm_feedback_operations() -> list[Operation]:
    """Get a request's CSAT feedback."""
    return [Operation("GET", "/rest/servicedeskapi/request/{requestIdOrKey}/feedback", {}, frozenset(), None)]


def load_description(path: Path) -> dict[str, Any]:
    """An API description file, YAML (Zendesk's) or JSON (Jira's)."""
    if path.suffix != ".yaml":
        return json.loads(path.read_text(encoding="utf-8"))
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = type("ZendeskLoader", (base,), {})
    # The Zendesk file has a bare `=` key (openapi/README.md).
    loader.add_constructor("tag:yaml.org,2002:value", lambda l, n: l.construct_scalar(n))
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


@lru_cache(maxsize=4)
def zendesk_contract(folder: Path) -> Contract:
    """Zendesk's described operations (paths served with or without `.json`)."""
    return Contract("Zendesk", _zendesk_operations(load_description(folder / ZENDESK_FILE)), ZENDESK_PAGINATION,
                    strip_suffix=".json")


@lru_cache(maxsize=4)
def jira_contract(folder: Path) -> Contract:
    """Jira platform v3 and the JSM extract's operations."""
    operations = []
    for name in JIRA_FILES:
        document = load_description(folder / name)
        operations += _operations(document, _Resolver(document))
    for op in operations:
        if op.template == "/rest/api/3/issue/{issueIdOrKey}/assignee" and op.body is not None:
            # assignIssue's description: "accountId set to null: the issue is set to unassigned"; the User schema
            # types it string only.
            op.body["properties"]["accountId"] = {"type": ["string", "null"], "maxLength": 128}
    return Contract("Jira", operations + jira_admin_webhook_operations() + jsm_feedback_operations(), {})


_absent_logged = False
_absent_lock = threading.Lock()


def _validation_tools() -> bool:
    """The validator's libraries are test extras: the demo on a plain install runs without validation."""
    return all(importlib.util.find_spec(name) is not None for name in ("jsonschema", "yaml"))


def load_contracts(folder: Path | None) -> dict[str, Contract]:
    """The contracts by helpdesk name; empty (and said once in the log) when the descriptions are absent."""
    global _absent_logged
    files = [ZENDESK_FILE, *JIRA_FILES]
    absent = None
    if folder is None or not all((folder / name).is_file() for name in files):
        absent = "the official API descriptions (shared/reference/openapi/) are absent"
    elif not _validation_tools():
        absent = "jsonschema and pyyaml are not installed (pip install -e '.[test]')"
    if absent is not None:
        with _absent_lock:
            if not _absent_logged:
                _absent_logged = True
                log.warning(f"sandbox: {absent}; requests are not validated")
        return {}
    return {"zendesk": zendesk_contract(folder), "jira": jira_contract(folder)}
