"""ALERT rows end to end in-process: queued by the processor for a notify action, sent by the deliverer once,
held by quiet hours, merged into digests, superseded by the re-check, retried and parked."""
from datetime import datetime, timedelta, timezone

import pytest

from alerts.channels import AlertDesk
from connectors.errors import OutcomeUnknown, PermanentError
from jobs.deliverer import Deliverer
from jobs.kinds import JobEvent, OutboxKind
from jobs.processor import Processor
from rules import load_rules
from store import OutboxStatus
from tests.alerts_support import RecordingChannel, alert_rules
from tests.fakes import Clock, FakeConnector, agent_fields, retryable

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)  # Monday 09:05 in New York, 15:05 in Berlin


def make(store, calendar=None, channels=("ops-slack", "mail", "hooks")):
    rules = alert_rules(calendar)
    fake, clock = FakeConnector(), Clock(NOW)
    kinds = {"ops-slack": ("slack", False, True), "mail": ("email", False, True), "hooks": ("webhook", True, False)}
    sent = {name: RecordingChannel(name, *kinds[name]) for name in channels}
    desk = AlertDesk(rules, sent, {n: f"alert channel {n}: X is not set" for n in kinds if n not in channels})
    connectors = {"zendesk": fake}
    return (fake, Processor(store, connectors, rules, clock), Deliverer(store, connectors, clock, alerts=desk), clock,
            sent)


def escalate(store, fake, ticket_id, key, subject="Printer jammed", at=NOW):
    fake.add(ticket_id, reason_code="wrong_item", subject=subject, tags=frozenset({"slaclock_escalate"}),
             requester_id="555", custom_fields=agent_fields(load_rules(), "zendesk", ticket_id))
    store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.updated", ticket_id=ticket_id,
                       actor_id="7", headers={}, body=b"{}", received_at=at)


def drain(processor, deliverer):
    while processor.run_once() + deliverer.run_once():
        pass


def alert_rows(store):
    rows = store.db.execute("select idem_key, connector, ticket_id, status, last_error from outbox "
                            "where kind = 'alert' order by id").fetchall()
    return rows


def test_a_manual_escalation_alerts_its_owner_once_on_each_channel(store):
    fake, processor, deliverer, clock, sent = make(store)
    escalate(store, fake, "1", "d1")
    drain(processor, deliverer)
    rows = alert_rows(store)
    assert [r[0] for r in rows] == [f"alert:{c}:zendesk:1:level:1:1:specialist:notify:sam"
                                    for c in ("ops-slack", "mail", "hooks")]
    assert {r[1] for r in rows} == {"alert:ops-slack", "alert:mail", "alert:hooks"}
    assert all(r[2] == "zendesk:1:sam" and r[3] == "done" for r in rows)
    (slack,), (mail,), (event,) = sent["ops-slack"].sent, sent["mail"].sent, sent["hooks"].sent
    assert slack.person_name == "Sam Ortiz" and mail.email == "sam.ortiz@example.com"
    assert slack.text.startswith("#1 «Printer jammed» escalated to L2 specialist, owner Sam Ortiz; resolution due ")
    assert "zendesk:1" not in slack.text and "specialist:" not in slack.text
    assert event["type"] == "escalation.level_changed" and event["id"] == "zendesk:1:level:1:1:specialist:notify:sam"
    assert event["ticket"] == {"helpdesk": "zendesk", "id": "1"} and event["level"] == "L2 specialist"
    assert event["owner"] == "Sam Ortiz"
    # Deciding again (a sweep, another webhook) queues nothing new: the action fired once.
    store.add_delivery(connector="zendesk", delivery_key="d2", event_type="ticket.updated", ticket_id="1",
                       actor_id="7", headers={}, body=b"{}", received_at=NOW)
    clock.advance(minutes=1)
    drain(processor, deliverer)
    assert len(alert_rows(store)) == 3 and len(sent["ops-slack"].sent) == 1
    summaries = [e.summary for e in store.timeline("zendesk", "1") if e.kind == JobEvent.ALERTED]
    assert len(summaries) == 3 and summaries[0].startswith("alerted Sam Ortiz on ops-slack: #1")


def test_alerts_due_together_for_one_person_go_as_one_digest_per_channel(store):
    fake, processor, deliverer, clock, sent = make(store)
    for n in ("1", "2", "3"):
        escalate(store, fake, n, f"d{n}", subject=f"Case {n}")
    while processor.run_once():
        pass
    deliverer.run_once()  # the alerts never wait behind the tickets' own writes
    (digest,) = sent["ops-slack"].sent
    assert digest.subject == "3 tickets escalated" and len(digest.ids) == 3
    assert [line[:9] for line in digest.text.splitlines()[1:]] == ["• #1 «Cas", "• #2 «Cas", "• #3 «Cas"]
    assert len(sent["mail"].sent) == 1
    assert len(sent["hooks"].sent) == 3  # the webhook carries one event per ticket
    assert {r[3] for r in alert_rows(store)} == {"done"}


