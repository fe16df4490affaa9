"""decide(): routing, priority and escalation as before, plus the clock's memory and explain."""
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.model import Ticket
from rules import CaseMemory, Rating, decide, explain_clock, load_rules
from tests.business_rules import business_resolution_rules
from tests.fakes import agent_fields

UTC = timezone.utc
RULES = load_rules()
OPENED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York (the example calendar)


def ticket(**fields) -> Ticket:
    """A Zendesk ticket; the agent has filled in the escalation request's items and the resolution path."""
    base = dict(connector="zendesk", ticket_id="1", status="new", priority="normal", opened_at=OPENED,
                custom_fields=agent_fields(RULES, "zendesk"))
    return Ticket(**{**base, **fields})


def test_routing_by_reason_code_and_default():
    d = decide(ticket(reason_code="missing_part"), RULES, OPENED)
    assert (d.team, d.group_id, d.assignee_id) == ("purchasing", "2002", None)
    d = decide(ticket(reason_code="access_issue"), RULES, OPENED)
    assert (d.team, d.group_id, d.assignee_id) == ("branch_manager", "2004", "3004")
    d = decide(ticket(reason_code="defect"), RULES, OPENED)  # seed 000: warranty defects go to the vendor
    assert (d.team, d.group_id) == ("acme_parts", "2008") and d.reasons_for("team")[0].rule == "routing.reason_codes.defect"
    d = decide(ticket(reason_code="other"), RULES, OPENED)
    assert d.team == "support" and d.reasons_for("team")[0].rule == "routing.default_team"


def test_manual_reroute_stands_until_reason_code_changes():
    first = decide(ticket(reason_code="wrong_item"), RULES, OPENED)
    again = decide(ticket(reason_code="wrong_item", group_id="2001"), RULES, OPENED + timedelta(hours=1), first.memory)
    assert again.team is None and again.group_id is None
    changed = decide(ticket(reason_code="missing_part"), RULES, OPENED + timedelta(hours=2), again.memory)
    assert changed.team == "purchasing"


def test_escalation_tag_bumps_priority_and_is_removed():
    d = decide(ticket(tags=frozenset({"slaclock_escalate"})), RULES, OPENED)
    assert d.escalated and d.priority == "high" and d.tags_remove == {"slaclock_escalate"}
    d = decide(ticket(priority="urgent", tags=frozenset({"slaclock_escalate"})), RULES, OPENED)
    assert d.priority == "urgent"


def test_missing_priority_means_normal():
    d = decide(ticket(priority=None), RULES, OPENED)
    assert d.priority == "normal" and d.reasons_for("priority")[0].rule == "sla.default_priority"


def test_example_rules_resolution_on_the_wall_clock_first_response_in_business_hours():
    d = decide(ticket(), RULES, OPENED)
    # Seed 002: opened Monday 2 March 14:00 UTC + 72 h = Thursday 5 March 14:00 UTC.
    assert d.due_at == datetime(2026, 3, 5, 14, 0, tzinfo=UTC) and d.deadlines["resolution"].calendar == "24x7"
    # Seed 001: 8 business hours from Monday 09:00 EST: 7 h on Monday, 1 h on Tuesday → Tue 09:00 EST.
    assert d.deadlines["first_response"].due_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    assert d.deadlines["first_response"].calendar == "business"
    assert set(d.deadlines) == {"first_response", "resolution"}
    assert d.reasons_for("due_at")[0].rule == "sla.targets.normal.resolution"


def test_seed_002_low_case_opened_tuesday_1_december_is_due_tuesday_8_december():
    opened = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
    d = decide(ticket(priority="low", opened_at=opened, updated_at=opened), RULES, opened)
    assert d.due_at == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 168 h: Tuesday 8 December 10:00 EST
    # Raised to high a day later: re-derived from the opening, 24 h → Wednesday 2 December 10:00 EST.
    later = opened + timedelta(days=1, hours=-1)
    raised = decide(ticket(priority="high", opened_at=opened, updated_at=later), RULES, later, d.memory)
    assert raised.due_at == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_business_hours_resolution_is_one_line_away():
    d = decide(ticket(), business_resolution_rules(), OPENED)
    # 72 business hours (08-12, 13-17, Mon-Fri, New York) from Monday 09:00 EST: 7 h on Monday,
    # 8 × 8 h up to Thursday 12th 17:00, then 1 h: Friday 13th 09:00 EDT (DST began on the 8th).
    assert d.due_at == datetime(2026, 3, 13, 13, 0, tzinfo=UTC) and d.deadlines["resolution"].calendar == "business"
    low = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # issue 15: Tuesday 1 December, low: due Tuesday 5 January
    d = decide(ticket(priority="low", opened_at=low, updated_at=low), business_resolution_rules(), low)
    assert d.due_at.astimezone(ZoneInfo("America/New_York")).date() == date(2027, 1, 5)


