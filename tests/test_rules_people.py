"""The people around the case (issue 6): vendor ETA loop, customer updates, triggers, roles,
recurring issues and the notification budget.

Each scenario replays a ticket through `decide` with an injected `now`, carrying the memory from
one decision to the next through JSON (so every step is also a restart), and checks that a
decision repeated at the same instant adds nothing. Times are wall time in Berlin, in the week
of Monday 2026-06-01 (CEST, no DST change). The office calendar is Mon-Fri 09:00-17:00; the
customer may hear from us every day 08:00-20:00 (the send hours); outside is quiet.
"""
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.model import Ticket
from rules import (CaseMemory, CaseSummary, ClusterInfo, VendorUpdate, case_summary, decide, explain_clock, load_rules,
                   parse_rules, recurring_clusters)
from rules.schema import RulesError
from tests.replay import Replay

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")

RULES_TEXT = '''
version = "people-1"
[sla]
default_calendar = "office"
calendar_by_priority = { urgent = "24x7" }
[sla.targets]
urgent = { resolution = "8h" }
high = { resolution = "24h" }
normal = { resolution = "40h" }
low = { resolution = "80h" }

[calendars.office]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
[calendars.daytime]
timezone = "Europe/Berlin"
hours = { mon = ["08:00-20:00"], tue = ["08:00-20:00"], wed = ["08:00-20:00"], thu = ["08:00-20:00"], fri = ["08:00-20:00"], sat = ["08:00-20:00"], sun = ["08:00-20:00"] }

[tiers.vip]
organizations = ["900"]
priority_floor = "high"
[tiers.silent]
tags = ["no_updates"]
customer_updates = false

[routing]
default_team = "support"
[routing.reason_codes]
defect = "acme"
noise = "back_office"

[teams.support.zendesk]
group_id = "1"
[teams.specialists.zendesk]
group_id = "2"
[teams.engineering.zendesk]
group_id = "3"
[teams.back_office]
customer_updates = false
[teams.back_office.zendesk]
group_id = "4"
[teams.acme]
kind = "vendor"
title = "ACME Parts"
ladder = "vendor"
[teams.acme.zendesk]
group_id = "8"

[escalation]
ladder = "standard"

[[ladders.standard.levels]]
name = "support"
[[ladders.standard.levels]]
name = "specialist"
title = "L2 specialist"
team = "specialists"
owner = "sam"
[[ladders.standard.levels]]
name = "manager"
title = "Escalation manager"
person = "maria"
[[ladders.standard.levels]]
name = "engineering"
title = "Engineering"
team = "engineering"
person = "erik"

[[ladders.vendor.levels]]
name = "support"
[[ladders.vendor.levels]]
name = "specialist"
title = "Purchasing specialist"
owner = "paula"
[[ladders.vendor.levels]]
name = "manager"
title = "Escalation manager"
person = "maria"

[people.sam]
name = "Sam Ortiz"
zendesk = "11"
[people.maria]
name = "Maria Keller"
zendesk = "12"
email = "maria@example.com"
[people.erik]
name = "Erik Lund"
zendesk = "13"
[people.paula]
name = "Paula Novak"
zendesk = "17"
[people.victor]
name = "Victor Chen"
zendesk = "18"

[vendor]
eta_within = "48h"
eta_field = "501"
capacity_field = { zendesk = "502" }
notify = ["victor"]

[customer_updates]
cadence = { urgent = "2h", high = "4h", normal = "24h" }
name_vendor = true
send_hours = "daytime"
timezone_field = "508"
[customer_updates.templates]
escalated = "ESCALATED {ticket_id} level={level} owner={owner} next={next_update_at}"
escalated_again = "AGAIN {ticket_id} level={level} owner={owner} next={next_update_at}"
update = "UPDATE {ticket_id} owner={owner} next={next_update_at}"
schedule_confirmed = "CONFIRMED {vendor} eta={eta} next={next_update_at}"
updated_plan = "PLAN {vendor} owner={owner} next={next_update_at}"
linked = "LINKED {problem} next={next_update_at}"

[triggers.safety]
keywords = ["smoke", "electric shock"]
tags = ["safety"]
level = "manager"
priority = "urgent"
add_tags = ["safety_case"]
notify = ["maria"]
[triggers.promised]
title = "Promised date"
promised_field = "505"
within = "24h"
level = "specialist"

[roles]
default = "{default_role}"
[roles.people]
maria = "manager"
[roles.zendesk.users]
"77" = "installer"
[roles.zendesk.groups]
"60" = "installer"
"61" = "manager"

[recurring]
min_customers = 3
window = "7d"
keys = ["product", ["reason_code", "order"]]
product_field = "506"
order_field = "507"
level = "engineering"
subject = "Recurring: {key} ({customers} customers)"
body = "{count} cases since {first_seen}: {members}"
'''


def make_rules(default_role="support"):
    return parse_rules(RULES_TEXT.replace("{default_role}", default_role))


