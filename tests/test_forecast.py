"""Predictive escalation: scenarios with hand-computed forecasts (pure), and one through the processor."""
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from jobs.deliverer import Deliverer
from jobs.forecasts import forecasts_from
from jobs.processor import Processor
from rules import CaseMemory, decide
from rules.decision import BasisChange, Deadline, DeadlineState, StatusChange, TimelineKind
from rules.forecast import Forecasts, quantile
from rules.schema import EXAMPLE_RULES, RulesError, parse_rules
from tests.fakes import Clock, FakeConnector

UTC = timezone.utc
H = timedelta(hours=1)
T0 = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # Mon 09:00 in New York: the business calendar is open
EXAMPLE = open(EXAMPLE_RULES).read()
PREDICTIVE = '\n[predictive]\nmin_cases = 5\nquantile = 0.8\nqueue_baseline = 2\nper_queued_case = "1h"\n'
RULES = parse_rules(EXAMPLE + PREDICTIVE)
KEY = ("missing_part", "normal", "purchasing")
TEN = tuple(h * H for h in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100))


def ticket(opened=T0, **fields):
    return Ticket(connector="zendesk", ticket_id="42", opened_at=opened,
                  **{"updated_at": opened, "status": "open", "priority": "normal", "subject": "Hinge missing", "reason_code": "missing_part",
                     **fields})


def run(forecasts, rules=RULES, opened=T0, at=T0 + 2 * H):
    """First seen at `at` (2 h after it opened by default: 2 h used of the 72 h resolution budget)."""
    return decide(ticket(opened, updated_at=at), rules, at, forecasts=forecasts)


def test_quantile_is_the_nearest_rank():
    assert quantile(TEN, 0.8) == 80 * H and quantile(TEN, 0.5) == 50 * H and quantile(TEN, 0.99) == 100 * H
    assert quantile((7 * H,), 0.8) == 7 * H


def test_a_forecast_past_the_deadline_escalates_once_and_says_why():
    # p80 of the ten similar cases: 80 h; 2 h used → 78 h; 4 open in purchasing, 2 beyond the baseline → +2 h.
    # Finish at 2 h + 80 h = 82 h after opening; the deadline is at 72 h, 70 h from now.
    forecasts = Forecasts(T0, {KEY: TEN}, {"purchasing": 4})
    d = run(forecasts)
    text = "forecast 80 h from 10 similar tickets (p80; 2 more open tickets than usual in Purchasing), deadline in 70 h"
    assert [(e.kind, e.at, e.text) for e in d.timeline if e.kind == TimelineKind.FORECAST] == [
        (TimelineKind.FORECAST, T0 + 2 * H, text)]
    assert d.escalation_level == "specialist" and d.priority == "normal"
    assert f"Escalated to Paula Novak (L2 purchasing specialist, Purchasing): {text}." in [a.text for a in d.actions]
    assert "forecast:1" in d.memory.fired
    again = decide(ticket(), RULES, T0 + 3 * H, CaseMemory.from_json(d.memory.to_json()), forecasts=forecasts)
    assert not [e for e in again.timeline if e.kind == TimelineKind.FORECAST]


def test_a_forecast_in_time_does_not_escalate_and_is_a_reason():
    # p50: 50 h - 2 h used + 2 h of queue = 50 h from now, before the deadline 70 h away.
    rules = parse_rules(EXAMPLE + PREDICTIVE.replace("quantile = 0.8", "quantile = 0.5"))
    d = run(Forecasts(T0, {KEY: TEN}, {"purchasing": 4}), rules)
    assert d.escalation_level is None and not [e for e in d.timeline if e.kind == TimelineKind.FORECAST]
    [reason] = d.reasons_for("resolution")
    assert reason.text == ("forecast 50 h from 10 similar tickets (p50; 2 more open tickets than usual in Purchasing), "
                           "deadline in 70 h: in time, no escalation")


def test_too_few_similar_cases_leave_it_to_the_thresholds():
    rules = parse_rules(EXAMPLE + PREDICTIVE.replace("min_cases = 5", "min_cases = 11"))
    d = run(Forecasts(T0, {KEY: TEN, ("wrong_item", "normal", "warehouse"): TEN * 2}, {}), rules)
    assert d.escalation_level is None
    assert [r.text for r in d.reasons_for("resolution")] == [
        "no forecast: 10 similar solved tickets, 11 needed; the thresholds decide"]
    one = run(Forecasts(T0, {KEY: TEN[:1]}, {}), rules)
    assert [r.text for r in one.reasons_for("resolution")] == [
        "no forecast: 1 similar solved ticket, 11 needed; the thresholds decide"]


