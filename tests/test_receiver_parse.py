"""The receiver's parse (`fields=False`): the same answer as the worker's full parse, without reading the fields,
and the JSON guard's shortcut for bodies too small to nest past MAX_DEPTH."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from connectors.errors import MalformedPayload
from connectors.payload import MAX_DEPTH, decode_object
from jira import webhook as jira_webhook
from zendesk import webhook as zendesk_webhook

FIXTURES = Path(__file__).parent / "fixtures"
# Values of every JSON kind, each put in place of every field a handler reads.
ODD_VALUES = [None, "", " ", "x" * 300, 0, -1, 10 ** 19, 1.5, True, [], [1, "a", None], {}, {"value": {"id": []}}]


def _bodies(connector: str) -> list[tuple[str, dict, bytes]]:
    out = []
    for path in sorted((FIXTURES / connector).glob("*.json")):
        if path.name.endswith(".headers.json") or path.name.startswith("api_"):
            continue
        headers_path = path.with_name(path.stem + ".headers.json")
        headers = json.loads(headers_path.read_text()) if headers_path.exists() else {}
        out.append((path.stem, {k.lower(): v for k, v in headers.items()}, path.read_bytes()))
    return out


PARSERS = {"zendesk": zendesk_webhook.parse, "jira": jira_webhook.parse}
CASES = [(connector, name, headers, body) for connector in PARSERS for name, headers, body in _bodies(connector)]


def _outcome(parse, headers, body, fields):
    try:
        event = parse(headers, body, fields)
    except MalformedPayload as e:
        return "refused", str(e)
    return "parsed", replace(event, fields={}) if fields else event


@pytest.mark.parametrize("connector, name, headers, body", CASES, ids=[f"{c}-{n}" for c, n, _, _ in CASES])
def test_the_receivers_parse_answers_as_the_full_parse_without_the_fields(connector, name, headers, body):
    parse = PARSERS[connector]
    quick = _outcome(parse, headers, body, fields=False)
    assert quick == _outcome(parse, headers, body, fields=True)
    if quick[0] == "parsed":
        assert quick[1].fields == {}


def _mutations(payload, path=()):
    """`payload` with one value at a time (at any depth) replaced by each of ODD_VALUES."""
    items = payload.items() if isinstance(payload, dict) else enumerate(payload) if isinstance(payload, list) else ()
    for key, value in items:
        for odd in ODD_VALUES:
            yield path + (key,), odd
        yield from _mutations(value, path + (key,))


def _with(payload, path, value):
    copy = json.loads(json.dumps(payload))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize("connector, fixture", [
    ("zendesk", "ticket_priority_changed__low_to_high"), ("zendesk", "ticket_comment_added__agent_public_reply"),
    ("zendesk", "trigger_ticket_updated__display_values"), ("zendesk", "ticket_custom_field_changed__reason_code"),
    ("zendesk", "ticket_csat_received__good"), ("zendesk", "ticket_tags_changed__escalate_added"),
    ("jira", "jira_issue_updated__priority_cloud"), ("jira", "jira_issue_updated__assignee_cloud"),
    ("jira", "comment_created__cloud"), ("jira", "jira_issue_created__server"),
])
def test_no_field_value_makes_the_full_parse_refuse_what_the_receiver_accepted(connector, fixture):
    """Why the receiver may skip the fields: the handlers read any JSON value as a neutral one, never refuse."""
    path = FIXTURES / connector / f"{fixture}.json"
    payload, parse = json.loads(path.read_bytes()), PARSERS[connector]
    tried = 0
    for where, odd in _mutations(payload):
        body = json.dumps(_with(payload, where, odd)).encode()
        quick = _outcome(parse, {}, body, fields=False)
        assert quick == _outcome(parse, {}, body, fields=True), f"{where} = {odd!r}"
        tried += 1
    assert tried > 100


def _nested(depth: int) -> bytes:
    return ('{"ticket_id": "7", "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()


def test_a_body_with_few_brackets_skips_the_walk_and_a_deep_one_is_still_refused():
    assert decode_object(_nested(MAX_DEPTH))["ticket_id"] == "7"
    with pytest.raises(MalformedPayload, match="nested deeper than 64"):
        decode_object(_nested(MAX_DEPTH + 1))
    # Brackets inside strings only make the shortcut walk more often, never less.
    wide = json.dumps({"x": [[1]] * 40, "note": "[[[{{{" * 20}).encode()
    assert decode_object(wide)["x"][0] == [1]