RULES = make_rules()


def at(wall):
    return datetime.fromisoformat(wall).replace(tzinfo=BERLIN).astimezone(UTC)


def local(instant):
    return instant.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") if instant else None


class Case(Replay):
    defaults = {"status": "open", "priority": "normal", "subject": "Dishwasher leaks"}

    def __init__(self, opened, rules=RULES, ticket_id="42", **fields):
        super().__init__("Europe/Berlin", rules, opened, ticket_id=ticket_id, **fields)

    def events(self, *kinds):
        return [(e.kind, local(e.at), e.threshold) for e in self.timeline if not kinds or e.kind in kinds]


def kinds(d):
    return [(a.kind, a.key) for a in d.actions]


# --- 1. the vendor capacity and ETA loop (seed 000) ----------------------------------------------

def test_vendor_confirms_in_time():
    case = Case("2026-06-01 10:00", reason_code="defect")
    d = case.step("2026-06-01 10:00")
    assert (d.team, d.group_id) == ("acme", "8")
    (note,) = [a for a in d.actions if a.kind == "note"]
    assert note.key == "vendor:1:request"
    assert note.text == "Vendor ACME Parts: capacity and an ETA requested, due by Wed 3 Jun at 10:00 CEST."
    assert case.events("vendor_request") == [("vendor_request", "2026-06-01 10:00", "acme")]
    assert local(d.vendor_eta_due_at) == "2026-06-03 10:00"  # 48 wall-clock hours
    assert local(d.next_action_at) == "2026-06-03 10:00"
    assert d.actions and not case.replies(d)  # nothing for the customer yet

    eta = at("2026-06-04 15:00")
    d = case.step("2026-06-02 11:00", vendor=VendorUpdate(at("2026-06-02 11:00"), eta, True, "slot booked", "acme"))
    assert [e.kind for e in d.timeline] == ["vendor_update", "vendor_confirmed", "customer_update"]
    assert d.vendor_eta == eta and d.vendor_eta_due_at is None  # the time-to-ETA clock stopped
    assert case.replies(d) == ["CONFIRMED ACME Parts eta=Thu 4 Jun at 15:00 CEST next=as soon as we have news"]
    assert d.escalation_level is None and d.priority == "normal"
    assert d.memory.vendor.eta == eta and d.memory.vendor.confirmed_at == at("2026-06-02 11:00")

    # The deadline passes: the ETA came in time, nothing happens.
    d = case.step("2026-06-03 10:30", touch=False)
    assert d.timeline == () and d.escalation_level is None
    # The same POST redelivered later: a repeat, ignored.
    d = case.step("2026-06-03 11:00", vendor=VendorUpdate(at("2026-06-02 11:00"), eta, True, "slot booked", "acme"))
    assert d.timeline == () and d.actions == ()


def test_vendor_silent_for_48_hours_is_an_sla_risk():
    case = Case("2026-06-01 10:00", reason_code="defect")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-03 09:59", touch=False)
    assert d.timeline == ()
    d = case.sweep()  # Wed 10:00: no ETA within 48 h
    assert local(d.memory.seen_at) == "2026-06-03 10:00"
    assert [(e.kind, e.threshold) for e in d.timeline] == [("vendor_risk", "no_eta"), ("level_change", None),
                                                            ("customer_update", "updated_plan")]
    assert d.priority == "high" and any(r.rule == "vendor.risk_priority" for r in d.reasons_for("priority"))
    assert (d.escalation_level, d.escalation_owner, d.assignee_id) == ("specialist", "Paula Novak", "17")
    (reply,) = case.replies(d)
    assert reply == "PLAN ACME Parts owner=Paula Novak next=Wed 3 Jun at 14:00 CEST"  # it tells of the escalation too
    (notify,) = [a for a in d.actions if a.kind == "notify"]
    assert (notify.person_id, notify.digest_key) == ("18", "victor:vendor_risk")
    assert "no ETA from the vendor within 48 h" in notify.text
    assert d.vendor_eta_due_at is None and local(d.next_customer_update_at) == "2026-06-03 14:00"

    # The vendor's new ETA after the override: the schedule is confirmed after all (once).
    d = case.step("2026-06-03 12:00", vendor=VendorUpdate(at("2026-06-03 12:00"), at("2026-06-03 16:00")))
    assert [e.kind for e in d.timeline] == ["vendor_update", "vendor_confirmed", "customer_update"]
    assert case.replies(d) == ["CONFIRMED ACME Parts eta=Wed 3 Jun at 16:00 CEST "
                               "next=Wed 3 Jun at 16:00 CEST"]
    assert [e.kind for e in case.timeline].count("vendor_risk") == 1


