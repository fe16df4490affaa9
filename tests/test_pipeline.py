"""Processor and deliverer against an in-memory connector, with an injected clock."""
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses

from connectors.errors import PermanentError
from jobs.deliverer import Deliverer
from jobs.kinds import CheckKind, event_name
from jobs.processor import Processor
from jobs.reconciler import reconcile_body
from jobs.sweeper import Sweeper
from rules import decide, load_rules
from store.rows import OutboxStatus
from tests.fakes import OWN_USER, Clock, FakeConnector, agent_fields, counted_commits, retryable

store = pytest.fixture(lambda any_store: any_store, name="store")  # every test here runs on SQLite and on PostgreSQL

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


@pytest.fixture
def env(store):
    fake = FakeConnector()
    clock = Clock(NOW)
    rules = load_rules()
    connectors = {"zendesk": fake}
    return fake, store, Processor(store, connectors, rules, clock), Deliverer(store, connectors, clock), clock, rules


def deliver(store, ticket_id, key, actor="7", event_type="ticket.created", body=b"{}"):
    store.add_delivery(connector="zendesk", delivery_key=key, event_type=event_type, ticket_id=ticket_id,
                       actor_id=actor, headers={}, body=body, received_at=NOW)


def drain(processor, deliverer):
    while processor.run_once() + deliverer.run_once():
        pass


def test_new_ticket_routed_prioritised_and_due_in_one_write(env):
    fake, store, processor, deliverer, clock, rules = env
    ticket = fake.add("1", reason_code="missing_part", tags=frozenset({"vip"}))
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    (update, idem_key), = fake.writes
    expected = decide(ticket, rules, NOW)
    assert update.group_id == "2002" and update.due_at == expected.due_at and update.priority is None
    assert update.tags is None and update.version == "v1"
    assert update.note is None  # only routed: the group and due fields say it (routing.note = true writes one)
    assert idem_key.startswith("slaclock-zendesk-1-")
    case = store.get_case("zendesk", "1")  # the queue's "Next": what falls due, and when
    assert (case.next_action_at, case.next_action) == (expected.next_action_at, "warning at 50 % of first response")
    timeline = [(e.kind, e.summary) for e in store.timeline("zendesk", "1")]
    # Without a note, the timeline names what changed in words, not by its outbox keys.
    assert timeline == [("decision", "updated group, resolution due and first response due"),
                        ("written", "wrote group, resolution due and first response due")]


def test_more_events_of_an_action_already_decided_cost_no_read(env):
    # Zendesk sends one webhook per changed field; a claim between them must not read the ticket again.
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1", event_type="ticket.custom_field_changed", body=b'{"change_id": "A"}')
    drain(processor, deliverer)
    deliver(store, "1", "d2", event_type="ticket.tags_changed", body=b'{"change_id": "A"}')
    deliver(store, "1", "echo", actor=OWN_USER, event_type="ticket.status_changed", body=b'{"change_id": "W"}')
    drain(processor, deliverer)
    assert fake.reads == 1 and len(fake.writes) == 1 and store.delivery_counts() == {"done": 3}
    deliver(store, "1", "d3", event_type="ticket.tags_changed", body=b'{"change_id": "B"}')  # another action
    drain(processor, deliverer)
    assert fake.reads == 2
    comment = {"change_id": "B", "comment_public": True, "comment_author_is_staff": True,
               "comment_created_at": NOW.isoformat()}  # the decision on "B" did not hear its words
    deliver(store, "1", "d4", event_type="ticket.comment_added", body=json.dumps(comment).encode())
    drain(processor, deliverer)
    assert fake.reads == 3


def test_an_action_already_decided_costs_no_read_beside_the_echo_of_our_own_public_reply(env):
    # A busy worker claims the agent's last field webhook together with our write's echo, whose public reply to
    # the customer is a comment event too: only a person's comment has words the decision did not hear.
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1", event_type="ticket.custom_field_changed", body=b'{"change_id": "A"}')
    drain(processor, deliverer)
    ours = {"change_id": "W", "comment_public": True, "comment_author_is_staff": True,
            "comment_created_at": NOW.isoformat()}
    deliver(store, "1", "d2", event_type="ticket.custom_field_changed", body=b'{"change_id": "A"}')
    deliver(store, "1", "echo", actor=OWN_USER, event_type="ticket.comment_added", body=json.dumps(ours).encode())
    drain(processor, deliverer)
    assert fake.reads == 1 and len(fake.writes) == 1 and store.delivery_counts() == {"done": 3}
    theirs = {**ours, "change_id": "A"}  # the agent's own reply in that action: its words are news
    deliver(store, "1", "d3", event_type="ticket.comment_added", body=json.dumps(theirs).encode())
    drain(processor, deliverer)
    assert fake.reads == 2


