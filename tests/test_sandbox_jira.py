"""The sandbox's Jira Service Management side: REST v3 / servicedeskapi behaviour through the Flask test client,
signed Jira webhooks over loopback (checked with slaclock's own Jira webhook parser)."""
from __future__ import annotations

import base64
import json
from datetime import timezone
from typing import Any

import pytest

from jira import webhook as jira_webhook
from sandbox import SandboxConfig
from sandbox.__main__ import config_from_args, parse_args
from sandbox.jira.site import JiraConfig
from tests.sandbox_support import FakeClock, Receiver, sandbox_apps, wait_idle

EMAIL, TOKEN, SECRET = "bot@example.com", "jira-t0ken", "jira-whsec"
API, AGENT = "5f6e7d8c9b0a1f2e3d4c5b6a", "5b10ac8d82e05b22cc7d4ef5"
CUSTOMER = "qm:6f2a1c6e-8e0b-4bd4-9a6a-2f1d3c0e7a11:0b4a8a2b-93a4-4b50-9f59-6e1f8e1f1c2d"
PURCHASING = "5d53f3cbc6b9320d9ea5bd02"
REASON, DUE = "customfield_10050", "customfield_10060"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()}


@pytest.fixture
def make_app(clock: FakeClock):
    def config(**jira: Any) -> SandboxConfig:
        site = JiraConfig(**{"api_email": EMAIL, "api_token": TOKEN, "webhook_secret": SECRET, **jira})
        return SandboxConfig(jira=site, webhook_backoff=(0.0,), clock=clock)

    yield from sandbox_apps(config)