def test_capacity_unavailable_is_a_risk_at_once():
    case = Case("2026-06-01 10:00", reason_code="defect")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 15:00", vendor=VendorUpdate(at("2026-06-01 14:30"), capacity_available=False,
                                                          note="backlog until July"))
    assert [(e.kind, local(e.at), e.threshold) for e in d.timeline if e.kind.startswith("vendor")] == [
        ("vendor_update", "2026-06-01 14:30", None), ("vendor_risk", "2026-06-01 14:30", "capacity_unavailable")]
    assert d.escalation_level == "specialist" and d.priority == "high"
    assert "PLAN ACME Parts" in case.replies(d)[0]
    assert d.vendor_eta_due_at is None  # the risk stops the clock: no second risk at the deadline
    d = case.step("2026-06-03 10:00", touch=False)
    assert not [e for e in d.timeline if e.kind == "vendor_risk"]


def test_eta_after_the_sla_due_time_from_the_helpdesk_field():
    case = Case("2026-06-01 10:00", reason_code="defect")
    d = case.step("2026-06-01 10:00")
    due = d.due_at  # normal: 40 office hours → Mon 2026-06-08 10:00
    assert local(due) == "2026-06-08 10:00"
    d = case.step("2026-06-01 16:00", custom_fields={"501": "2026-06-12T09:00:00Z"})
    assert [(e.kind, e.threshold) for e in d.timeline if e.kind.startswith("vendor")] == [
        ("vendor_update", None), ("vendor_risk", "eta_after_due")]
    assert d.vendor_eta == datetime(2026, 6, 12, 9, tzinfo=UTC)
    assert "the vendor's ETA is after the resolution due time" in next(
        r.text for r in d.reasons if r.rule == "vendor")
    assert d.escalation_level == "specialist"
    # The field read again unchanged: no new update.
    d = case.step("2026-06-01 17:00")
    assert d.timeline == ()


def test_vendor_update_for_a_case_not_at_a_vendor_is_ignored():
    case = Case("2026-06-01 10:00")
    d = case.step("2026-06-01 10:00", vendor=VendorUpdate(at("2026-06-01 10:00"), at("2026-06-02 10:00")))
    assert d.timeline == () and d.memory.vendor is None
    assert any("not waiting on a vendor" in r.text for r in d.reasons)


# --- 2. customer updates: acknowledgement, cadence, agent replies, quiet hours --------------------

def test_escalation_is_acknowledged_then_updates_follow_the_cadence():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}), actor="55")  # unknown: support
    assert d.actor_role == "support" and d.priority == "high" and d.escalation_level == "specialist"
    assert case.replies(d) == ["ESCALATED 42 level=L2 specialist owner=Sam Ortiz next=Mon 1 Jun at 14:00 CEST"]
    assert local(d.next_customer_update_at) == "2026-06-01 14:00"
    sent = []
    for wall in ("2026-06-01 14:00", "2026-06-01 18:00"):
        d = case.step(wall, touch=False)
        sent += case.replies(d)
    assert sent == ["UPDATE 42 owner=Sam Ortiz next=Mon 1 Jun at 18:00 CEST",
                    "UPDATE 42 owner=Sam Ortiz next=Tue 2 Jun at 08:00 CEST"]  # 22:00 is quiet
    assert local(d.next_customer_update_at) == "2026-06-02 08:00"
    d = case.step("2026-06-01 22:00", touch=False)
    assert not case.replies(d)  # quiet hours: held
    d = case.step("2026-06-02 08:00", touch=False)
    assert case.replies(d) == ["UPDATE 42 owner=Sam Ortiz next=Tue 2 Jun at 12:00 CEST"]
    keys = [a.key for a in case.actions if a.kind == "public_reply"]
    assert keys == ["customer:escalated:1:1", f"customer:update:1:{int(at('2026-06-01 14:00').timestamp())}",
                    f"customer:update:1:{int(at('2026-06-01 18:00').timestamp())}",
                    f"customer:update:1:{int(at('2026-06-01 22:00').timestamp())}"]
    # Solved: no more updates, nothing pending.
    d = case.step("2026-06-02 10:00", status="solved")
    assert d.next_customer_update_at is None and d.next_action_at is None
    assert not case.replies(case.step("2026-06-02 16:00", touch=False))


def test_an_agent_reply_replaces_the_update_and_restarts_the_cadence():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))
    d = case.step("2026-06-01 12:30", reply=True)
    assert local(d.next_customer_update_at) == "2026-06-01 16:30"
    assert not case.replies(d)
    d = case.step("2026-06-01 14:00", touch=False)  # where the update would have gone
    assert not case.replies(d)
    assert local(d.next_action_at) <= "2026-06-01 16:30"
    assert any("restarted by the agent's public reply at 2026-06-01 10:30 UTC" in r.text for r in d.reasons)
    d = case.step("2026-06-01 16:30", touch=False)
    assert case.replies(d) == ["UPDATE 42 owner=Sam Ortiz next=Tue 2 Jun at 08:00 CEST"]  # 20:30 is quiet


