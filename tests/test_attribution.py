"""The SLA / OLA split: the resolution clock's working time attributed to who held the case (hand-computed)."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from reports.kpis import CaseHistory, Period, report
from reports.history import report_options
from reports.text import render
from rules import CaseMemory, decide, explain_clock
from rules.attribution import time_by_holder
from rules.decision import (BasisChange, Climb, Deadline, DeadlineState, EscalationState, StatusChange,
                            TimelineKind)
from rules.ladder import LadderSnapshot
from rules.schema import EXAMPLE_RULES, RulesError, parse_rules

UTC = timezone.utc
H = timedelta(hours=1)
T0 = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # Mon 09:00 in New York
EXAMPLE = open(EXAMPLE_RULES).read()
RULES = parse_rules(EXAMPLE)
OLA = parse_rules(EXAMPLE + '\n[ola]\nwarn_percent = 50\nbudgets = { support = "4h", specialist = "2h" }\n')


def memory(statuses, bases=(("support", 0 * H),), climbs=(), rules=RULES):
    escalation = None
    if climbs:
        ladder = LadderSnapshot.take(rules, "standard")
        escalation = EscalationState(ladder, 1, started_at=T0 + climbs[0][0], level=climbs[-1][1],
                                     level_since=T0 + climbs[-1][0],
                                     climbs=tuple(Climb(T0 + at, level, "test") for at, level in climbs))
    return CaseMemory(statuses=tuple(StatusChange(T0 + at, s) for at, s in statuses),
                      bases=tuple(BasisChange(T0 + at, "normal", None, team, "24x7") for team, at in bases),
                      escalation=escalation, team=bases[-1][0])


def hours(held):
    return {h.holder: h.used / H for h in held}


# Opened at T0 with L1 support; waits on the customer from 2 h to 5 h; L2 from 10 h, the manager from 18 h;
# solved at 20 h. L1: 2 + 5 = 7 h, customer 3 h (paused), L2 8 h, manager 2 h: 17 h counted = 20 h - 3 h paused.
ESCALATED = memory([(0 * H, "new"), (2 * H, "pending"), (5 * H, "open"), (20 * H, "solved")],
                   climbs=[(10 * H, 1), (18 * H, 2)])


def test_each_holder_gets_its_working_time_and_the_paused_time_is_the_customers():
    held = time_by_holder(RULES, ESCALATED, T0, T0 + 30 * H)
    assert [(h.holder, h.title, h.kind) for h in held] == [
        ("support", "L1 support", "level"), ("customer", "waiting on customer", "paused"),
        ("specialist", "L2 specialist", "level"), ("manager", "Escalation manager", "level")]
    assert hours(held) == {"support": 7, "customer": 3, "specialist": 8, "manager": 2}
    assert held[0].teams == ("support",)


def test_a_vendor_team_holds_the_case_while_it_has_it_and_a_reopen_counts_again():
    # Routed to purchasing (L1 purchasing), handed to ACME Parts at 3 h, back to purchasing at 9 h, solved at
    # 10 h, reopened at 30 h, solved at 31 h: purchasing 3 + 1 + 1 = 5 h, ACME Parts 6 h; solved time counts for nobody.
    mem = memory([(0 * H, "open"), (10 * H, "solved"), (30 * H, "open"), (31 * H, "solved")],
                 bases=(("purchasing", 0 * H), ("acme_parts", 3 * H), ("purchasing", 9 * H)))
    held = time_by_holder(RULES, mem, T0, T0 + 40 * H)
    assert [(h.holder, h.title, h.kind) for h in held] == [("support", "L1 purchasing", "level"),
                                                            ("acme_parts", "ACME Parts", "vendor")]
    assert hours(held) == {"support": 5, "acme_parts": 6}


def test_on_a_business_calendar_only_working_hours_count():
    # Resolution on the business calendar (Mon-Fri 08-12, 13-17 New York): opened Mon 16:00, L2 from Tue 10:00,
    # looked at Tue 12:30. L1: Mon 16-17 + Tue 08-10 = 3 h; L2: Tue 10-12 = 2 h (12:00-12:30 is lunch).
    rules = parse_rules(EXAMPLE.replace('[sla.metrics.resolution]\ncalendar = "24x7"', ""))
    opened = T0 + 7 * H  # Mon 16:00 New York
    mem = replace(memory([(0 * H, "open")], climbs=[(25 * H, 1)], rules=rules),
                  statuses=(StatusChange(opened, "open"),),
                  bases=(BasisChange(opened, "normal", None, "support", "business"),))
    held = time_by_holder(rules, mem, opened, T0 + 27.5 * H)
    assert hours(held) == {"support": 3, "specialist": 2}


def ticket(**fields):
    return Ticket(connector="zendesk", ticket_id="42", opened_at=T0,
                  **{"status": "open", "priority": "normal", "subject": "Broken hinge", "updated_at": T0, **fields})


def test_explain_lists_the_holders_against_the_target_and_the_budgets():
    lines = explain_clock(ticket(status="solved"), RULES, T0 + 30 * H, ESCALATED)
    at = lines.index("time by holder (resolution clock, calendar 24x7):")
    assert lines[at + 1:at + 5] == ["    L1 support used 7 h of 72 h", "    waiting on customer: 3 h, not counted",
                              "    L2 specialist used 8 h of 72 h", "    Escalation manager used 2 h of 72 h"]
    budgeted = explain_clock(ticket(status="solved"), OLA, T0 + 30 * H, ESCALATED)
    assert "    L1 support used 7 h of its 4 h budget, 3 h over" in budgeted
    assert "    L2 specialist used 8 h of its 2 h budget, 6 h over" in budgeted
    assert "    Escalation manager used 2 h of 72 h" in budgeted


def breached(mem, target):
    due = T0 + target
    result = Deadline(metric="resolution", cycle=1, state=DeadlineState.STOPPED, due_at=due, started_at=T0,
                      target=target, used=17 * H, paused=3 * H, calendar="24x7", rules_version="v1",
                      stopped_at=T0 + 20 * H)
    return replace(mem, results=(result,))


def test_report_sums_the_holders_and_says_who_used_a_breached_clock():
    june = Period(T0 - timedelta(days=1), T0 + timedelta(days=10))
    cases = [CaseHistory("zendesk:1", T0, breached(ESCALATED, 16 * H)),
             CaseHistory("zendesk:2", T0, memory([(0 * H, "open"), (4 * H, "solved")]))]
    data = report(cases, june, **report_options(OLA)).to_json()
    assert data["time_by_holder"]["support"] == {"title": "L1 support", "kind": "level", "cases": 2, "hours": 11.0,
                                                 "mean_hours": 5.5, "budget_hours": 4.0, "over_budget": 1}
    assert data["time_by_holder"]["customer"]["hours"] == 3.0
    assert data["time_by_holder"]["manager"]["budget_hours"] is None
    [share] = data["breached_by_holder"]
    assert share["case"] == "zendesk:1" and share["target_hours"] == 16.0
    assert share["text"] == ("L1 support used 7 h of its 4 h budget, 3 h over; waiting on customer: 3 h, not counted; "
                             "L2 specialist used 8 h of its 2 h budget, 6 h over; Escalation manager used 2 h of 16 h")
    table = render({"all": report(cases, june, **report_options(OLA))}, june, None, "table")
    assert "all time with L1 support: 11 h over 2 cases (budget 4 h, over it in 1 case)" in table
    assert "all time with Escalation manager: 2 h over 1 case" in table
    assert "all breached zendesk:1: L1 support used 7 h" in table


def test_ola_warns_at_its_percent_then_climbs_one_level_once_used_up():
    d = decide(ticket(status="new"), OLA, T0)
    assert (d.next_action_at, d.next_action) == (T0 + 2 * H, "L1 support budget warning")  # 50 % of L1's 4 h
    d = decide(ticket(), OLA, T0 + 2.5 * H, CaseMemory.from_json(d.memory.to_json()))
    [warn] = [e for e in d.timeline if e.kind == TimelineKind.OLA]
    assert (warn.at, warn.threshold, warn.text) == (T0 + 2 * H, "warn", "L1 support has used 2 h of its 4 h budget.")
    assert "L1 support has used 2 h of its 4 h budget." in [a.text for a in d.actions]
    assert d.escalation_level is None and (d.next_action_at, d.next_action) == (T0 + 4 * H, "L1 support budget used up")
    d = decide(ticket(), OLA, T0 + 4.5 * H, CaseMemory.from_json(d.memory.to_json()))
    assert d.escalation_level == "specialist"
    assert [(e.kind, e.at) for e in d.timeline if e.kind in (TimelineKind.OLA, TimelineKind.LEVEL_CHANGE)] == [
        (TimelineKind.OLA, T0 + 4 * H), (TimelineKind.LEVEL_CHANGE, T0 + 4 * H)]
    assert "Escalated to Sam Ortiz (L2 specialist, Specialists): L1 support used its whole 4 h budget." in [
        a.text for a in d.actions]
    # L2's own 2 h budget: warned at 1 h (5 h), used up at 2 h (6 h); nothing fires twice.
    assert (d.next_action_at, d.next_action) == (T0 + 5 * H, "L2 specialist budget warning")
    again = decide(ticket(), OLA, T0 + 4.5 * H, CaseMemory.from_json(d.memory.to_json()))
    assert again.timeline == () and again.actions == ()


def test_ola_while_waiting_on_the_customer_stands_still():
    d = decide(ticket(status="new"), OLA, T0)
    d = decide(ticket(status="pending", updated_at=T0 + 1 * H), OLA, T0 + 1 * H,
               CaseMemory.from_json(d.memory.to_json()))
    d = decide(ticket(status="pending", updated_at=T0 + 1 * H), OLA, T0 + 10 * H,
               CaseMemory.from_json(d.memory.to_json()))
    assert not [e for e in d.timeline if e.kind == TimelineKind.OLA]
    # 1 h used before the pause: the warning comes 1 h after the customer answers.
    d = decide(ticket(updated_at=T0 + 10 * H), OLA, T0 + 10 * H, CaseMemory.from_json(d.memory.to_json()))
    assert d.next_action_at == T0 + 11 * H


def test_the_example_ola_block_validates_and_bad_budgets_are_refused():
    block = EXAMPLE.split("# [ola]\n", 1)[1].split("\n\n", 1)[0]
    rules = parse_rules(EXAMPLE + "\n[ola]\n" + block.replace("# ", ""))
    assert rules.ola.budgets["acme_parts"] == 48 * H and rules.ola.warn_percent == 75
    with pytest.raises(RulesError, match=r"ola\.budgets\.nobody.*neither a ladder level nor a vendor team"):
        parse_rules(EXAMPLE + '\n[ola]\nbudgets = { nobody = "4h" }\n')
    with pytest.raises(RulesError, match="warn_percent"):
        parse_rules(EXAMPLE + '\n[ola]\nwarn_percent = 120\n')
    assert RULES.ola is None
