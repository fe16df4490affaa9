"""Contract tests for the Jira client and connector: exact bodies, call counts, retries with recorded sleeps."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses
from responses import matchers, registries

from connectors.errors import ConflictError, PermanentError
from connectors.http import HelpdeskSession
from connectors.model import Rating, TicketUpdate
from jira.client import JiraClient, adf
from jira.connector import JiraConnector
from jira.mapping import fields_to_read
from jira.settings import JiraSettings

BASE = "https://acme-support.atlassian.net"
ISSUE = f"{BASE}/rest/api/3/issue/SD-42"
REQUEST_COMMENT = f"{BASE}/rest/servicedeskapi/request/SD-42/comment"
ISSUE_COMMENT = f"{ISSUE}/comment"
SEARCH = f"{BASE}/rest/api/3/search/jql"
ENV = {"JIRA_URL": BASE, "JIRA_EMAIL": "slaclock@acme.example", "JIRA_API_TOKEN": "tok-123",
       "JIRA_REASON_FIELD_ID": "customfield_10050", "JIRA_DUE_FIELD_ID": "customfield_10060"}
ISSUE_JSON = json.loads((Path(__file__).parent / "fixtures/jira/api_issue__service_request.json").read_text())
INTERNAL = {"key": "sd.public.comment", "value": {"internal": True}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> JiraClient:
    return JiraClient(HelpdeskSession(BASE, auth=("slaclock@acme.example", "tok-123"), sleep=sleeps.append))


@pytest.fixture
def connector(sleeps) -> JiraConnector:
    return JiraConnector(JiraSettings.from_env(ENV), sleep=sleeps.append)


def fields_param(settings: JiraSettings) -> dict[str, str]:
    return {"fields": ",".join(fields_to_read(settings))}


# --- client: one method per endpoint -------------------------------------------------------------

@responses.activate
def test_get_issue_asks_for_named_fields_with_basic_auth(client):
    token = base64.b64encode(b"slaclock@acme.example:tok-123").decode()
    rsp = responses.get(ISSUE, json=ISSUE_JSON, match=[
        matchers.query_param_matcher({"fields": "summary,status"}),
        matchers.header_matcher({"Authorization": f"Basic {token}"})])
    assert client.get_issue("SD-42", ["summary", "status"])["key"] == "SD-42"
    assert rsp.call_count == 1


@responses.activate
def test_edit_issue_sends_the_body_as_is_and_accepts_204(client):
    body = {"fields": {"priority": {"name": "High"}, "labels": ["a", "b"]}}
    rsp = responses.put(ISSUE, status=204, match=[matchers.json_params_matcher(body)])
    assert client.edit_issue("SD-42", body) is None
    assert rsp.call_count == 1


@responses.activate
def test_assign(client):
    rsp = responses.put(f"{ISSUE}/assignee", status=204,
                        match=[matchers.json_params_matcher({"accountId": "5cedcb4355a88a0fc86388ba"})])
    client.assign("SD-42", "5cedcb4355a88a0fc86388ba")
    assert rsp.call_count == 1


@responses.activate
def test_internal_comment_is_plain_text_and_not_public(client):
    rsp = responses.post(REQUEST_COMMENT, status=201, json={"id": "10400", "public": False},
                         match=[matchers.json_params_matcher({"body": "slaclock: routed to purchasing.",
                                                              "public": False})])
    assert client.add_internal_comment("SD-42", "slaclock: routed to purchasing.")["public"] is False
    assert rsp.call_count == 1


@responses.activate
def test_platform_comment_is_adf_marked_internal(client):
    body = {"body": {"version": 1, "type": "doc", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "slaclock: priority normal → high."}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "Why: escalation asked by tag."}]}]},
            "properties": [INTERNAL]}
    rsp = responses.post(ISSUE_COMMENT, status=201, json={"id": "10401"}, match=[matchers.json_params_matcher(body)])
    client.add_platform_comment("SD-42", "slaclock: priority normal → high.\nWhy: escalation asked by tag.")
    assert rsp.call_count == 1


def test_adf_of_empty_text_is_still_a_valid_doc():
    assert adf("") == {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": []}]}


@responses.activate
def test_search_follows_next_page_token_over_two_pages(client):
    jql = "project = SD AND statusCategory != Done"
    first = responses.post(SEARCH, json={"issues": [{"key": "SD-1"}, {"key": "SD-2"}], "nextPageToken": "tok-2",
                                         "isLast": False},
                           match=[matchers.json_params_matcher({"jql": jql, "fields": ["updated"], "maxResults": 100})])
    second = responses.post(SEARCH, json={"issues": [{"key": "SD-3"}], "isLast": True},
                            match=[matchers.json_params_matcher({"jql": jql, "fields": ["updated"], "maxResults": 100,
                                                                 "nextPageToken": "tok-2"})])
    assert [i["key"] for i in client.search_all(jql, ["updated"])] == ["SD-1", "SD-2", "SD-3"]
    assert (first.call_count, second.call_count) == (1, 1)


@responses.activate
def test_search_stops_when_the_token_is_missing_even_without_is_last(client):
    rsp = responses.post(SEARCH, json={"issues": [{"key": "SD-1"}]})
    assert [i["key"] for i in client.search_all("project = SD", ["updated"])] == ["SD-1"]
    assert rsp.call_count == 1


@responses.activate
def test_request_sla_reads_every_page(client):
    url = f"{BASE}/rest/servicedeskapi/request/SD-42/sla"
    ongoing = {"name": "Time to resolution", "completedCycles": [],
               "ongoingCycle": {"breached": False, "paused": False, "withinCalendarHours": True,
                                "remainingTime": {"millis": 8760000, "friendly": "2h 26m"}}}
    responses.get(url, json={"size": 1, "start": 0, "limit": 50, "isLastPage": False, "values": [ongoing]},
                  match=[matchers.query_param_matcher({"start": "0", "limit": "50"})])
    responses.get(url, json={"size": 1, "start": 1, "limit": 50, "isLastPage": True,
                             "values": [{"name": "Time to first response", "completedCycles": []}]},
                  match=[matchers.query_param_matcher({"start": "1", "limit": "50"})])
    assert [m["name"] for m in client.request_sla("SD-42")] == ["Time to resolution", "Time to first response"]


@responses.activate
def test_myself(client):
    responses.get(f"{BASE}/rest/api/3/myself", json={"accountId": "712020:bot", "displayName": "slaclock"})
    assert client.myself()["accountId"] == "712020:bot"


@responses.activate(registry=registries.OrderedRegistry)
def test_429_and_503_with_retry_after_are_waited_out_then_the_edit_succeeds(client, sleeps):
    body = {"fields": {"priority": {"name": "High"}}}
    match = [matchers.json_params_matcher(body)]
    throttled = responses.put(ISSUE, status=429, headers={"Retry-After": "7"}, match=match,
                              json={"errorMessages": ["Rate limit exceeded."]})
    unavailable = responses.put(ISSUE, status=503, headers={"Retry-After": "1"}, match=match)
    done = responses.put(ISSUE, status=204, match=match)
    client.edit_issue("SD-42", body)
    assert sleeps == [7.0, 1.0]
    assert (throttled.call_count, unavailable.call_count, done.call_count) == (1, 1, 1)


@responses.activate(registry=registries.OrderedRegistry)
def test_429_without_retry_after_backs_off(client, sleeps):
    responses.get(f"{BASE}/rest/api/3/myself", status=429)
    responses.get(f"{BASE}/rest/api/3/myself", json={"accountId": "712020:bot"})
    client.myself()
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 30


@responses.activate
def test_client_error_is_permanent_and_not_retried(client, sleeps):
    rsp = responses.put(ISSUE, status=400, json={"errorMessages": [], "errors": {"priority": "not valid"}})
    with pytest.raises(PermanentError) as raised:
        client.edit_issue("SD-42", {"fields": {"priority": {"name": "Blocker"}}})
    assert raised.value.status == 400 and rsp.call_count == 1 and sleeps == []


def test_a_key_that_is_not_an_issue_key_never_reaches_the_network(client):
    with pytest.raises(ValueError, match="invalid Jira issue key"):
        client.get_issue("SD-42/../../admin", ["summary"])


# --- connector: apply_update ---------------------------------------------------------------------

DUE = datetime(2026, 3, 5, 14, 0, tzinfo=timezone.utc)
UPDATE = TicketUpdate(ticket_id="SD-42", version="2026-03-02T10:02:44.530+0100", priority="high",
                      assignee_id="5cedcb4355a88a0fc86388ba", due_at=DUE, tags=frozenset({"vip", "sla_risk"}),
                      note="slaclock: routed to purchasing, priority normal → high.")
EDIT_BODY = {"fields": {"priority": {"name": "High"}, "labels": ["sla_risk", "vip"],
                        "customfield_10060": "2026-03-05T14:00:00.000+0000",
                        "assignee": {"accountId": "5cedcb4355a88a0fc86388ba"}}}


@responses.activate
def test_apply_update_edits_once_adds_the_internal_note_and_returns_the_reread_issue(connector):
    edit = responses.put(ISSUE, status=204, match=[matchers.json_params_matcher(EDIT_BODY)])
    note = responses.post(REQUEST_COMMENT, status=201, json={"id": "1"},
                          match=[matchers.json_params_matcher({"body": UPDATE.note, "public": False})])
    read = responses.get(ISSUE, json=ISSUE_JSON, match=[matchers.query_param_matcher(fields_param(connector.settings))])
    ticket = connector.apply_update(UPDATE, "slaclock-jira-SD-42-abc")
    assert (edit.call_count, note.call_count, read.call_count) == (1, 1, 1)
    assert [c.request.method for c in responses.calls] == ["PUT", "POST", "GET"]
    assert ticket.ticket_id == "SD-42" and ticket.priority == "high"


@responses.activate
def test_note_falls_back_to_an_internal_platform_comment_outside_a_service_project(connector):
    responses.put(ISSUE, status=204)
    sd = responses.post(REQUEST_COMMENT, status=404,
                        json={"errorMessage": "The request could not be found.", "i18nErrorMessage": {}})
    platform = responses.post(ISSUE_COMMENT, status=201, json={"id": "2"}, match=[matchers.json_params_matcher(
        {"body": adf(UPDATE.note), "properties": [INTERNAL]})])
    responses.get(ISSUE, json=ISSUE_JSON)
    connector.apply_update(UPDATE, "k")
    assert (sd.call_count, platform.call_count) == (1, 1)


@responses.activate
def test_a_note_refused_for_another_reason_is_not_posted_elsewhere(connector):
    responses.post(REQUEST_COMMENT, status=403, json={"errorMessage": "You are not an agent."})
    platform = responses.post(ISSUE_COMMENT, status=201)
    with pytest.raises(PermanentError):
        connector.apply_update(TicketUpdate(ticket_id="SD-42", note="slaclock: hello"), "k")
    assert platform.call_count == 0


@responses.activate(registry=registries.OrderedRegistry)
def test_assignee_missing_from_the_edit_screen_falls_back_to_the_assign_endpoint(connector):
    responses.put(ISSUE, status=400, match=[matchers.json_params_matcher(EDIT_BODY)], json={
        "errorMessages": [], "errors": {"assignee": "Field 'assignee' cannot be set. It is not on the appropriate "
                                                    "screen, or unknown."}})
    without = {"fields": {k: v for k, v in EDIT_BODY["fields"].items() if k != "assignee"}}
    rest = responses.put(ISSUE, status=204, match=[matchers.json_params_matcher(without)])
    assign = responses.put(f"{ISSUE}/assignee", status=204,
                           match=[matchers.json_params_matcher({"accountId": "5cedcb4355a88a0fc86388ba"})])
    responses.post(REQUEST_COMMENT, status=201, json={"id": "3"})
    responses.get(ISSUE, json=ISSUE_JSON)
    connector.apply_update(UPDATE, "k")
    assert (rest.call_count, assign.call_count) == (1, 1)
    assert len(responses.calls) == 5


@responses.activate
def test_a_409_from_jira_surfaces_as_conflict_and_is_not_retried(connector, sleeps):
    edit = responses.put(ISSUE, status=409, json={"errorMessages": ["conflicting update"]})
    with pytest.raises(ConflictError):
        connector.apply_update(UPDATE, "k")
    assert edit.call_count == 1 and sleeps == []


@responses.activate
def test_only_a_group_and_no_group_field_means_no_edit_call(connector):
    note = responses.post(REQUEST_COMMENT, status=201, json={"id": "4"})
    responses.get(ISSUE, json=ISSUE_JSON)
    connector.apply_update(TicketUpdate(ticket_id="SD-42", group_id="2002", note="slaclock: routed."), "k")
    assert note.call_count == 1
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]


@responses.activate
def test_an_update_jira_cannot_express_fails_before_any_call(connector):
    with pytest.raises(PermanentError, match="labels cannot be empty or contain spaces"):
        connector.apply_update(TicketUpdate(ticket_id="SD-42", tags=frozenset({"sla risk"})), "k")
    assert len(responses.calls) == 0


@responses.activate
def test_empty_update_only_reads(connector):
    read = responses.get(ISSUE, json=ISSUE_JSON)
    assert connector.apply_update(TicketUpdate(ticket_id="SD-42"), "k").ticket_id == "SD-42"
    assert read.call_count == 1 and len(responses.calls) == 1


# --- connector: reads and identity ---------------------------------------------------------------

@responses.activate
def test_fetch_ticket_reads_only_the_fields_slaclock_uses(connector):
    rsp = responses.get(ISSUE, json=ISSUE_JSON,
                        match=[matchers.query_param_matcher(fields_param(connector.settings))])
    ticket = connector.fetch_ticket("SD-42")
    assert (ticket.status, ticket.reason_code, ticket.assignee_id) == ("pending", "missing_part",
                                                                       "5b10ac8d82e05b22cc7d4ef5")
    assert rsp.call_count == 1


@responses.activate
def test_fetch_ticket_of_unreadable_json_is_a_permanent_error(connector):
    responses.get(ISSUE, json={"id": "10042", "fields": {}})
    with pytest.raises(PermanentError, match="unreadable issue JSON"):
        connector.fetch_ticket("SD-42")


@responses.activate
def test_is_own_actor_reads_myself_once(connector):
    me = responses.get(f"{BASE}/rest/api/3/myself", json={"accountId": "712020:bot", "displayName": "slaclock"})
    assert connector.is_own_actor("712020:bot")
    assert not connector.is_own_actor("5b10ac8d82e05b22cc7d4ef5")
    assert not connector.is_own_actor(None)
    assert me.call_count == 1


@responses.activate
def test_is_own_actor_knows_a_server_user_by_key_or_name(connector):
    responses.get(f"{BASE}/rest/api/3/myself", json={"key": "JIRAUSER10999", "name": "slaclock"})
    assert connector.is_own_actor("JIRAUSER10999") and connector.is_own_actor("slaclock")


# --- connector: reconciliation and project scope -------------------------------------------------

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=timezone.utc)


def _issue(key: str, updated: str, status: str = "In Progress", category: str = "indeterminate") -> dict:
    return {"id": "1", "key": key, "fields": {"updated": updated,
                                              "status": {"name": status, "statusCategory": {"key": category}}}}


@responses.activate
def test_first_reconciliation_pass_looks_back_an_hour_and_skips_closed_issues(connector):
    page = {"issues": [_issue("SD-7", "2026-03-02T12:40:00.000+0100"),
                       _issue("SD-8", "2026-03-02T12:50:00.000+0100", "Closed", "done"),
                       _issue("SD-9", "2026-03-02T12:55:00.000+0100", "Resolved", "done")], "isLast": True}
    rsp = responses.post(SEARCH, json=page, match=[matchers.json_params_matcher(
        {"jql": 'updated >= "-62m" ORDER BY updated ASC', "fields": ["updated", "status"], "maxResults": 100})])
    changes, cursor = connector.changed_tickets(None, NOW)
    assert changes == [("SD-7", datetime(2026, 3, 2, 11, 40, tzinfo=timezone.utc)),
                       ("SD-9", datetime(2026, 3, 2, 11, 55, tzinfo=timezone.utc))]
    assert cursor == "2026-03-02T12:00:30+00:00" and rsp.call_count == 1


@responses.activate
def test_later_passes_resume_from_the_cursor_within_the_configured_projects(sleeps):
    scoped = JiraConnector(JiraSettings.from_env({**ENV, "JIRA_PROJECTS": "sd, OPS"}), sleep=sleeps.append)
    responses.post(SEARCH, json={"issues": [], "isLast": True}, match=[matchers.json_params_matcher(
        {"jql": 'project in (SD, OPS) AND updated >= "-8m" ORDER BY updated ASC', "fields": ["updated", "status"],
         "maxResults": 100})])
    assert scoped.changed_tickets("2026-03-02T11:55:00+00:00", NOW) == ([], "2026-03-02T12:00:30+00:00")


def test_events_for_other_projects_are_ignored_when_projects_are_configured(sleeps):
    body = (Path(__file__).parent / "fixtures/jira/jira_issue_updated__priority_cloud.json").read_bytes()
    scoped = JiraConnector(JiraSettings.from_env({**ENV, "JIRA_PROJECTS": "OPS"}), sleep=sleeps.append)
    event = scoped.parse({}, body)
    assert event.ignored and event.ticket_id == "SD-42" and event.fields == {}
    assert not JiraConnector(JiraSettings.from_env({**ENV, "JIRA_PROJECTS": "SD"})).parse({}, body).ignored


# --- follow-ups and watchers ----------------------------------------------------------------------

@responses.activate
def test_follow_up_is_created_once_and_linked(connector):
    from connectors.model import FollowUp

    search = responses.post(f"{BASE}/rest/api/3/search/jql", json={"issues": [], "isLast": True})
    create = responses.post(f"{BASE}/rest/api/3/issue", json={"id": "10077", "key": "SD-77", "self": "x"})
    link = responses.post(f"{BASE}/rest/api/3/issueLink", status=201, match=[matchers.json_params_matcher(
        {"type": {"name": "Relates"}, "inwardIssue": {"key": "SD-77"}, "outwardIssue": {"key": "SD-42"}})])
    follow_up = FollowUp(original_id="SD-42", subject="Tech lead: SD-42", body="Urgent for 60 min.",
                         assignee_id="acc-lead", priority="urgent")
    assert connector.create_follow_up(follow_up, "slaclock-jira-SD-42-milestone:tech_lead:1") == "SD-77"
    sent = json.loads(create.calls[0].request.body)["fields"]
    assert sent["project"] == {"key": "SD"} and sent["issuetype"] == {"name": "Task"}
    assert sent["assignee"] == {"accountId": "acc-lead"} and sent["priority"] == {"name": "Highest"}
    label = sent["labels"][0]
    assert label.startswith("slaclock_fu_")
    assert json.loads(search.calls[0].request.body)["jql"] == f'labels = "{label}"'
    assert link.call_count == 1


@responses.activate
def test_follow_up_retry_finds_the_issue_it_already_made(connector):
    from connectors.model import FollowUp

    responses.post(f"{BASE}/rest/api/3/search/jql", json={"issues": [{"key": "SD-77"}], "isLast": True})
    create = responses.post(f"{BASE}/rest/api/3/issue", json={"key": "SD-78"})
    # The link may be what a crash left undone; a duplicate link is reported as created, so it is sent again.
    link = responses.post(f"{BASE}/rest/api/3/issueLink", status=201)
    assert connector.create_follow_up(FollowUp("SD-42", "s", "b"), "k") == "SD-77"
    assert create.call_count == 0 and link.call_count == 1


@responses.activate
def test_followers_become_watchers(client):
    watch = responses.post(f"{ISSUE}/watchers", status=204, match=[matchers.json_params_matcher("acc-7")])
    client.add_watcher("SD-42", "acc-7")
    assert watch.call_count == 1


@responses.activate
def test_native_sla_lines_for_explain(connector):
    responses.get(f"{BASE}/rest/servicedeskapi/request/SD-42/sla", json={"isLastPage": True, "values": [
        {"name": "Time to first response", "completedCycles": [{"breached": True,
                                                                "breachTime": {"iso8601": "2026-03-02T10:00:00+0000"},
                                                                "remainingTime": {"friendly": "-1h 0m"}}]},
        {"name": "Time to resolution", "ongoingCycle": {"breached": False, "paused": True,
                                                        "remainingTime": {"friendly": "5h 0m"}}}]})
    assert connector.native_sla("SD-42") == [
        "Time to first response: completed, breach at 2026-03-02T10:00:00+0000, remaining -1h 0m, BREACHED",
        "Time to resolution: paused, breach at -, remaining 5h 0m"]


@responses.activate
def test_actor_groups_from_user_groups(connector):
    responses.get(f"{BASE}/rest/api/3/user/groups", match=[matchers.query_param_matcher({"accountId": "acc-1"})],
                  json=[{"name": "installers", "groupId": "g-1"}, {"name": "legacy"}])
    assert connector.actor_groups("acc-1") == frozenset({"g-1"})


@responses.activate
def test_fetch_rating_reads_the_request_feedback_and_a_404_is_none_yet(connector):
    url = f"{BASE}/rest/servicedeskapi/request/SD-42/feedback"
    responses.get(url, status=404, json={"errorMessage": "No feedback has been given for this request."})
    assert connector.fetch_rating("SD-42") is None
    responses.replace(responses.GET, url, json={"type": "csat", "rating": 2, "comment": {"body": "Slow"}})
    assert connector.fetch_rating("SD-42") == Rating(score=2, comment="Slow")
    responses.replace(responses.GET, url, status=403, json={"errorMessage": "no permission"})
    with pytest.raises(PermanentError):
        connector.fetch_rating("SD-42")
