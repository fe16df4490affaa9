"""Jira webhook fixtures (one per event type and variant, Cloud and Server/DC) and signature checks."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.errors import MalformedPayload, SignatureError
from jira import webhook
from jira.connector import JiraConnector
from jira.settings import JiraSettings
from jira.webhook import HANDLERS, IGNORED_EVENTS

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
# Fixtures that are not webhook deliveries of a known event.
API_PREFIX = "api_"
REJECTED = {"unknown_event__cloud": "unknown Jira webhook event 'jira:issue_teleported'",
            "example_anomalous_payload": "no webhookEvent"}
# File names cannot hold ':'; `jira:issue_updated__x.json` is stored as `jira_issue_updated__x.json`.
EVENT_BY_FILE_PREFIX = {event.replace(":", "_"): event for event in {*HANDLERS, *IGNORED_EVENTS}}

AGENT, AGENT2 = "5b10ac8d82e05b22cc7d4ef5", "5cedcb4355a88a0fc86388ba"
CUSTOMER = "qm:6f2a1c6e-8e0b-4bd4-9a6a-2f1d3c0e7a11:0b4a8a2b-93a4-4b50-9f59-6e1f8e1f1c2d"
BOT = "712020:2f6c3b1e-5d0a-4c7e-9b8f-1a2b3c4d5e6f"
S_AGENT, S_AGENT2, S_CUSTOMER = "JIRAUSER10100", "JIRAUSER10101", "JIRAUSER10200"

# fixture → (ticket_id, actor_id, a subset of the expected fields)
EXPECTED = {
    "jira_issue_created__cloud": ("SD-42", CUSTOMER, {
        "assignee_id": AGENT, "priority_name": "Medium", "status_category": "indeterminate",
        "tags": frozenset({"vip"}), "custom_fields": {"customfield_10050": "missing_part"}}),
    "jira_issue_created__server": ("OPS-7", S_CUSTOMER, {
        "assignee_id": S_AGENT, "priority_name": "High", "status_name": "Open", "status_category": "new"}),
    "jira_issue_created__no_webhookevent_server": ("OPS-7", S_CUSTOMER, {"requester_id": S_CUSTOMER}),
    "jira_issue_updated__priority_cloud": ("SD-42", AGENT, {
        "priority_name": "High", "previous_priority_name": "Medium", "changed": ("priority",)}),
    "jira_issue_updated__priority_server": ("OPS-7", S_AGENT, {
        "priority_name": "Highest", "previous_priority_name": "High", "changed": ("priority",)}),
    "jira_issue_updated__status_cloud": ("SD-42", AGENT, {
        "status_name": "Waiting for customer", "previous_status_name": "Waiting for support"}),
    "jira_issue_updated__resolved_cloud": ("SD-42", AGENT, {
        "status_name": "Resolved", "status_category": "done", "changed": ("resolution", "status")}),
    "jira_issue_updated__labels_cloud": ("SD-42", AGENT, {
        "tags": frozenset({"vip", "slaclock_escalate"}), "tags_added": frozenset({"slaclock_escalate"}),
        "tags_removed": frozenset(), "previous_tags": frozenset({"vip"})}),
    "jira_issue_updated__labels_server_string": ("OPS-7", S_AGENT, {
        "tags": frozenset({"vip", "slaclock_escalate"}), "tags_added": frozenset({"slaclock_escalate"})}),
    "jira_issue_updated__assignee_cloud": ("SD-42", BOT, {
        "assignee_id": AGENT2, "previous_assignee_id": AGENT}),
    # Server changelogs name users by user name; the snapshot's user key wins for the current value.
    "jira_issue_updated__assignee_server": ("OPS-7", S_AGENT, {
        "assignee_id": S_AGENT2, "previous_assignee_id": "dana"}),
    "jira_issue_updated__custom_field_cloud": ("SD-42", AGENT, {
        "custom_fields": {"customfield_10050": "wrong_item"}, "changed": ("customfield_10050",)}),
    "jira_issue_updated__satisfaction_cloud": ("SD-42", CUSTOMER, {
        "satisfaction_changed": True, "status_category": "done",
        "changed": ("customfield_10034", "customfield_10035")}),
    "jira_issue_updated__custom_field_server": ("OPS-7", S_AGENT, {
        "custom_fields": {"Reason code": "wrong_item"}}),
    "jira_issue_updated__commented_cloud": ("SD-42", CUSTOMER, {
        "comment_id": "10310", "comment_public": True, "comment_author_id": CUSTOMER}),
    "jira_issue_updated__no_webhookevent_changelog_server": ("OPS-7", S_AGENT, {
        "assignee_id": S_AGENT, "changed": ("assignee",)}),
    "jira_issue_updated__no_webhookevent_transition_server": ("OPS-7", S_AGENT, {
        "status_name": "Waiting for customer"}),
    "jira_issue_updated__sla_action_server": ("OPS-7", None, {"priority_name": "High"}),
    "comment_created__cloud": ("SD-42", AGENT, {
        "comment_id": "10311", "comment_public": False, "comment_author_id": AGENT, "priority_name": "Medium"}),
    # Server/DC comment events carry no `issue`: the issue id comes from comment.self.
    "comment_created__server": ("10207", S_AGENT, {"comment_id": "10082", "comment_public": None}),
    "comment_created__no_webhookevent_server": ("10207", S_AGENT, {"comment_id": "10082"}),
    "comment_updated__cloud": ("SD-42", AGENT2, {"comment_id": "10311", "comment_author_id": AGENT}),
    "comment_updated__server": ("10207", S_AGENT2, {"comment_id": "10082"}),
    # Issue 11 item 4: comments in every Jira flavour. Server bodies carry no visibility: None makes the
    # processor ask the API.
    "jira_issue_updated__commented_server": ("OPS-7", S_AGENT, {
        "comment_id": "10082", "comment_public": None, "comment_author_id": S_AGENT, "requester_id": S_CUSTOMER}),
    "jira_issue_updated__commented_no_event_type_server": ("OPS-7", S_AGENT, {
        "comment_id": "10082", "comment_public": None, "comment_author_id": S_AGENT}),
    "comment_created__software_project_cloud": ("TES-41", "5c5f880629be9642ba529340", {
        "comment_id": "10019", "comment_public": True}),
    "comment_created__role_restricted_cloud": ("TES-41", "5c5f880629be9642ba529340", {
        "comment_id": "10020", "comment_public": False}),
    # Issue 11 item 5: automation's bare issue (no `issue` wrapper, numeric id, no event name).
    "jira_issue_updated__automation_format_cloud": ("SP-53", None, {
        "issue_id": "11111", "priority_name": "Medium", "status_name": "Waiting for support",
        "requester_id": CUSTOMER}),
}


NO_TIMESTAMP = {"jira_issue_updated__automation_format_cloud"}
OCCURRED = {"jira_issue_updated__satisfaction_cloud": datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc)}


def fixture_names() -> list[str]:
    return sorted(p.name[:-len(".json")] for p in FIXTURES.glob("*.json") if not p.name.endswith(".headers.json"))


def webhook_fixtures() -> list[str]:
    return [n for n in fixture_names() if not n.startswith(API_PREFIX) and n not in REJECTED]


def event_of(name: str) -> str:
    return EVENT_BY_FILE_PREFIX[name.split("__")[0]]


def load(name: str) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case keys, from `<name>.headers.json` if present) and the raw body."""
    headers_path = FIXTURES / f"{name}.headers.json"
    headers = json.loads(headers_path.read_text()) if headers_path.exists() else {}
    return {k.lower(): v for k, v in headers.items()}, (FIXTURES / f"{name}.json").read_bytes()


