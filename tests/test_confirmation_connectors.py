"""The confirmation loop's writes as each helpdesk takes them (over `responses`): Zendesk closes and posts the
follow-up in one PUT; Jira moves through its workflow's transitions; and the sandboxes behave as the real ones."""
from __future__ import annotations

import base64
import json

import pytest
import responses
from responses import matchers

from connectors.contract import run_steps
from connectors.errors import PermanentError
from connectors.model import TicketUpdate
from jira.connector import JiraConnector
from jira.settings import JiraSettings
from sandbox import SandboxConfig, create_app
from zendesk.connector import ZendeskConnector
from zendesk.mapping import audit_metadata, update_body
from zendesk.settings import ZendeskSettings

ZD = "https://acme.zendesk.com"
ZD_SETTINGS = ZendeskSettings(base_url=ZD, email="slaclock@acme.test", api_token="tok-123", webhook_secrets=("s",),
                              reason_field_id="360001", due_field_id="360002")
JIRA = "https://acme-support.atlassian.net"
JIRA_ENV = {"JIRA_URL": JIRA, "JIRA_EMAIL": "slaclock@acme.example", "JIRA_API_TOKEN": "tok-123"}
TRANSITIONS = f"{JIRA}/rest/api/3/issue/SD-42/transitions"


def status(name: str, category: str) -> dict:
    return {"name": name, "statusCategory": {"key": category}}


OFFERED_WHEN_RESOLVED = {"transitions": [{"id": "31", "name": "Close", "to": status("Closed", "done")},
                                         {"id": "41", "name": "Reopen", "to": status("Waiting for support",
                                                                                       "indeterminate")}]}


@responses.activate
def test_zendesk_closes_with_the_public_follow_up_in_one_marked_put():
    put = responses.put(f"{ZD}/api/v2/tickets/5158.json", json={"ticket": {"id": 5158, "updated_at": "2026-03-02T10:00:00Z"}},
                        match=[matchers.json_params_matcher({"ticket": {
                            "status": "closed", "comment": {"body": "Thank you for confirming.", "public": True},
                            "metadata": audit_metadata("k1")}})])
    steps = ZendeskConnector(ZD_SETTINGS, sleep=lambda s: None).close_steps("5158", "Thank you for confirming.", "k1")
    assert [(s.name, s.idempotent) for s in steps] == [("close", False)], "read back by its marker before a resend"
    run_steps(steps)
    assert put.call_count == 1


def test_zendesk_reopen_is_a_status_field_of_the_update():
    body = update_body(TicketUpdate(ticket_id="5158", version="v", status="open", assignee_id="3004"), ZD_SETTINGS)
    assert body == {"ticket": {"assignee_id": 3004, "status": "open", "safe_update": True, "updated_stamp": "v"}}


@responses.activate
def test_jira_closes_by_the_transition_to_a_closed_status_then_comments_publicly():
    listed = responses.get(TRANSITIONS, json=OFFERED_WHEN_RESOLVED)
    moved = responses.post(TRANSITIONS, status=204, match=[matchers.json_params_matcher({"transition": {"id": "31"}})])
    commented = responses.post(f"{JIRA}/rest/api/3/issue/SD-42/comment", status=201, json={"id": "10400"})
    steps = JiraConnector(JiraSettings.from_env(JIRA_ENV), sleep=lambda s: None).close_steps("SD-42", "Closed now.", "k2")
    assert [s.name for s in steps] == ["transition", "reply"]
    run_steps(steps)
    assert (listed.call_count, moved.call_count, commented.call_count) == (1, 1, 1)
    sent = json.loads(commented.calls[0].request.body)
    assert "sd.public.comment" not in json.dumps(sent), "public: no internal property"