def test_no_update_while_waiting_on_the_customer():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))
    d = case.step("2026-06-01 11:00", status="pending")
    assert d.next_customer_update_at is None
    assert not case.replies(case.step("2026-06-01 14:00", touch=False))
    d = case.step("2026-06-01 15:00", status="open")  # the customer answered: the cadence restarts
    assert local(d.next_customer_update_at) == "2026-06-01 19:00" and not case.replies(d)


def test_acknowledgement_in_quiet_hours_is_held_to_the_morning():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 21:00", tags=frozenset({"slaclock_escalate"}))
    assert d.escalation_level == "specialist" and not case.replies(d)
    assert [(h.message, local(h.release_at)) for h in d.memory.customer.held] == [("escalated", "2026-06-02 08:00")]
    assert local(d.next_action_at) == "2026-06-02 08:00"
    assert any("held: the customer's quiet hours" in r.text for r in d.reasons)
    d = case.sweep()
    assert case.replies(d) == ["ESCALATED 42 level=L2 specialist owner=Sam Ortiz next=Tue 2 Jun at 12:00 CEST"]
    assert d.memory.customer.held == ()


def test_two_climbs_in_quiet_hours_make_one_morning_message():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 21:00", tags=frozenset({"slaclock_escalate"}))
    d = case.step("2026-06-01 23:00", tags=frozenset({"slaclock_escalate"}), actor="12")  # Maria: manager
    assert d.escalation_level == "manager" and not case.replies(d)
    d = case.step("2026-06-02 08:00", touch=False)
    assert case.replies(d) == ["ESCALATED 42 level=Escalation manager owner=Maria Keller next=Tue 2 Jun at 12:00 CEST"]
    (reply,) = [a for a in d.actions if a.kind == "public_reply"]
    assert reply.key == "customer:escalated:1:1+customer:escalated:1:2"
    assert {"customer:escalated:1:1", "customer:escalated:1:2"} <= set(d.memory.sent)


def test_a_later_climb_tells_of_the_new_owner_not_of_the_escalation_again():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))
    assert case.replies(d) == ["ESCALATED 42 level=L2 specialist owner=Sam Ortiz next=Mon 1 Jun at 14:00 CEST"]
    d = case.step("2026-06-01 11:00", tags=frozenset({"slaclock_escalate"}), actor="12")  # Maria: manager
    assert case.replies(d) == ["AGAIN 42 level=Escalation manager owner=Maria Keller next=Mon 1 Jun at 15:00 CEST"]
    (reply,) = [a for a in d.actions if a.kind == "public_reply"]
    assert reply.key == "customer:escalated:1:2"


def test_the_example_rules_word_a_later_climb_in_plain_words():
    rules = load_rules()
    assert rules.customer_updates.templates.escalated_again == (
        "Your request {reference} has moved up to {owner}, who will update you {next_update}.")


def test_explain_names_the_vendor_and_the_customer_cadence():
    case = Case("2026-06-01 10:00", reason_code="defect")
    case.step("2026-06-01 10:00")
    case.step("2026-06-03 10:00", touch=False)
    text = "\n".join(explain_clock(case.ticket, RULES, at("2026-06-03 11:00"),
                                   CaseMemory.from_json(json.loads(case.stored))))
    assert "vendor ACME Parts: request 1 since 2026-06-01 08:00 UTC; no ETA yet; SLA risk 2026-06-03 08:00 UTC " \
           "(no_eta)" in text
    assert "customer: last told 2026-06-03 08:00 UTC; next update 2026-06-03 12:00 UTC" in text


def test_quiet_hours_are_read_in_the_customers_time_zone():
    case = Case("2026-06-01 09:00", custom_fields={"508": "America/New_York"})
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 21:00", tags=frozenset({"slaclock_escalate"}))  # 15:00 in New York
    assert case.replies(d) == ["ESCALATED 42 level=L2 specialist owner=Sam Ortiz next=Mon 1 Jun at 19:00 EDT"]


@pytest.mark.parametrize("fields,off", [({"reason_code": "noise"}, "team back_office"),
                                        ({"tags": frozenset({"no_updates"})}, "tier silent")])
def test_updates_switched_off_per_team_or_tier(fields, off):
    case = Case("2026-06-01 09:00", **fields)
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", cluster=ClusterInfo("zendesk:product=x", "9001"))
    assert d.cluster_key == "zendesk:product=x" and not case.replies(d)
    assert d.next_customer_update_at is None
    assert any(f"customer updates are off for {off}" in r.text for r in d.reasons)


def test_updates_follow_the_team_that_has_the_case():
    case = Case("2026-06-01 09:00", reason_code="noise")  # back_office: no updates
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))  # L2 specialists take it
    assert d.team == "specialists" and case.replies(d)[0].startswith("ESCALATED 42 level=L2 specialist")


# --- 3. escalation triggers (seed 003) -----------------------------------------------------------------

