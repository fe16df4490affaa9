"""Escalate before the breach: thresholds, the ladder, the named owner, milestones, next action.

Each scenario replays a ticket through `decide` with an injected `now`, carrying the memory
from one decision to the next as the processor does (round-tripped through JSON each time, so
every step is also a restart). Office calendar Mon-Fri 09:00-17:00 in two zones, in the week of
Monday 2026-06-01 (no DST change); times are local wall time of the zone.

Resolution of a normal case: 16 h. Opened Mon 09:00 it reaches 50 % (8 h) Mon 17:00, 75 %
(12 h) Tue 13:00, 90 % (14 h 24 min) Tue 15:24 and 100 % Tue 17:00.
"""
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.model import Ticket
from rules import CaseMemory, decide, explain_clock, load_rules, parse_rules
from rules.ladder import LadderSnapshot
from rules.schema import RulesError
from tests.business_rules import business_resolution_rules
from tests.replay import Replay

UTC = timezone.utc
ZONES = ["Europe/Berlin", "America/New_York"]

TEMPLATE = '''
version = "{version}"
[sla]
default_calendar = "office"
calendar_by_priority = {{ urgent = "24x7" }}
pause_statuses = ["pending", "hold"]
[sla.targets]
urgent = {{ first_response = "30m", resolution = "4h" }}
high = {{ first_response = "1h", resolution = "8h" }}
normal = {{ first_response = "2h", resolution = "16h" }}
low = {{ resolution = "40h" }}
[sla.metrics.first_response]
pause_statuses = []
[calendars.office]
timezone = "{zone}"
hours = {{ mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }}

[routing]
default_team = "support"
[teams.support.zendesk]
group_id = "1"
[teams.specialists.zendesk]
group_id = "2"
[teams.engineering.zendesk]
group_id = "3"
[teams.tech_leads.zendesk]
group_id = "4"

[escalation]
ladder = "standard"
[escalation.thresholds]
first_response = [{{ percent = 75 }}, {{ percent = 100, level = "specialist" }}]
resolution = [
  {{ percent = 50, tags = ["sla_warning"] }},
  {{ percent = 75, level = "specialist" }},
  {{ percent = 90, level = "manager" }},
  {{ percent = 100, level = "engineering" }},
]

[[ladders.standard.levels]]
name = "support"
title = "L1 support"
[[ladders.standard.levels]]
name = "specialist"
title = "L2 specialist"
team = "specialists"
owner = "{specialist}"
tags = ["esc_l2"]
[[ladders.standard.levels]]
name = "manager"
title = "Escalation manager"
person = "{manager}"
followers = ["sam"]
[[ladders.standard.levels]]
name = "engineering"
title = "Engineering on call"
team = "engineering"
rota = "oncall"
owner = "erik"
priority = "high"
climb_after = "4h"
[[ladders.standard.levels]]
name = "executive"
title = "Executive support"
person = "elena"

[rotas.oncall]
timezone = "{zone}"
fallback = "erik"
[rotas.oncall.weekly]
mon = {{ "09:00-17:00" = "erik", "17:00-24:00" = "nina" }}
tue = {{ "00:00-09:00" = "nina", "09:00-17:00" = "erik", "17:00-24:00" = "nina" }}
wed = {{ "00:00-09:00" = "nina", "09:00-17:00" = "erik", "17:00-24:00" = "nina" }}
[rotas.oncall.overrides]
2026-06-03 = "omar"
2026-06-04 = {{ "12:00-14:00" = "omar" }}

[people.sam]
name = "Sam Ortiz"
zendesk = 11
[people.maria]
name = "Maria Keller"
zendesk = "12"
[people.erik]
name = "Erik Lund"
zendesk = "13"
[people.nina]
name = "Nina Okafor"
zendesk = "14"
[people.omar]
name = "Omar Haddad"
zendesk = "15"
[people.elena]
name = "Elena Ruiz"
zendesk = "16"
[people.tess]
name = "Tess Moreau"
zendesk = "17"
[people.gus]
name = "Gus Hale"
zendesk = "18"
email = "gus@example.com"
[people.mona]
name = "Mona Lind"
zendesk = "19"

[milestones.tech_lead]
after = "60m"
team = "tech_leads"
subject = "Tech lead: {{subject}} ({{ticket}})"
body = "{{ticket}} is {{priority}} and unresolved after {{after}}; due {{due_at}}."
[milestones.queued]
tag = "queued_overnight"

[account_managers]
default = "tess"
organizations = {{ "900" = "gus" }}
'''


def make_rules(zone, *, version="v1", specialist="sam", manager="maria"):
    return parse_rules(TEMPLATE.format(zone=zone, version=version, specialist=specialist, manager=manager))