def create(client, path: str = "/_sandbox/jira/customer/issues", **fields: Any) -> dict[str, Any]:
    body = {"summary": "Pump arrived broken", "description": "The housing is cracked.", **fields}
    response = client.post(path, json={"fields": body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client, key: str, fields: str | None = None) -> dict[str, Any]:
    query = f"?fields={fields}" if fields else ""
    response = client.get(f"/rest/api/3/issue/{key}{query}", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def edit(client, key: str, body: dict[str, Any]):
    return client.put(f"/rest/api/3/issue/{key}", json=body, headers=AUTH)


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def payloads(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    receiver.wait_for(count)
    return receiver.envelopes()


# --- auth and reading ---------------------------------------------------------------------------

def test_api_takes_basic_auth_with_email_and_token_and_answers_like_jira(client):
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()}

    refused = client.get("/rest/api/3/myself", headers=wrong)
    me = client.get("/rest/api/3/myself", headers=AUTH).get_json()

    assert refused.status_code == 401 and set(refused.get_json()) == {"errorMessages", "errors"}
    assert {k: me[k] for k in ("accountId", "emailAddress", "accountType", "active")} == \
        {"accountId": API, "emailAddress": EMAIL, "accountType": "atlassian", "active": True}


def test_issue_reads_in_the_v3_shape_with_only_the_fields_asked_for(client, clock):
    created = create(client, priority={"name": "High"}, labels=["vip"], **{REASON: {"value": "missing_part"}})
    issue = get(client, created["key"], f"summary,description,status,priority,reporter,created,{REASON},{DUE}")

    fields = issue["fields"]
    assert (issue["key"], issue["id"]) == ("SD-1", "10001") and issue["self"].endswith("/rest/api/3/issue/10001")
    assert set(fields) == {"summary", "description", "status", "priority", "reporter", "created", REASON, DUE}
    assert fields["description"]["type"] == "doc" and fields["description"]["version"] == 1
    assert fields["status"]["name"] == "Waiting for support"
    assert fields["status"]["statusCategory"]["key"] == "indeterminate"
    assert (fields["priority"]["name"], fields["priority"]["id"]) == ("High", "2")
    assert fields["reporter"]["accountId"] == CUSTOMER and fields["reporter"]["accountType"] == "customer"
    assert fields["created"] == "2025-03-04T09:00:00.250+0000"
    assert fields[REASON]["value"] == "missing_part" and fields[DUE] is None
    assert "labels" in get(client, "SD-1")["fields"], "no fields parameter: every field"


def test_unknown_issue_and_endpoint_are_404_with_error_messages(client):
    missing = client.get("/rest/api/3/issue/SD-99", headers=AUTH)
    unknown = client.get("/rest/api/3/nothing", headers=AUTH)

    assert (missing.status_code, missing.get_json()) == \
        (404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
    assert unknown.status_code == 404 and unknown.get_json()["errorMessages"]


# --- writing ------------------------------------------------------------------------------------

def test_edit_writes_fields_answers_204_and_moves_updated(client, clock):
    key = create(client)["key"]
    clock.advance(5)
    response = edit(client, key, {"fields": {"priority": {"id": "1"}, "labels": ["b", "a"],
                                             DUE: "2025-03-05T13:00:00.000+0000",
                                             "assignee": {"accountId": PURCHASING}}})

    fields = get(client, key)["fields"]
    assert response.status_code == 204 and response.data == b""
    assert fields["priority"]["name"] == "Highest" and fields["labels"] == ["b", "a"]
    assert fields[DUE] == "2025-03-05T13:00:00.000+0000"
    assert fields["assignee"]["accountId"] == PURCHASING
    assert fields["updated"] == "2025-03-04T09:00:05.250+0000"


def test_update_verbs_add_and_remove_labels_without_clobbering(client):
    key = create(client, labels=["vip", "slaclock_escalate"])["key"]
    edit(client, key, {"update": {"labels": [{"add": "sla-risk"}, {"remove": "slaclock_escalate"}]}})

    assert get(client, key)["fields"]["labels"] == ["vip", "sla-risk"]


def test_invalid_edit_is_400_per_field_and_applies_nothing(client):
    key = create(client)["key"]
    response = edit(client, key, {"fields": {"priority": {"name": "Critical"}, "labels": ["two words"],
                                             DUE: "tomorrow", "customfield_99999": "x", "status": {"name": "Done"},
                                             "description": "plain text"}})
    both = edit(client, key, {"fields": {"labels": ["a"]}, "update": {"labels": [{"add": "b"}]}})

    body = response.get_json()
    assert response.status_code == 400 and body["errorMessages"] == []
    assert set(body["errors"]) == {"priority", "labels", DUE, "customfield_99999", "status", "description"}
    assert body["errors"]["customfield_99999"] == \
        "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown."
    assert both.status_code == 400 and "labels" in both.get_json()["errors"]
    assert get(client, key)["fields"]["priority"]["name"] == "Medium"


def test_assign_endpoint_and_a_screen_without_the_assignee(make_app):
    client = make_app(assignee_on_edit_screen=False).test_client()
    key = create(client)["key"]

    refused = edit(client, key, {"fields": {"assignee": {"accountId": PURCHASING}}})
    assigned = client.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": PURCHASING}, headers=AUTH)
    customer = client.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": CUSTOMER}, headers=AUTH)

    assert refused.status_code == 400 and "assignee" in refused.get_json()["errors"]
    assert assigned.status_code == 204 and customer.status_code == 400
    assert get(client, key)["fields"]["assignee"]["accountId"] == PURCHASING
    client.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": None}, headers=AUTH)
    assert get(client, key)["fields"]["assignee"] is None


def test_jsm_comment_keeps_public_as_sent_and_answers_in_jsm_shapes(client):
    key = create(client)["key"]
    internal = client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "ordered", "public": False},
                           headers=AUTH)
    no_flag = client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "x"}, headers=AUTH)
    other = create(client, project={"key": "OPS"})["key"]
    not_a_request = client.post(f"/rest/servicedeskapi/request/{other}/comment", json={"body": "x", "public": True},
                                headers=AUTH)
    comments = client.get(f"/_sandbox/jira/issues/{key}").get_json()["comments"]

    assert internal.status_code == 201
    assert {k: internal.get_json()[k] for k in ("body", "public")} == {"body": "ordered", "public": False}
    assert internal.get_json()["author"]["accountId"] == API and "epochMillis" in internal.get_json()["created"]
    assert no_flag.status_code == 400 and set(no_flag.get_json()) == {"errorMessage", "i18nErrorMessage"}
    assert other == "OPS-1" and not_a_request.status_code == 404 and "errorMessage" in not_a_request.get_json()
    assert [(c["body"], c["internal"]) for c in comments] == [("ordered", True)]