def test_an_owner_off_work_pushes_the_forecast_past_the_deadline():
    # Opened Fri 16:00 New York, decided Fri 18:00 (business hours closed): the owner starts Mon 08:00, 62 h away.
    # p80 of ten 20 h cases: 20 h - 2 h used = 18 h of work after that: 80 h from now; the deadline is 70 h away.
    friday = datetime(2026, 6, 5, 20, 0, tzinfo=UTC)
    forecasts = Forecasts(friday, {KEY: (20 * H,) * 10}, {"purchasing": 1})
    d = run(forecasts, opened=friday, at=friday + 2 * H)
    [event] = [e for e in d.timeline if e.kind == TimelineKind.FORECAST]
    assert event.text == ("forecast 80 h from 10 similar tickets (p80; the owner starts in 62 h), deadline in 70 h")
    # The same case on Monday morning, the owner at work: 18 h from now, in time.
    monday = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)
    assert run(forecasts, opened=monday, at=monday + 2 * H).escalation_level is None


def test_predictive_is_off_in_the_example_and_validated():
    assert parse_rules(EXAMPLE).predictive is None
    block = EXAMPLE.split("# [predictive]\n", 1)[1].split("\n\n", 1)[0]
    rules = parse_rules(EXAMPLE + "\n[predictive]\n" + block.replace("# ", ""))
    assert rules.predictive.min_cases == 20 and rules.predictive.quantile == 0.8
    with pytest.raises(RulesError, match="quantile"):
        parse_rules(EXAMPLE + "\n[predictive]\nquantile = 80\n")
    with pytest.raises(RulesError, match=r"predictive\.level.*not a level of any ladder"):
        parse_rules(EXAMPLE + '\n[predictive]\nlevel = "boss"\n')
    # No history passed in: no forecast, whatever the rules say.
    assert run(None).escalation_level is None


def solved_case(store, ticket_id, hours, opened):
    used = hours * H
    memory = CaseMemory(
        statuses=(StatusChange(opened, "open"), StatusChange(opened + used, "solved")),
        bases=(BasisChange(opened, "normal", None, "purchasing", "business"),), team="purchasing",
        results=(Deadline(metric="resolution", cycle=1, state=DeadlineState.STOPPED, due_at=opened + 72 * H,
                          started_at=opened, target=72 * H, used=used, paused=timedelta(0), calendar="24x7",
                          rules_version="v1", stopped_at=opened + used),))
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id=ticket_id, memory=memory.to_json(),
                      snapshot={"status": "solved", "reason_code": "missing_part", "opened_at": opened.isoformat()},
                      priority="normal", team="purchasing", due_at=opened + 72 * H, rules_version="v1",
                      decided_at=opened + used)


def test_through_the_processor_the_history_comes_from_the_store_once_per_refresh(store):
    history_start = T0 - timedelta(days=20)
    for i, hours in enumerate((10, 20, 30, 40, 50, 60, 70, 80, 90, 100)):
        solved_case(store, f"h{i}", hours, history_start + i * 24 * H)
    assert forecasts_from(store.cases(), frozenset({"solved", "closed"}), T0).similar(KEY) == TEN
    fake, clock = FakeConnector(), Clock(T0)
    processor = Processor(store, {"zendesk": fake}, RULES, clock)
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    fake.add("1", opened_at=T0 - 2 * H, reason_code="missing_part", subject="Hinge missing")
    store.add_delivery(connector="zendesk", delivery_key="d1", event_type="ticket.created", ticket_id="1",
                       actor_id="7", headers={}, body=b"{}", received_at=T0)
    while processor.run_once() + deliverer.run_once():
        pass
    # p80 = 80 h, 2 h used: 78 h from now; 1 open case in purchasing (this one), under the baseline.
    text = "forecast 78 h from 10 similar tickets (p80), deadline in 70 h"
    [entry] = [e for e in store.timeline("zendesk", "1") if e.kind == "forecast"]
    assert entry.summary == text or entry.detail.get("text") == text
    [(update, _)] = fake.writes
    assert f"Escalated to Paula Novak (L2 purchasing specialist, Purchasing): {text}." in update.note
    computed = processor.forecasts.current.computed_at
    clock.advance(minutes=4)
    assert processor.forecasts.at(clock()).computed_at == computed  # cached
    clock.advance(minutes=2)
    assert processor.forecasts.at(clock()).computed_at == clock()  # five minutes on: read again


def test_the_forecast_reads_right_for_one_and_for_many():
    from rules import wording
    assert wording.forecast(31 * H, 42, 0.8, 24 * H, 0, None, None) == \
        "forecast 31 h from 42 similar tickets (p80), deadline in 24 h"
    assert wording.forecast(90 * timedelta(minutes=1), 1, 0.95, 45 * timedelta(minutes=1), 1, "Support",
                            12 * H) == ("forecast 1 h 30 min from 1 similar ticket (p95; 1 more open ticket than usual "
                                        "in Support; the owner starts in 12 h), deadline in 45 min")
    assert wording.forecast(2 * H, 3, 0.55, 3 * H, 2, None, None) == \
        "forecast 2 h from 3 similar tickets (p55; 2 more open tickets than usual), deadline in 3 h"
