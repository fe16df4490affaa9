"""Contract tests for the Zendesk client and connector over `responses` (no network, no real sleeping)."""
from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry
from urllib3.exceptions import MaxRetryError, NewConnectionError

from connectors.budget import RateBudget
from connectors.errors import ConflictError, OutcomeUnknown, PermanentError, RetryableError
from connectors.http import HelpdeskSession
from connectors.model import BatchJob, TicketUpdate
from zendesk.client import ZendeskClient, basic_auth
from zendesk.connector import ZendeskConnector
from zendesk.settings import ZendeskSettings

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
BASE = "https://acme.zendesk.com"
TICKET_URL = f"{BASE}/api/v2/tickets/5158.json"
PUT_BODY = {"ticket": {"priority": "high", "comment": {"body": "slaclock: priority normal → high.", "public": False},
                       "safe_update": True, "updated_stamp": "2025-01-08T10:20:00Z"}}
FIELDS_BODY = {"ticket": {"priority": "high", "safe_update": True, "updated_stamp": "2025-01-08T10:20:00Z"}}
SETTINGS = ZendeskSettings(base_url=BASE, email="slaclock@acme.test", api_token="tok-123",
                           webhook_secrets=("s",), reason_field_id="360001", due_field_id="360002")


def api(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> ZendeskClient:
    return ZendeskClient(HelpdeskSession(BASE, auth=basic_auth(SETTINGS.email, SETTINGS.api_token),
                                         sleep=sleeps.append))


@pytest.fixture
def zendesk(sleeps) -> ZendeskConnector:
    return ZendeskConnector(SETTINGS, sleep=sleeps.append)


# --- one test per endpoint -----------------------------------------------------------------------

@responses.activate
def test_get_ticket_uses_token_basic_auth(client):
    responses.get(TICKET_URL, json=api("api_get_ticket__open"))
    assert client.get_ticket("5158")["id"] == 5158
    expected = base64.b64encode(b"slaclock@acme.test/token:tok-123").decode()
    assert responses.calls[0].request.headers["Authorization"] == f"Basic {expected}"
    assert len(responses.calls) == 1


@responses.activate
def test_update_ticket_sends_exact_body_and_no_idempotency_key(client):
    # Zendesk honours Idempotency-Key on ticket creation only: on a PUT it would protect nothing.
    put = responses.put(TICKET_URL, json=api("api_get_ticket__open"), match=[matchers.json_params_matcher(PUT_BODY)])
    assert client.update_ticket("5158", PUT_BODY)["id"] == 5158
    assert put.call_count == 1 and "Idempotency-Key" not in put.calls[0].request.headers


@responses.activate
def test_create_ticket_posts_with_idempotency_key(client):
    body = {"ticket": {"subject": "Vendor ETA missing for #5158", "priority": "high",
                       "comment": {"body": "No ETA from the vendor within 48 h.", "public": False}}}
    post = responses.post(f"{BASE}/api/v2/tickets.json", status=201, json={"ticket": {"id": 5170}}, match=[
        matchers.json_params_matcher(body), matchers.header_matcher({"Idempotency-Key": "create-5158-eta"})])
    assert client.create_ticket(body, "create-5158-eta") == {"id": 5170}
    assert post.call_count == 1


@responses.activate
def test_list_comments_follows_the_cursor(client):
    url = f"{BASE}/api/v2/tickets/5158/comments.json"
    first = responses.get(url, json=api("api_list_comments__page1"),
                          match=[matchers.query_param_matcher({"page[size]": "100"})])
    second = responses.get(url, json=api("api_list_comments__page2"),
                           match=[matchers.query_param_matcher({"page[size]": "100", "page[after]": "xxAfter1"})])
    comments = client.list_comments("5158")
    assert [c["id"] for c in comments] == [9876543100, 9876543210]
    assert (first.call_count, second.call_count) == (1, 1)


@responses.activate
def test_me(client):
    responses.get(f"{BASE}/api/v2/users/me.json", json=api("api_me__slaclock_user"))
    assert client.me()["id"] == 8447388090777


def test_ticket_id_must_be_numeric(client):
    with pytest.raises(ValueError, match="invalid Zendesk ticket id '../users/me'"):
        client.get_ticket("../users/me")


# --- retries, taxonomy ---------------------------------------------------------------------------

@responses.activate(registry=OrderedRegistry)
def test_429_waits_retry_after_then_succeeds(client, sleeps):
    responses.put(TICKET_URL, status=429, headers={"Retry-After": "7"}, json={"error": "APIRateLimitExceeded"},
                  match=[matchers.json_params_matcher(PUT_BODY)])
    responses.put(TICKET_URL, json=api("api_get_ticket__open"), match=[matchers.json_params_matcher(PUT_BODY)])
    client.update_ticket("5158", PUT_BODY)
    assert sleeps == [7.0]
    assert len(responses.calls) == 2


@responses.activate(registry=OrderedRegistry)
def test_503_then_success(client, sleeps):
    responses.get(TICKET_URL, status=503, body="Service Unavailable")
    responses.get(TICKET_URL, json=api("api_get_ticket__open"))
    assert client.get_ticket("5158")["id"] == 5158
    assert len(responses.calls) == 2 and len(sleeps) == 1 and 0 < sleeps[0] <= 30


@responses.activate(registry=OrderedRegistry)
def test_429_then_503_then_success_each_matched_once(client, sleeps):
    # A field-only PUT is idempotent: a 503 is retried like a 429 (a PUT with a comment is not, below).
    match = [matchers.json_params_matcher(FIELDS_BODY)]
    calls = [responses.put(TICKET_URL, status=429, headers={"Retry-After": "7"}, match=match),
             responses.put(TICKET_URL, status=503, headers={"Retry-After": "1"}, match=match),
             responses.put(TICKET_URL, json=api("api_get_ticket__open"), match=match)]
    client.update_ticket("5158", FIELDS_BODY)
    assert [c.call_count for c in calls] == [1, 1, 1]
    assert sleeps == [7.0, 1.0]


@pytest.mark.parametrize("answer", [dict(status=502, body="Bad Gateway"), dict(body=requests.exceptions.ReadTimeout()),
                                    dict(body=requests.exceptions.ConnectionError("reset by peer"))],
                         ids=["502", "read-timeout", "reset-after-send"])
@responses.activate(registry=OrderedRegistry)
def test_a_put_with_a_comment_is_never_resent_blindly(client, sleeps, answer):
    put = responses.put(TICKET_URL, **answer)
    with pytest.raises(OutcomeUnknown):
        client.update_ticket("5158", PUT_BODY)
    assert put.call_count == 1 and sleeps == []


@responses.activate(registry=OrderedRegistry)
def test_a_put_with_a_comment_is_retried_when_it_surely_did_not_apply(client, sleeps):
    refused = requests.exceptions.ConnectionError(MaxRetryError(None, TICKET_URL, NewConnectionError(None, "refused")))
    calls = [responses.put(TICKET_URL, body=refused), responses.put(TICKET_URL, body=requests.exceptions.ConnectTimeout()),
             responses.put(TICKET_URL, status=429, headers={"Retry-After": "3"}),
             responses.put(TICKET_URL, json=api("api_get_ticket__open"))]
    assert client.update_ticket("5158", PUT_BODY)["id"] == 5158
    assert [c.call_count for c in calls] == [1, 1, 1, 1] and len(sleeps) == 3 and sleeps[2] == 3.0


@pytest.mark.parametrize("failure", [requests.exceptions.ConnectTimeout("slow"), requests.exceptions.ReadTimeout(),
                                     requests.exceptions.ConnectionError("refused")],
                         ids=["connect-timeout", "read-timeout", "connection-error"])
@responses.activate(registry=OrderedRegistry)
def test_transport_errors_are_retried(client, sleeps, failure):
    responses.get(TICKET_URL, body=failure)
    responses.get(TICKET_URL, json=api("api_get_ticket__open"))
    assert client.get_ticket("5158")["id"] == 5158
    assert len(responses.calls) == 2 and len(sleeps) == 1


@responses.activate
def test_retries_are_bounded(client, sleeps):
    responses.get(TICKET_URL, status=429, headers={"Retry-After": "2"})
    with pytest.raises(RetryableError) as caught:
        client.get_ticket("5158")
    assert caught.value.status == 429 and caught.value.retry_after == 2.0
    assert len(responses.calls) == client.session.attempts and sleeps == [2.0] * (client.session.attempts - 1)


@responses.activate
def test_409_raises_conflict_after_exactly_one_call(client, sleeps):
    responses.put(TICKET_URL, status=409, json={"error": "UpdateConflict", "description": "Ticket changed"})
    with pytest.raises(ConflictError) as caught:
        client.update_ticket("5158", PUT_BODY)
    assert caught.value.status == 409
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_422_raises_permanent_error_with_message(client, sleeps):
    responses.put(TICKET_URL, status=422, json={"error": "RecordInvalid", "description": "Record validation errors",
                                                "details": {"base": [{"description": "Group: is invalid"}]}})
    with pytest.raises(PermanentError) as caught:
        client.update_ticket("5158", PUT_BODY)
    assert caught.value.status == 422
    assert "PUT /api/v2/tickets/5158.json → 422" in str(caught.value) and "Group: is invalid" in str(caught.value)
    assert len(responses.calls) == 1 and sleeps == []


# --- the connector -------------------------------------------------------------------------------

def test_connector_builds_its_session_with_rate_budget_and_auth(sleeps):
    zendesk = ZendeskConnector(dataclasses.replace(SETTINGS, rate_per_minute=60.0), sleep=sleeps.append)
    session = zendesk.client.session
    assert isinstance(session.budget, RateBudget) and session.budget.rate == 1.0
    assert session.http.auth == ("slaclock@acme.test/token", "tok-123")
    assert session.sleep == sleeps.append and session.base_url == BASE
    assert zendesk.name == "zendesk"


@responses.activate
def test_fetch_ticket_maps_the_api_ticket(zendesk):
    responses.get(TICKET_URL, json=api("api_get_ticket__open"))
    ticket = zendesk.fetch_ticket("5158")
    assert (ticket.key, ticket.priority, ticket.version, ticket.reason_code) == (
        "zendesk:5158", "normal", "2025-01-08T10:20:00Z", "missing_part")
    assert ticket.due_at == datetime(2025, 1, 11, 10, 12, 7, tzinfo=timezone.utc)


@responses.activate
def test_apply_update_is_one_put_with_safe_update(zendesk):
    update = TicketUpdate(ticket_id="5158", version="2025-01-08T10:20:00Z", priority="high",
                          group_id="8447320466431", due_at=datetime(2025, 1, 9, 10, 12, 7, tzinfo=timezone.utc),
                          tags=frozenset({"order", "missing_part"}), note="slaclock: routed to purchasing.")
    body = {"ticket": {"priority": "high", "group_id": 8447320466431,
                       "custom_fields": [{"id": 360002, "value": "2025-01-09T10:12:07Z"}],
                       "tags": ["missing_part", "order"],
                       "comment": {"body": "slaclock: routed to purchasing.", "public": False},
                       "safe_update": True, "updated_stamp": "2025-01-08T10:20:00Z"}}
    answer = api("api_get_ticket__open")
    answer["ticket"].update(priority="high", group_id=8447320466431, updated_at="2025-01-08T10:21:04Z")
    put = responses.put(TICKET_URL, json=answer, match=[matchers.json_params_matcher(body)])
    ticket = zendesk.apply_update(update, "slaclock-zendesk-5158-1")
    assert put.call_count == 1 and len(responses.calls) == 1
    assert "Idempotency-Key" not in put.calls[0].request.headers
    assert (ticket.priority, ticket.group_id, ticket.version) == ("high", "8447320466431", "2025-01-08T10:21:04Z")


@responses.activate
def test_apply_update_conflict_is_not_retried(zendesk, sleeps):
    responses.put(TICKET_URL, status=409, json={"error": "UpdateConflict"})
    with pytest.raises(ConflictError):
        zendesk.apply_update(TicketUpdate(ticket_id="5158", version="2025-01-08T10:20:00Z", priority="high"), "k")
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_apply_update_that_cannot_be_expressed_is_permanent_and_sends_nothing(sleeps):
    no_due_field = ZendeskConnector(dataclasses.replace(SETTINGS, due_field_id=None), sleep=sleeps.append)
    update = TicketUpdate(ticket_id="5158", due_at=datetime(2025, 1, 9, tzinfo=timezone.utc))
    with pytest.raises(PermanentError, match="ZENDESK_DUE_FIELD_ID"):
        no_due_field.apply_update(update, "k")
    assert len(responses.calls) == 0


@responses.activate
def test_empty_update_only_reads(zendesk):
    responses.get(TICKET_URL, json=api("api_get_ticket__open"))
    assert zendesk.apply_update(TicketUpdate(ticket_id="5158", version="v"), "k").ticket_id == "5158"
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_unreadable_ticket_json_is_permanent(zendesk):
    responses.get(TICKET_URL, json={"ticket": {"id": 5158, "status": "open", "created_at": "yesterday"}})
    with pytest.raises(PermanentError, match="unreadable ticket JSON"):
        zendesk.fetch_ticket("5158")


@responses.activate
def test_is_own_actor_reads_me_once(zendesk):
    me = responses.get(f"{BASE}/api/v2/users/me.json", json=api("api_me__slaclock_user"))
    assert zendesk.is_own_actor("8447388090777") is True
    assert zendesk.is_own_actor("8447388090495") is False
    assert zendesk.is_own_actor(None) is False
    assert zendesk.is_own_actor("-1") is False
    assert me.call_count == 1


@responses.activate
def test_is_own_actor_none_still_proves_credentials(zendesk):
    responses.get(f"{BASE}/api/v2/users/me.json", status=401, json={"error": "Couldn't authenticate you"})
    with pytest.raises(PermanentError):
        zendesk.is_own_actor(None)


# --- storms: update_many + job_status -------------------------------------------------------------

def _update(ticket_id: int) -> TicketUpdate:
    return TicketUpdate(ticket_id=str(ticket_id), version="2025-01-08T10:20:00Z", priority="high",
                        note="slaclock: escalated.")


@responses.activate
def test_batch_update_starts_the_job_and_asking_after_it_reports_per_ticket_results(zendesk, sleeps):
    job_url = f"{BASE}/api/v2/job_statuses/abc123.json"
    expected = {"tickets": [{"id": n, "priority": "high", "comment": {"body": "slaclock: escalated.", "public": False},
                             "safe_update": True, "updated_stamp": "2025-01-08T10:20:00Z"} for n in (1, 2, 3)]}
    put = responses.put(f"{BASE}/api/v2/tickets/update_many.json", match=[matchers.json_params_matcher(expected)],
                        json={"job_status": {"id": "abc123", "status": "queued", "url": job_url}})
    responses.get(job_url, json={"job_status": {"id": "abc123", "status": "working"}})
    responses.get(job_url, json={"job_status": {"id": "abc123", "status": "completed", "results": [
        {"id": 1, "action": "update", "status": "Updated", "success": True},
        {"id": 2, "error": "TicketUpdateFailed", "details": "stale updated_stamp", "status": "Failed",
         "success": False},
        {"id": 3, "action": "update", "status": "Updated", "success": True}]}})
    [job] = zendesk.start_updates([_update(1), _update(2), _update(3)])
    assert job == BatchJob("abc123", ("1", "2", "3")) and put.call_count == 1 and len(responses.calls) == 1
    assert zendesk.job_applied(job) is None, "still working"
    assert zendesk.job_applied(job) == {"1": True, "2": False, "3": True}
    assert len(responses.calls) == 3 and sleeps == [], "the connector never waits for a job"


@responses.activate
def test_batch_update_splits_at_one_hundred_tickets(zendesk):
    put = responses.put(f"{BASE}/api/v2/tickets/update_many.json",
                        json={"job_status": {"id": "j1", "status": "queued"}})
    jobs = zendesk.start_updates([_update(n) for n in range(1, 251)])
    assert put.call_count == 3 and [len(j.ticket_ids) for j in jobs] == [100, 100, 50]
    assert [len(json.loads(c.request.body)["tickets"]) for c in responses.calls] == [100, 100, 50]
    responses.get(f"{BASE}/api/v2/job_statuses/j1.json", json={"job_status": {"id": "j1", "status": "completed",
                                                                              "results": []}})
    assert set(zendesk.job_applied(jobs[2]).values()) == {False}, "a ticket missing from the results was not applied"


@responses.activate
def test_a_failed_job_applied_only_what_its_results_say(zendesk):
    responses.get(f"{BASE}/api/v2/job_statuses/j9.json", json={"job_status": {"id": "j9", "status": "failed",
                  "results": [{"id": 4, "status": "Updated", "success": True}]}})
    assert zendesk.job_applied(BatchJob("j9", ("4", "5"))) == {"4": True, "5": False}


@responses.activate
def test_batch_update_sends_tag_changes_not_the_whole_list(zendesk):
    # Issue 11 item 3: a concurrent agent tag edit survives a storm. `tags` would replace the list read at
    # decision time; update_many documents `additional_tags` / `remove_tags` instead.
    update = dataclasses.replace(_update(1), tags=frozenset({"vip", "sla_warned"}),
                                 tags_added=frozenset({"sla_warned"}), tags_removed=frozenset({"slaclock_escalate"}))
    expected = {"tickets": [{"id": 1, "priority": "high", "additional_tags": ["sla_warned"],
                             "remove_tags": ["slaclock_escalate"],
                             "comment": {"body": "slaclock: escalated.", "public": False},
                             "safe_update": True, "updated_stamp": "2025-01-08T10:20:00Z"}]}
    put = responses.put(f"{BASE}/api/v2/tickets/update_many.json", match=[matchers.json_params_matcher(expected)],
                        json={"job_status": {"id": "j1", "status": "completed", "results": [
                            {"id": 1, "status": "Updated", "success": True}]}})
    zendesk.start_updates([update])
    assert put.call_count == 1
    assert "tags" not in json.loads(responses.calls[0].request.body)["tickets"][0]


@responses.activate
def test_batch_update_with_only_an_added_tag_sends_no_remove_list(zendesk):
    update = dataclasses.replace(_update(2), tags=frozenset({"sla_warned"}), tags_added=frozenset({"sla_warned"}))
    responses.put(f"{BASE}/api/v2/tickets/update_many.json",
                  json={"job_status": {"id": "j1", "status": "completed", "results": []}})
    zendesk.start_updates([update])
    sent = json.loads(responses.calls[0].request.body)["tickets"][0]
    assert (sent["additional_tags"], "remove_tags" in sent, "tags" in sent) == (["sla_warned"], False, False)


def test_single_ticket_put_still_sets_the_whole_list_under_safe_update():
    # One PUT carries safe_update + updated_stamp: a concurrent agent edit is a 409, re-read and decided again.
    from zendesk.mapping import update_body
    update = dataclasses.replace(_update(3), tags=frozenset({"a"}), tags_added=frozenset({"a"}))
    body = update_body(update, SETTINGS)["ticket"]
    assert body["tags"] == ["a"] and body["safe_update"] is True and "additional_tags" not in body


def test_batch_update_needs_each_tickets_stamp(zendesk):
    with pytest.raises(PermanentError, match="updated_stamp"):
        zendesk.start_updates([dataclasses.replace(_update(1), version=None)])


@responses.activate
def test_follow_up_ticket_names_the_original_and_uses_the_idempotency_key(zendesk):
    from connectors.model import FollowUp

    expected = {"ticket": {"subject": "Tech lead: #5158", "comment": {"body": "Urgent for 60 min.\n\nFollow-up of "
                           "ticket #5158.", "public": False}, "tags": ["slaclock_follow_up"],
                           "external_id": "slaclock-fu-1", "priority": "urgent", "group_id": 2009}}
    create = responses.post(f"{BASE}/api/v2/tickets.json", status=201, json={"ticket": {"id": 6001}},
                            match=[matchers.json_params_matcher(expected),
                                   matchers.header_matcher({"Idempotency-Key": "fu-1"})])
    follow_up = FollowUp("5158", "Tech lead: #5158", "Urgent for 60 min.", group_id="2009", priority="urgent")
    assert zendesk.create_follow_up(follow_up, "fu-1") == "6001" and create.call_count == 1


def test_followers_are_added_not_replaced():
    from zendesk.mapping import update_body

    body = update_body(TicketUpdate(ticket_id="1", followers_add=frozenset({"77", "8"})), SETTINGS)
    assert body["ticket"]["followers"] == [{"user_id": 77, "action": "put"}, {"user_id": 8, "action": "put"}]


@responses.activate
def test_show_many_reads_a_hundred_tickets_per_call(zendesk):
    base = api("api_get_ticket__open")["ticket"]
    def answer(request):
        ids = request.params["ids"].split(",")
        return 200, {}, json.dumps({"tickets": [{**base, "id": int(i)} for i in ids if i != "13"]})
    responses.add_callback(responses.GET, f"{BASE}/api/v2/tickets/show_many.json", callback=answer)
    found = zendesk.fetch_tickets([str(n) for n in range(1, 151)])
    assert len(responses.calls) == 2 and "13" not in found and len(found) == 149
    assert found["7"].ticket_id == "7" and found["7"].opened_at.tzinfo is not None


@responses.activate
def test_actor_groups_from_group_memberships(zendesk):
    responses.get(f"{BASE}/api/v2/users/9002/group_memberships.json",
                  match=[matchers.query_param_matcher({"page[size]": "100"})],
                  json={"group_memberships": [{"id": 1, "user_id": 9002, "group_id": 2010}], "meta": {}})
    assert zendesk.actor_groups("9002") == frozenset({"2010"})


@responses.activate
def test_in_process_waits_of_one_request_stay_below_the_stale_claim(client, sleeps):
    # Two waits of 100 s would exceed MAX_TOTAL_WAIT: the request gives up and the deliverer retries the row later.
    from connectors.http import MAX_TOTAL_WAIT
    from store.sqlite import STALE_CLAIM_SECONDS

    responses.get(TICKET_URL, status=429, headers={"Retry-After": "100"})
    with pytest.raises(RetryableError):
        client.get_ticket("5158")
    assert sleeps == [100.0] and len(responses.calls) == 2
    assert MAX_TOTAL_WAIT < STALE_CLAIM_SECONDS


def test_the_helpdesk_timeout_is_a_setting():
    from zendesk.connector import ZendeskConnector
    from rules import load_rules
    from zendesk.settings import ZendeskSettings
    base = {"ZENDESK_URL": "https://acme.zendesk.com", "ZENDESK_EMAIL": "bot@acme.test", "ZENDESK_API_TOKEN": "t" * 20}
    assert ZendeskConnector(ZendeskSettings.from_env(base, load_rules())).client.session.timeout == (5, 30.0)
    quick = ZendeskSettings.from_env({**base, "SLACLOCK_HTTP_TIMEOUT_SECONDS": "2"}, load_rules())
    assert ZendeskConnector(quick).client.session.timeout == (2, 2.0)
