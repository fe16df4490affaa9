"""The requests the exactly-once writes and read-backs send, captured from the real clients and checked against
the official API descriptions (../shared/reference/openapi/: path, method, query parameters, body keys)."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from connectors.http import HelpdeskSession
from connectors.model import FollowUp, TicketUpdate
from jira.connector import JiraConnector
from jira.mapping import comment_marker
from jira.settings import JiraSettings
from zendesk.connector import ZendeskConnector
from sandbox.contract import JIRA_FILES, ZENDESK_FILE, load_description, openapi_dir
from tests.stacks import absent_outside_ci
from zendesk.settings import ZendeskSettings

OAS_DIR = openapi_dir()


@pytest.fixture(autouse=True)
def descriptions():
    if OAS_DIR is None:
        absent_outside_ci("no ../shared/reference/openapi beside the checkout")

# Zendesk documents cursor paging and `sort` in prose (ListTicketComments: "Sorting"; Pagination), not as parameters.
ZENDESK_PROSE_PARAMS = {"page[size]", "page[after]", "sort"}
# Documented write-only on the ticket object but missing from TicketUpdateInput / TicketCreateInput (ZD-OAS 24615).
ZENDESK_TICKET_GAPS = {"metadata"}


@lru_cache
def zendesk_oas() -> dict:
    return load_description(OAS_DIR / ZENDESK_FILE)


@lru_cache
def jira_oas() -> dict:
    platform, jsm = (load_description(OAS_DIR / name) for name in JIRA_FILES)
    merged = {"paths": {**platform["paths"], **jsm["paths"]},
              "components": {"schemas": {**platform["components"]["schemas"], **jsm["components"]["schemas"]},
                             "parameters": platform["components"].get("parameters", {})}}
    return merged


def deref(spec: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operation(spec: dict, method: str, path: str) -> tuple[dict, dict]:
    """(path item, operation) of the template matching a concrete path."""
    path = path.removesuffix(".json")
    for template, item in spec["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            assert method.lower() in item, f"{method} {template} is not documented"
            return item, item[method.lower()]
    raise AssertionError(f"no documented path matches {path}")


def check_keys(spec: dict, schema, value, where: str, gaps=frozenset()) -> None:
    """Every key sent is a property of the (dereferenced) schema, recursively through objects and arrays."""
    schema = deref(spec, schema)
    if not isinstance(schema, dict):
        return
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema and isinstance(value, dict):
            merged = {}
            for part in schema[combined]:
                merged.update(deref(spec, part).get("properties", {}))
            schema = {**schema, "properties": {**merged, **schema.get("properties", {})}}
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in gaps:
                continue
            assert key in schema["properties"], f"{where}.{key} is not in the documented body"
            check_keys(spec, schema["properties"][key], item, f"{where}.{key}", gaps)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            check_keys(spec, schema["items"], item, f"{where}[]", gaps)
    if schema.get("type") == "integer":
        assert isinstance(value, int), f"{where} must be an integer"


def check(spec: dict, request, prose_params=frozenset(), gaps=frozenset()) -> None:
    url = urlsplit(request.url)
    item, op = operation(spec, request.method, url.path)
    declared = {deref(spec, p)["name"] for p in item.get("parameters", []) + op.get("parameters", [])}
    for name, _ in parse_qsl(url.query):
        assert name in declared or name in prose_params, f"{request.method} {url.path}: undocumented ?{name}"
    if request.body:
        body = json.loads(request.body)
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        check_keys(spec, schema, body, f"{request.method} {url.path}", gaps)


ZD = "https://acme.zendesk.com"
ZD_SETTINGS = ZendeskSettings(base_url=ZD, email="e", api_token="t", webhook_secrets=("s",), due_field_id="360002")


@responses.activate
def test_zendesk_marked_writes_and_read_backs_are_documented():
    responses.get(f"{ZD}/api/v2/users/me.json", json={"user": {"id": 1}})
    responses.put(f"{ZD}/api/v2/tickets/5158.json", json={"ticket": {"id": 5158, "updated_at": "x"}})
    responses.post(f"{ZD}/api/v2/tickets.json", json={"ticket": {"id": 6001}})
    responses.get(f"{ZD}/api/v2/tickets.json", json={"tickets": []})
    responses.get(f"{ZD}/api/v2/tickets/5158/comments.json",
                  json={"comments": [{"id": 9, "author_id": 1, "audit_id": 77}]})
    responses.get(f"{ZD}/api/v2/tickets/5158/audits/77.json", json={"audit": {"id": 77, "metadata": {}}})
    zendesk = ZendeskConnector(ZD_SETTINGS, session=HelpdeskSession(ZD, sleep=lambda s: None))
    update = TicketUpdate(ticket_id="5158", version="v", priority="high", note="n", followers_add=frozenset({"8"}))
    (step,) = zendesk.update_steps(update, "slaclock-k")
    step.send({})
    step.landed({})
    (reply,) = zendesk.reply_steps("5158", "hello", "slaclock-r")
    reply.send({})
    (create,) = zendesk.follow_up_steps(FollowUp("5158", "s", "b", group_id="2009"), "slaclock-f")
    create.send({})
    create.landed({})
    spec = zendesk_oas()
    sent = {(c.request.method, urlsplit(c.request.url).path) for c in responses.calls}
    assert ("GET", "/api/v2/tickets/5158/audits/77.json") in sent and ("GET", "/api/v2/tickets.json") in sent
    for call in responses.calls:
        check(spec, call.request, ZENDESK_PROSE_PARAMS, ZENDESK_TICKET_GAPS)
    # The gaps really are documented on the ticket object.
    ticket_object = deref(spec, spec["components"]["schemas"]["TicketObject"])
    assert "metadata" in ticket_object["properties"]


JIRA = "https://acme-support.atlassian.net"
ISSUE = f"{JIRA}/rest/api/3/issue/SD-42"


@responses.activate
def test_jira_marked_writes_and_read_backs_are_documented():
    responses.get(f"{JIRA}/rest/api/3/myself", json={"accountId": "me"})
    responses.put(ISSUE, status=204)
    responses.get(ISSUE, json={"key": "SD-42", "fields": {"created": "2026-03-02T09:00:00.000+0000"}})
    responses.post(f"{ISSUE}/watchers", status=204)
    responses.post(f"{JIRA}/rest/api/3/issueLink", status=201)
    responses.post(f"{JIRA}/rest/servicedeskapi/request/SD-42/comment", status=404)
    responses.post(f"{ISSUE}/comment", status=201, json={"id": "10001"})
    responses.get(f"{ISSUE}/comment", json={"comments": [{"id": "10001", "author": {"accountId": "me"}}]})
    responses.post(f"{JIRA}/rest/api/3/comment/list", json={"values": []})
    responses.post(f"{JIRA}/rest/api/3/search/jql", json={"issues": [], "isLast": True})
    responses.post(f"{JIRA}/rest/api/3/issue", status=201, json={"id": "1", "key": "SD-77"})
    env = {"JIRA_URL": JIRA, "JIRA_EMAIL": "slaclock@acme.example", "JIRA_API_TOKEN": "t", "JIRA_DUE_FIELD_ID": "customfield_10060"}
    jira = JiraConnector(JiraSettings.from_env(env), session=HelpdeskSession(JIRA, sleep=lambda s: None))
    update = TicketUpdate(ticket_id="SD-42", priority="high", followers_add=frozenset({"acc"}), problem_id="SD-9",
                          note="n")
    for step in jira.update_steps(update, "slaclock-k"):
        step.send({})
    jira.update_steps(update, "slaclock-k")[-1].landed({})
    for step in jira.reply_steps("SD-42", "hello", "slaclock-r"):
        step.send({})
    create, link = jira.follow_up_steps(FollowUp("SD-42", "s", "b"), "slaclock-f")
    progress = {"create": {"state": "done", "result": create.send({})}}
    link.send(progress)
    spec = jira_oas()
    sent = {(c.request.method, urlsplit(c.request.url).path) for c in responses.calls}
    assert ("POST", "/rest/api/3/comment/list") in sent and ("GET", "/rest/api/3/issue/SD-42/comment") in sent
    for call in responses.calls:
        check(spec, call.request)
    # The marker property has the documented EntityProperty shape.
    check_keys(spec, {"$ref": "#/components/schemas/EntityProperty"}, comment_marker("k"), "property")


def test_the_orderby_value_sent_is_one_jira_documents():
    spec = jira_oas()
    _, op = operation(spec, "GET", "/rest/api/3/issue/SD-42/comment")
    (order,) = [p for p in op["parameters"] if p["name"] == "orderBy"]
    assert "-created" in json.dumps(order)