def test_quiet_hours_hold_an_alert_until_the_persons_calendar_opens(store):
    # 14:05 UTC is 09:05 in New York: the business calendar (New York) is open; make it a Sunday instead.
    fake, processor, deliverer, clock, sent = make(store, calendar="business")
    clock.at = datetime(2026, 3, 1, 14, 5, tzinfo=timezone.utc)  # Sunday
    escalate(store, fake, "1", "d1", at=clock())
    drain(processor, deliverer)
    assert sent["ops-slack"].sent == [] and {r[3] for r in alert_rows(store)} == {"pending"}
    held = [e for e in store.timeline("zendesk", "1") if e.kind == JobEvent.ALERT_HELD]
    assert len(held) == 3 and "until 2026-03-02T13:00:00+00:00" in held[0].summary  # Monday 08:00 New York
    clock.at = datetime(2026, 3, 2, 12, 59, tzinfo=timezone.utc)
    drain(processor, deliverer)
    assert sent["ops-slack"].sent == []
    clock.at = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)
    drain(processor, deliverer)
    assert len(sent["ops-slack"].sent) == 1 and len(sent["hooks"].sent) == 1
    # The time in the text is in Sam's calendar zone (New York, EST), not UTC.
    assert sent["ops-slack"].sent[0].text.endswith("EST.")


@pytest.mark.parametrize("change, why", [
    ({"status": "solved"}, "the ticket is solved"),
    (None, "an agent (user 42) acted on the ticket after it was queued"),
])
def test_the_recheck_sends_nothing_once_the_ticket_is_solved_or_an_agent_acted(store, change, why):
    fake, processor, deliverer, clock, sent = make(store, channels=("ops-slack",))
    escalate(store, fake, "1", "d1")
    while processor.run_once():
        pass
    clock.advance(seconds=30)
    if change:
        fake.change("1", **change)
    else:
        store.add_delivery(connector="zendesk", delivery_key="agent", event_type="ticket.updated", ticket_id="1",
                           actor_id="42", headers={}, body=b"{}", received_at=clock())
    reads = fake.reads
    deliverer.send_alerts([r for r in store.claim_outbox(clock(), 100) if r.kind == OutboxKind.ALERT])
    assert fake.reads > reads  # read fresh
    assert sent["ops-slack"].sent == []
    statuses = {(r[1], r[3], r[4]) for r in alert_rows(store)}
    assert ("alert:ops-slack", "superseded", why) in statuses
    assert any(e.kind == JobEvent.ALERT_SUPERSEDED and e.summary.endswith(f"not sent: {why}")
               for e in store.timeline("zendesk", "1"))


def test_a_failed_post_is_retried_with_backoff_and_a_refused_one_is_parked(store):
    fake, processor, deliverer, clock, sent = make(store, channels=("ops-slack", "hooks"))
    sent["ops-slack"].failures.append(retryable("Slack channel ops-slack → 503"))
    sent["hooks"].failures.append(PermanentError("webhook channel hooks → 410", 410))
    escalate(store, fake, "1", "d1")
    drain(processor, deliverer)
    rows = {r[1]: r for r in alert_rows(store)}
    assert rows["alert:ops-slack"][3] == "pending" and "503" in rows["alert:ops-slack"][4]
    assert rows["alert:hooks"][3] == "failed" and "410" in rows["alert:hooks"][4]
    assert rows["alert:mail"][3] == "failed" and rows["alert:mail"][4] == "alert channel mail: X is not set"
    clock.advance(seconds=16)
    drain(processor, deliverer)
    assert len(sent["ops-slack"].sent) == 1 and alert_rows(store)[0][3] == "done"
    parked = [e for e in store.timeline("zendesk", "1") if e.kind == JobEvent.WRITE_FAILED]
    assert len(parked) == 2  # on the ticket's own timeline, not the channel's


def test_a_lost_answer_is_never_sent_again_by_a_channel_without_read_back(store):
    fake, processor, deliverer, clock, sent = make(store, channels=("ops-slack", "hooks"))
    sent["ops-slack"].failures.append(OutcomeUnknown("Slack channel ops-slack: sent, no answer (ReadTimeout)"))
    sent["hooks"].failures.append(OutcomeUnknown("webhook channel hooks: sent, no answer (ReadTimeout)"))
    escalate(store, fake, "1", "d1")
    for _ in range(4):
        drain(processor, deliverer)
        clock.advance(minutes=5)
    rows = {r[1]: r for r in alert_rows(store)}
    assert rows["alert:ops-slack"][3] == "failed" and "not sent again" in rows["alert:ops-slack"][4]
    assert sent["ops-slack"].sent == []  # at most once: an operator decides (slaclock retry-parked)
    # The webhook's receivers dedupe on the event id: it is simply sent again.
    assert rows["alert:hooks"][3] == "done" and len(sent["hooks"].sent) == 1