@responses.activate
def test_jira_reopens_through_a_transition_to_a_not_done_status():
    responses.get(TRANSITIONS, json=OFFERED_WHEN_RESOLVED)
    moved = responses.post(TRANSITIONS, status=204, match=[matchers.json_params_matcher({"transition": {"id": "41"}})])
    connector = JiraConnector(JiraSettings.from_env(JIRA_ENV), sleep=lambda s: None)
    steps = connector.update_steps(TicketUpdate(ticket_id="SD-42", status="open"), "k3")
    assert [s.name for s in steps][:1] == ["transition"]
    run_steps([s for s in steps if s.name == "transition"])
    assert moved.call_count == 1


@responses.activate
def test_jira_without_a_transition_there_is_permanent_unless_the_issue_is_already_there():
    responses.get(TRANSITIONS, json={"transitions": []})
    issue = responses.get(f"{JIRA}/rest/api/3/issue/SD-42", json={
        "key": "SD-42", "fields": {"created": "2026-03-02T10:00:00.000+0000", "status": status("Closed", "done")}})
    connector = JiraConnector(JiraSettings.from_env(JIRA_ENV), sleep=lambda s: None)
    run_steps(connector.close_steps("SD-42", "", "k4"))  # a resend after the close landed: nothing to do
    assert issue.call_count == 1
    with pytest.raises(PermanentError, match="offers no transition to a open status"):
        run_steps([s for s in connector.update_steps(TicketUpdate(ticket_id="SD-42", status="open"), "k5")
                   if s.name == "transition"])


# --- the sandboxes -----------------------------------------------------------------------------

@pytest.fixture
def sandbox():
    app = create_app(SandboxConfig())
    yield app.test_client()
    app.extensions["sandbox"].close()


def test_sandbox_jira_offers_its_workflow_and_refuses_a_transition_it_does_not_offer(sandbox):
    key = sandbox.post("/_sandbox/jira/customer/issues", json={"fields": {"summary": "Gate"}}).get_json()["key"]
    auth = {"Authorization": "Basic " + base64.b64encode(b"slaclock@example.com:sandbox-jira-token").decode()}
    offered = sandbox.get(f"/rest/api/3/issue/{key}/transitions", headers=auth)
    assert offered.status_code == 200, offered.get_data(as_text=True)
    assert [(t["id"], t["to"]["name"]) for t in offered.get_json()["transitions"]] == [
        ("11", "In Progress"), ("21", "Resolved"), ("31", "Closed")]
    refused = sandbox.post(f"/rest/api/3/issue/{key}/transitions", headers=auth, json={"transition": {"id": "41"}})
    assert refused.status_code == 400 and "is not valid for this issue" in refused.get_data(as_text=True)
    assert sandbox.post(f"/rest/api/3/issue/{key}/transitions", headers=auth,
                        json={"transition": {"id": "21"}}).status_code == 204
    issue = sandbox.get(f"/_sandbox/jira/issues/{key}").get_json()["issue"]
    assert issue["fields"]["status"]["name"] == "Resolved"


def test_sandbox_zendesk_requester_reply_reopens_a_solved_ticket_and_an_agent_comment_does_not(sandbox):
    created = sandbox.post("/_sandbox/agent/tickets", json={"ticket": {
        "subject": "Gate", "comment": {"body": "Gate"}, "requester": {"name": "Casey", "email": "casey@x.example"}}})
    ticket_id = created.get_json()["ticket"]["id"]
    sandbox.post(f"/_sandbox/agent/tickets/{ticket_id}", json={"ticket": {"status": "solved"}})
    sandbox.post(f"/_sandbox/agent/tickets/{ticket_id}", json={"ticket": {"comment": {"body": "fyi", "public": True}}})
    assert sandbox.get(f"/_sandbox/tickets/{ticket_id}").get_json()["ticket"]["status"] == "solved"
    assert sandbox.post(f"/_sandbox/customer/tickets/{ticket_id}/reply", json={"body": "still broken"}).status_code == 200
    shown = sandbox.get(f"/_sandbox/tickets/{ticket_id}").get_json()
    assert shown["ticket"]["status"] == "open"
    assert shown["comments"][-1]["author_id"] == shown["ticket"]["requester_id"]