@pytest.mark.parametrize("fields,why", [
    ({"subject": "Smoke from the oven"}, 'keyword "smoke" in the subject'),
    ({"description": "The customer got an ELECTRIC  shock touching the door"}, 'keyword "electric shock" in the '
                                                                               'description'),
    ({"tags": frozenset({"safety"})}, "tag safety"),
])
def test_safety_trigger_escalates_at_once_to_the_manager(fields, why):
    case = Case("2026-06-01 10:00", **fields)
    d = case.step("2026-06-01 10:00")
    assert [(e.kind, e.threshold) for e in d.timeline][:2] == [("trigger", "safety"), ("level_change", None)]
    assert d.priority == "urgent" and d.escalation_level == "manager" and d.escalation_owner == "Maria Keller"
    assert "safety_case" in d.tags_add
    (note,) = [a for a in d.actions if a.kind == "note"]  # the escalation line names the trigger
    assert note.text == f"Escalated to Maria Keller (Escalation manager): escalation trigger safety: {why}."
    (notify,) = [a for a in d.actions if a.kind == "notify"]
    assert (notify.person_id, notify.email, notify.digest_key) == ("12", "maria@example.com", "maria:trigger:safety")
    assert case.replies(d)[0].startswith("ESCALATED 42 level=Escalation manager owner=Maria Keller")
    assert "trigger:safety" in d.memory.fired
    d = case.step("2026-06-01 11:00", subject="Smoke again")  # once per case
    assert not [e for e in d.timeline if e.kind == "trigger"]


def test_keywords_match_whole_words_only():
    d = Case("2026-06-01 10:00", subject="Smokehouse order").step("2026-06-01 10:00")
    assert d.timeline == () and d.priority == "normal"


def test_vip_account_priority_floor():
    case = Case("2026-06-01 10:00", organization_id="900", priority="low")
    d = case.step("2026-06-01 10:00")
    assert d.priority == "high" and d.tier == "vip"
    assert any(r.rule == "tiers.vip.priority_floor" for r in d.reasons_for("priority"))
    assert [(e.kind, e.threshold) for e in d.timeline] == [("trigger", "high_value")]
    assert d.escalation_level is None  # a floor, not a climb
    d = case.step("2026-06-01 11:00", priority="normal")  # an agent lowers it: the floor holds, logged once
    assert d.priority == "high" and d.timeline == ()
    d = case.step("2026-06-01 12:00", priority="urgent")  # a floor, not a ceiling
    assert d.priority == "urgent"


def test_promised_date_within_24_hours_escalates_when_it_comes_near():
    case = Case("2026-06-01 10:00", custom_fields={"505": "2026-06-03T12:00:00Z"})  # Wed 14:00 Berlin
    d = case.step("2026-06-01 10:00")
    assert d.timeline == () and local(d.next_action_at) == "2026-06-02 14:00"
    assert d.next_action == "Promised date (trigger)"
    d = case.sweep()
    assert [(e.kind, local(e.at), e.threshold) for e in d.timeline][:2] == [
        ("trigger", "2026-06-02 14:00", "promised"), ("level_change", "2026-06-02 14:00", None)]
    assert d.escalation_level == "specialist" and d.priority == "high"
    assert "escalation trigger Promised date: the promised date is less than 24 h away" in next(
        a.text for a in d.actions if a.key.startswith("level:"))


def test_promised_date_already_close_fires_when_seen():
    case = Case("2026-06-01 10:00")
    d = case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 11:00", custom_fields={"505": "2026-06-02"})  # midnight UTC tomorrow
    assert [(e.kind, local(e.at)) for e in d.timeline][:1] == [("trigger", "2026-06-01 11:00")]


# --- 6. roles (seed 002) -------------------------------------------------------------------------------

def test_unauthorised_manual_escalation_is_refused():
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}), actor="77")  # an installer
    assert d.actor_role == "installer" and not d.escalated
    assert d.tags_remove == {"slaclock_escalate"} and d.priority == "normal" and d.escalation_level is None
    assert [(e.kind, e.threshold) for e in d.timeline] == [("refused", "manual")]
    (note,) = d.actions
    assert note.kind == "note" and note.text.startswith(
        "Escalation refused: user 77 (installer) may not escalate, so the tag slaclock_escalate was removed. "
        "Roles that may: ")
    assert [r.rule for r in d.reasons_for("escalation") if r.text == note.text] == ["roles.zendesk.users.77"]
    assert not case.replies(d)
    # Seen again before the tag's removal lands (a sweep, no actor): still nothing.
    stale = replace(case.ticket, tags=frozenset({"slaclock_escalate"}))
    again = decide(stale, RULES, at("2026-06-01 10:05"), CaseMemory.from_json(json.loads(case.stored)))
    assert again.timeline == () and again.actions == () and again.priority == "normal"
    assert again.tags_remove == {"slaclock_escalate"}