def test_platform_comment_is_internal_only_with_the_sd_public_comment_property(client):
    key = create(client)["key"]
    property_ = {"key": "sd.public.comment", "value": {"internal": True}}
    internal = client.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("internal"),
                                                                     "properties": [property_]}, headers=AUTH)
    public = client.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("public")}, headers=AUTH)
    plain = client.post(f"/rest/api/3/issue/{key}/comment", json={"body": "not adf"}, headers=AUTH)
    listed = client.get(f"/rest/api/3/issue/{key}/comment", headers=AUTH).get_json()["comments"]

    assert internal.status_code == public.status_code == 201 and plain.status_code == 400
    assert internal.get_json()["body"]["type"] == "doc"
    assert [c["jsdPublic"] for c in listed] == [False, True]


# --- search and SLA -----------------------------------------------------------------------------

def test_search_jql_pages_with_next_page_token_and_returns_only_asked_fields(client, clock):
    for n in range(5):
        clock.advance(60)
        create(client, summary=f"issue {n}")
    body = {"jql": 'project = SD AND updated >= "-3m" ORDER BY updated ASC', "fields": ["updated"],
            "maxResults": 3}

    first = client.post("/rest/api/3/search/jql", json=body, headers=AUTH).get_json()
    second = client.post("/rest/api/3/search/jql", json={**body, "nextPageToken": first["nextPageToken"]},
                         headers=AUTH).get_json()
    ids_only = client.get("/rest/api/3/search/jql", query_string={"jql": "project = SD"}, headers=AUTH).get_json()

    assert [i["key"] for i in first["issues"]] == ["SD-2", "SD-3", "SD-4"] and first["isLast"] is False
    assert set(first["issues"][0]["fields"]) == {"updated"}
    assert [i["key"] for i in second["issues"]] == ["SD-5"] and second["isLast"] is True
    assert "nextPageToken" not in second
    assert [set(i) for i in ids_only["issues"]] == [{"expand", "id", "self", "key"}] * 5


@pytest.mark.parametrize("jql, message", [
    ("order by key desc", "Unbounded JQL queries are not allowed here"),
    ("project = SD OR project = OPS", "AND only"),
    ("nosuchfield = 1", "Field 'nosuchfield' does not exist"),
    ('updated >= "yesterday"', "Date value 'yesterday'"),
])
def test_search_jql_refuses_what_it_cannot_run(client, jql, message):
    response = client.post("/rest/api/3/search/jql", json={"jql": jql}, headers=AUTH)

    assert response.status_code == 400 and message in response.get_json()["errorMessages"][0]


def test_sla_read_counts_goal_pauses_and_completion(client, clock):
    key = create(client, priority={"name": "Highest"})["key"]
    clock.advance(3600)
    client.post(f"/_sandbox/jira/agent/issues/{key}", json={"fields": {"status": {"name": "Waiting for customer"}},
                                                            "comment": {"body": "Which door?", "public": True}})
    clock.advance(7200)
    paused = client.get(f"/rest/servicedeskapi/request/{key}/sla", headers=AUTH).get_json()
    client.post(f"/_sandbox/jira/agent/issues/{key}", json={"fields": {"status": {"name": "Resolved"}}})
    clock.advance(60)
    done = client.get(f"/rest/servicedeskapi/request/{key}/sla", headers=AUTH).get_json()

    first_response, resolution = paused["values"]
    assert paused["isLastPage"] is True and paused["size"] == 2
    assert first_response["name"] == "Time to first response" and "ongoingCycle" not in first_response
    assert first_response["completedCycles"][0]["breached"] is True  # 1 h against a 30 min goal
    cycle = resolution["ongoingCycle"]
    assert (cycle["paused"], cycle["goalDuration"]["millis"], cycle["elapsedTime"]["millis"]) == \
        (True, 4 * 3600_000, 3600_000)
    assert "breachTime" not in cycle
    (completed,) = done["values"][1]["completedCycles"]
    assert "ongoingCycle" not in done["values"][1] and completed["remainingTime"]["millis"] == 3 * 3600_000