def check_webhook(name: str):
    headers, body = load(name)
    event = webhook.parse(headers, body)
    assert event.connector == "jira"
    assert event.event_type == event_of(name)
    return event


# --- fixtures per event type ---------------------------------------------------------------------

def test_every_handled_and_ignored_event_type_has_a_fixture():
    prefixes = {name.split("__")[0] for name in webhook_fixtures()}
    missing = sorted(event for prefix, event in EVENT_BY_FILE_PREFIX.items() if prefix not in prefixes)
    assert missing == []


def test_every_handled_event_type_has_cloud_and_server_fixtures():
    for event in HANDLERS:
        variants = [n.split("__")[1] for n in webhook_fixtures() if event_of(n) == event]
        assert any("cloud" in v for v in variants), event
        assert any("server" in v for v in variants), event


def test_every_fixture_names_a_known_event_and_handled_ones_have_expectations():
    for name in webhook_fixtures():
        assert name.split("__")[0] in EVENT_BY_FILE_PREFIX, name
        if event_of(name) in HANDLERS:
            assert name in EXPECTED, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_handled_fixture(name):
    ticket_id, actor_id, fields = EXPECTED[name]
    event = check_webhook(name)
    assert not event.ignored
    assert (event.ticket_id, event.actor_id) == (ticket_id, actor_id)
    assert {k: event.fields.get(k, "<absent>") for k in fields} == fields
    # Automation's bare issue has no `timestamp`; every other webhook fixture has the same one but the rating,
    # given two hours later.
    expected = None if name in NO_TIMESTAMP else OCCURRED.get(name, datetime(2026, 3, 2, 9, 2, 44, 530000,
                                                                             tzinfo=timezone.utc))
    assert event.occurred_at == expected


