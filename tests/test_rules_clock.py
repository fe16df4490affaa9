"""The SLA clock through `decide`: metrics, pauses, cycles, recomputation, frozen results.

Scenarios run in four zones (Europe/Berlin, Australia/Adelaide +09:30, Asia/Kathmandu +05:45,
America/Santiago) on an office calendar Mon-Fri 09:00-17:00 in the week of Monday 2026-06-01
(no DST change that week in any of them); times are local wall time.
"""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from rules import decide, parse_rules
from tests.replay import Replay

UTC = timezone.utc
ZONES = ["Europe/Berlin", "Australia/Adelaide", "Asia/Kathmandu", "America/Santiago"]

TEMPLATE = '''
version = "{version}"
[sla]
default_calendar = "office"
calendar_by_priority = {{ urgent = "24x7" }}
pause_statuses = ["pending", "hold"]
on_reopen = "{on_reopen}"
recompute = {{ priority = "{mode}", tier = "{mode}", calendar = "{mode}", team = "{mode}" }}
[sla.targets]
urgent = {{ first_response = "30m", next_update = "1h", resolution = "4h" }}
high = {{ first_response = "1h", next_update = "4h", resolution = "8h" }}
normal = {{ first_response = "2h", next_update = "8h", resolution = "{normal}" }}
low = {{ resolution = "40h" }}
[sla.metrics.first_response]
pause_statuses = []
[calendars.office]
timezone = "{zone}"
hours = {{ mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }}
[calendars.late]
timezone = "{zone}"
hours = {{ mon = ["12:00-20:00"], tue = ["12:00-20:00"], wed = ["12:00-20:00"], thu = ["12:00-20:00"], fri = ["12:00-20:00"] }}
[tiers.gold]
tags = ["tier_gold"]
organizations = ["900"]
calendar = "late"
targets = {{ normal = {{ resolution = "4h" }} }}
[routing]
default_team = "support"
reason_codes = {{ wrong_item = "warehouse" }}
[teams.support.zendesk]
group_id = "1"
[teams.warehouse]
zendesk = {{ group_id = "2" }}
calendar = "late"
'''


def make_rules(zone, *, version="v1", on_reopen="resume", mode="rederive", normal="16h"):
    return parse_rules(TEMPLATE.format(zone=zone, version=version, on_reopen=on_reopen, mode=mode, normal=normal))


class Case(Replay):
    """A new Zendesk ticket; the clock tests leave priority and group as the ticket has them."""

    helpdesk_writes = False

    def __init__(self, zone, rules, opened, **fields):
        super().__init__(zone, rules, opened, ticket_id="7", **fields)

    def due(self, metric="resolution"):
        return self.local(self.decision.deadlines[metric].due_at)

    def state(self, metric="resolution"):
        return self.decision.deadlines[metric].state


@pytest.fixture(params=ZONES)
def zone(request):
    return request.param