# --- faults and stats ---------------------------------------------------------------------------

def test_faults_answer_in_jira_and_jsm_shapes_and_stats_count_per_route(client):
    key = create(client)["key"]
    client.post("/_sandbox/faults", json=[
        {"method": "PUT", "path_prefix": "/rest/api/3/issue/", "status": 429, "retry_after": 2},
        {"path_prefix": "/rest/servicedeskapi/", "status": 503}])

    limited = edit(client, key, {"fields": {"priority": {"name": "Low"}}})
    unavailable = client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "x", "public": False},
                              headers=AUTH)
    get(client, key)
    stats = client.get("/_sandbox/stats").get_json()

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert set(limited.get_json()) == {"errorMessages", "errors"}
    assert unavailable.status_code == 503 and set(unavailable.get_json()) == {"errorMessage", "i18nErrorMessage"}
    assert stats["helpdesks"]["jira"]["api_calls"] == {"PUT /rest/api/3/issue/{key}": 1,
                                                        "POST /rest/servicedeskapi/request/{key}/comment": 1,
                                                        "GET /rest/api/3/issue/{key}": 1}
    assert stats["helpdesks"]["jira"]["faults_served"] == 2 and stats["helpdesks"]["zendesk"]["faults_served"] == 0
    assert stats["total"] == 3 and stats["helpdesks"]["zendesk"]["total"] == 0


def test_reset_forgets_jira_issues_too(client):
    create(client)
    client.post("/_sandbox/reset")

    assert client.get("/rest/api/3/issue/SD-1", headers=AUTH).status_code == 404
    assert create(client)["key"] == "SD-1"


# --- webhooks -----------------------------------------------------------------------------------

def test_webhooks_are_signed_and_parse_with_the_jira_connector(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    key = create(client, **{REASON: {"value": "wrong_item"}})["key"]
    edit(client, key, {"fields": {"priority": {"name": "High"}, "labels": ["vip", "sla-risk"],
                                  "assignee": {"accountId": PURCHASING}, DUE: "2025-03-05T13:00:00.000+0000"}})
    client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "routed", "public": False}, headers=AUTH)

    deliveries = receiver.wait_for(3)
    events = []
    for headers, body in deliveries:
        lowered = {k.lower(): v for k, v in headers.items()}
        jira_webhook.verify(lowered, body, (SECRET,))
        assert lowered["x-hub-signature"].startswith("sha256=") and lowered["x-atlassian-webhook-identifier"]
        events.append(jira_webhook.parse(lowered, body))
    created, updated, comment = receiver.envelopes()

    assert [e.event_type for e in events] == ["jira:issue_created", "jira:issue_updated", "comment_created"]
    assert [e.ticket_id for e in events] == [key] * 3
    assert [e.actor_id for e in events] == [CUSTOMER, API, API]
    assert len({e.delivery_key for e in events}) == 3
    assert created["issue"]["self"].endswith("/rest/api/2/issue/10001")
    assert created["issue"]["fields"]["description"] == "The housing is cracked."  # v2: a string
    items = {i["fieldId"]: i for i in updated["changelog"]["items"]}
    assert (items["priority"]["from"], items["priority"]["toString"]) == ("3", "High")
    assert (items["labels"]["fromString"], items["labels"]["toString"]) == ("", "vip sla-risk")
    assert items["assignee"]["tmpToAccountId"] == PURCHASING
    assert (items[DUE]["fieldtype"], items[DUE]["to"]) == ("custom", "2025-03-05T13:00:00.000+0000")
    assert events[1].fields["tags_added"] == {"vip", "sla-risk"} and events[1].fields["assignee_id"] == PURCHASING
    assert "user" not in comment and comment["comment"]["jsdPublic"] is False
    assert set(comment["issue"]["fields"]) == {"summary", "issuetype", "project", "assignee", "priority", "status"}
    assert events[2].fields["comment_public"] is False


