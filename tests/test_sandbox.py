"""The local fake Zendesk: API behaviour through the Flask test client, webhooks over loopback."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from jobs.demo import wait_until
from sandbox import SandboxConfig, SandboxServer
from sandbox.__main__ import config_from_args, parse_args
from sandbox.zendesk.site import ZendeskConfig
from sandbox.zendesk.webhooks import sign
from tests.sandbox_support import FakeClock, Receiver, sandbox_apps, wait_idle

EMAIL, TOKEN, SECRET = "bot@example.com", "t0ken", "whsec-test"
API_USER, AGENT_USER, ACCOUNT = 9001, 9002, 4242
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()}


@pytest.fixture
def make_app(clock: FakeClock):
    def config(faults: Any = (), **zendesk: Any) -> SandboxConfig:
        account = ZendeskConfig(api_email=EMAIL, api_token=TOKEN, webhook_secret=SECRET, api_user_id=API_USER,
                                agent_user_id=AGENT_USER, account_id=ACCOUNT, **zendesk)
        return SandboxConfig(zendesk=account, faults=faults, webhook_backoff=(0.0,), clock=clock)

    yield from sandbox_apps(config)


def create(client, **fields: Any) -> dict[str, Any]:
    ticket = {"subject": "Pump arrived broken", "comment": {"body": "The pump housing is cracked."}, **fields}
    response = client.post("/api/v2/tickets.json", json={"ticket": ticket}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["ticket"]


def put(client, ticket_id: int, **fields: Any):
    return client.put(f"/api/v2/tickets/{ticket_id}.json", json={"ticket": fields}, headers=AUTH)


# --- auth ---------------------------------------------------------------------------------------

def test_api_requires_token_auth_and_answers_like_zendesk(client):
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}/token:nope".encode()).decode()}

    assert client.get("/api/v2/users/me.json").status_code == 401
    refused = client.get("/api/v2/tickets/1", headers=wrong)
    me = client.get("/api/v2/users/me", headers=AUTH)

    assert (refused.status_code, refused.get_json()) == (401, {"error": "Couldn't authenticate you"})
    assert me.status_code == 200
    assert {k: me.get_json()["user"][k] for k in ("id", "email", "role")} == \
        {"id": API_USER, "email": EMAIL, "role": "admin"}


# --- tickets ------------------------------------------------------------------------------------

def test_create_then_get_returns_zendesk_ticket_shape(client):
    created = create(client, priority="high", group_id=77, tags=["vip"], requester={"email": "Ann@x.io"})
    fetched = client.get(f"/api/v2/tickets/{created['id']}", headers=AUTH).get_json()["ticket"]

    assert fetched == created
    assert isinstance(fetched["id"], int) and isinstance(fetched["group_id"], int)
    assert fetched["url"].endswith(f"/api/v2/tickets/{fetched['id']}.json")
    assert (fetched["status"], fetched["priority"], fetched["tags"]) == ("new", "high", ["vip"])
    assert fetched["description"] == "The pump housing is cracked."
    assert fetched["created_at"] == fetched["updated_at"] == "2025-03-04T09:00:00Z"
    assert fetched["requester_id"] not in (API_USER, AGENT_USER)
    assert fetched["via"]["channel"] == "api"


def test_create_answers_with_an_audit_and_requires_a_comment(client):
    response = client.post("/api/v2/tickets", json={"ticket": {"subject": "x", "comment": {"body": "hi"}}},
                           headers=AUTH)
    blank = client.post("/api/v2/tickets", json={"ticket": {"subject": "x"}}, headers=AUTH)

    audit = response.get_json()["audit"]
    assert audit["ticket_id"] == response.get_json()["ticket"]["id"] and audit["author_id"] == API_USER
    assert [e["type"] for e in audit["events"]][-1] == "Comment"
    assert blank.status_code == 422 and blank.get_json()["error"] == "RecordInvalid"


def test_unknown_ticket_is_record_not_found(client):
    for response in (client.get("/api/v2/tickets/999.json", headers=AUTH), put(client, 999, priority="low")):
        assert (response.status_code, response.get_json()) == \
            (404, {"error": "RecordNotFound", "description": "Not found"})


def test_safe_update_with_a_stale_stamp_is_a_409_conflict(client):
    ticket = create(client)
    first = put(client, ticket["id"], priority="high", safe_update=True, updated_stamp=ticket["updated_at"])
    stale = put(client, ticket["id"], priority="low", safe_update=True, updated_stamp=ticket["updated_at"])

    assert first.status_code == 200
    assert stale.status_code == 409
    assert stale.get_json() == {"error": "UpdateConflict",
                                "description": "Safe Update prevented the update due to outdated ticket data."}
    assert client.get(f"/api/v2/tickets/{ticket['id']}", headers=AUTH).get_json()["ticket"]["priority"] == "high"


def test_updated_at_moves_forward_a_second_even_within_the_same_second(client):
    ticket = create(client)
    stamps = [put(client, ticket["id"], priority=p).get_json()["ticket"]["updated_at"] for p in ("low", "high")]

    assert stamps == ["2025-03-04T09:00:01Z", "2025-03-04T09:00:02Z"]


def test_update_that_changes_nothing_keeps_the_stamp_and_sends_no_webhook(client):
    ticket = create(client, priority="high")
    same = put(client, ticket["id"], priority="high").get_json()

    assert same["ticket"]["updated_at"] == ticket["updated_at"] and "audit" not in same
    assert [d["type"] for d in client.get("/_sandbox/webhooks").get_json()["deliveries"]] == \
        ["zen:event-type:ticket.created"]


def test_invalid_priority_and_status_are_422_record_invalid_with_details(client):
    ticket = create(client)
    response = put(client, ticket["id"], priority="critical", status="waiting")

    body = response.get_json()
    assert response.status_code == 422
    assert (body["error"], body["description"]) == ("RecordInvalid", "Record validation errors")
    assert set(body["details"]) == {"priority", "status"}
    assert body["details"]["priority"][0]["description"].startswith("Priority:")


def test_a_closed_ticket_refuses_updates(client):
    ticket = create(client)
    put(client, ticket["id"], status="closed")
    response = put(client, ticket["id"], priority="low")

    assert response.status_code == 422
    assert response.get_json()["details"] == \
        {"status": [{"description": "Status: closed prevents ticket update", "error": "ClosedTicket"}]}


def test_tags_replace_the_whole_set(client):
    ticket = create(client, tags=["vip", "missing_part"])
    updated = put(client, ticket["id"], tags=["escalated"]).get_json()["ticket"]

    assert updated["tags"] == ["escalated"]


def test_custom_fields_merge_by_id(make_app):
    client = make_app(custom_fields={360001: "Due at", 360002: "Reason code"}).test_client()
    ticket = create(client, custom_fields=[{"id": 360002, "value": "missing_part"}])
    updated = put(client, ticket["id"], custom_fields=[{"id": 360001, "value": "2025-03-05T09:00:00Z"}])

    assert ticket["custom_fields"] == [{"id": 360001, "value": None}, {"id": 360002, "value": "missing_part"}]
    assert updated.get_json()["ticket"]["custom_fields"] == \
        [{"id": 360001, "value": "2025-03-05T09:00:00Z"}, {"id": 360002, "value": "missing_part"}]


def test_comments_keep_public_exactly_as_sent(client):
    ticket = create(client)
    put(client, ticket["id"], comment={"body": "Internal: ordered part", "public": False})
    put(client, ticket["id"], comment={"body": "We are on it"})
    body = client.get(f"/api/v2/tickets/{ticket['id']}/comments.json", headers=AUTH).get_json()

    assert [(c["type"], c["body"], c["public"], c["author_id"]) for c in body["comments"]] == [
        ("Comment", "The pump housing is cracked.", True, API_USER),
        ("Comment", "Internal: ordered part", False, API_USER),
        ("Comment", "We are on it", True, API_USER)]
    assert body["comments"][1]["plain_body"] == "Internal: ordered part"
    assert body["meta"]["has_more"] is False


def test_assigning_a_new_ticket_opens_it(client):
    ticket = create(client)

    assert put(client, ticket["id"], assignee_id=5).get_json()["ticket"]["status"] == "open"


def test_incremental_export_follows_the_order_of_changes_even_when_a_hot_ticket_runs_ahead(client, clock):
    clock.advance(-3600)
    hot = create(client)
    for priority in ("low", "high", "urgent", "low"):
        put(client, hot["id"], priority=priority)  # same wall-clock second: the stamp runs 4 s ahead
    start = int(clock.now.timestamp()) - 1
    clock.advance(3600)
    first = client.get(f"/api/v2/incremental/tickets/cursor.json?start_time={start}", headers=AUTH).get_json()
    clock.advance(-3600)
    later = create(client)  # stamped before the hot ticket's updated_at, changed after it
    second = client.get(f"/api/v2/incremental/tickets/cursor.json?cursor={first['after_cursor']}",
                        headers=AUTH).get_json()
    third = client.get(f"/api/v2/incremental/tickets/cursor.json?cursor={second['after_cursor']}",
                       headers=AUTH).get_json()

    assert [t["id"] for t in first["tickets"]] == [hot["id"]] and first["end_of_stream"] is True
    assert later["updated_at"] < first["tickets"][0]["updated_at"]
    assert [t["id"] for t in second["tickets"]] == [later["id"]]
    assert third["tickets"] == [] and third["after_cursor"] == second["after_cursor"]
    bad = client.get("/api/v2/incremental/tickets/cursor.json?cursor=bm9wZQ==", headers=AUTH)
    assert bad.status_code == 400 and bad.get_json()["error"] == "InvalidValue"


# --- idempotency --------------------------------------------------------------------------------

def test_idempotency_key_replays_the_first_creation(client):
    body = {"ticket": {"subject": "Duplicate?", "comment": {"body": "once"}}}
    headers = {**AUTH, "Idempotency-Key": "decision-17"}

    first = client.post("/api/v2/tickets", json=body, headers=headers)
    again = client.post("/api/v2/tickets", json=body, headers=headers)
    other = client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "twice"}}}, headers=headers)

    assert (first.status_code, first.headers["x-idempotency-lookup"]) == (201, "miss")
    assert (again.status_code, again.headers["x-idempotency-lookup"]) == (201, "hit")
    assert again.get_json() == first.get_json()
    assert (other.status_code, other.get_json()) == (400, {
        "error": "IdempotentRequestError",
        "description": "Request parameters don't match the given idempotency key"})
    assert client.get("/api/v2/tickets/2", headers=AUTH).status_code == 404


# --- faults and stats ---------------------------------------------------------------------------

def test_429_fault_with_retry_after_then_normal_service(client):
    ticket = create(client)
    client.post("/_sandbox/faults", json={"method": "PUT", "path_prefix": "/api/v2/tickets", "status": 429,
                                          "retry_after": 1, "count": 2})

    answers = [put(client, ticket["id"], priority=p) for p in ("low", "high", "urgent")]
    untouched = client.get(f"/api/v2/tickets/{ticket['id']}", headers=AUTH)

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].get_data(as_text=True).startswith("Rate limit for ticket updates exceeded")
    assert untouched.status_code == 200
    assert client.get("/_sandbox/stats").get_json()["faults_served"] == 2


def test_faults_preset_from_config_and_cleared_by_delete(make_app):
    client = make_app(faults=[{"status": 500, "count": 3}]).test_client()

    failed = client.get("/api/v2/users/me", headers=AUTH)
    client.delete("/_sandbox/faults")

    assert failed.status_code == 500 and failed.get_json()["error"]
    assert client.get("/api/v2/users/me", headers=AUTH).status_code == 200


def test_delay_fault_then_normal_answer_and_bad_fault_spec_refused(client):
    assert client.post("/_sandbox/faults", json={"delay": 0.01, "count": 1}).status_code == 201
    assert client.get("/api/v2/users/me", headers=AUTH).status_code == 200
    assert client.get("/_sandbox/faults").get_json()["faults"] == []
    assert client.post("/_sandbox/faults", json={"count": 1}).status_code == 400


def test_stats_count_calls_per_route_with_ids_normalised(client):
    ticket = create(client)
    client.get(f"/api/v2/tickets/{ticket['id']}.json", headers=AUTH)
    client.get(f"/api/v2/tickets/{ticket['id']}", headers=AUTH)
    put(client, ticket["id"], priority="low")
    client.get("/api/v2/tickets/1")  # unauthenticated calls count too

    stats = client.get("/_sandbox/stats").get_json()
    assert stats["api_calls"] == {"POST /api/v2/tickets": 1, "GET /api/v2/tickets/{id}": 3,
                                  "PUT /api/v2/tickets/{id}": 1}
    assert stats["total"] == 5 and stats["faults_served"] == 0


def test_reset_forgets_tickets_and_stats(client):
    create(client)
    client.post("/_sandbox/reset")

    assert client.get("/api/v2/tickets/1", headers=AUTH).status_code == 404
    assert client.get("/_sandbox/stats").get_json()["api_calls"] == {"GET /api/v2/tickets/{id}": 1}


# --- webhooks -----------------------------------------------------------------------------------

def test_webhooks_are_signed_one_per_change_with_zendesk_detail(make_app, receiver, clock):
    client = make_app(webhook_url=receiver.url, custom_fields={360001: "Due at"}).test_client()
    ticket = create(client, priority="low")
    put(client, ticket["id"], priority="high", status="open", group_id=77, assignee_id=5,
        tags=["escalated"], custom_fields=[{"id": 360001, "value": "2025-03-05T09:00:00Z"}],
        comment={"body": "SLA note", "public": False})

    deliveries = receiver.wait_for(8)
    for headers, body in deliveries:
        timestamp = headers["X-Zendesk-Webhook-Signature-Timestamp"]
        expected = base64.b64encode(hmac.new(SECRET.encode(), timestamp.encode() + body, hashlib.sha256).digest())
        assert hmac.compare_digest(headers["X-Zendesk-Webhook-Signature"].encode(), expected)
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Zendesk-Account-Id"] == str(ACCOUNT)
        assert headers["X-Zendesk-Webhook-Id"] and headers["X-Zendesk-Webhook-Invocation-Id"]
    envelopes = receiver.envelopes()
    assert [e["type"].removeprefix("zen:event-type:ticket.") for e in envelopes] == [
        "created", "priority_changed", "status_changed", "group_assignment_changed",
        "agent_assignment_changed", "tags_changed", "custom_field_changed", "comment_added"]
    created, priority, status, group, agent, tags, field, comment = envelopes
    assert created["event"] == {} and created["detail"]["priority"] == "LOW"
    assert {k: created[k] for k in ("account_id", "zendesk_event_version", "subject")} == \
        {"account_id": ACCOUNT, "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket['id']}"}
    assert created["time"] == "2025-03-04T09:00:00.250000000Z"
    assert priority["detail"] == {**priority["detail"], "id": str(ticket["id"]), "actor_id": str(API_USER),
                                  "priority": "HIGH", "status": "OPEN", "group_id": "77", "assignee_id": "5",
                                  "tags": ["escalated"], "organization_id": None, "type": None,
                                  "updated_at": "2025-03-04T09:00:01Z"}
    assert (priority["event"]["current"], priority["event"]["previous"]) == ("HIGH", "LOW")
    assert (status["event"]["current"], status["event"]["previous"]) == ("OPEN", "NEW")
    assert (group["event"]["current"], group["event"]["previous"]) == ("77", None)
    assert agent["event"]["current"] == "5"
    assert (tags["event"]["tags_added"], tags["event"]["tags_removed"]) == (["escalated"], [])
    assert (field["event"]["custom_field"]["id"], field["event"]["current"]) == ("360001", "2025-03-05T09:00:00Z")
    assert comment["event"]["comment"]["is_public"] is False
    assert comment["event"]["comment"]["author"]["id"] == str(API_USER)
    sequences = [e["event"]["meta"]["sequence"] for e in envelopes[1:]]
    assert len({s["id"] for s in sequences}) == 1 and [s["position"] for s in sequences] == list(range(1, 8))
    assert len({e["id"] for e in envelopes}) == 8


def test_agent_endpoint_changes_the_ticket_as_the_agent(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    ticket = create(client)
    answer = client.post(f"/_sandbox/agent/tickets/{ticket['id']}", json={"ticket": {"priority": "urgent"}})

    receiver.wait_for(2)
    changed = receiver.envelopes()[1]
    assert answer.status_code == 200 and answer.get_json()["ticket"]["priority"] == "urgent"
    assert changed["type"] == "zen:event-type:ticket.priority_changed"
    assert changed["detail"]["actor_id"] == str(AGENT_USER)
    assert receiver.envelopes()[0]["detail"]["actor_id"] == str(API_USER)


def test_agent_can_create_a_ticket_and_add_a_tag(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    created = client.post("/_sandbox/agent/tickets", json={"ticket": {"comment": {"body": "Customer phoned"}}})
    ticket_id = created.get_json()["ticket"]["id"]
    client.post(f"/_sandbox/agent/tickets/{ticket_id}", json={"tags": ["vip"]})

    receiver.wait_for(2)
    assert created.status_code == 201
    assert [(e["type"], e["detail"]["actor_id"], e["detail"]["via"]["channel"]) for e in receiver.envelopes()] == [
        ("zen:event-type:ticket.created", str(AGENT_USER), "web_form"),
        ("zen:event-type:ticket.tags_changed", str(AGENT_USER), "web_form")]


def test_deliveries_retry_on_503_and_give_up_on_400(make_app):
    receiver = Receiver(statuses=(503, 200, 400))
    try:
        client = make_app(webhook_url=receiver.url).test_client()
        ticket = create(client)
        put(client, ticket["id"], priority="high")
        wait_idle(client)
    finally:
        receiver.close()

    deliveries = client.get("/_sandbox/webhooks").get_json()["deliveries"]
    assert [(d["state"], d["status"], d["attempts"]) for d in deliveries] == \
        [("sent", 200, 2), ("failed", 400, 1)]
    assert client.get("/_sandbox/stats").get_json()["webhooks"] == {"sent": 1, "pending": 0, "failed": 1, "dropped": 0}
    first_tries = receiver.deliveries[:2]
    assert first_tries[0][1] == first_tries[1][1]
    assert first_tries[0][0]["X-Zendesk-Webhook-Invocation-Id"] == first_tries[1][0]["X-Zendesk-Webhook-Invocation-Id"]


def test_unreachable_receiver_is_retried_three_times_then_failed(make_app):
    receiver = Receiver()
    url = receiver.url
    receiver.close()
    client = make_app(webhook_url=url).test_client()
    create(client)
    wait_idle(client)

    (delivery,) = client.get("/_sandbox/webhooks").get_json()["deliveries"]
    assert (delivery["state"], delivery["status"], delivery["attempts"]) == ("failed", None, 4)


def test_signature_matches_the_documented_test_vector():
    secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
    body = b'{"event":"ticket.updated","id":123}'

    assert sign(secret, "2021-03-25T05:09:27Z", body) == "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="


# --- serving ------------------------------------------------------------------------------------

def test_served_over_http_in_a_thread(receiver):
    server = SandboxServer(SandboxConfig(ZendeskConfig(api_email=EMAIL, api_token=TOKEN, webhook_url=receiver.url,
                                                       webhook_secret=SECRET))).start()
    try:
        created = requests.post(f"{server.url}/api/v2/tickets.json", auth=(f"{EMAIL}/token", TOKEN), timeout=5,
                                json={"ticket": {"comment": {"body": "over the wire"}}})
        wait_until(lambda: requests.get(f"{server.url}/_sandbox/idle", timeout=5).json()["idle"], 5, "idle",
                   interval=0.02)
        deliveries = requests.get(f"{server.url}/_sandbox/webhooks", timeout=5).json()["deliveries"]
    finally:
        server.stop()

    assert created.status_code == 201
    assert receiver.envelopes()[0]["type"] == "zen:event-type:ticket.created"
    assert [(d["state"], d["ticket_id"]) for d in deliveries] == [("sent", created.json()["ticket"]["id"])]


def test_cli_reads_flags_with_environment_defaults():
    env = {"SANDBOX_WEBHOOK_URL": "http://127.0.0.1:9/webhooks/zendesk", "SANDBOX_WEBHOOK_SECRET": "s",
           "ZENDESK_EMAIL": "e@x.io", "ZENDESK_API_TOKEN": "t"}

    from_env = config_from_args(parse_args(["--port", "0"], env)).zendesk
    from_flags = config_from_args(parse_args(["--token", "flag", "--webhook-url", "http://h/w"], env)).zendesk

    assert (from_env.webhook_url, from_env.webhook_secret, from_env.api_email, from_env.api_token) == \
        ("http://127.0.0.1:9/webhooks/zendesk", "s", "e@x.io", "t")
    assert (from_flags.api_token, from_flags.webhook_url) == ("flag", "http://h/w")
    assert parse_args([], {}).webhook_url is None


def test_python_m_sandbox_prints_its_url_and_serves():
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
           "ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", "0"], stdout=subprocess.PIPE,
                               text=True, env=env, cwd=Path(__file__).parents[1])
    watchdog = threading.Timer(10, process.kill)
    watchdog.start()
    try:
        line = process.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        me = requests.get(f"{url}/api/v2/users/me.json", auth=(f"{EMAIL}/token", TOKEN), timeout=5)
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=5)

    assert line.startswith("sandbox listening on http://127.0.0.1:")
    assert me.json()["user"]["email"] == EMAIL


def test_update_many_applies_each_ticket_safely_and_reports_per_ticket(client):
    ids = [client.post("/_sandbox/agent/tickets", json={"ticket": {"comment": {"body": f"t{n}"}}}).get_json()
           ["ticket"]["id"] for n in range(3)]
    stamps = {i: client.get(f"/api/v2/tickets/{i}.json", headers=AUTH).get_json()["ticket"]["updated_at"] for i in ids}
    body = {"tickets": [{"id": ids[0], "priority": "high", "updated_stamp": stamps[ids[0]]},
                        {"id": ids[1], "priority": "high", "updated_stamp": "2001-01-01T00:00:00Z"},
                        {"id": ids[2], "priority": "urgent"}]}
    queued = client.put("/api/v2/tickets/update_many.json", json=body, headers=AUTH).get_json()["job_status"]
    assert queued["status"] == "queued"
    job = client.get(f"/api/v2/job_statuses/{queued['id']}.json", headers=AUTH).get_json()["job_status"]
    assert job["status"] == "completed"
    assert [(r["id"], r["success"]) for r in job["results"]] == [(ids[0], True), (ids[1], False), (ids[2], False)]
    priorities = [client.get(f"/api/v2/tickets/{i}.json", headers=AUTH).get_json()["ticket"]["priority"] for i in ids]
    assert priorities == ["high", None, None]


def test_agent_can_backdate_a_ticket(client):
    ticket = client.post("/_sandbox/agent/tickets", json={"ticket": {"comment": {"body": "x"},
                                                                    "created_at": "2026-01-05T08:00:00Z"}}).get_json()
    assert ticket["ticket"]["created_at"] == "2026-01-05T08:00:00Z"


# --- read-back: audit metadata, comment pages, external ids (issue 10) --------------------------

def test_ticket_metadata_lands_on_the_audit_and_the_comment_names_its_audit(client):
    ticket = create(client)
    marker = {"slaclock": {"outbox": "k-17"}}

    answer = put(client, ticket["id"], comment={"body": "internal note", "public": False}, metadata=marker)
    audit = answer.get_json()["audit"]
    comment = client.get(f"/api/v2/tickets/{ticket['id']}/comments.json?sort=-created_at&page[size]=1",
                         headers=AUTH).get_json()["comments"][0]
    shown = client.get(f"/api/v2/tickets/{ticket['id']}/audits/{comment['audit_id']}.json", headers=AUTH)

    assert answer.status_code == 200 and audit["metadata"]["custom"] == marker
    assert comment["body"] == "internal note" and comment["audit_id"] == audit["id"]
    assert shown.status_code == 200
    assert shown.get_json()["audit"] == {**audit, "metadata": {"system": {}, "custom": marker}}
    assert set(shown.get_json()["audit"]) >= {"id", "ticket_id", "author_id", "created_at", "events", "metadata",
                                               "via"}
    # The ticket's first audit (its creation) carries no metadata; an unknown audit is a 404.
    first = client.get(f"/api/v2/tickets/{ticket['id']}/comments.json", headers=AUTH).get_json()["comments"][0]
    created = client.get(f"/api/v2/tickets/{ticket['id']}/audits/{first['audit_id']}", headers=AUTH).get_json()
    assert created["audit"]["metadata"]["custom"] == {}
    assert [e["type"] for e in created["audit"]["events"]][-1] == "Comment"
    assert client.get(f"/api/v2/tickets/{ticket['id']}/audits/1.json", headers=AUTH).status_code == 404


def test_metadata_on_creation_and_a_metadata_that_is_not_an_object_is_refused(client):
    made = client.post("/api/v2/tickets.json", headers=AUTH, json={"ticket": {
        "comment": {"body": "follow-up"}, "metadata": {"slaclock": {"outbox": "k-1"}}}})
    bad = put(client, made.get_json()["ticket"]["id"], comment={"body": "x"}, metadata="k-2")

    assert made.get_json()["audit"]["metadata"]["custom"] == {"slaclock": {"outbox": "k-1"}}
    assert bad.status_code == 422 and "metadata" in bad.get_json()["details"]


def test_comments_page_by_cursor_in_either_order(client):
    ticket = create(client)
    for n in range(1, 5):
        put(client, ticket["id"], comment={"body": f"note {n}", "public": False})
    url = f"/api/v2/tickets/{ticket['id']}/comments.json"

    newest = client.get(f"{url}?sort=-created_at&page[size]=2", headers=AUTH).get_json()
    older = client.get(f"{url}?sort=-created_at&page[size]=2&page[after]={newest['meta']['after_cursor']}",
                       headers=AUTH).get_json()
    last = client.get(f"{url}?sort=-created_at&page[size]=2&page[after]={older['meta']['after_cursor']}",
                      headers=AUTH).get_json()
    oldest = client.get(f"{url}?sort=created_at&page[size]=100", headers=AUTH).get_json()

    assert [c["body"] for c in newest["comments"]] == ["note 4", "note 3"]
    assert newest["meta"]["has_more"] is True and "page[after]=" in newest["links"]["next"]
    assert newest["links"]["prev"] is None
    assert [c["body"] for c in older["comments"]] == ["note 2", "note 1"]
    assert [c["body"] for c in last["comments"]] == ["The pump housing is cracked."]
    assert last["meta"]["has_more"] is False and last["links"]["next"] is None
    assert [c["body"] for c in oldest["comments"]][0] == "The pump housing is cracked." and \
        len(oldest["comments"]) == 5 and oldest["meta"]["has_more"] is False
    before = client.get(f"{url}?sort=-created_at&page[size]=2&page[before]={older['meta']['before_cursor']}",
                        headers=AUTH).get_json()
    assert [c["body"] for c in before["comments"]] == ["note 4", "note 3"]
    for query in ("sort=updated_at", "page[size]=101", "page[size]=0", "page[after]=bm9wZQ=="):
        assert client.get(f"{url}?{query}", headers=AUTH).status_code == 400, query


def test_tickets_by_external_id_may_be_several(client):
    create(client, external_id="slaclock-k1")
    create(client, external_id="slaclock-k1")
    create(client, external_id="other")

    found = client.get("/api/v2/tickets.json?external_id=slaclock-k1", headers=AUTH).get_json()
    none = client.get("/api/v2/tickets?external_id=nothing", headers=AUTH).get_json()

    assert [t["external_id"] for t in found["tickets"]] == ["slaclock-k1", "slaclock-k1"]
    assert none["tickets"] == [] and none["count"] == 0


def test_idempotency_key_expires_after_two_hours_of_the_sandbox_clock_and_put_ignores_it(client, clock):
    body = {"ticket": {"subject": "Follow-up", "comment": {"body": "once"}}}
    headers = {**AUTH, "Idempotency-Key": "k-ttl"}
    first = client.post("/api/v2/tickets", json=body, headers=headers)
    clock.advance(2 * 3600 - 1)
    within = client.post("/api/v2/tickets", json=body, headers=headers)
    clock.advance(2)
    after = client.post("/api/v2/tickets", json=body, headers=headers)
    ticket_id = first.get_json()["ticket"]["id"]
    puts = [client.put(f"/api/v2/tickets/{ticket_id}", json={"ticket": {"comment": {"body": "reply"}}},
                       headers={**AUTH, "Idempotency-Key": "same"}) for _ in range(2)]

    assert within.headers["x-idempotency-lookup"] == "hit" and within.get_json()["ticket"]["id"] == ticket_id
    assert after.headers["x-idempotency-lookup"] == "miss" and after.get_json()["ticket"]["id"] != ticket_id
    assert [p.status_code for p in puts] == [200, 200] and "x-idempotency-lookup" not in puts[0].headers
    comments = client.get(f"/_sandbox/tickets/{ticket_id}").get_json()["comments"]
    assert [c["body"] for c in comments].count("reply") == 2


def test_writes_list_what_the_api_user_wrote_per_ticket(client):
    ticket = create(client)
    put(client, ticket["id"], comment={"body": "note", "public": False})
    put(client, ticket["id"], comment={"body": "reply", "public": True})
    client.post(f"/_sandbox/agent/tickets/{ticket['id']}", json={"ticket": {"comment": {"body": "agent says"}}})

    writes = client.get("/_sandbox/writes").get_json()["zendesk"]

    assert writes["tickets"] == {str(ticket["id"]): {"notes": ["note"], "public_replies": ["reply"]}}
    assert [t["id"] for t in writes["created"]] == [ticket["id"]]


# --- the answer-drop fault ----------------------------------------------------------------------

def test_drop_answer_applies_the_call_and_closes_the_connection():
    server = SandboxServer(SandboxConfig(ZendeskConfig(api_email=EMAIL, api_token=TOKEN))).start()
    auth, url = (f"{EMAIL}/token", TOKEN), server.url
    try:
        ticket = requests.post(f"{url}/api/v2/tickets.json", auth=auth, timeout=5,
                               json={"ticket": {"comment": {"body": "opened"}}}).json()["ticket"]
        added = requests.post(f"{url}/_sandbox/faults", timeout=5,
                              json={"method": "PUT", "path_prefix": "/api/v2/tickets/", "drop_answer": True})
        with pytest.raises(requests.ConnectionError):
            requests.put(f"{url}/api/v2/tickets/{ticket['id']}.json", auth=auth, timeout=5,
                         json={"ticket": {"comment": {"body": "lost answer", "public": False}}})
        again = requests.put(f"{url}/api/v2/tickets/{ticket['id']}.json", auth=auth, timeout=5,
                             json={"ticket": {"priority": "high"}})
        comments = requests.get(f"{url}/_sandbox/tickets/{ticket['id']}", timeout=5).json()["comments"]
        stats = requests.get(f"{url}/_sandbox/stats", timeout=5).json()
        refused = requests.post(f"{url}/_sandbox/faults", json={"drop_answer": True, "status": 500}, timeout=5)
    finally:
        server.stop()

    assert added.status_code == 201 and added.json()["faults"][0]["drop_answer"] is True
    assert [c["body"] for c in comments] == ["opened", "lost answer"]  # applied, though never answered
    assert again.status_code == 200 and stats["faults_served"] == 1
    assert refused.status_code == 400 and "drop_answer" in refused.json()["error"]


def test_drop_answer_under_the_test_client_raises_into_the_test(client):
    ticket = create(client)
    client.post("/_sandbox/faults", json={"method": "PUT", "drop_answer": True})

    with pytest.raises(ConnectionAbortedError):
        put(client, ticket["id"], comment={"body": "applied"})

    assert [c["body"] for c in client.get(f"/_sandbox/tickets/{ticket['id']}").get_json()["comments"]][-1] == "applied"


def test_the_requester_rates_a_solved_ticket_and_csat_received_goes_out(make_app, receiver):
    client = make_app(webhook_url=receiver.url).test_client()
    ticket = create(client)
    assert client.get(f"/api/v2/tickets/{ticket['id']}.json", headers=AUTH).get_json()["ticket"][
        "satisfaction_rating"] == {"score": "unoffered"}
    path = f"/_sandbox/customer/tickets/{ticket['id']}/satisfaction_rating"
    assert client.post(path, json={"satisfaction_rating": {"score": "good"}}).status_code == 422  # not solved yet
    put(client, ticket["id"], status="solved")
    assert client.get(f"/api/v2/tickets/{ticket['id']}.json", headers=AUTH).get_json()["ticket"][
        "satisfaction_rating"] == {"score": "offered"}
    assert client.post(path, json={"satisfaction_rating": {"score": "great"}}).status_code == 422
    assert client.post(path, json={"satisfaction_rating": {"score": "bad", "comment": "Slow"}}).status_code == 200

    read = client.get(f"/api/v2/tickets/{ticket['id']}.json", headers=AUTH).get_json()["ticket"]
    assert (read["satisfaction_rating"]["score"], read["satisfaction_rating"]["comment"]) == ("bad", "Slow")
    envelopes = receiver.envelopes() if receiver.wait_for(3) else []
    rated = envelopes[-1]
    assert rated["type"] == "zen:event-type:ticket.csat_received"
    assert (rated["event"]["score"], rated["event"]["comment"]) == ("bad", "Slow")
    assert rated["detail"]["actor_id"] == str(ticket["requester_id"])