@pytest.mark.parametrize("actor,groups,role,allowed", [
    ("12", (), "manager", True),  # Maria, by her person's Zendesk id
    ("55", ("60",), "installer", False),  # an installers' group
    ("55", ("60", "61"), "manager", True),  # of two groups, the one with the most rights
    ("55", (), "support", True),  # unknown: the default role
    (None, (), None, True),  # no actor at all (a sweep): the default role decides
])
def test_actor_roles(actor, groups, role, allowed):
    case = Case("2026-06-01 09:00")
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}), actor=actor, groups=groups)
    assert d.actor_role == role and d.escalated is allowed
    assert (d.escalation_level == "specialist") is allowed


def test_a_stricter_default_role_refuses_unknown_actors():
    case = Case("2026-06-01 09:00", rules=make_rules("installer"))
    case.step("2026-06-01 09:00")
    d = case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}), actor="55")
    assert d.actor_role == "installer" and [e.kind for e in d.timeline] == ["refused"]
    assert "user 55 (installer) may not escalate" in d.actions[0].text
    assert [r.rule for r in d.reasons_for("escalation") if r.text == d.actions[0].text] == ["roles.default"]


# --- 4. recurring issues ----------------------------------------------------------------------------

def summary(ticket_id, org, product="PX-200", opened="2026-06-01 10:00", **fields):
    return CaseSummary(connector="zendesk", ticket_id=ticket_id, opened_at=at(opened), organization_id=org,
                       requester_id=f"u{ticket_id}", product=product, **fields)


def test_recurring_cluster_of_three_customers_and_a_fourth_joining():
    now = at("2026-06-03 10:00")
    cases = [summary("1", "A"), summary("2", "B", opened="2026-06-02 09:00"), summary("3", "C", product=" px-200 "),
             summary("4", "D", product="OTHER"), summary("5", "E", opened="2026-05-20 10:00"),  # outside 7 days
             summary("6", "F", status="solved")]
    (cluster,) = recurring_clusters(cases, RULES, now)
    assert cluster.key == "zendesk:product=px-200" and cluster.is_new and cluster.problem_id is None
    assert cluster.members == ("1", "3", "2") and cluster.new_members == cluster.members and cluster.customers == 3
    assert cluster.first_seen == at("2026-06-01 10:00")
    assert cluster.subject == "Recurring: product PX-200 (3 customers)"
    assert cluster.body.startswith("3 cases since 2026-06-01 08:00 UTC: zendesk:1, zendesk:3, zendesk:2")
    assert (cluster.team, cluster.group_id, cluster.assignee_id, cluster.owner) == ("engineering", "3", "13",
                                                                                    "Erik Lund")
    # Nothing new: the members are clustered now.
    clustered = [replace(c, cluster_key=cluster.key, problem_id="9001") if c.ticket_id in cluster.members else c
                 for c in cases]
    assert recurring_clusters(clustered, RULES, now) == []
    # A fourth customer with the same product joins the cluster.
    (grown,) = recurring_clusters(clustered + [summary("7", "G", opened="2026-06-03 09:00")], RULES, now)
    assert (grown.key, grown.is_new, grown.problem_id, grown.new_members) == (cluster.key, False, "9001", ("7",))
    assert grown.members == ("1", "3", "2", "7") and grown.customers == 4
    assert grown.info().problem_id == "9001" and grown.info().members == 4


def test_same_customer_twice_is_not_counted_twice():
    cases = [summary("1", "A"), summary("2", "A"), summary("3", "B")]
    assert recurring_clusters(cases, RULES, at("2026-06-03 10:00")) == []
    (cluster,) = recurring_clusters(cases + [summary("4", "C")], RULES, at("2026-06-03 10:00"))
    assert cluster.members == ("1", "2", "3", "4") and cluster.customers == 3


def test_combined_key_and_case_summary_from_a_ticket():
    tickets = [Ticket("zendesk", str(n), "open", "normal", at("2026-06-01 10:00"), organization_id=org,
                      reason_code="wrong_item", custom_fields={"507": "SO-7"}) for n, org in ((1, "A"), (2, "B"),
                                                                                                (3, "C"))]
    cases = [case_summary(t, RULES) for t in tickets]
    assert cases[0].order == "SO-7" and cases[0].product is None
    (cluster,) = recurring_clusters(cases, RULES, at("2026-06-01 12:00"))
    assert cluster.key == "zendesk:reason_code=wrong_item+order=so-7"
    assert cluster.dimensions == (("reason_code", "wrong_item"), ("order", "SO-7"))


def test_cluster_member_is_linked_not_escalated_and_gets_updates():
    case = Case("2026-06-01 10:00")
    case.step("2026-06-01 10:00")
    info = ClusterInfo("zendesk:product=px-200", "9001", "Recurring: product PX-200", 3, "Erik Lund")
    d = case.step("2026-06-01 11:00", cluster=info)
    note = next(a for a in d.actions if a.kind == "note")
    assert note.key == "cluster:zendesk:product=px-200"
    assert note.text == ("Linked to problem 9001 (recurring issue zendesk:product=px-200): it is escalated once "
                         "there, not case by case.")
    assert d.escalation_level is None and d.priority == "normal" and d.cluster_key == info.key
    assert case.replies(d) == ["LINKED 9001 next=Tue 2 Jun at 11:00 CEST"]
    # Sweeps pass no cluster: it is remembered, and the cadence (normal: 24 h) goes on.
    d = case.step("2026-06-02 11:00", touch=False)
    assert case.replies(d) == ["UPDATE 42 owner=Erik Lund next=Wed 3 Jun at 11:00 CEST"]
    assert d.escalation_level is None