def test_agent_control_edits_name_the_agent_and_no_change_sends_nothing(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    key = create(client, path="/_sandbox/jira/agent/issues")["key"]
    client.post(f"/_sandbox/jira/agent/issues/{key}", json={"fields": {"priority": {"name": "Highest"}}})
    client.post(f"/_sandbox/jira/agent/issues/{key}", json={"fields": {"priority": {"name": "Highest"}}})
    issue = client.get(f"/_sandbox/jira/issues/{key}").get_json()["issue"]

    created, changed = payloads(receiver, 2)
    assert (created["user"]["accountId"], issue["fields"]["reporter"]["accountId"]) == (AGENT, CUSTOMER)
    assert changed["user"]["accountId"] == AGENT and changed["changelog"]["items"][0]["toString"] == "Highest"
    wait_idle(client)
    assert len(client.get("/_sandbox/jira/webhooks").get_json()["deliveries"]) == 2


def test_deliveries_count_only_200_and_204_retry_5xx_with_the_same_identifier(make_app):
    receiver = Receiver(statuses=(503, 200, 202))
    try:
        client = make_app(webhook_url=receiver.url).test_client()
        key = create(client)["key"]
        edit(client, key, {"fields": {"priority": {"name": "Low"}}})
        wait_idle(client)
    finally:
        receiver.close()

    deliveries = client.get("/_sandbox/jira/webhooks").get_json()["deliveries"]
    assert [(d["state"], d["status"], d["attempts"]) for d in deliveries] == [("sent", 200, 2), ("failed", 202, 1)]
    (first, _), (retry, _) = receiver.deliveries[:2]
    assert first["X-Atlassian-Webhook-Identifier"] == retry["X-Atlassian-Webhook-Identifier"]
    assert "X-Atlassian-Webhook-Retry" not in first and retry["X-Atlassian-Webhook-Retry"] == "1"


def test_dropped_and_unsigned_webhooks(make_app, receiver):
    client = make_app(webhook_url=receiver.url, webhook_secret=None).test_client()
    assert client.post("/_sandbox/jira/webhooks/drop", json={"count": 1}).status_code == 200
    assert client.post("/_sandbox/jira/webhooks/drop", json={"count": -1}).status_code == 400
    key = create(client)["key"]
    edit(client, key, {"fields": {"priority": {"name": "Low"}}})

    headers, body = receiver.wait_for(1)[0]
    assert json.loads(body)["webhookEvent"] == "jira:issue_updated" and "X-Hub-Signature" not in headers
    states = [d["state"] for d in client.get("/_sandbox/jira/webhooks").get_json()["deliveries"]]
    assert states[0] == "dropped"
    assert client.get("/_sandbox/stats").get_json()["helpdesks"]["jira"]["webhooks"]["dropped"] == 1


def test_control_create_validates_like_jira(client):
    response = client.post("/_sandbox/jira/customer/issues", json={"fields": {REASON: {"value": "nonsense"}}})

    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"summary", REASON}


def test_cli_reads_jira_flags_with_environment_defaults():
    env = {"SANDBOX_JIRA_WEBHOOK_URL": "http://127.0.0.1:9/webhooks/jira", "JIRA_EMAIL": "e@x.io",
           "JIRA_API_TOKEN": "t", "JIRA_REASON_FIELD_ID": "customfield_1", "JIRA_DUE_FIELD_ID": "customfield_2"}

    jira = config_from_args(parse_args([], env)).jira
    flagged = config_from_args(parse_args(["--jira-webhook-secret", ""], env)).jira

    assert (jira.webhook_url, jira.api_email, jira.api_token, jira.reason_field_id, jira.due_field_id) == \
        ("http://127.0.0.1:9/webhooks/jira", "e@x.io", "t", "customfield_1", "customfield_2")
    assert flagged.webhook_secret is None
    with pytest.raises(SystemExit):
        parse_args(["--jira-due-field-id", "due"], {})