def test_example_rules_urgent_runs_24x7():
    d = decide(ticket(priority="urgent"), RULES, OPENED)
    assert d.due_at == OPENED + timedelta(hours=4) and d.calendar == "24x7"


def test_minimal_ticket_facts_with_empty_optional_values():
    # Not a connectors.Ticket: any object with TicketFacts' attributes will do; the optional
    # ones empty (no status, no update instant, no text, no custom fields).
    @dataclass(frozen=True)
    class Facts:
        connector: str = "jira"
        priority: str | None = "high"
        opened_at: datetime = OPENED
        tags: frozenset = frozenset()
        reason_code: str | None = None
        group_id: str | None = None
        assignee_id: str | None = None
        ticket_id: str = ""
        status: str = ""
        updated_at: datetime | None = None
        subject: str = ""
        description: str = ""
        requester_id: str | None = None
        organization_id: str | None = None
        custom_fields: Mapping[str, Any] = field(default_factory=dict)

        @property
        def key(self) -> str:
            return f"{self.connector}:{self.ticket_id}"

    d = decide(Facts(), RULES, OPENED + timedelta(minutes=5))
    assert d.deadlines["resolution"].state == "active"
    assert d.memory.statuses[0].status == "open"


def test_memory_json_round_trip_and_old_format():
    d = decide(ticket(status="pending", updated_at=OPENED + timedelta(hours=1)), RULES, OPENED + timedelta(hours=2),
               agent_reply_at=OPENED + timedelta(minutes=30))
    data = d.memory.to_json()
    assert CaseMemory.from_json(data) == d.memory
    assert data["statuses"][1] == {"at": "2026-03-02T15:00:00+00:00", "status": "pending"}
    old = CaseMemory.from_json({"routed_reason_code": "defect", "routed": True})
    assert old.routed and old.statuses == () and CaseMemory.from_json(None) == CaseMemory()
    d2 = decide(ticket(reason_code="defect"), RULES, OPENED, old)
    assert d2.team is None and d2.memory.bases  # routed before; the clock starts now


def test_stopped_result_frozen_in_memory_json():
    d1 = decide(ticket(), RULES, OPENED)
    d2 = decide(ticket(status="solved", updated_at=OPENED + timedelta(hours=3)), RULES,
                OPENED + timedelta(hours=3), CaseMemory.from_json(d1.memory.to_json()))
    frozen = d2.memory.to_json()["results"]
    assert {r["metric"] for r in frozen} == {"first_response", "resolution"}
    resolution = next(r for r in frozen if r["metric"] == "resolution")
    assert resolution["rules_version"] == "example-5" and resolution["calendar"] == "24x7"
    assert resolution["state"] == "stopped" and resolution["stopped_at"] == "2026-03-02T17:00:00+00:00"


def test_explain_clock_lines():
    now = OPENED + timedelta(days=1)
    d = decide(ticket(), RULES, OPENED)
    t = ticket(status="pending", updated_at=OPENED + timedelta(hours=2))
    lines = explain_clock(t, RULES, now, d.memory)
    text = "\n".join(lines)
    assert "calendar business chosen by sla.default_calendar" in text
    assert "America/New_York" in text and "public holidays US (Christmas Day, Independence Day" in text
    assert "resolution, cycle 1: target 72 h (sla.targets.normal.resolution)" in text
    # Resolution on the wall clock (24x7, UTC): 2 h counted, then paused since 16:00 UTC (11:00 in New York).
    assert "counted Mon 2026-03-02: 14:00-16:00 (2 h)" in text
    assert "paused 2026-03-02 16:00 UTC" in text and "(ongoing)" in text
    # Due: 72 h - 2 h = 70 h left from now (Tuesday 14:00 UTC), were the pause to end now: Friday 12:00 UTC.
    assert "due 2026-03-06 12:00 UTC" in lines[-1] and "paused" in lines[-1]
    assert "rules example-5, calendar 24x7" in lines[-1]