@pytest.mark.parametrize("name", [n for n in webhook_fixtures() if event_of(n) in IGNORED_EVENTS])
def test_ignored_fixture(name):
    event = check_webhook(name)
    assert event.ignored and event.fields == {}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_fixture(name):
    _, body = load(name)
    with pytest.raises(MalformedPayload, match=REJECTED[name]):
        webhook.parse({}, body)


def test_ignored_event_keeps_the_issue_key_when_there_is_one():
    assert check_webhook("jira_issue_deleted__cloud").ticket_id == "SD-42"
    assert check_webhook("worklog_created__cloud").ticket_id is None


def test_comment_payload_only_truncated_fields_no_invented_labels():
    fields = check_webhook("comment_created__cloud").fields
    assert "tags" not in fields and "created_at" not in fields


# --- delivery keys -------------------------------------------------------------------------------

def test_delivery_key_is_the_signed_body_hash_not_the_unsigned_identifier():
    headers, body = load("jira_issue_updated__priority_cloud")
    event = check_webhook("jira_issue_updated__priority_cloud")
    assert event.delivery_key == "jira:sha256:" + hashlib.sha256(body).hexdigest()
    # A captured body replayed under a new or missing identifier is the same delivery.
    assert webhook.parse({**headers, "x-atlassian-webhook-identifier": "forged-1"}, body).delivery_key == \
        event.delivery_key
    assert webhook.parse({}, body).delivery_key == event.delivery_key


def test_a_retried_delivery_keeps_its_key():
    headers, body = load("jira_issue_updated__custom_field_cloud")
    first = webhook.parse(headers, body)
    retried = webhook.parse({**headers, "x-atlassian-webhook-retry": "2"}, body)
    assert retried.delivery_key == first.delivery_key


def test_without_identifier_the_key_is_the_body_hash():
    _, body = load("jira_issue_updated__priority_server")
    event = webhook.parse({}, body)
    assert event.delivery_key == "jira:sha256:" + hashlib.sha256(body).hexdigest()
    assert webhook.parse({}, body + b" ").delivery_key != event.delivery_key


# --- malformed deliveries ------------------------------------------------------------------------

def _payload(name: str) -> dict:
    return json.loads(load(name)[1])


@pytest.mark.parametrize("body, message", [
    (b"", "body is empty"),
    (b"{not json", "body is not valid JSON"),
    (b"[1, 2]", "JSON list, expected an object"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"webhookEvent": 7, "issue": {"key": "SD-1"}}', "webhookEvent is not an event name"),
])
def test_malformed_body_is_named(body, message):
    with pytest.raises(MalformedPayload, match=message):
        webhook.parse({}, body)


def test_missing_issue_key_is_named():
    payload = _payload("jira_issue_updated__priority_cloud")
    del payload["issue"]["key"]
    with pytest.raises(MalformedPayload, match="issue.key is missing"):
        webhook.parse({}, json.dumps(payload).encode())


def test_issue_key_that_is_not_a_key_is_rejected():
    payload = _payload("jira_issue_updated__priority_cloud")
    payload["issue"]["key"] = "../../admin"
    with pytest.raises(MalformedPayload, match="invalid issue key"):
        webhook.parse({}, json.dumps(payload).encode())


def test_missing_issue_on_an_issue_event_is_named():
    payload = _payload("jira_issue_updated__priority_cloud")
    del payload["issue"]
    with pytest.raises(MalformedPayload, match="issue is missing"):
        webhook.parse({}, json.dumps(payload).encode())


# --- signature -----------------------------------------------------------------------------------