def test_created_is_utc_with_milliseconds(client, clock):
    clock.now = clock.now.astimezone(timezone.utc)
    key = create(client)["key"]

    assert get(client, key, "created")["fields"]["created"].endswith(".250+0000")


# --- the Jira connector's fallbacks, against the sandbox ------------------------------------------

def test_jira_connector_falls_back_to_assign_endpoint_and_platform_comment():
    from connectors.model import TicketUpdate
    from jira.connector import JiraConnector
    from jira.settings import JiraSettings
    from sandbox import SandboxServer

    server = SandboxServer(SandboxConfig(jira=JiraConfig(api_email=EMAIL, api_token=TOKEN,
                                                         assignee_on_edit_screen=False))).start()
    try:
        connector = JiraConnector(JiraSettings.from_env(
            {"JIRA_URL": server.url, "JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": TOKEN, "JIRA_DUE_FIELD_ID": DUE}))
        client = server.app.test_client()
        request_key, ops_key = create(client)["key"], create(client, project={"key": "OPS"})["key"]

        written = connector.apply_update(TicketUpdate(ticket_id=request_key, priority="high", assignee_id=PURCHASING,
                                                      note="routed"), "k1")
        connector.apply_update(TicketUpdate(ticket_id=ops_key, note="internal outside JSM"), "k2")
        calls = client.get("/_sandbox/stats").get_json()["helpdesks"]["jira"]["api_calls"]
        ops_comments = client.get(f"/_sandbox/jira/issues/{ops_key}").get_json()["comments"]
    finally:
        server.stop()

    assert (written.priority, written.assignee_id) == ("high", PURCHASING)
    assert calls["PUT /rest/api/3/issue/{key}/assignee"] == 1 and calls["POST /rest/api/3/issue/{key}/comment"] == 1
    assert [(c["body"], c["internal"]) for c in ops_comments] == [("internal outside JSM", True)]


def test_every_jira_account_in_the_example_rules_exists_in_the_sandbox():
    from rules import load_rules
    from sandbox.jira.site import TEAM_ACCOUNTS

    rules = load_rules()
    named = {t.jira.assignee_id for t in rules.teams.values() if t.jira and t.jira.assignee_id}
    named |= {p.jira for p in rules.people.values() if p.jira}
    assert named and named <= set(TEAM_ACCOUNTS)


# --- read-back: comment properties, ordered pages, created issues, watchers, links (issue 10) ----

MARKER = {"key": "slaclock", "value": {"outbox": "k-9"}}


def test_comment_properties_are_kept_and_read_back_through_comment_list(client):
    key = create(client)["key"]
    marked = client.post(f"/rest/api/3/issue/{key}/comment", headers=AUTH,
                         json={"body": adf("marked"), "properties": [MARKER]}).get_json()
    jsm = client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "jsm note", "public": False},
                      headers=AUTH).get_json()

    listed = client.post("/rest/api/3/comment/list?expand=properties", headers=AUTH,
                         json={"ids": [int(marked["id"]), int(jsm["id"]), 999]}).get_json()
    bare = client.post("/rest/api/3/comment/list", json={"ids": [int(marked["id"])]}, headers=AUTH).get_json()

    assert set(listed) == {"isLast", "maxResults", "startAt", "total", "values"} and listed["total"] == 2
    assert [(v["id"], v["properties"]) for v in listed["values"]] == [(marked["id"], [MARKER]), (jsm["id"], [])]
    assert listed["values"][1]["body"]["content"][0]["content"][0]["text"] == "jsm note"
    assert "properties" not in bare["values"][0]
    for bad in ({"ids": "1"}, {"ids": [1], "more": 1}, {"ids": list(range(1001))}):
        assert client.post("/rest/api/3/comment/list", json=bad, headers=AUTH).status_code == 400
    for props in ([{"key": "", "value": 1}], [{"key": "k", "value": None}], [{"key": "k" * 256, "value": 1}],
                  [{"key": "k", "value": "x" * 40000}], {"key": "k"}):
        answer = client.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("x"), "properties": props},
                             headers=AUTH)
        assert answer.status_code == 400, props