def test_explain_lists_holidays_skipped():
    opened = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)  # Wednesday before Thanksgiving, 15:00 EST
    lines = explain_clock(ticket(opened_at=opened, priority="high"), business_resolution_rules(), opened)
    assert any("Thanksgiving Day" in line for line in lines)
    assert "    skipped 2 weekly days off" in lines  # Saturday and Sunday


def test_explain_shows_frozen_result():
    d1 = decide(ticket(), RULES, OPENED)
    d2 = decide(ticket(status="solved"), RULES, OPENED + timedelta(hours=3), d1.memory)
    lines = explain_clock(ticket(status="solved"), RULES, OPENED + timedelta(days=9), d2.memory)
    assert any("frozen result: computed under rules example-5 on calendar business" in line for line in lines)


# --- engine-level invariant: pausing never makes a deadline earlier ----------------------

steps = st.lists(st.tuples(st.integers(1, 72 * 60), st.sampled_from(["open", "pending", "hold"])), max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.sampled_from(["low", "normal", "high", "urgent"]))
def test_pausing_never_makes_the_resolution_deadline_earlier(history, priority):
    def replay(pausing: bool):
        memory, now, t = None, OPENED, ticket(priority=priority)
        decision = decide(t, RULES, now, memory)
        for minutes, status in history:
            now += timedelta(minutes=minutes)
            # The helpdesk holds the priority slaclock wrote (a ladder level raises it when reached).
            t = replace(t, status=status if pausing else "open", updated_at=now, priority=decision.priority)
            decision = decide(t, RULES, now, decision.memory)
        return decision, now

    paused, now = replay(True)
    running, _ = replay(False)
    assert paused.due_at >= running.due_at
    assert paused.deadlines["resolution"].used <= running.deadlines["resolution"].used


def test_naive_instants_are_refused():
    import pytest
    with pytest.raises(ValueError, match="no time zone"):
        decide(ticket(), RULES, datetime(2026, 3, 2, 14, 0))
    with pytest.raises(ValueError, match="no time zone"):
        RULES.calendar("business").add(datetime(2026, 3, 2, 14, 0), timedelta(hours=1))


def test_instants_in_other_offsets_are_stored_in_utc():
    from zoneinfo import ZoneInfo
    opened = OPENED.astimezone(ZoneInfo("Asia/Kathmandu"))
    d = decide(ticket(opened_at=opened, priority="urgent"), RULES, opened)
    assert d.due_at.utcoffset() == timedelta(0) and d.due_at == OPENED + timedelta(hours=4)
    assert d.memory.statuses[0].at.utcoffset() == timedelta(0)


def test_a_new_or_changed_rating_is_one_csat_event_and_a_repeated_one_none():
    solved = ticket(status="solved", updated_at=OPENED + timedelta(hours=3))
    first = decide(solved, RULES, OPENED + timedelta(hours=4), rating=Rating(verdict="bad"))
    (event,) = [e for e in first.timeline if e.kind == "csat"]
    assert (event.at, event.rating, event.text) == (OPENED + timedelta(hours=3), Rating(verdict="bad"),
                                                    "Customer rated bad")
    again = decide(solved, RULES, OPENED + timedelta(hours=5), first.memory, rating=Rating(verdict="bad"))
    unread = decide(solved, RULES, OPENED + timedelta(hours=5), first.memory)  # not read this time: kept
    assert [e for e in again.timeline + unread.timeline if e.kind == "csat"] == []
    assert unread.memory.rating == Rating(verdict="bad")
    changed = decide(solved, RULES, OPENED + timedelta(hours=6), again.memory,
                     rating=Rating(verdict="good", comment="Called back, all fine"))
    assert [e.text for e in changed.timeline if e.kind == "csat"] == ['Customer rated good: "Called back, all fine"']


def test_a_rating_is_a_score_from_1_to_5_or_a_verdict_never_both_or_neither():
    assert Rating(score=4).good and not Rating(score=3).good and not Rating(verdict="bad").good
    for bad in ({}, {"score": 0}, {"score": 6}, {"verdict": "meh"}, {"score": 5, "verdict": "good"}):
        with pytest.raises(ValueError):
            Rating(**bad)
