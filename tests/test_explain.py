"""`slaclock explain` as an agent reads it after slaclock's own write."""
from datetime import datetime, timedelta, timezone

from jobs.explain import clock_lines
from jobs.processor import Processor
from rules import load_rules
from tests.fakes import Clock, FakeConnector

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


def test_the_clock_is_shown_as_of_the_latest_decision_with_its_own_write(store):
    fake, rules = FakeConnector(), load_rules()
    fake.add("5", subject="Smoke coming out of the unit")  # the safety trigger: urgent, escalated at once
    store.add_delivery(connector="zendesk", delivery_key="d1", event_type="ticket.created", ticket_id="5",
                       actor_id="7", headers={}, body=b"{}", received_at=NOW)
    Processor(store, {"zendesk": fake}, rules, Clock(NOW)).run_once()
    case = store.get_case("zendesk", "5")
    assert case.priority == "urgent" and case.snapshot["priority"] == "normal"  # the ticket as it was read
    lines = clock_lines(store, rules, "zendesk:5", NOW + timedelta(minutes=1))
    assert lines[1].startswith("priority urgent;")
    assert any(line.strip().startswith("due ") and case.due_at.strftime("%Y-%m-%d %H:%M UTC") in line
               for line in lines), lines