def test_comments_list_in_the_order_asked_with_start_and_max_results(client, clock):
    key = create(client)["key"]
    for n in range(1, 4):
        clock.advance(1)
        client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": f"c{n}", "public": n == 2},
                    headers=AUTH)
    url = f"/rest/api/3/issue/{key}/comment"

    def texts(page):
        return [c["body"]["content"][0]["content"][0]["text"] for c in page["comments"]]

    newest = client.get(f"{url}?orderBy=-created&maxResults=2", headers=AUTH).get_json()
    rest = client.get(f"{url}?orderBy=-created&maxResults=2&startAt=2", headers=AUTH).get_json()
    ascending = client.get(f"{url}?orderBy=%2Bcreated", headers=AUTH).get_json()

    assert texts(newest) == ["c3", "c2"] and (newest["startAt"], newest["maxResults"], newest["total"]) == (0, 2, 3)
    assert texts(rest) == ["c1"] and rest["startAt"] == 2
    assert texts(ascending) == ["c1", "c2", "c3"] and ascending["maxResults"] == 100
    assert newest["comments"][0]["author"]["accountId"] == API
    assert client.get(f"{url}?orderBy=updated", headers=AUTH).status_code == 400
    assert client.get(f"{url}?maxResults=lots", headers=AUTH).status_code == 400


def test_jsm_comment_refuses_keys_its_schema_does_not_have(client):
    key = create(client)["key"]
    answer = client.post(f"/rest/servicedeskapi/request/{key}/comment", headers=AUTH,
                         json={"body": "note", "public": False, "properties": [MARKER]})

    assert answer.status_code == 400 and "properties" in answer.get_json()["errorMessage"]
    assert client.get(f"/_sandbox/jira/issues/{key}").get_json()["comments"] == []


def test_create_issue_keeps_labels_and_properties_and_search_finds_it_by_label(client):
    created = client.post("/rest/api/3/issue", headers=AUTH, json={
        "fields": {"project": {"key": "SD"}, "summary": "Follow-up", "issuetype": {"name": "Task"},
                   "description": adf("follow-up text"), "labels": ["slaclock-k9"]},
        "properties": [MARKER]})
    no_type = client.post("/rest/api/3/issue", headers=AUTH,
                          json={"fields": {"project": {"key": "SD"}, "summary": "x"}})
    search = client.post("/rest/api/3/search/jql", headers=AUTH, json={
        "jql": 'project = SD AND labels = "slaclock-k9"', "fields": ["key"], "properties": ["slaclock"]}).get_json()
    too_many = client.post("/rest/api/3/search/jql", headers=AUTH,
                           json={"jql": "project = SD", "properties": list("abcdef")})

    assert created.status_code == 201 and set(created.get_json()) == {"id", "key", "self"}
    assert no_type.status_code == 400 and "issuetype" in no_type.get_json()["errors"]
    assert [(i["key"], i["properties"]) for i in search["issues"]] == [(created.get_json()["key"],
                                                                        {"slaclock": {"outbox": "k-9"}})]
    assert too_many.status_code == 400
    writes = client.get("/_sandbox/writes").get_json()["jira"]
    assert [c["key"] for c in writes["created"]] == [created.get_json()["key"]]