def test_opened_in_hours(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    d = case.step("2026-06-01 10:00")
    assert case.due() == "2026-06-03 10:00"  # 7 h Mon + 8 h Tue + 1 h Wed
    assert case.due("first_response") == "2026-06-01 12:00"
    assert "next_update" not in d.deadlines  # armed by the first reply
    assert d.due_at == d.deadlines["resolution"].due_at
    assert d.calendar == "office" and d.deadlines["resolution"].calendar == "office"
    assert d.deadlines["resolution"].rules_version == "v1"


def test_opened_after_hours_starts_next_morning(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 20:00")
    case.step("2026-06-01 20:00")
    assert case.due("first_response") == "2026-06-02 11:00"
    assert case.due() == "2026-06-03 17:00"


def test_urgent_runs_around_the_clock(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 20:00", priority="urgent")
    d = case.step("2026-06-01 20:00")
    assert case.due() == "2026-06-02 00:00"
    assert d.calendar == "24x7"
    assert any(r.rule == "sla.calendar_by_priority.urgent" for r in d.reasons_for("calendar"))


def test_pause_moves_the_deadline(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    case.step("2026-06-01 12:00", status="pending")
    assert case.state() == "paused"
    assert case.due() == "2026-06-03 10:00"  # if it resumed now: nothing lost yet
    case.step("2026-06-02 11:00")  # still pending, a day later: the deadline has moved
    assert case.state() == "paused" and case.due() == "2026-06-03 17:00"
    d = case.step("2026-06-02 12:00", status="open")
    assert case.state() == "active"
    assert case.due() == "2026-06-04 10:00"  # 2 h used; 14 h from Tue 12:00
    assert d.deadlines["resolution"].paused == timedelta(hours=8)  # Mon 12-17 + Tue 09-12
    assert case.due("first_response") == "2026-06-01 12:00"  # first_response does not pause


def test_hold_pauses_too_and_sequences_add_up(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 10:00", status="hold")
    case.step("2026-06-01 11:00", status="open")
    case.step("2026-06-01 12:00", status="pending")
    d = case.step("2026-06-01 14:00", status="open")
    assert d.deadlines["resolution"].paused == timedelta(hours=3)
    assert case.due() == "2026-06-03 12:00"  # 16 h + 3 h paused from Mon 09:00


def test_reopen_resumes_the_cycle(zone):
    case = Case(zone, make_rules(zone, on_reopen="resume"), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 15:00", status="solved")
    assert case.state() == "stopped" and d.deadlines["resolution"].met
    assert case.memory.result("resolution", 1) is not None
    d = case.step("2026-06-02 15:00", status="open")
    assert case.state() == "active" and d.deadlines["resolution"].cycle == 1
    assert case.due() == "2026-06-04 10:00"  # 5 h used, time spent solved skipped
    assert case.memory.result("resolution", 1) is None  # running again: no frozen result


def test_reopen_starts_a_new_cycle(zone):
    case = Case(zone, make_rules(zone, on_reopen="new_cycle"), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    case.step("2026-06-01 15:00", status="solved")
    d = case.step("2026-06-02 15:00", status="open")
    assert d.deadlines["resolution"].cycle == 2
    assert case.due() == "2026-06-04 15:00"  # a fresh 16 h from Tue 15:00
    first = case.memory.result("resolution", 1)
    assert first.met and first.stopped_at == case.at("2026-06-01 15:00")
    assert case.due("next_update") == "2026-06-03 15:00"  # a new cycle owes an update


# --- recomputation on change ------------------------------------------------------------

RECOMPUTE = [
    # mode, opened (priority), change at, new priority, expected resolution due, state
    ("rederive", "2026-06-01 10:00", "normal", "2026-06-01 15:00", "high", "2026-06-02 10:00", "active"),
    ("carry", "2026-06-01 10:00", "normal", "2026-06-01 15:00", "high", "2026-06-02 10:00", "active"),
    # After hours to urgent (24x7): rederive counts 4 h of 24×7 from 16:00 → already due at 20:00;
    # carry keeps the 1 business hour used (16-17) and has 3 h left from 20:00.
    ("rederive", "2026-06-01 16:00", "normal", "2026-06-01 20:00", "urgent", "2026-06-01 20:00", "breached"),
    ("carry", "2026-06-01 16:00", "normal", "2026-06-01 20:00", "urgent", "2026-06-01 23:00", "active"),
    # Downgrade urgent → normal at 18:00: rederive counts 16 business hours from 16:00;
    # carry keeps the 2 h of 24×7 used and counts 14 business hours from 18:00.
    ("rederive", "2026-06-01 16:00", "urgent", "2026-06-01 18:00", "normal", "2026-06-03 16:00", "active"),
    ("carry", "2026-06-01 16:00", "urgent", "2026-06-01 18:00", "normal", "2026-06-03 15:00", "active"),
    # Carry when more was used (10 h) than the new target allows (8 h): due at the change, breached;
    # rederive says the 8 h from Mon 09:00 ran out at Mon 17:00.
    ("carry", "2026-06-01 09:00", "normal", "2026-06-02 11:00", "high", "2026-06-02 11:00", "breached"),
    ("rederive", "2026-06-01 09:00", "normal", "2026-06-02 11:00", "high", "2026-06-01 17:00", "breached"),
]


@pytest.mark.parametrize("mode,opened,before,change,after,due,state", RECOMPUTE)
def test_priority_change_recomputes(zone, mode, opened, before, change, after, due, state):
    case = Case(zone, make_rules(zone, mode=mode), opened, priority=before)
    case.step(opened)
    case.step(change, priority=after)
    assert (case.due(), case.state()) == (due, state)
    assert case.memory.bases[-1].mode == mode


def test_escalation_rederives_from_opening(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 15:00", tags=frozenset({"slaclock_escalate"}))
    assert d.escalated and d.priority == "high"
    assert case.due() == "2026-06-02 10:00"  # 8 h from Mon 10:00 (seed 002)
    assert d.reasons_for("due_at")[0].rule == "sla.targets.high.resolution"


def test_team_change_moves_to_the_team_calendar(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    assert case.due() == "2026-06-03 10:00"
    d = case.step("2026-06-01 11:00", reason_code="wrong_item")  # re-routed to warehouse (12-20)
    assert d.team == "warehouse" and d.calendar == "late"
    assert case.due() == "2026-06-02 20:00"  # rederived on 12-20 from Mon 10:00: Mon 8 h + Tue 8 h
    d = case.step("2026-06-01 12:00", group_id="1")  # an agent moves it back to support
    assert d.calendar == "office" and case.due() == "2026-06-03 10:00"


def test_closed_ticket_keeps_its_result_after_rules_change(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    case.step("2026-06-02 10:00", status="solved")
    before = case.decision.deadlines["resolution"]
    new_rules = make_rules("UTC", version="v2", normal="2h")
    d = case.step("2026-06-08 10:00", rules=new_rules)
    after = d.deadlines["resolution"]
    assert after == before
    assert (after.rules_version, after.calendar, after.state) == ("v1", "office", "stopped")
    assert d.due_at == before.due_at
    # An open ticket, in contrast, follows the new rules.
    other = Case(zone, make_rules(zone), "2026-06-01 10:00")
    other.step("2026-06-01 10:00")
    d = other.step("2026-06-01 10:30", rules=new_rules)
    assert d.deadlines["resolution"].rules_version == "v2"
    opened = other.at("2026-06-01 10:00")
    assert d.deadlines["resolution"].due_at == new_rules.calendar("office").add(opened, timedelta(hours=2))


# --- first response and next update -----------------------------------------------------

def test_first_reply_stops_first_response_and_arms_next_update(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 11:00", reply=True)
    assert d.deadlines["first_response"].state == "stopped" and d.deadlines["first_response"].met
    assert case.due("next_update") == "2026-06-02 11:00"  # 8 h
    case.step("2026-06-01 16:00", reply=True)  # another public update re-arms it
    assert case.due("next_update") == "2026-06-02 16:00"
    d = case.step("2026-06-01 16:30", status="pending")  # waiting on the customer: no cadence owed
    assert d.deadlines["next_update"].state == "paused"
    d = case.step("2026-06-03 17:00", status="solved")
    assert d.deadlines["next_update"].state == "stopped"


def test_next_reply_runs_from_the_oldest_unanswered_customer_message(zone):
    rules = parse_rules(TEMPLATE.format(zone=zone, version="v1", on_reopen="resume", mode="rederive", normal="16h")
                        .replace('next_update = "8h"', 'next_update = "8h", next_reply = "3h"'))
    case = Case(zone, rules, "2026-06-01 10:00")
    d = case.step("2026-06-01 10:00", customer=True)  # the opening message is first_response's business
    assert "next_reply" not in d.deadlines
    case.step("2026-06-01 11:00", reply=True)
    d = case.step("2026-06-01 15:00", customer=True)
    assert case.due("next_reply") == "2026-06-02 10:00"  # 2 h Mon + 1 h Tue, office hours
    assert d.deadlines["next_reply"].state == "active"
    d = case.step("2026-06-01 16:00", customer=True)  # a second message: the oldest one still counts
    assert case.due("next_reply") == "2026-06-02 10:00"
    d = case.step("2026-06-02 09:30", reply=True)  # answered: nothing owed until the customer writes again
    assert "next_reply" not in d.deadlines and case.due("next_update") == "2026-06-03 09:30"
    d = case.step("2026-06-02 10:00", customer=True)
    assert case.due("next_reply") == "2026-06-02 13:00"
    d = case.step("2026-06-02 13:30")
    assert d.deadlines["next_reply"].state == "breached"


def test_first_response_breach_is_reported(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 12:30")
    assert d.deadlines["first_response"].state == "breached"
    d = case.step("2026-06-01 13:00", reply=True)
    assert d.deadlines["first_response"].state == "stopped" and d.deadlines["first_response"].met is False


def test_first_sight_of_a_pending_ticket_dates_the_pause_from_updated_at(zone):
    rules = make_rules(zone)
    case = Case(zone, rules, "2026-06-01 10:00", status="pending")
    case.ticket = replace(case.ticket, updated_at=case.at("2026-06-01 12:00"))
    d = decide(case.ticket, rules, case.at("2026-06-01 14:00"))
    assert [s.status for s in d.memory.statuses] == ["open", "pending"]
    assert d.deadlines["resolution"].used == timedelta(hours=2)
    assert d.deadlines["resolution"].state == "paused"


# --- tiers and calendar precedence ------------------------------------------------------

PRECEDENCE = '''
[sla]
default_calendar = "default"
calendar_by_priority = { urgent = "prio" }
tier_field = "555"
[calendars.default]
timezone = "UTC"
always_open = true
[calendars.prio]
timezone = "UTC"
always_open = true
[calendars.tier]
timezone = "UTC"
always_open = true
[calendars.tierprio]
timezone = "UTC"
always_open = true
[calendars.team]
timezone = "UTC"
always_open = true
[tiers.gold]
tags = ["tier_gold"]
calendar = "tier"
calendar_by_priority = { urgent = "tierprio" }
[tiers.silver]
organizations = ["77"]
tags = ["tier_silver"]
[routing]
default_team = "ops"
[teams.ops]
calendar = "team"
'''


@pytest.mark.parametrize("priority,tags,org,field,expected_tier,expected_calendar,rule", [
    ("urgent", {"tier_gold"}, None, None, "gold", "tierprio", "tiers.gold.calendar_by_priority.urgent"),
    ("urgent", set(), None, None, None, "prio", "sla.calendar_by_priority.urgent"),
    ("normal", {"tier_gold"}, None, None, "gold", "tier", "tiers.gold.calendar"),
    ("normal", {"tier_silver"}, None, None, "silver", "team", "teams.ops.calendar"),  # silver has no calendar
    ("normal", set(), None, None, None, "team", "teams.ops.calendar"),
    ("normal", set(), "77", None, "silver", "team", "teams.ops.calendar"),
    ("normal", {"tier_gold"}, "77", None, "gold", "tier", "tiers.gold.calendar"),  # tag beats organization
    ("normal", {"tier_silver"}, None, "gold", "gold", "tier", "tiers.gold.calendar"),  # field beats tag
    ("normal", set(), None, "bronze", None, "team", "teams.ops.calendar"),  # unknown field value ignored
])
def test_calendar_precedence(priority, tags, org, field, expected_tier, expected_calendar, rule):
    rules = parse_rules(PRECEDENCE)
    now = datetime(2026, 6, 1, 10, tzinfo=UTC)
    ticket = Ticket("zendesk", "1", "open", priority, now, tags=frozenset(tags), organization_id=org,
                    custom_fields={"555": field} if field else {})
    d = decide(ticket, rules, now)
    assert (d.tier, d.calendar) == (expected_tier, expected_calendar)
    assert d.reasons_for("calendar")[0].rule == rule


def test_team_calendar_applies_without_tier():
    rules = parse_rules(PRECEDENCE.replace('[teams.ops]\ncalendar = "team"', '[teams.ops]'))
    now = datetime(2026, 6, 1, 10, tzinfo=UTC)
    d = decide(Ticket("zendesk", "1", "open", "normal", now), rules, now)
    assert d.calendar == "default"
    assert d.reasons_for("calendar")[0].rule == "sla.default_calendar"


def test_tier_targets_and_calendar(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00", tags=frozenset({"tier_gold"}))
    d = case.step("2026-06-01 10:00")
    assert d.tier == "gold" and d.calendar == "late"
    assert case.due() == "2026-06-01 16:00"  # 4 h from 12:00 on the gold calendar
    assert d.deadlines["resolution"].rule == "tiers.gold.targets.normal.resolution"
    assert case.due("first_response") == "2026-06-01 14:00"  # not overridden: sla.targets, on 'late'


def test_tier_change_recomputes(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 11:00", organization_id="900")
    assert d.tier == "gold" and case.due() == "2026-06-01 16:00"
    assert case.memory.bases[-1].tier == "gold"


def test_solved_without_a_public_reply_has_no_first_response_result(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 10:30", status="solved")  # solved in time, but nobody ever answered
    first = d.deadlines["first_response"]
    assert first.state == "unmeasured" and first.met is None  # not measured, not "met"
    assert d.deadlines["resolution"].state == "stopped" and d.deadlines["resolution"].met


def test_solved_past_due_without_a_reply_missed_its_first_response(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 13:00", status="solved")  # due 12:00, nobody answered
    first = d.deadlines["first_response"]
    assert first.state == "stopped" and first.met is False


def test_a_reply_then_a_solve_is_a_met_first_response(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    case.step("2026-06-01 10:20", reply=True)
    d = case.step("2026-06-01 10:30", status="solved")
    assert d.deadlines["first_response"].state == "stopped" and d.deadlines["first_response"].met