class Case(Replay):
    defaults = {**Replay.defaults, "subject": "Printer on fire"}

    def events(self, kind=None):
        return [(e.kind, self.local(e.at), e.metric, e.level, e.threshold)
                for e in self.timeline if kind is None or e.kind == kind]


@pytest.fixture(params=ZONES)
def zone(request):
    return request.param


# --- the walk: warn, L2, manager, breach → engineering on call, timeout acknowledged --------

def test_walk_through_the_ladder(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    d = case.step("2026-06-01 09:00")
    assert case.next_action() == "2026-06-01 10:30"  # first response 75 % of 2 h
    assert d.actions == () and d.escalation_level is None
    d = case.step("2026-06-01 10:00", reply=True)  # first response met
    assert case.next_action() == "2026-06-01 17:00"  # resolution 50 % (8 h)

    d = case.step("2026-06-01 16:59")
    assert d.timeline == () and case.next_action() == "2026-06-01 17:00"
    d = case.sweep()  # Mon 17:00: 50 % warning
    assert [(e.kind, e.threshold) for e in d.timeline] == [("warning", "50")]
    (note,) = d.actions
    assert note.key == "threshold:resolution:1:50" and note.kind == "note"
    assert note.text == "SLA warning: resolution reached 50 % of its 16 h target."  # the due time: the note's due line
    assert d.tags_add == {"sla_warning"} and d.escalation_level is None and d.group_id is None
    assert case.next_action() == "2026-06-02 13:00"
    d = case.step("2026-06-01 17:00")  # the same instant again (a duplicate event): nothing new
    assert d.timeline == () and d.actions == () and d.tags_add == frozenset()

    d = case.sweep()  # Tue 13:00: 75 % → L2 specialist
    assert (d.escalation_level, d.escalation_owner) == ("specialist", "Sam Ortiz")
    assert (d.team, d.group_id, d.assignee_id) == ("specialists", "2", "11")
    assert d.tags_add == {"esc_l2"} and d.priority == "normal"
    assert [a.key for a in d.actions] == ["level:1:1:specialist"]  # the escalation line tells the 75 % too
    level_note = d.actions[-1].text
    assert level_note == "Escalated to Sam Ortiz (L2 specialist, Specialists): resolution reached 75 % of its 16 h target."
    assert any("frozen from rules v1" in r.text for r in d.reasons_for("escalation"))
    assert case.next_action() == "2026-06-02 15:24"

    d = case.sweep()  # Tue 15:24: 90 % → the manager, a named person
    assert (d.escalation_level, d.escalation_owner, d.assignee_id) == ("manager", "Maria Keller", "12")
    assert d.group_id is None and d.followers_add == {"11"}
    assert case.next_action() == "2026-06-02 17:00"

    d = case.sweep()  # Tue 17:00: breach → engineering, whoever is on call at 17:00: Nina
    assert [e.kind for e in d.timeline] == ["breach", "level_change"]
    assert (d.escalation_level, d.escalation_owner, d.assignee_id, d.group_id) == ("engineering", "Nina Okafor",
                                                                                   "14", "3")
    assert d.priority == "high" and any(r.rule == "ladders.standard.levels[3].priority"
                                        for r in d.reasons_for("priority"))
    assert d.deadlines["resolution"].state == "breached"
    assert case.next_action() == "2026-06-03 13:00"  # climb_after 4 working hours without a reply

    d = case.step("2026-06-03 11:00", reply=True)  # an agent answers: the level is acknowledged
    assert [e.kind for e in d.timeline] == ["first_response_after_escalation"]
    assert d.memory.escalation.acked_at == case.at("2026-06-03 11:00")
    assert d.next_action_at is None
    d = case.step("2026-06-03 14:00")
    assert d.escalation_level == "engineering" and d.timeline == ()

    assert case.events() == [
        ("warning", "2026-06-01 17:00", "resolution", None, "50"),
        ("escalation", "2026-06-02 13:00", "resolution", "specialist", "75"),
        ("level_change", "2026-06-02 13:00", None, "specialist", None),
        ("escalation", "2026-06-02 15:24", "resolution", "manager", "90"),
        ("level_change", "2026-06-02 15:24", None, "manager", None),
        ("breach", "2026-06-02 17:00", "resolution", "engineering", "100"),
        ("level_change", "2026-06-02 17:00", None, "engineering", None),
        ("first_response_after_escalation", "2026-06-03 11:00", None, "engineering", None),
    ]
    keys = [a.key for a in case.actions]
    assert len(keys) == len(set(keys))  # every action once


def test_level_timeout_climbs_without_a_reply(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-02 17:30")  # first decision after the breach (the sweeper was down)
    levels = [(e.level, case.local(e.at)) for e in d.timeline if e.kind == "level_change"]
    assert levels == [("specialist", "2026-06-02 13:00"), ("manager", "2026-06-02 15:24"),
                      ("engineering", "2026-06-02 17:00")]
    assert d.escalation_level == "engineering" and d.assignee_id == "14"  # on call now (17:30): Nina
    assert "via L2 specialist, Escalation manager" in d.actions[-1].text
    assert not [a.key for a in d.actions if a.key.startswith("threshold")]  # the escalation line tells them
    assert d.actions[-1].text.endswith(": resolution breached its 16 h target.")
    assert case.next_action() == "2026-06-03 13:00"
    d = case.sweep()  # no reply in 4 working hours: the executive
    assert (d.escalation_level, d.escalation_owner, d.assignee_id) == ("executive", "Elena Ruiz", "16")
    assert "no agent reply within 4 h at level Engineering on call" in d.actions[-1].text
    assert d.next_action_at is None  # the top of the ladder


# --- exactly once, also across restarts; next_action_at exact ------------------------------

def test_next_action_at_is_exact_and_each_threshold_fires_once(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 10:00", priority="high")
    case.step("2026-06-01 10:00")
    assert case.decision.next_action_at == case.at("2026-06-01 10:45")  # 75 % of the 1 h first response
    d = case.step(case.at("2026-06-01 10:45") - timedelta(microseconds=1), touch=False)
    assert d.timeline == () and d.next_action_at == case.at("2026-06-01 10:45")
    d = case.sweep()
    assert [(e.kind, e.threshold, e.at) for e in d.timeline] == [("warning", "75", case.at("2026-06-01 10:45"))]
    assert d.actions[0].key == "threshold:first_response:1:75"
    assert d.next_action_at == case.at("2026-06-01 11:00")  # the first response breach
    for _ in range(3):  # a restart and the sweeper again at the same instant: nothing fires twice
        d = case.step("2026-06-01 10:45", touch=False)
        assert d.timeline == () and d.actions == ()
    d = case.sweep()
    assert [e.kind for e in d.timeline] == ["breach", "level_change"] and d.escalation_level == "specialist"
    assert d.deadlines["first_response"].state == "breached"
    assert d.next_action_at == case.at("2026-06-01 14:00")  # resolution 50 % of 8 h from 10:00
    warnings = [e for e in case.timeline if e.threshold == "75" and e.metric == "first_response"]
    assert len(warnings) == 1


def test_breach_instant_is_the_deadline_and_rules_without_thresholds_still_say_when(zone):
    rules = parse_rules(f'''
[teams.support]
[sla]
default_calendar = "office"
[calendars.office]
timezone = "{zone}"
hours = {{ mon = ["09:00-12:00", "13:00-17:00"], tue = ["09:00-17:00"] }}
''')
    case = Case(zone, rules, "2026-06-01 11:00")
    d = case.step("2026-06-01 11:00")
    assert d.next_action_at == d.deadlines["resolution"].due_at  # nothing configured: the breach
    assert d.actions == () and d.escalation_level is None
    d = case.sweep()
    assert [(e.kind, e.metric) for e in d.timeline] == [("breach", "resolution")]
    assert d.actions == () and d.deadlines["resolution"].state == "breached"  # silent
    assert d.next_action_at is None


def test_restart_in_the_middle_keeps_what_fired(zone):
    rules = make_rules(zone)
    case = Case(zone, rules, "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    case.step("2026-06-02 13:00")  # 50 % and 75 % fire
    data = json.loads(case.stored)
    assert data["fired"] == ["threshold:resolution:1:50", "threshold:resolution:1:75"]
    assert data["escalation"]["ladder"]["rules_version"] == "v1" and data["escalation"]["level"] == 1
    # A new process: the memory comes back from the store's JSON; nothing fires again.
    memory = CaseMemory.from_json(data)
    d = decide(case.ticket, rules, case.at("2026-06-02 13:05"), memory)
    assert d.timeline == () and d.actions == () and d.escalation_owner == "Sam Ortiz"
    assert d.next_action_at == case.at("2026-06-02 15:24")


def test_old_memories_load_without_escalation():
    old = CaseMemory.from_json({"routed_reason_code": "defect", "routed": True, "statuses": []})
    assert old.fired == () and old.escalation is None
    assert CaseMemory.from_json(CaseMemory().to_json()) == CaseMemory()


# --- pauses, priority changes ----------------------------------------------------------------

def test_threshold_passed_during_a_pause_fires_when_really_reached(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-01 12:00", status="pending")  # 3 h used
    assert d.next_action_at is None  # paused: nothing is due by time alone
    d = case.step("2026-06-01 17:00", touch=False)  # where 50 % would be without the pause
    assert d.timeline == () and d.deadlines["resolution"].state == "paused"
    d = case.step("2026-06-02 15:00", status="open")  # resumed: 5 h to go to 8 h
    assert d.timeline == () and case.next_action() == "2026-06-03 12:00"
    d = case.sweep()
    assert [(e.kind, case.local(e.at)) for e in d.timeline] == [("warning", "2026-06-03 12:00")]
    assert d.deadlines["resolution"].used == timedelta(hours=8)


def test_threshold_reached_before_a_pause_fires_late_at_its_true_instant(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    case.step("2026-06-02 10:00", status="hold", updated_at=None)  # no decision ran at Mon 17:00
    case.step("2026-06-02 11:00", touch=False)
    assert case.events("warning") == [("warning", "2026-06-01 17:00", "resolution", None, "50")]


def test_priority_change_mid_way(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    assert case.next_action() == "2026-06-01 17:00"
    d = case.step("2026-06-01 13:00", priority="high")  # 4 h used of the new 8 h: 50 % at once
    assert [(e.kind, e.threshold, case.local(e.at)) for e in d.timeline] == [("warning", "50", "2026-06-01 13:00")]
    assert case.next_action() == "2026-06-01 15:00"  # 75 % of 8 h
    d = case.step("2026-06-01 14:00", priority="normal")  # back to 16 h: 50 % has fired already
    assert d.timeline == () and case.next_action() == "2026-06-02 13:00"
    d = case.sweep()
    assert d.escalation_level == "specialist"
    assert [e.threshold for e in case.timeline if e.kind != "level_change"] == ["50", "75"]


def test_raised_priority_rederives_and_reached_thresholds_all_fire_once(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-02 10:00", priority="high")  # 9 h used against 8 h: everything at once
    assert [(e.kind, e.threshold) for e in d.timeline if e.kind != "level_change"] == [
        ("warning", "50"), ("escalation", "75"), ("escalation", "90"), ("breach", "100")]
    assert d.escalation_level == "engineering" and d.priority == "high"
    (note,) = [a for a in d.actions if a.kind == "note"]  # one line for the four thresholds and three levels
    assert note.text == ("Escalated to Erik Lund (Engineering on call, Engineering) via L2 specialist, Escalation "
                         "manager: resolution breached its 8 h target.")


# --- the ladder snapshot, manual escalation, rota ------------------------------------------

def test_ladder_edit_after_escalation_started_keeps_the_snapshot(zone):
    v1 = make_rules(zone)
    v2 = make_rules(zone, version="v2", specialist="mona", manager="mona")
    case = Case(zone, v1, "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-02 13:00")
    assert d.escalation_owner == "Sam Ortiz"
    d = case.step("2026-06-02 15:24", rules=v2)  # the rules changed; this escalation has its ladder
    assert (d.escalation_owner, d.assignee_id, d.rules_version) == ("Maria Keller", "12", "v2")
    assert any("frozen from rules v1" in r.text for r in d.reasons_for("escalation"))
    assert d.actions[-1].text.startswith("Escalated to Maria Keller (Escalation manager)")  # v1's title
    # A case escalating for the first time under v2 gets v2's ladder.
    other = Case(zone, v2, "2026-06-01 09:00")
    other.step("2026-06-01 09:00")
    other.step("2026-06-01 09:30", reply=True)
    d = other.step("2026-06-02 15:24")
    assert d.escalation_owner == "Mona Lind" and d.memory.escalation.ladder.rules_version == "v2"


def test_manual_tag_escalation_climbs_the_same_ladder(zone):
    rules = make_rules(zone)
    case = Case(zone, rules, "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))
    assert d.escalated and d.priority == "high" and d.tags_remove == {"slaclock_escalate"}
    assert (d.escalation_level, d.escalation_owner, d.group_id) == ("specialist", "Sam Ortiz", "2")
    assert [(e.kind, e.threshold) for e in d.timeline] == [("escalation", "manual"), ("level_change", None)]
    # Seen again before the tag's removal lands (same ticket update): no second climb.
    stale = replace(case.ticket, tags=frozenset({"slaclock_escalate"}))
    again = decide(stale, rules, case.at("2026-06-01 10:05"), CaseMemory.from_json(json.loads(case.stored)))
    assert again.escalation_level == "specialist" and again.timeline == ()
    d = case.step("2026-06-01 11:00", tags=frozenset({"slaclock_escalate"}))  # asked again
    assert (d.escalation_level, d.escalation_owner) == ("manager", "Maria Keller")
    # The thresholds then climb from there: 75 % and 90 % of 8 h name lower levels; the breach climbs.
    assert case.next_action() == "2026-06-01 13:00"  # 50 % of the high target
    d = case.step("2026-06-01 16:00", touch=False)  # 50 % (13:00) and 75 % (15:00) of 8 h from 09:00
    assert [e.threshold for e in d.timeline] == ["50", "75"] and d.escalation_level == "manager"
    d = case.step("2026-06-01 17:00", touch=False)  # 90 % at 16:12, then the breach
    assert [e.threshold for e in d.timeline if e.threshold] == ["90", "100"]
    assert d.escalation_level == "engineering"


def test_manual_tag_without_a_ladder_only_raises_priority():
    rules = parse_rules('[teams.support]\n')
    opened = datetime(2026, 6, 1, 9, tzinfo=UTC)
    t = Ticket("zendesk", "1", "open", "low", opened, updated_at=opened, tags=frozenset({"slaclock_escalate"}))
    d = decide(t, rules, opened)
    assert d.priority == "high" and d.escalation_level is None and d.actions == ()


def test_rota_with_an_override_date(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 13:00")  # 16 h: due Wed 13:00
    case.step("2026-06-01 13:00")
    case.step("2026-06-01 13:30", reply=True)
    d = case.step("2026-06-03 13:00")
    assert d.escalation_level == "engineering"
    assert (d.escalation_owner, d.assignee_id) == ("Omar Haddad", "15")  # 2026-06-03 = omar all day
    assert d.memory.escalation.owner_source == "on call in rota oncall"
    rota = d.memory.escalation.current.rota
    at = ZoneInfo(zone)
    assert rota.on_call(datetime(2026, 6, 2, 13, tzinfo=at)).key == "erik"  # the weekly shift
    assert rota.on_call(datetime(2026, 6, 4, 13, tzinfo=at)).key == "omar"  # a partial override
    assert rota.on_call(datetime(2026, 6, 4, 15, tzinfo=at)).key == "erik"  # outside it: the fallback
    assert rota.on_call(datetime(2026, 6, 2, 20, tzinfo=at)).key == "nina"


# --- milestones ------------------------------------------------------------------------

def test_urgent_unresolved_after_60_minutes_raises_a_tech_lead_follow_up_once(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 20:00", priority="urgent", organization_id="900")
    d = case.step("2026-06-01 20:00")
    assert d.calendar == "24x7" and case.next_action() == "2026-06-01 20:22"  # first response 75 % of 30 min
    assert d.next_action_at == case.at("2026-06-01 20:22") + timedelta(seconds=30)
    case.step("2026-06-01 20:10", reply=True)
    assert case.next_action() == "2026-06-01 21:00"  # the milestone, before resolution 50 % at 22:00
    d = case.sweep()
    follow_up, notify = d.actions
    assert follow_up.key == "milestone:tech_lead:1" and follow_up.kind == "follow_up"
    assert follow_up.subject == "Tech lead: Printer on fire (zendesk:42)"
    assert follow_up.body.startswith("zendesk:42 is urgent and unresolved after 1 h; due ")
    assert (follow_up.group_id, follow_up.priority) == ("4", "urgent")
    assert "a tech-lead ticket was requested for Tech leads" in follow_up.text
    assert "account manager Gus Hale notified" in follow_up.text  # organization 900
    assert (notify.key, notify.kind, notify.person_id, notify.email) == (
        "milestone:tech_lead:1:account_manager", "notify", "18", "gus@example.com")
    assert [(e.kind, e.threshold) for e in d.timeline] == [("milestone", "tech_lead")]
    assert case.next_action() == "2026-06-01 22:00"
    for wall in ("2026-06-01 21:00", "2026-06-01 21:30"):
        assert case.step(wall).actions == ()
    assert len([a for a in case.actions if a.kind == "follow_up"]) == 1


def test_milestone_for_a_case_that_becomes_urgent_later(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:10", reply=True)
    d = case.step("2026-06-01 10:30", priority="urgent")  # unresolved 90 min, urgent from now
    follow_up = next(a for a in d.actions if a.kind == "follow_up")
    assert follow_up.key == "milestone:tech_lead:1"
    notify = next(a for a in d.actions if a.kind == "notify")
    assert (notify.person_id, notify.person_name) == ("17", "Tess Moreau")  # the default account manager


def test_after_hours_case_is_queued_for_the_next_business_morning(zone):
    case = Case(zone, make_rules(zone), "2026-06-06 10:00")  # a Saturday
    d = case.step("2026-06-06 10:00")
    assert d.tags_add == {"queued_overnight"}
    (note,) = d.actions
    local_start = datetime(2026, 6, 8, 9, tzinfo=ZoneInfo(zone))
    assert note.key == "milestone:queued:1"
    assert note.text == (f"Arrived outside business hours: the first-response clock starts Mon 8 Jun at 09:00 "
                         f"{local_start:%Z}.")
    assert [(e.kind, e.threshold) for e in d.timeline] == [("milestone", "queued")]
    d = case.step("2026-06-06 11:00")
    assert d.actions == () and d.tags_add == frozenset()
    assert case.next_action() == "2026-06-08 10:30"  # first response 75 % once the clock runs


@pytest.mark.parametrize("opened,priority", [("2026-06-01 10:00", "normal"), ("2026-06-06 10:00", "urgent")])
def test_in_hours_or_urgent_cases_are_not_queued(zone, opened, priority):
    case = Case(zone, make_rules(zone), opened, priority=priority)
    d = case.step(opened)
    assert "queued_overnight" not in d.tags_add and not any(a.key.startswith("milestone:queued") for a in d.actions)


def test_solved_case_has_nothing_pending(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-02 13:00")
    d = case.step("2026-06-02 14:00", status="solved")
    assert d.next_action_at is None and d.timeline == ()
    d = case.step("2026-06-03 14:00", touch=False)
    assert d.timeline == () and d.actions == ()


# --- the example rules tell the seeds' story ----------------------------------------------

def test_example_rules_story():
    rules = load_rules()
    assert [lv.name for lv in rules.ladders["standard"].levels] == [
        "support", "specialist", "manager", "engineering", "executive"]  # seed 003
    assert rules.ladder_of("purchasing") == "vendor" and rules.ladder_of("support") == "standard"  # seed 000
    res = rules.escalation.thresholds.resolution
    assert [(t.percent, t.level) for t in res] == [(50, None), (75, "specialist"), (90, "manager"),
                                                   (100, "engineering")]
    assert [(t.percent, t.level) for t in rules.escalation.thresholds.first_response] == [(50, None),
                                                                                          (75, "specialist")]
    assert rules.milestones.tech_lead.after == timedelta(minutes=60)  # seed 001
    assert rules.milestones.queued.tag == "slaclock_queued"
    snap = LadderSnapshot.take(rules, "standard")
    assert snap.levels[3].rota.on_call(datetime(2026, 12, 24, 12, tzinfo=UTC)).name == "Omar Haddad"
    assert snap.levels[3].rota.on_call(datetime(2026, 12, 31, 15, tzinfo=UTC)).name == "Nina Okafor"
    assert snap.levels[3].rota.on_call(datetime(2026, 12, 30, 15, tzinfo=UTC)).name == "Erik Lund"


def test_example_rules_walk_a_normal_case_in_new_york():
    # Resolution in business hours (README's one-line change): its thresholds cross a weekend and DST.
    rules = business_resolution_rules()
    # Monday, EST; DST starts Sunday 8th. (Not "Printer on fire": the example's safety trigger would fire.)
    case = Case("America/New_York", rules, "2026-03-02 09:00", subject="Printer jams")
    case.step("2026-03-02 09:00")
    case.step("2026-03-02 09:30", reply=True)
    # next_update (24 business hours after the reply) has no thresholds: a silent breach Thu 09:30.
    d = case.sweep()
    assert [(e.kind, e.metric, case.local(e.at)) for e in d.timeline] == [("breach", "next_update",
                                                                           "2026-03-05 09:30")]
    assert d.actions == ()
    # 72 business hours (08-12, 13-17; 7 h on Monday): 50 % = 36 h → Fri 6th 14:00;
    # 75 % = 54 h → Tue 10th 16:00 (EDT since Sunday: local hours all the same).
    assert case.next_action() == "2026-03-06 14:00"
    d = case.sweep()
    assert [(e.kind, case.local(e.at)) for e in d.timeline] == [("warning", "2026-03-06 14:00")]
    assert case.next_action() == "2026-03-10 16:00"
    d = case.sweep()
    assert (d.escalation_owner, d.group_id, d.assignee_id) == ("Sam Ortiz", "2005", "3101")
    assert d.tags_add == {"slaclock_l2"}
    level_note = next(a for a in d.actions if a.key == "level:1:1:specialist")
    assert level_note.text.startswith("Escalated to Sam Ortiz (L2 specialist, Specialists): ")
    # The example rules acknowledge the escalation to the customer too (customer_updates).
    assert [a.kind for a in d.actions][-1] == "public_reply"


def test_explain_shows_the_escalation(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-02 13:00")
    lines = explain_clock(case.ticket, case.rules, case.at("2026-06-02 13:30"),
                          CaseMemory.from_json(json.loads(case.stored)))
    text = "\n".join(lines)
    assert "escalation: level L2 specialist (2 of 5) on ladder standard, frozen from rules v1" in text
    assert "next action at" in text


# --- the rules file --------------------------------------------------------------------

@pytest.mark.parametrize("snippet,expected", [
    ('[escalation.thresholds]\nresolution = [{ level = "x" }]\n',
     "escalation.thresholds.resolution[0]: got neither percent nor before"),
    ('[escalation.thresholds]\nresolution = [{ percent = 0 }]\n', "escalation.thresholds.resolution[0].percent"),
    ('[escalation.thresholds]\nresolution = [{ percent = 50 }, { percent = 50 }]\n',
     "escalation.thresholds: resolution: two thresholds named 50"),
    ('[escalation]\nladder = "std"\n', 'escalation.ladder: got "std", which names no ladder'),
    ('[ladders.std]\nlevels = [{ name = "a" }, { name = "b" }]\n', "ladders.std.levels[1]: no escalation owner"),
    ('[ladders.std]\nlevels = [{ name = "a" }]\n', "ladders.std.levels: got 1 level; expected at least 2"),
    ('[ladders.std]\nlevels = [{ name = "a" }, { name = "b", person = "zed" }]\n',
     'ladders.std.levels[1].person: got "zed", which names no person'),
    ('[ladders.std]\nlevels = [{ name = "a" }, { name = "b", owner = "p", team = "nope" }]\n[people.p]\n',
     'ladders.std.levels[1].team: got "nope", which names no team'),
    ('[ladders.std]\nlevels = [{ name = "a" }, { name = "b", owner = "p" }]\n[people.p]\n'
     '[escalation.thresholds]\nresolution = [{ percent = 75, level = "c" }]\n[escalation]\nladder = "std"\n',
     'escalation.thresholds.resolution[0].level: got "c", which is not a level of ladders.std'),
    ('[escalation.thresholds]\nresolution = [{ percent = 75, level = "c" }]\n',
     "escalation.thresholds.resolution[0].level: got \"c\", but no ladder applies to every team"),
    ('[rotas.r]\ntimezone = "UTC"\nweekly = { mon = { "09:00-17:00" = "p", "16:00-18:00" = "p" } }\n[people.p]\n',
     "rotas.r.weekly.mon: got 09:00-17:00 and 16:00-18:00, which overlap"),
    ('[rotas.r]\ntimezone = "UTC"\noverrides = { 2026-06-03 = "ghost" }\n',
     'rotas.r.overrides.2026-06-03: got "ghost", which names no person'),
    ('[milestones.tech_lead]\nteam = "support"\nsubject = "{nope}"\n',
     "milestones.tech_lead.subject: got placeholder {nope}; expected one of {ticket}"),
    ('[milestones.tech_lead]\nteam = "leads"\n', 'milestones.tech_lead.team: got "leads", which names no team'),
    ('[account_managers]\ndefault = "ghost"\n', 'account_managers.default: got "ghost", which names no person'),
    ('[account_managers]\ntiers = { gold = "p" }\n[people.p]\n',
     'account_managers.tiers.gold: got "gold", which names no tier'),
])
def test_escalation_errors_name_path_value_and_allowed(snippet, expected):
    with pytest.raises(RulesError) as caught:
        parse_rules("[teams.support]\n" + snippet)
    assert any(e.startswith("rules.toml: " + expected) for e in caught.value.errors), caught.value.errors


def test_threshold_labels_and_lead_time():
    rules = parse_rules('[teams.support]\n[escalation.thresholds]\nresolution = [{ before = "1h30m" }, '
                        '{ percent = 87.5 }, { percent = 80, before = "2h", name = "late" }]\n')
    assert [t.label for t in rules.escalation.thresholds.resolution] == ["before_1h30m", "87.5", "late"]


def test_lead_time_threshold_fires_at_working_time_left(zone):
    rules = parse_rules(f'''
[teams.support]
[sla]
default_calendar = "office"
[sla.targets]
urgent = {{ resolution = "4h" }}
high = {{ resolution = "8h" }}
normal = {{ resolution = "16h" }}
low = {{ resolution = "40h" }}
[calendars.office]
timezone = "{zone}"
hours = {{ mon = ["09:00-17:00"], tue = ["09:00-17:00"] }}
[escalation.thresholds]
resolution = [{{ before = "2h" }}, {{ percent = 95, before = "4h", name = "early" }}]
''')
    case = Case(zone, rules, "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    assert case.next_action() == "2026-06-02 13:00"  # the earlier of 95 % and 4 h before Tue 17:00
    d = case.sweep()
    assert [e.threshold for e in d.timeline] == ["early"]
    assert case.next_action() == "2026-06-02 15:00"
    assert "2 h before the deadline" in case.sweep().actions[0].text


def test_a_new_cycle_starts_a_new_escalation(zone):
    text = TEMPLATE.replace('pause_statuses = ["pending", "hold"]\n', 'pause_statuses = ["pending", "hold"]\n'
                            'on_reopen = "new_cycle"\n', 1)
    rules = parse_rules(text.format(zone=zone, version="v1", specialist="sam", manager="maria"))
    case = Case(zone, rules, "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    case.step("2026-06-02 13:00")
    case.step("2026-06-02 14:00", status="solved")
    d = case.step("2026-06-03 09:00", status="open")  # reopened: cycle 2, a fresh 16 h
    assert d.escalation_level is None and d.deadlines["resolution"].cycle == 2
    assert case.next_action() == "2026-06-03 17:00"
    case.sweep()
    d = case.step("2026-06-04 13:00")
    assert d.escalation_level == "specialist" and d.memory.escalation.cycle == 2
    assert [a.key for a in d.actions] == ["level:2:1:specialist"]


# --- property: next_action_at is when time alone changes the decision, and nothing before ----

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MOVES = st.sampled_from(["wait", "pending", "open", "reply", "high", "normal", "urgent", "tag", "solved"])
PROPERTY_RULES = make_rules("Europe/Berlin")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 36 * 60), MOVES), min_size=1, max_size=7))
def test_next_action_at_is_the_first_instant_time_alone_changes_anything(history):
    case = Case("Europe/Berlin", PROPERTY_RULES, "2026-06-01 08:00")
    now = case.at("2026-06-01 08:00")
    case.step(now)
    for minutes, move in history:
        now += timedelta(minutes=minutes)
        changes = {"pending": {"status": "pending"}, "open": {"status": "open"}, "solved": {"status": "solved"},
                   "high": {"priority": "high"}, "normal": {"priority": "normal"}, "urgent": {"priority": "urgent"},
                   "tag": {"tags": case.ticket.tags | {"slaclock_escalate"}}}.get(move, {})
        d = case.step(now, reply=move == "reply", touch=bool(changes), **changes)
        memory = CaseMemory.from_json(json.loads(case.stored))
        if d.next_action_at is None:
            later = decide(case.ticket, PROPERTY_RULES, now + timedelta(days=30), memory)
            assert all(e.kind == "first_response_after_escalation" for e in later.timeline) or \
                case.ticket.status == "pending", later.timeline
            continue
        before = decide(case.ticket, PROPERTY_RULES, d.next_action_at - timedelta(microseconds=1), memory)
        assert before.timeline == () and before.actions == ()
        due = decide(case.ticket, PROPERTY_RULES, d.next_action_at, memory)
        assert due.timeline, "something happens at next_action_at"
        assert len({e.key for e in case.timeline}) == len(case.timeline), "every event once"


def test_tech_lead_milestone_on_working_time_leaves_pauses_out(zone):
    text = TEMPLATE.replace('after = "60m"\n', 'after = "60m"\nclock = "calendar"\n', 1)
    rules = parse_rules(text.format(zone=zone, version="v1", specialist="sam", manager="maria"))
    case = Case(zone, rules, "2026-06-01 20:00", priority="urgent")
    case.step("2026-06-01 20:00")
    case.step("2026-06-01 20:05", reply=True)
    assert case.next_action() == "2026-06-01 21:00"
    d = case.step("2026-06-01 20:20", status="pending")
    assert d.next_action_at is None  # waiting on the customer: the working-time milestone waits too
    d = case.step("2026-06-01 20:50", status="open")
    assert case.next_action() == "2026-06-01 21:30"
    d = case.sweep()
    assert [(e.kind, e.threshold, case.local(e.at)) for e in d.timeline] == [("milestone", "tech_lead",
                                                                              "2026-06-01 21:30")]
    assert "after 1 h of working time" in d.actions[0].text


def test_owner_without_an_id_in_this_helpdesk_is_still_named(zone):
    case = Case(zone, make_rules(zone), "2026-06-01 09:00")
    case.ticket = replace(case.ticket, connector="jira")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-02 13:00")
    assert (d.escalation_level, d.escalation_owner) == ("specialist", "Sam Ortiz")
    assert (d.group_id, d.assignee_id) == (None, None)  # no Jira ids in these rules: nothing to reassign
    assert d.actions[-1].text.startswith("Escalated to Sam Ortiz ")


# --- next_reply thresholds: each unanswered customer message gets its own warnings ------------

def test_next_reply_threshold_fires_once_per_unanswered_message():
    text = TEMPLATE.format(zone="Europe/Berlin", version="v1", specialist="sam", manager="maria")
    text = text.replace('normal = { first_response = "2h", resolution = "16h" }',
                        'normal = { first_response = "2h", next_reply = "2h", resolution = "16h" }')
    text = text.replace("[escalation.thresholds]\n",
                        '[escalation.thresholds]\nnext_reply = [{ percent = 50, tags = ["reply_due"] }]\n')
    case = Case("Europe/Berlin", parse_rules(text), "2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 09:30", reply=True)
    d = case.step("2026-06-01 10:00", customer=True)
    assert case.next_action() == "2026-06-01 11:00"  # 50 % of 2 h
    d = case.sweep()
    assert [(e.kind, e.metric, e.threshold) for e in d.timeline] == [("warning", "next_reply", "50")]
    (note,) = d.actions
    assert "SLA warning: next reply reached 50 % of its 2 h target" in note.text
    d = case.step("2026-06-01 11:30", reply=True)
    assert d.timeline == () and "next_reply" not in d.deadlines
    case.step("2026-06-01 14:00", customer=True)  # a new message: its own 50 % point
    d = case.sweep()
    assert case.local(d.timeline[0].at) == "2026-06-01 15:00" and d.timeline[0].metric == "next_reply"