def test_watchers_are_a_set_and_a_user_without_browse_is_a_404(make_app):
    client = make_app(no_browse_accounts=(PURCHASING,)).test_client()
    key = create(client)["key"]
    url = f"/rest/api/3/issue/{key}/watchers"
    member = "5d53f3cbc6b9320d9ea5bd01"

    added = [client.post(url, data=json.dumps(member), headers={**AUTH, "Content-Type": "application/json"})
             for _ in range(2)]
    caller = client.post(url, headers=AUTH)
    no_browse = client.post(url, json=PURCHASING, headers=AUTH)
    unknown = client.post(url, json="nobody", headers=AUTH)
    not_a_string = client.post(url, json={"accountId": member}, headers=AUTH)
    listed = client.get(url, headers=AUTH).get_json()

    assert [a.status_code for a in added] == [204, 204] and caller.status_code == 204
    assert no_browse.status_code == unknown.status_code == 404
    assert set(no_browse.get_json()) == {"errorMessages", "errors"} and no_browse.get_json()["errors"] == {}
    assert not_a_string.status_code == 400
    assert listed["isWatching"] is True and listed["watchCount"] == 2
    assert [w["accountId"] for w in listed["watchers"]] == [member, API]


def test_a_duplicate_issue_link_is_201_without_a_second_link(client):
    first, second = create(client)["key"], create(client)["key"]
    body = {"type": {"name": "Relates"}, "inwardIssue": {"key": first}, "outwardIssue": {"key": second}}

    answers = [client.post("/rest/api/3/issueLink", json=body, headers=AUTH) for _ in range(2)]
    unknown_type = client.post("/rest/api/3/issueLink", json={**body, "type": {"name": "Eats"}}, headers=AUTH)
    missing = client.post("/rest/api/3/issueLink", json={**body, "outwardIssue": {"key": "SD-99"}}, headers=AUTH)
    links = get(client, first, "issuelinks")["fields"]["issuelinks"]
    other_end = get(client, second, "issuelinks")["fields"]["issuelinks"]

    assert [a.status_code for a in answers] == [201, 201] and answers[0].get_data() == b""
    assert unknown_type.status_code == missing.status_code == 404
    assert [(l["type"]["name"], l["outwardIssue"]["key"]) for l in links] == [("Relates", second)]
    assert [l["inwardIssue"]["key"] for l in other_end] == [first]
    writes = client.get("/_sandbox/writes").get_json()["jira"]["tickets"]
    assert writes[first]["links"] == [["Relates", first, second]]


def test_drop_answer_fault_applies_a_jsm_comment_and_answers_nothing(client):
    key = create(client)["key"]
    client.post("/_sandbox/faults", json={"path_prefix": "/rest/servicedeskapi/", "drop_answer": True})

    with pytest.raises(ConnectionAbortedError):
        client.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "note", "public": False},
                    headers=AUTH)

    assert client.get("/_sandbox/writes").get_json()["jira"]["tickets"][key]["notes"] == ["note"]


def test_feedback_is_404_until_the_reporter_rates_then_the_webhook_shows_satisfaction(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    key = create(client)["key"]
    assert client.get(f"/rest/servicedeskapi/request/{key}/feedback", headers=AUTH).status_code == 404
    assert client.post(f"/_sandbox/jira/customer/issues/{key}/feedback", json={"rating": 6}).status_code == 400
    rated = client.post(f"/_sandbox/jira/customer/issues/{key}/feedback",
                        json={"type": "csat", "rating": 4, "comment": {"body": "Quick"}})
    assert rated.status_code == 201
    feedback = client.get(f"/rest/servicedeskapi/request/{key}/feedback", headers=AUTH).get_json()
    assert feedback == {"type": "csat", "rating": 4, "comment": {"body": "Quick"}}

    created, rated_hook = payloads(receiver, 2)
    (item,) = rated_hook["changelog"]["items"]
    assert (item["field"], item["fieldtype"], item["toString"]) == ("Satisfaction", "custom", "4")
    headers, body = receiver.wait_for(2)[1]
    event = jira_webhook.parse({k.lower(): v for k, v in headers.items()}, body)
    assert event.fields["satisfaction_changed"] is True and event.actor_id == CUSTOMER


def test_feedback_of_an_issue_outside_a_service_project_is_404(client):
    key = create(client, project={"key": "OPS"})["key"]
    assert client.get(f"/rest/servicedeskapi/request/{key}/feedback", headers=AUTH).status_code == 404
