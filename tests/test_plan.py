"""Decision → TicketUpdate: only the difference, a paused clock left alone, notes for moves that matter."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from connectors.model import Ticket
from connectors.plan import plan_update, update_from_json, update_to_json
from rules import decide, load_rules

RULES = load_rules()
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


def ticket(**fields) -> Ticket:
    base = dict(connector="zendesk", ticket_id="1", status="open", priority="normal", version="v1",
                opened_at=datetime(2026, 3, 2, 14, tzinfo=timezone.utc), reason_code="wrong_item", group_id="2003")
    return Ticket(**{**base, **fields})


def settled(t: Ticket) -> Ticket:
    """The ticket as it is after slaclock's own write."""
    d = decide(t, RULES, NOW)
    return replace(t, due_at=d.due_at, due_by_metric={"first_response": d.deadlines["first_response"].due_at})


def test_nothing_to_change_is_an_empty_update():
    t = settled(ticket())
    assert plan_update(t, decide(t, RULES, NOW), frozenset({"first_response"})).is_empty()


def test_first_due_time_is_named_in_the_note():
    t = ticket()
    update = plan_update(t, decide(t, RULES, NOW))
    assert update.due_at == decide(t, RULES, NOW).due_at
    assert update.note.startswith("slaclock: due ") and "Why:" in update.note and update.due_by_metric == {}


def test_small_move_rewrites_the_field_without_a_note():
    t = settled(ticket())
    nudged = replace(t, due_at=t.due_at - timedelta(minutes=5))
    update = plan_update(nudged, decide(nudged, RULES, NOW), frozenset({"first_response"}))
    assert update.due_at == t.due_at and update.note is None and not update.is_empty()


def test_large_move_says_from_what_to_what_and_why():
    t = settled(ticket())
    raised = replace(t, priority="urgent")
    decision = decide(raised, RULES, NOW)
    update = plan_update(raised, decision, note_move=timedelta(minutes=15))
    assert f"due moved from {t.due_at:%Y-%m-%d %H:%M} to {decision.due_at:%Y-%m-%d %H:%M} UTC" in update.note
    assert "urgent" in update.note.split("Why:")[1]


def test_paused_clock_keeps_the_field_as_it_is():
    t = settled(ticket())
    waiting = replace(t, status="pending", updated_at=NOW)
    decision = decide(waiting, RULES, NOW + timedelta(hours=3))
    assert decision.deadlines["resolution"].state == "paused"
    assert decision.due_at != t.due_at
    assert plan_update(waiting, decision).due_at is None


def test_only_metrics_with_a_field_are_written():
    t = ticket()
    decision = decide(t, RULES, NOW)
    assert plan_update(t, decision).due_by_metric == {}
    assert set(plan_update(t, decision, frozenset({"first_response", "next_update"})).due_by_metric) == {"first_response"}


def test_outbox_round_trip_keeps_every_field():
    t = ticket(tags=frozenset({"slaclock_escalate", "vip"}))
    update = plan_update(t, decide(t, RULES, NOW), frozenset({"first_response"}))
    assert update_from_json(update_to_json(update)) == update