# --- 5. the notification budget ---------------------------------------------------------------------

def test_no_message_twice_across_a_long_replay():
    case = Case("2026-06-01 10:00", reason_code="defect", subject="Smoke from the motor")
    case.step("2026-06-01 10:00")
    now = at("2026-06-01 10:00")
    for _ in range(40):  # follow next_action_at, with a restart and a duplicate at every step
        if case.decision.next_action_at is None or case.decision.next_action_at > at("2026-06-10 00:00"):
            break
        case.sweep()
        assert case.decision.memory.seen_at > now
        now = case.decision.memory.seen_at
    keys = [a.key for a in case.actions]
    assert len(keys) == len(set(keys))
    replies = case.replies()
    assert len(replies) >= 3
    events = [(e.kind, e.key) for e in case.timeline]
    assert len(events) == len(set(events))
    sent = json.loads(case.stored)["sent"]
    assert set(keys) <= set(sent)


def test_notify_actions_carry_a_digest_key():
    cases = [Case("2026-06-01 10:00", ticket_id=str(n), subject="Smoke") for n in (1, 2)]
    notifies = [a for c in cases for a in c.step("2026-06-01 10:00").actions if a.kind == "notify"]
    assert [a.digest_key for a in notifies] == ["maria:trigger:safety"] * 2  # the integrator merges them
    assert {a.key for a in notifies} == {"trigger:safety:notify:maria"}


def test_time_alone_changes_nothing_before_next_action_at():
    case = Case("2026-06-01 09:00", reason_code="defect", custom_fields={"505": "2026-06-05T12:00:00Z"})
    case.step("2026-06-01 09:00")
    case.step("2026-06-01 10:00", tags=frozenset({"slaclock_escalate"}))
    for _ in range(12):
        due = case.decision.next_action_at
        if due is None:
            break
        memory = CaseMemory.from_json(json.loads(case.stored))
        before = decide(case.ticket, RULES, due - timedelta(microseconds=1), memory)
        assert before.timeline == () and before.actions == ()
        d = case.sweep()
        assert d.timeline, f"something happens at {local(due)}"


# --- 7. the rules file ------------------------------------------------------------------------------

@pytest.mark.parametrize("snippet,expected", [
    ('[customer_updates.templates]\nupdate = "next {next} by {owner}"\n',
     "customer_updates.templates.update: got placeholder {next}; expected one of {reference}"),
    ('[vendor]\nrequest_note = "{owner}"\n', "vendor.request_note: got placeholder {owner}"),
    ('[triggers.x]\nlevel = "manager"\n', "triggers.x: got no keywords, tags or promised_field"),
    ('[triggers.x]\ntags = ["a"]\nnotify = ["ghost"]\n', 'triggers.x.notify[0]: got "ghost", which names no person'),
    ('[triggers.x]\ntags = ["a"]\nlevel = "nope"\n', 'triggers.x.level: got "nope", which is not a level of any'),
    ('[roles]\ndefault = "boss"\n', 'roles.default: got "boss", which names no role'),
    ('[roles.zendesk.users]\n"5" = "boss"\n', 'roles.zendesk.users.5: got "boss", which names no role'),
    ('[roles.rights]\nbuyer = ["read", "fly"]\n', "roles.rights.buyer[1]: got \"fly\""),
    ('[customer_updates]\nsend_hours = "night"\n', 'customer_updates.send_hours: got "night", which names no '
                                                   'calendar'),
    ('[vendor]\neta_field = { freshdesk = "1" }\n', 'vendor.eta_field: got connector "freshdesk"'),
    ('[teams.v]\nkind = "supplier"\n', "teams.v.kind: got \"supplier\""),
    ('[recurring]\nkeys = ["colour"]\n', "recurring.keys[0][0]: got \"colour\""),
    ('[recurring]\nteam = "nope"\n', 'recurring.team: got "nope", which names no team'),
    ('[recurring]\nmember_note = "{members}"\n', "recurring.member_note: got placeholder {members}"),
    ('[tiers.t]\npriority_floor = "vip"\n', "tiers.t.priority_floor: got \"vip\""),
])
def test_people_errors_name_path_value_and_allowed(snippet, expected):
    with pytest.raises(RulesError) as caught:
        parse_rules("[teams.support]\n" + snippet)
    assert any(e.startswith("rules.toml: " + expected) for e in caught.value.errors), caught.value.errors