def test_echo_of_our_own_write_causes_no_read_and_no_write(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    reads = fake.reads
    for n, kind in enumerate(["ticket.group_assignment_changed", "ticket.custom_field_changed", "ticket.comment_added"]):
        deliver(store, "1", f"echo{n}", actor=OWN_USER, event_type=kind)
    drain(processor, deliverer)
    assert len(fake.writes) == 1 and fake.reads == reads
    assert store.delivery_counts() == {"done": 1, "echo": 3}


def test_the_echoes_of_a_batch_share_one_commit(env):
    fake, store, processor, deliverer, clock, rules = env
    for n in range(1, 4):
        fake.add(str(n), reason_code="wrong_item")
        deliver(store, str(n), f"d{n}")
    drain(processor, deliverer)
    for n in range(1, 4):
        for kind in ("ticket.group_assignment_changed", "ticket.custom_field_changed"):
            deliver(store, str(n), f"echo{n}{kind}", actor=OWN_USER, event_type=kind)
    commits = counted_commits(store)
    assert processor.run_once() == 6
    assert len(commits) == 1 and store.delivery_counts() == {"done": 3, "echo": 6}


def test_supports_answers_as_isinstance_for_each_capability(env):
    from app import build_connectors
    from connectors.contract import (BatchReader, BatchWriter, ConditionalWriter, GroupDirectory, NativeSlaReader,
                                     RatingReader, TeamLoad, TicketCarrier, supports)
    from jobs.processor import CommentVisibility

    fake, *_, rules = env
    helpdesks = build_connectors({"ZENDESK_URL": "https://x.zendesk.com", "ZENDESK_EMAIL": "a@b.c",
                                  "ZENDESK_API_TOKEN": "t", "JIRA_URL": "https://x.atlassian.net",
                                  "JIRA_EMAIL": "a@b.c", "JIRA_API_TOKEN": "t"}, rules)
    class Reader(FakeConnector):
        def fetch_tickets(self, ticket_ids):
            return {}

    reader = Reader()
    protocols = (BatchReader, BatchWriter, ConditionalWriter, GroupDirectory, NativeSlaReader, RatingReader, TeamLoad,
                 TicketCarrier, CommentVisibility)
    for connector in (fake, reader, *helpdesks.values(), object()):
        assert [supports(connector, p) for p in protocols] == [isinstance(connector, p) for p in protocols]
    assert supports(reader, BatchReader) and not supports(fake, BatchReader)
    assert supports(helpdesks["zendesk"], BatchReader) and supports(helpdesks["jira"], RatingReader)


def test_an_event_type_is_named_without_its_source():
    assert event_name("zen:event-type:ticket.csat_received") == "ticket csat received"
    assert event_name("jira:issue_updated") == "issue updated"
    assert event_name("comment_created") == "comment created"
    assert event_name("slaclock.vendor_eta") == "vendor eta"


def test_agent_change_with_nothing_to_do_writes_nothing(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    deliver(store, "1", "d2", event_type="ticket.comment_added")
    drain(processor, deliverer)
    assert len(fake.writes) == 1
    last = store.timeline("zendesk", "1")[-1]
    assert (last.kind, last.summary) == ("no_change", "no change needed (ticket comment added)")


def test_priority_change_rederives_due_time(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    fake.change("1", priority="urgent")
    deliver(store, "1", "d2", event_type="ticket.priority_changed")
    drain(processor, deliverer)
    update = fake.writes[-1][0]
    assert update.due_at == decide(fake.tickets["1"], rules, NOW).due_at
    assert update.group_id is None and update.priority is None
    assert "due" in update.note


def test_escalation_tag_raises_priority_climbs_the_ladder_and_is_removed(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", priority="low", tags=frozenset({rules.escalation.tag, "vip"}),
             custom_fields=agent_fields(rules, "zendesk"))  # what the request carries
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    update = fake.writes[-1][0]
    # Seed 002: high; seed 003: one level up the ladder (L2 specialists, one named owner).
    assert update.priority == "high" and update.tags == frozenset({"vip", "slaclock_l2"})
    assert update.group_id == "2005" and update.assignee_id == "3101"
    assert "priority low → high" in update.note and "Sam Ortiz" in update.note
    kinds = [e.kind for e in store.timeline("zendesk", "1")]
    assert "escalation" in kinds or "level_change" in kinds


def test_conflict_rereads_and_decides_again(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    fake.conflicts = 1
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    assert len(fake.writes) == 1 and fake.writes[0][0].version == "v1'"
    kinds = [e.kind for e in store.timeline("zendesk", "1")]
    assert kinds == ["decision", "conflict", "decision", "written"]


def test_endless_conflicts_are_parked_not_looped(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    fake.conflicts = 99
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    assert fake.writes == []
    assert len(store.parked()) == 1 and "3 conflicts" in store.parked()[0].last_error


def test_write_still_failing_past_the_horizon_is_parked_with_its_error_and_can_be_retried(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    clock.advance(hours=24)  # the helpdesk has answered 503 for a day: the next retry would be past the horizon
    fake.failures = [retryable("PUT /api/v2/tickets/1.json → 503")]
    deliverer.run_once()
    (parked,) = store.parked()
    assert "503" in parked.last_error
    assert [e.kind for e in store.timeline("zendesk", "1")] == ["decision", "write_failed"]
    store.retry_parked([parked.id], clock.at)
    deliverer.run_once()
    assert len(fake.writes) == 1 and store.parked() == []


def test_unreadable_ticket_is_retried_then_failed_on_permanent_error(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1")
    deliver(store, "1", "d1")
    fake.failures = [retryable()]
    processor.run_once()
    assert store.delivery_counts() == {"pending": 1}
    fake.failures = [PermanentError("404 RecordNotFound", 404)]
    processor.run_once()
    assert store.delivery_counts() == {"failed": 1}
    assert store.timeline("zendesk", "1")[0].kind == "read_failed"


def test_no_second_decision_while_a_write_is_pending(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    deliver(store, "1", "d2", event_type="ticket.comment_added")
    processor.run_once()
    assert store.delivery_counts() == {"done": 1, "pending": 1}
    drain(processor, deliverer)
    assert len(fake.writes) == 1


def test_many_deliveries_for_one_ticket_make_one_decision(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item")
    for n in range(5):
        deliver(store, "1", f"d{n}", event_type="ticket.tags_changed")
    drain(processor, deliverer)
    assert fake.reads == 1 and len(fake.writes) == 1


def test_first_response_due_written_then_stopped_by_a_public_agent_reply(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item", requester_id="500")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    first = fake.writes[0][0]
    assert set(first.due_by_metric) == {"first_response"}
    clock.advance(minutes=30)
    reply = json.dumps({"comment_public": True, "comment_author_is_staff": True,
                        "comment_created_at": clock.at.isoformat()}).encode()
    deliver(store, "1", "d2", event_type="ticket.comment_added", body=reply)
    drain(processor, deliverer)
    memory = store.get_case("zendesk", "1").memory
    assert memory["first_reply_at"].startswith("2026-03-02T14:35")
    assert len(fake.writes) == 1, "a stopped first-response clock is not written again"


def test_a_customer_message_after_a_reply_starts_next_reply(env):
    fake, store, processor, deliverer, clock, rules = env
    from rules import EXAMPLE_RULES, parse_rules
    text = EXAMPLE_RULES.read_text(encoding="utf-8").replace(
        'normal = { first_response = "8h", next_update = "24h", resolution = "72h" }',
        'normal = { first_response = "8h", next_update = "24h", next_reply = "4h", resolution = "72h" }')
    processor.rules = parse_rules(text)
    fake.add("1", reason_code="wrong_item", requester_id="500")
    deliver(store, "1", "d1")
    drain(processor, deliverer)

    def comment(key, **fields):
        body = json.dumps({"comment_public": True, "comment_created_at": clock.at.isoformat(), **fields}).encode()
        deliver(store, "1", key, event_type="ticket.comment_added", body=body)
        drain(processor, deliverer)
        return store.get_case("zendesk", "1").memory

    clock.advance(minutes=30)
    assert comment("d2", comment_author_is_staff=True).get("awaiting_reply_since") is None
    clock.advance(minutes=30)
    memory = comment("d3", comment_author_is_staff=False, comment_author_id="500")
    assert memory["awaiting_reply_since"].startswith("2026-03-02T15:05")
    clock.advance(minutes=10)
    assert comment("d4", comment_author_is_staff=True).get("awaiting_reply_since") is None


def test_customer_comment_does_not_count_as_a_reply(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", reason_code="wrong_item", requester_id="500")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    reply = json.dumps({"comment_public": True, "comment_author_id": "500"}).encode()
    deliver(store, "1", "d2", event_type="comment_created", body=reply)
    drain(processor, deliverer)
    assert store.get_case("zendesk", "1").memory.get("first_reply_at") is None


def test_one_unreadable_ticket_does_not_stop_the_others(env):
    fake, store, processor, deliverer, clock, rules = env
    fake.add("1", opened_at=datetime(2026, 3, 2, 14))  # no time zone: the rules refuse it
    fake.add("2", reason_code="wrong_item")
    deliver(store, "1", "d1")
    deliver(store, "2", "d2")
    drain(processor, deliverer)
    assert [u.ticket_id for u, _ in fake.writes] == ["2"]
    (error,) = store.db.execute("select error from inbox where status = 'failed'").fetchone()
    assert error.startswith("internal error: ValueError")


def test_an_outbox_row_it_cannot_read_is_parked_not_lost(env):
    fake, store, processor, deliverer, clock, rules = env
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id="1", kind="ticket_update", payload={"tags": 3},
                       now=NOW, idem_key="bad")
    deliverer.run_once()
    (parked,) = store.parked()
    assert parked.last_error.startswith("internal error: KeyError")


def test_an_outbox_row_of_an_unknown_kind_is_parked_with_that_error(env):
    fake, store, processor, deliverer, clock, rules = env
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id="1", kind="fax", payload={}, now=NOW, idem_key="fax")
    deliverer.run_once()
    (parked,) = store.parked()
    assert parked.last_error == "internal error: ValueError: unknown outbox kind 'fax'" and fake.writes == []
    assert [e.kind for e in store.timeline("zendesk", "1")] == ["write_failed"]


# --- agent replies on every Jira flavour (issue 11 item 4): real payload shapes, the real connector -----

JIRA_BASE = "https://acme-support.atlassian.net"
JIRA_FIXTURES = Path(__file__).parent / "fixtures" / "jira"
S_AGENT, S_CUSTOMER = "JIRAUSER10100", "JIRAUSER10200"


def jira_env(store, issue_key: str, reporter: dict):
    """A processor over the real JiraConnector; the issue read (`issue_key`, `reporter`) served by `responses`."""
    from connectors.http import HelpdeskSession
    from jira.connector import JiraConnector
    from jira.settings import JiraSettings

    settings = JiraSettings.from_env({"JIRA_URL": JIRA_BASE, "JIRA_EMAIL": "slaclock@acme.example",
                                      "JIRA_API_TOKEN": "tok-123"})
    jira = JiraConnector(settings, session=HelpdeskSession(JIRA_BASE, attempts=1, sleep=lambda s: None))
    issue = json.loads((JIRA_FIXTURES / "api_issue__service_request.json").read_text())
    issue = {**issue, "key": issue_key, "fields": {**issue["fields"], "reporter": reporter,
                                                   "created": "2026-03-02T09:00:00.000+0000"}}
    responses.get(re.compile(rf"{JIRA_BASE}/rest/api/3/issue/[A-Z0-9-]+\?fields=.*"), json=issue)
    responses.get(f"{JIRA_BASE}/rest/api/3/myself", json={"accountId": "712020:slaclock"})
    return jira, Processor(store, {"jira": jira}, load_rules(), Clock(NOW))


def deliver_jira(store, jira, name: str) -> None:
    deliver_jira_body(store, jira, (JIRA_FIXTURES / f"{name}.json").read_bytes())


def deliver_jira_body(store, jira, body: bytes) -> None:
    event = jira.parse({}, body)
    store.add_delivery(connector="jira", delivery_key=event.delivery_key, event_type=event.event_type,
                       ticket_id=event.ticket_id, actor_id=event.actor_id, headers={}, body=body, received_at=NOW)


def property_404(comment_id: str):
    return responses.get(f"{JIRA_BASE}/rest/api/3/comment/{comment_id}/properties/sd.public.comment", status=404,
                         json={"errorMessages": ["The property with key 'sd.public.comment' does not exist."]})


@responses.activate
@pytest.mark.parametrize("name", ["comment_created__server", "jira_issue_updated__commented_server",
                                  "jira_issue_updated__commented_no_event_type_server"])
def test_server_agent_reply_stops_first_response_once_the_api_says_it_is_public(store, name):
    # (a) Server/DC comment events and (c) comments inside jira:issue_updated, with and without an event
    # type: the payload carries no visibility, so the property is read (none), then JSM's request comment.
    jira, processor = jira_env(store, "OPS-7", {"key": S_CUSTOMER, "name": "sam"})
    prop = property_404("10082")
    request_comment = responses.get(f"{JIRA_BASE}/rest/servicedeskapi/request/OPS-7/comment/10082",
                                    json={"id": "10082", "body": "Replacement part ordered.", "public": True})
    deliver_jira(store, jira, name)
    processor.run_once()
    assert store.get_case("jira", "OPS-7").memory["first_reply_at"].startswith("2026-03-02T09:15:17")
    assert (prop.call_count, request_comment.call_count) == (1, 1)


@responses.activate
def test_server_internal_note_found_by_its_property_stops_nothing(store):
    jira, processor = jira_env(store, "OPS-7", {"key": S_CUSTOMER, "name": "sam"})
    prop = responses.get(f"{JIRA_BASE}/rest/api/3/comment/10082/properties/sd.public.comment",
                         json={"key": "sd.public.comment", "value": {"internal": True}})
    deliver_jira(store, jira, "comment_created__server")
    processor.run_once()
    assert store.get_case("jira", "OPS-7").memory.get("first_reply_at") is None
    assert prop.call_count == 1
    assert not [c for c in responses.calls if "/servicedeskapi/" in c.request.url], "the property decided"


@responses.activate
def test_server_comment_outside_a_service_project_is_public(store):
    # (b) JSM answers 404 for an issue of a project that is no service project: every comment there is public.
    jira, processor = jira_env(store, "OPS-7", {"key": S_CUSTOMER, "name": "sam"})
    property_404("10082")
    responses.get(f"{JIRA_BASE}/rest/servicedeskapi/request/OPS-7/comment/10082", status=404,
                  json={"errorMessage": "The request could not be found.", "i18nErrorMessage": {}})
    deliver_jira(store, jira, "comment_created__server")
    processor.run_once()
    assert store.get_case("jira", "OPS-7").memory["first_reply_at"].startswith("2026-03-02T09:15:17")


@responses.activate
def test_cloud_software_project_reply_stops_first_response_and_a_restricted_one_does_not(store):
    # (b) Cloud, software project: jsdPublic true, no API call; a role-restricted comment is hidden.
    jira, processor = jira_env(store, "TES-41", {"accountId": "qm:customer-1"})
    deliver_jira(store, jira, "comment_created__role_restricted_cloud")
    processor.run_once()
    assert store.get_case("jira", "TES-41").memory.get("first_reply_at") is None
    assert not [c for c in responses.calls if "/comment/" in c.request.url]

    jira, processor = jira_env(store, "TES-42", {"accountId": "qm:customer-1"})
    body = (JIRA_FIXTURES / "comment_created__software_project_cloud.json").read_text().replace("TES-41", "TES-42")
    store.add_delivery(connector="jira", delivery_key="jira:sw", event_type="comment_created", ticket_id="TES-42",
                       actor_id="5c5f880629be9642ba529340", headers={}, body=body.encode(), received_at=NOW)
    processor.run_once()
    assert store.get_case("jira", "TES-42").memory["first_reply_at"].startswith("2019-02-16T03:11:18")


@responses.activate
def test_server_customer_comment_is_a_customer_message_not_a_reply(store):
    # The requester (a Server user key) wrote it: customer_message_at, not an agent reply.
    jira, processor = jira_env(store, "OPS-7", {"key": S_AGENT, "name": "dana"})  # Dana raised it herself
    property_404("10082")
    responses.get(f"{JIRA_BASE}/rest/servicedeskapi/request/OPS-7/comment/10082", json={"public": True})
    deliver_jira(store, jira, "jira_issue_updated__commented_server")
    deliveries = store.claim_deliveries(NOW, 10)
    reply_at, message_at, _ = processor._comments(jira, processor._parsed(jira, deliveries), jira.fetch_ticket("OPS-7"))
    assert reply_at is None and message_at == datetime(2026, 3, 2, 9, 15, 17, 234000, tzinfo=timezone.utc)


@responses.activate
def test_a_failed_visibility_read_is_retried_later_not_decided_without_it(store):
    jira, processor = jira_env(store, "OPS-7", {"key": S_CUSTOMER, "name": "sam"})
    responses.get(f"{JIRA_BASE}/rest/api/3/comment/10082/properties/sd.public.comment", status=503)
    deliver_jira(store, jira, "comment_created__server")
    processor.run_once()
    assert store.get_case("jira", "OPS-7") is None, "no decision without knowing whether the agent replied"


def resolved_request(store):
    """SD-42, a resolved JSM request with no feedback yet: (its feedback URL, a step that delivers a fixture,
    decides, lands the writes and returns the csat entries)."""
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    issue = json.loads((JIRA_FIXTURES / "api_issue__service_request.json").read_text())
    resolved = json.loads((JIRA_FIXTURES / "jira_issue_updated__resolved_cloud.json").read_text())
    issue["fields"] = {**issue["fields"], "status": resolved["issue"]["fields"]["status"],
                       "reporter": {"accountId": "qm:customer"}, "created": "2026-03-02T09:00:00.000+0000"}
    responses.replace(responses.GET, re.compile(rf"{JIRA_BASE}/rest/api/3/issue/[A-Z0-9-]+\?fields=.*"), json=issue)
    url = f"{JIRA_BASE}/rest/servicedeskapi/request/SD-42/feedback"
    responses.get(url, status=404, json={"errorMessage": "No feedback has been given for this request."})

    def decide_on(fixture):
        if fixture:  # else what is queued already (a check)
            deliver_jira(store, jira, fixture)
        processor.run_once()
        while sent := store.claim_outbox(NOW + timedelta(days=1)):  # the writes landed: decide again next time
            with store.write_txn() as txn:
                for row in sent:
                    txn.finish_outbox(row.id, OutboxStatus.DONE, NOW)
        return [e for e in store.timeline("jira", "SD-42") if e.kind == "csat"]

    return url, decide_on


def feedback_reads(url: str) -> int:
    return [c.request.url for c in responses.calls].count(url)


@responses.activate
def test_jsm_feedback_is_read_once_on_resolve_and_again_when_the_satisfaction_field_changes(store):
    url, decide_on = resolved_request(store)
    assert decide_on("jira_issue_updated__resolved_cloud") == [] and feedback_reads(url) == 1  # on resolve: none
    assert decide_on("jira_issue_updated__labels_cloud") == [] and feedback_reads(url) == 1  # still resolved
    responses.replace(responses.GET, url, json={"type": "csat", "rating": 4, "comment": {"body": "Sorted"}})
    (rated,) = decide_on("jira_issue_updated__satisfaction_cloud")  # the customer rated: read again
    assert rated.summary == 'Customer rated 4 of 5: "Sorted"' and rated.detail["rating"] == {"score": 4,
                                                                                            "comment": "Sorted"}
    assert feedback_reads(url) == 2


@responses.activate
def test_a_lost_jsm_rating_webhook_is_caught_by_the_reconciler(store):
    # The rating's webhook never came; the change feed shows the resolved request changed: its feedback is read.
    url, decide_on = resolved_request(store)
    assert decide_on("jira_issue_updated__resolved_cloud") == [] and feedback_reads(url) == 1
    responses.replace(responses.GET, url, json={"type": "csat", "rating": 2, "comment": {"body": "Slow"}})
    later = NOW + timedelta(hours=2)
    with store.write_txn() as txn:
        txn.enqueue_check(connector="jira", ticket_id="SD-42", kind=CheckKind.RECONCILE,
                          key=f"reconcile:jira:SD-42:{later.isoformat()}", now=NOW, body=reconcile_body(later))
    (rated,) = decide_on(None)
    assert rated.summary == 'Customer rated 2 of 5: "Slow"'
    assert feedback_reads(url) == 2  # on resolve, then on the unheard change


# --- a Jira issue webhook carries the whole issue: no read while it is as good as one -------------

def _issue_reads():
    return [c for c in responses.calls if re.search(r"/rest/api/3/issue/[A-Z0-9-]+\?fields=", c.request.url)]


@responses.activate
def test_a_fresh_jira_issue_webhook_is_decided_without_reading_the_issue(store):
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    deliver_jira(store, jira, "jira_issue_updated__priority_cloud")
    processor.run_once()
    (decided,) = [e for e in store.timeline("jira", "SD-42") if e.kind in ("decision", "no_change")]
    assert _issue_reads() == []
    assert decided.detail["ticket"]["subject"] == json.loads(
        (JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_text())["issue"]["fields"]["summary"]


@responses.activate
def test_the_echo_of_our_jira_write_records_its_version_without_a_read(store):
    # No read after a write: the echo carries the version it left, so the reconciler skips the issue.
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    payload = json.loads((JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_text())
    payload["user"] = {**payload["user"], "accountId": "712020:slaclock"}
    body = json.dumps(payload).encode()
    carried = jira.ticket_from_delivery(body)
    with store.write_txn() as txn:
        txn.save_case(connector="jira", ticket_id="SD-42", memory={}, snapshot={}, priority=None, team=None,
                      due_at=None, rules_version=None, decided_at=NOW,
                      seen_updated_at=carried.updated_at - timedelta(minutes=5), next_action_at=None)
    event = jira.parse({}, body)
    store.add_delivery(connector="jira", delivery_key=event.delivery_key, event_type=event.event_type,
                       ticket_id=event.ticket_id, actor_id=event.actor_id, headers={}, body=body, received_at=NOW)
    processor.run_once()
    assert store.delivery_counts() == {"echo": 1} and _issue_reads() == []
    assert store.get_case("jira", "SD-42").seen_updated_at == carried.updated_at  # was five minutes before


@responses.activate
@pytest.mark.parametrize("feed_shows", ["the_echoed_version", "a_later_version"])
def test_an_echo_settles_a_reconcile_check_of_its_own_version_without_a_read(store, feed_shows):
    # A busy worker: the change feed showed our write before its webhook was processed, so a reconcile check
    # and the echo are claimed together. The echo tells the version the check asks about; a later one it does not.
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    payload = json.loads((JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_text())
    payload["user"] = {**payload["user"], "accountId": "712020:slaclock"}
    body = json.dumps(payload).encode()
    carried = jira.ticket_from_delivery(body)
    with store.write_txn() as txn:
        txn.save_case(connector="jira", ticket_id="SD-42", memory={}, snapshot={}, priority=None, team=None,
                      due_at=None, rules_version=None, decided_at=NOW,
                      seen_updated_at=carried.updated_at - timedelta(minutes=5), next_action_at=None)
    event = jira.parse({}, body)
    store.add_delivery(connector="jira", delivery_key=event.delivery_key, event_type=event.event_type,
                       ticket_id=event.ticket_id, actor_id=event.actor_id, headers={}, body=body, received_at=NOW)
    shown = carried.updated_at + (timedelta(minutes=1) if feed_shows == "a_later_version" else timedelta(0))
    with store.write_txn() as txn:
        txn.enqueue_check(connector="jira", ticket_id="SD-42", kind=CheckKind.RECONCILE,
                          key=f"reconcile:jira:SD-42:{shown.isoformat()}", now=NOW, body=reconcile_body(shown))
    processor.run_once()
    if feed_shows == "the_echoed_version":
        assert store.delivery_counts() == {"echo": 2} and _issue_reads() == []
        assert store.get_case("jira", "SD-42").seen_updated_at == carried.updated_at
    else:
        assert "echo" not in store.delivery_counts() and len(_issue_reads()) == 1


@responses.activate
@pytest.mark.parametrize("why", ["comment_event", "waited", "seen_later", "sweep_check"])
def test_the_issue_is_read_when_the_webhook_is_not_as_good_as_a_read(store, why):
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    fixture = "comment_created__cloud" if why == "comment_event" else "jira_issue_updated__priority_cloud"
    body = (JIRA_FIXTURES / f"{fixture}.json").read_bytes()
    event = jira.parse({}, body)
    received = NOW - timedelta(seconds=31) if why == "waited" else NOW
    if why == "seen_later":  # slaclock's own write, read back, is newer than what the webhook carries
        carried = jira.ticket_from_delivery(body)
        with store.write_txn() as txn:
            txn.save_case(connector="jira", ticket_id="SD-42", memory={}, snapshot={}, priority=None, team=None,
                          due_at=None, rules_version=None, decided_at=NOW,
                          seen_updated_at=carried.updated_at + timedelta(seconds=1), next_action_at=None)
    if why == "sweep_check":
        with store.write_txn() as txn:
            txn.enqueue_check(connector="jira", ticket_id="SD-42", kind="sweep", key="sweep-1", now=NOW)
    store.add_delivery(connector="jira", delivery_key=event.delivery_key, event_type=event.event_type,
                       ticket_id=event.ticket_id if why != "comment_event" else "SD-42", actor_id=event.actor_id,
                       headers={}, body=body, received_at=received)
    processor.run_once()
    assert len(_issue_reads()) == 1


@responses.activate
@pytest.mark.parametrize("echo_claimed_beside", [False, True])
def test_a_webhook_after_our_unplaced_write_is_read_until_the_echo_tells_its_version(store, echo_claimed_beside):
    # A Jira PUT answers 204: until its echo comes, slaclock does not know which version its write left, so an
    # agent's webhook sent in between may predate it and would plan the same write again. Read it instead.
    jira, processor = jira_env(store, "SD-42", {"accountId": "qm:customer"})
    payload = json.loads((JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_text())
    updated = datetime.fromisoformat(payload["issue"]["fields"]["updated"].replace("+0000", "+00:00"))

    def deliver(actor: str, at: datetime) -> None:
        fields = {**payload["issue"]["fields"], "updated": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
        deliver_jira_body(store, jira, json.dumps({**payload, "user": {**payload["user"], "accountId": actor},
                                                   "issue": {**payload["issue"], "fields": fields}}).encode())

    deliver(payload["user"]["accountId"], updated)
    processor.run_once()
    (decided,) = [e for e in store.timeline("jira", "SD-42") if e.kind in ("decision", "no_change")]
    assert decided.kind == "decision" and _issue_reads() == []  # carried: no read, and a write planned
    sent = store.claim_outbox(NOW)
    with store.write_txn() as txn:
        for row in sent:
            txn.finish_outbox(row.id, OutboxStatus.DONE, NOW)  # landed; the 204 told no version
    if echo_claimed_beside:  # the echo tells the version our write left; the agent's change came after it
        deliver("712020:slaclock", updated + timedelta(seconds=2))
    deliver(payload["user"]["accountId"], updated + timedelta(seconds=4 if echo_claimed_beside else 1))
    processor.run_once()
    assert len(_issue_reads()) == (0 if echo_claimed_beside else 1)


# --- a Zendesk sweep decides on the ticket as slaclock left it: its write is refused if anyone changed it since -----

class ConditionalFake(FakeConnector):
    """Zendesk's safe_update: every change moves updated_at, and a write's version is the stamp it saw."""

    def add(self, ticket_id, **fields):
        super().add(ticket_id, updated_at=NOW - timedelta(minutes=5), **fields)
        self.change(ticket_id)
        return self.tickets[ticket_id]

    def change(self, ticket_id, **fields):
        at = self.tickets[ticket_id].updated_at + timedelta(seconds=1)
        self.tickets[ticket_id] = replace(self.tickets[ticket_id], updated_at=at, version=self.version_at(at), **fields)

    @staticmethod
    def version_at(updated_at):
        return updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def remembered(store):
    """An urgent missing-part ticket created and routed at 14:05; its first-response warning is due at 14:15."""
    fake, clock = ConditionalFake(), Clock(NOW)
    processor, deliverer = (Processor(store, {"zendesk": fake}, load_rules(), clock),
                            Deliverer(store, {"zendesk": fake}, clock))
    fake.add("1", priority="urgent", reason_code="missing_part")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    assert fake.reads == 1 and len(fake.writes) == 1
    return fake, store, processor, deliverer, clock


def sweep(store, clock):
    assert Sweeper(store, clock).run_once() == 1, "the ticket's next action is due"


def test_a_sweep_whose_plan_is_a_note_is_decided_without_reading_the_ticket(remembered):
    fake, store, processor, deliverer, clock = remembered
    left = fake.tickets["1"]  # as slaclock's write left it
    clock.advance(minutes=10)
    sweep(store, clock)
    drain(processor, deliverer)
    assert fake.reads == 1, "the sweep read nothing"
    update, _ = fake.writes[-1]
    assert update.note.startswith("SLA warning: first response reached 50 %")
    assert update.version == left.version, "written under the stamp of the version slaclock left"
    assert len(fake.writes) == 2 and store.delivery_counts() == {"done": 2}


def test_a_ticket_changed_since_is_refused_then_read_and_decided_again(remembered):
    fake, store, processor, deliverer, clock = remembered
    clock.advance(minutes=10)
    fake.change("1", reason_code="wrong_item")  # an agent's edit whose webhook has not arrived
    agent_left = fake.tickets["1"].version
    sweep(store, clock)
    drain(processor, deliverer)
    assert fake.reads == 2, "the refusal made one read"
    (update, _), = fake.writes[1:]
    assert update.version == agent_left, "decided again on the ticket as the agent left it"
    # The refused write's warning is not lost: the note that lands says it, with what the new decision set.
    assert update.group_id == "2003"
    assert update.note == "SLA warning: first response reached 50 % of its 30 min target.\nRouted to Warehouse."
    assert [e.kind for e in store.timeline("zendesk", "1")][2:] == ["warning", "decision", "conflict", "decision", "written"]


def test_a_sweep_that_would_write_to_the_customer_reads_first(remembered):
    fake, store, processor, deliverer, clock = remembered
    clock.advance(minutes=10)
    sweep(store, clock)
    drain(processor, deliverer)
    clock.advance(minutes=7, seconds=30)  # 14:22:30: escalated, with a word to the customer
    sweep(store, clock)
    drain(processor, deliverer)
    assert fake.reads == 2, "one read, before the escalation's public reply"
    assert [text for _, text, _ in fake.public_replies][0].startswith("We have escalated your request #1")