# GitHub's published vector for the same WebSub scheme (github/docs, validating-webhook-deliveries).
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_matches_the_published_vector():
    assert webhook.sign(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE


def test_correct_signature_is_accepted():
    webhook.verify({"x-hub-signature": GITHUB_SIGNATURE}, GITHUB_BODY, (GITHUB_SECRET,))


def test_old_and_new_secret_both_verify_during_rotation():
    webhook.verify({"x-hub-signature": GITHUB_SIGNATURE}, GITHUB_BODY, ("new-secret", GITHUB_SECRET))


@pytest.mark.parametrize("headers, body, secrets, message", [
    ({"x-hub-signature": GITHUB_SIGNATURE}, GITHUB_BODY, ("It's a Secret to Nobody",), "does not match"),
    ({"x-hub-signature": GITHUB_SIGNATURE}, b"Hello, World?", (GITHUB_SECRET,), "does not match"),
    ({}, GITHUB_BODY, (GITHUB_SECRET,), "missing X-Hub-Signature"),
    ({"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, (GITHUB_SECRET,), "missing X-Hub-Signature"),
    ({"x-hub-signature": GITHUB_SIGNATURE[len("sha256="):]}, GITHUB_BODY, (GITHUB_SECRET,), "not of the form"),
    ({"x-hub-signature": "sha1=" + "0" * 40}, GITHUB_BODY, (GITHUB_SECRET,), "not of the form"),
    # The right digest, base64- instead of hex-encoded.
    ({"x-hub-signature": "sha256=dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="}, GITHUB_BODY, (GITHUB_SECRET,),
     "does not match"),
])
def test_bad_signature_is_rejected_without_naming_the_secret(headers, body, secrets, message):
    with pytest.raises(SignatureError, match=message) as raised:
        webhook.verify(headers, body, secrets)
    assert all(secret not in str(raised.value) for secret in secrets)


def test_one_flipped_byte_of_a_real_fixture_is_rejected():
    _, body = load("jira_issue_updated__priority_cloud")
    signature = webhook.sign("s3cret", body)
    webhook.verify({"x-hub-signature": signature}, body, ("s3cret",))
    flipped = body[:10] + bytes([body[10] ^ 0x01]) + body[11:]
    with pytest.raises(SignatureError):
        webhook.verify({"x-hub-signature": signature}, flipped, ("s3cret",))


def test_without_a_configured_secret_unsigned_deliveries_pass():
    webhook.verify({}, GITHUB_BODY, ())


def test_connector_verifies_with_mixed_case_headers():
    settings = JiraSettings.from_env({"JIRA_URL": "https://acme.atlassian.net", "JIRA_WEBHOOK_SECRET": GITHUB_SECRET})
    connector = JiraConnector(settings, sleep=lambda s: None)
    now = datetime(2026, 3, 2, tzinfo=timezone.utc)
    connector.verify({"X-Hub-Signature": GITHUB_SIGNATURE}, GITHUB_BODY, now)
    with pytest.raises(SignatureError):
        connector.verify({"X-Hub-Signature": GITHUB_SIGNATURE}, GITHUB_BODY + b"!", now)
    headers, body = load("comment_created__cloud")
    assert connector.parse({k.title(): v for k, v in headers.items()}, body).delivery_key == \
        "jira:sha256:" + hashlib.sha256(body).hexdigest()


# --- automation rules: a bare issue, authenticated by a shared-secret header (issue 11 item 5) -------------

def test_automation_bare_issue_is_an_issue_update_not_a_400():
    headers, body = load("jira_issue_updated__automation_format_cloud")
    event = webhook.parse(headers, body)
    assert (event.event_type, event.ticket_id, event.ignored) == ("jira:issue_updated", "SP-53", False)
    assert "comment_id" not in event.fields and event.fields["status_category"] == "indeterminate"


def test_automation_customers_comment_author_is_not_staff():
    headers, body = load("jira_issue_updated__commented_cloud")
    assert webhook.parse(headers, body).fields["comment_author_is_staff"] is False  # accountType "customer"


def test_automation_request_passes_with_the_secret_in_its_header():
    _, body = load("jira_issue_updated__automation_format_cloud")
    webhook.verify({webhook.SECRET_HEADER: " new-secret "}, body, ("old-secret", "new-secret"))


@pytest.mark.parametrize("headers, message", [
    ({webhook.SECRET_HEADER: "guess"}, "X-Slaclock-Webhook-Secret does not match"),
    ({webhook.SECRET_HEADER: ""}, "X-Slaclock-Webhook-Secret does not match"),
    ({}, "missing X-Hub-Signature header (or X-Slaclock-Webhook-Secret"),
])
def test_automation_request_without_the_right_secret_is_refused_without_naming_it(headers, message):
    _, body = load("jira_issue_updated__automation_format_cloud")
    with pytest.raises(SignatureError) as caught:
        webhook.verify(headers, body, ("new-secret",))
    assert message in str(caught.value) and "new-secret" not in str(caught.value)
    assert caught.value.status == 401


def test_a_signed_delivery_is_checked_by_its_signature_even_with_a_secret_header():
    # The signature, when present, decides: a right secret header does not rescue a wrong signature.
    body = b'{"webhookEvent":"jira:issue_updated","issue":{"key":"SD-1"}}'
    with pytest.raises(SignatureError, match="does not match the body"):
        webhook.verify({"x-hub-signature": webhook.sign("other", body), webhook.SECRET_HEADER: "s"}, body, ("s",))