def test_example_rules_tell_the_story_of_seeds_000_and_003():
    rules = load_rules()
    assert rules.version == "example-5"
    assert rules.routing.reason_codes["defect"] == "acme_parts" and rules.teams["acme_parts"].kind == "vendor"
    assert rules.vendor.eta_within == timedelta(hours=48)
    assert rules.customer_updates.cadence.urgent == timedelta(hours=4)
    assert rules.customer_updates.cadence.high == timedelta(hours=24)
    assert set(rules.triggers) == {"safety", "compliance", "payment", "promised_date"}
    assert rules.tiers["gold"].priority_floor == "high"
    assert rules.roles.rights_of("installer") == {"read"} and "escalate" in rules.roles.rights_of("support")
    assert rules.recurring.min_customers == 3 and rules.recurring.window == timedelta(days=7)

    # A warranty defect: the vendor is asked, stays silent, the case escalates and the customer hears.
    opened = datetime(2026, 3, 2, 14, tzinfo=UTC)  # Monday 09:00 in New York
    ticket = Ticket("zendesk", "7", "open", "normal", opened, updated_at=opened, reason_code="defect",
                    subject="Oven door hinge broken", organization_id="500")
    d = decide(ticket, rules, opened)
    assert d.team == "acme_parts" and d.vendor_eta_due_at == opened + timedelta(hours=48)
    assert d.next_action == "warning at 50 % of first response"  # before the vendor's 48 h are up
    assert d.actions[0].text == "Vendor ACME Parts: capacity and an ETA requested, due by Wed 4 Mar at 09:00 EST (within 48 h)."
    reply = opened + timedelta(minutes=30)
    d = decide(ticket, rules, reply, d.memory, agent_reply_at=reply)  # first response in time
    assert (d.next_action_at, d.next_action) == (opened + timedelta(hours=36), "warning at 50 % of resolution")
    warned = decide(ticket, rules, opened + timedelta(hours=36), d.memory)  # aside: then the vendor's 48 h are next
    assert (warned.next_action_at, warned.next_action) == (opened + timedelta(hours=48), "vendor ETA due")
    d = decide(ticket, rules, d.vendor_eta_due_at, d.memory)
    # Resolution on the wall clock: its 50 % warning came first, 36 h after the opening (Tue 21:00 EST).
    risk = opened + timedelta(hours=48)  # no ETA within 48 h
    assert [(e.kind, e.at) for e in d.timeline][:3] == [("warning", opened + timedelta(hours=36)),
                                                        ("vendor_risk", risk), ("level_change", risk)]
    # The override to high re-derives resolution from the opening (seed 002): 24 h, due Tue 3 Mar 09:00 EST,
    # already past at 48 h, so its 75, 90 and 100 % points climb on to the vendor manager at once.
    assert d.due_at == opened + timedelta(hours=24) and d.priority == "high"
    assert [e.threshold for e in d.timeline if e.metric == "resolution"] == ["50", "75", "90", "100"]
    assert d.escalation_level == "engineering" and d.escalation_owner == "Victor Chen"
    reply = next(a.text for a in d.actions if a.kind == "public_reply")
    # One message: the updated plan already tells of the escalation (next update: the high cadence, 24 h).
    assert reply == ("An update on your request #7: the repair could not be scheduled in time, so we have escalated "
                     "your request. Victor Chen is now looking after it and will update you by Thu 5 Mar at 09:00 EST.")
    assert any(a.kind == "notify" and a.person_name == "Victor Chen" for a in d.actions)


def test_old_memories_load_without_the_people_state():
    old = CaseMemory.from_json({"routed": True, "fired": ["threshold:resolution:1:50"]})
    assert old.vendor is None and old.cluster is None and old.sent == () and old.customer.held == ()
    assert CaseMemory.from_json(CaseMemory().to_json()) == CaseMemory()
    update = VendorUpdate(at("2026-06-01 10:00"), at("2026-06-02 10:00"), False, "n", "acme")
    assert VendorUpdate.from_json(json.loads(json.dumps(update.to_json()))) == update


@pytest.mark.parametrize("value,expected", [
    ("2026-06-03T12:00:00Z", datetime(2026, 6, 3, 12, tzinfo=UTC)),
    ("2026-06-03T14:00:00.000+0200", datetime(2026, 6, 3, 12, tzinfo=UTC)),  # Jira's form
    ("2026-06-03", datetime(2026, 6, 3, tzinfo=UTC)),
    ("next week", None), ("", None), (None, None),
])
def test_instants_typed_into_fields(value, expected):
    from rules.calendar import parse_instant
    assert parse_instant(value) == expected


def test_capacity_field_as_a_jira_option_says_no():
    case = Case("2026-06-01 10:00", reason_code="defect")
    case.step("2026-06-01 10:00")
    d = case.step("2026-06-01 12:00", custom_fields={"502": {"value": "No"}})
    assert [(e.kind, e.threshold) for e in d.timeline if e.kind.startswith("vendor")] == [
        ("vendor_update", None), ("vendor_risk", "capacity_unavailable")]