def test_a_worker_that_died_mid_send_leaves_the_row_parked_not_resent(store):
    fake, processor, deliverer, clock, sent = make(store, channels=("ops-slack",))
    escalate(store, fake, "1", "d1")
    while processor.run_once():
        pass
    (row,) = [r for r in store.claim_outbox(clock(), 100) if r.connector == "alert:ops-slack"]
    with store.write_txn() as txn:  # what _send_alert commits before its call; then the process died
        txn.set_progress(row.id, {"alert": {"state": "sending", "at": clock().isoformat()}}, clock())
    clock.advance(minutes=10)  # the claim is stale: another worker takes the row
    deliverer.run_once()
    assert sent["ops-slack"].sent == [] and alert_rows(store)[0][3] == "failed"


def test_no_alerts_section_queues_no_alert_rows(store):
    from rules import load_rules
    fake, clock = FakeConnector(), Clock(NOW)
    connectors = {"zendesk": fake}
    processor, deliverer = Processor(store, connectors, load_rules(), clock), Deliverer(store, connectors, clock)
    escalate(store, fake, "1", "d1")
    drain(processor, deliverer)
    assert alert_rows(store) == [] and set(store.outbox_counts()) == {"done"}


# --- a vendor team's own system (teams.<team>.webhook) -------------------------------------------------

def vendor_case(store, fake, ticket_id="9", key="v1"):
    fake.add(ticket_id, reason_code="defect", subject="Compressor failed", requester_id="555")
    store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.created", ticket_id=ticket_id,
                       actor_id="555", headers={}, body=b"{}", received_at=NOW)


def test_a_vendor_case_asks_the_vendors_system_once_with_no_recheck_and_retries_a_503(store):
    rules = load_rules()
    fake, clock, system = FakeConnector(), Clock(NOW), RecordingChannel("vendor:acme_parts", "webhook", True, False)
    connectors = {"zendesk": fake}
    processor = Processor(store, connectors, rules, clock)
    deliverer = Deliverer(store, connectors, clock, alerts=AlertDesk(rules, {"vendor:acme_parts": system}, {}))
    system.failures.append(retryable("webhook channel vendor:acme_parts → 503"))
    vendor_case(store, fake)
    drain(processor, deliverer)
    (row,) = alert_rows(store)
    assert row[:4] == ("alert:vendor:acme_parts:zendesk:9:vendor:1:request:webhook", "alert:vendor:acme_parts",
                       "zendesk:9", "pending") and "503" in row[4]
    clock.advance(seconds=16)  # the backoff's first step: 15 s
    fake.change("9", assignee_id="7")  # an agent acting meanwhile does not make the request moot
    drain(processor, deliverer)
    (event,) = system.sent
    assert event["type"] == "vendor.capacity_requested" and event["id"] == "zendesk:9:vendor:1:request:webhook"
    assert (event["vendor"], event["priority"], event["subject"]) == ("acme_parts", "normal", "Compressor failed")
    assert event["eta_due_at"] == (NOW + timedelta(hours=48)).isoformat()
    assert alert_rows(store)[0][3] == "done"
    store.add_delivery(connector="zendesk", delivery_key="v2", event_type="ticket.updated", ticket_id="9",
                       actor_id="7", headers={}, body=b"{}", received_at=clock.at)
    drain(processor, deliverer)
    assert len(alert_rows(store)) == 1 and len(system.sent) == 1  # decided again: nothing new to tell


def test_a_vendor_webhook_whose_variables_are_unset_is_parked_naming_them(store):
    rules = load_rules()
    fake, clock = FakeConnector(), Clock(NOW)
    desk = AlertDesk.from_env(rules, {"SLACLOCK_ACME_PARTS_WEBHOOK_URL": "https://acme.example/hook"})
    processor = Processor(store, {"zendesk": fake}, rules, clock)
    deliverer = Deliverer(store, {"zendesk": fake}, clock, alerts=desk)
    vendor_case(store, fake)
    drain(processor, deliverer)
    (row,) = alert_rows(store)
    assert row[3] == "failed" and row[4] == "vendor webhook of team acme_parts: SLACLOCK_ACME_PARTS_WEBHOOK_SECRET not set"
