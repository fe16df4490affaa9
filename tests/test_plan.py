"""Decision → TicketUpdate: only the difference, a paused clock left alone, notes for moves that matter."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import re
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.model import Ticket, TicketUpdate
from connectors.plan import fields_text, plan_update, update_from_json, update_to_json
from rules import EXAMPLE_RULES, decide, load_rules, parse_rules
from rules.wording import customer_time
from tests.fakes import agent_fields

RULES = load_rules()
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


def ticket(**fields) -> Ticket:
    base = dict(connector="zendesk", ticket_id="1", status="open", priority="normal", version="v1",
                opened_at=datetime(2026, 3, 2, 14, tzinfo=timezone.utc), reason_code="wrong_item", group_id="2003",
                custom_fields=agent_fields(RULES, "zendesk"))  # what an escalation request carries
    return Ticket(**{**base, **fields})


def settled(t: Ticket) -> Ticket:
    """The ticket as it is after slaclock's own write."""
    d = decide(t, RULES, NOW)
    return replace(t, due_at=d.due_at, due_by_metric={"first_response": d.deadlines["first_response"].due_at})


def test_nothing_to_change_is_an_empty_update():
    t = settled(ticket())
    assert plan_update(t, decide(t, RULES, NOW), frozenset({"first_response"})).is_empty()


def shown(instant: datetime) -> str:
    return customer_time(instant, NEW_YORK, NOW)  # the example teams' calendar: business, New York


NEW_YORK = ZoneInfo("America/New_York")


def test_first_due_time_is_named_in_the_note():
    t = ticket()
    update = plan_update(t, decide(t, RULES, NOW))
    assert update.due_at == decide(t, RULES, NOW).due_at and update.due_by_metric == {}
    assert update.note == f"Resolution due {shown(update.due_at)}."  # one line, New York time, no rules jargon


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
    assert update.note.splitlines()[-1] == (f"Routed to Specialists; resolution due {shown(decision.due_at)} "
                                            f"(was {shown(t.due_at)}).")
    assert "UTC" not in update.note  # one time zone per note


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


def test_a_write_is_named_in_words_for_the_timeline():
    def words(**changed):
        return fields_text(update_to_json(TicketUpdate(ticket_id="1", version=None, **changed)))

    assert words(priority="high") == "priority"
    assert words(group_id="2", note="x") == "group and internal note"
    # The tags added and removed are the tags; each due time by its metric.
    assert words(assignee_id="9", due_at=NOW, due_by_metric={"first_response": NOW, "next_update": NOW},
                 tags=frozenset({"a"}), tags_added=frozenset({"a"}), followers_add=frozenset({"7"}),
                 problem_id="5", status="solved") == ("assignee, resolution due, first response due, next update due, "
                                                      "tags, followers, problem link and status")
    assert words() == "nothing"


def test_a_case_only_routed_gets_its_fields_and_no_note():
    t = ticket(group_id=None, reason_code="missing_part")
    update = plan_update(t, decide(t, RULES, NOW), frozenset({"first_response"}))
    assert update.group_id == "2002" and update.due_at is not None and update.note is None
    asked = parse_rules(EXAMPLE_RULES.read_text(encoding="utf-8").replace("[routing]\n", "[routing]\nnote = true\n"))
    update = plan_update(t, decide(t, asked, NOW))
    assert update.note == f"Routed to Purchasing; resolution due {shown(update.due_at)}."


def test_the_escalation_comes_first_and_messages_for_others_stay_out():
    t = ticket(priority="urgent", group_id="2001", tags=frozenset({"slaclock_escalate"}))
    decision = decide(t, RULES, NOW + timedelta(hours=1, minutes=5))
    update = plan_update(t, decision)
    lines = update.note.splitlines()
    assert lines[0] == "Escalated to Maria Keller (Escalation manager) via L2 specialist: escalation asked by tag " \
                       "slaclock_escalate."
    notify = [a.text for a in decision.actions if a.kind == "notify"]
    assert notify and not any(text in update.note for text in notify)  # the account manager's message
    assert len(lines) <= 5 and all(len(line) <= 160 for line in lines), lines


DUE = re.compile(r"(resolution|first response|next update|next reply) due (\w{3} \d{1,2} \w{3}(?: \d{4})? at \d\d:\d\d \w+)")
METRIC = {"resolution": "resolution", "first response": "first_response", "next update": "next_update",
          "next reply": "next_reply"}


@settings(max_examples=60, deadline=None)
@given(priority=st.sampled_from(["low", "normal", "high", "urgent"]),
       reason=st.sampled_from([None, "missing_part", "wrong_item", "defect", "damage"]),
       subject=st.sampled_from(["Door hinge", "Smoke from the unit", "Refund"]),
       tags=st.sets(st.sampled_from(["slaclock_escalate", "tier_gold", "vip"])),
       minutes=st.integers(min_value=0, max_value=60 * 24 * 9),
       moved=st.booleans())
def test_every_due_time_a_note_names_is_the_decisions(priority, reason, subject, tags, minutes, moved):
    t = ticket(priority=priority, reason_code=reason, subject=subject, tags=frozenset(tags), group_id=None,
               due_at=NOW - timedelta(days=3) if moved else None)
    decision = decide(t, RULES, NOW + timedelta(minutes=minutes))
    note = plan_update(t, decision, frozenset({"first_response"})).note or ""
    zone = ZoneInfo(decision.note_zone)
    for label, when in DUE.findall(note):
        deadline = decision.deadlines[METRIC[label]]
        assert when == customer_time(deadline.due_at, zone, decision.memory.seen_at), (label, when, note)
    assert "UTC" not in note or decision.note_zone == "UTC", note
