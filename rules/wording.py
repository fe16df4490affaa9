"""Every sentence slaclock writes: reason texts, note lines, timeline texts, climb causes.

The steps decide; this module words. Texts are kept as they were when they lived in the steps.
"""
from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from rules.calendar import ZERO, WorkCalendar
from rules.decision import Deadline, EscalationState, Rating, VendorUpdate
from rules.ladder import LevelSnapshot, PersonRef
from rules.schema import Threshold

METRIC_NAMES = {"first_response": "first response", "next_update": "next update", "next_reply": "next reply",
                "resolution": "resolution"}
DEFAULT_MEMBER_NOTE = ("Linked to problem {problem} (recurring issue {key}): it is escalated once there, not case by "
                       "case.")


# --- instants and durations -------------------------------------------------------------

# strftime costs a microsecond or two a call and a decision writes dozens of instants: the fields by hand (these
# are strftime's %a and %b in the C locale, which slaclock never changes).
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def minute_text(instant: datetime) -> str:
    """`2026-06-01 08:00` (strftime's `%Y-%m-%d %H:%M`)."""
    return instant.isoformat(" ", "minutes")[:16]  # in C, without the offset an aware instant adds


@lru_cache(maxsize=4096)  # a rules file has a few dozen targets and lead times
def format_duration(duration: timedelta) -> str:
    """timedelta(hours=1, minutes=30) → '1 h 30 min'; whole hours stay hours ('168 h')."""
    seconds = int(abs(duration.total_seconds()))
    hours, minutes = divmod(seconds // 60, 60)
    text = " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)
    return ("-" if duration < ZERO else "") + (text or f"{seconds} s")


def local_text(instant: datetime, cal: WorkCalendar) -> str:
    """`Mon 2026-06-01 10:00 Europe/Berlin`."""
    local = instant.astimezone(cal.tz)
    return f"{DAY_NAMES[local.weekday()]} {minute_text(local)} {cal.timezone_name}"


def zone_text(instant: datetime, zone: ZoneInfo) -> str:
    """`Mon 01 Jun 2026 14:00 Europe/Berlin`: an instant as the customer reads it."""
    local = instant.astimezone(zone)
    iso = local.isoformat(" ", "minutes")  # YYYY-MM-DD HH:MM, sliced
    return f"{DAY_NAMES[local.weekday()]} {iso[8:10]} {MONTH_NAMES[local.month - 1]} {iso[:4]} {iso[11:16]} {zone.key}"


def customer_time(instant: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`Thu 4 Jun at 15:00 CEST`: an instant as a customer reads it (the year only when it is not this one)."""
    local = instant.astimezone(zone)
    year = f" {local.year}" if local.year != now.astimezone(zone).year else ""
    return (f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]}{year} at "
            f"{minute_text(local)[11:]} {customer_zone(local)}")


def customer_zone(local: datetime) -> str:
    # Zones without a letter abbreviation (Asia/Kathmandu: "+0545") read better as their UTC offset.
    name = local.tzname() or ""
    if name[:1] in "+-":
        offset = local.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return name


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1024)
def _sentences(template: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """A template's sentences, each with the placeholders it names (parsed once per template)."""
    return tuple((sentence, frozenset(name for _, name, _, _ in string.Formatter().parse(sentence) if name))
                 for sentence in SENTENCE_END.split(template.strip()))


@lru_cache(maxsize=1024)
def placeholders(template: str) -> frozenset[str]:
    """The placeholders a template names."""
    return frozenset(name for _, names in _sentences(template) for name in names)


def fill_message(template: str, values: Mapping[str, str | None]) -> str:
    """A customer template filled in: a sentence naming an absent (None) value is left out, and every
    sentence starts with a capital letter (a value like "our support team" may open one)."""
    sentences = []
    for sentence, names in _sentences(template):
        if any(values.get(name) is None for name in names):
            continue
        text = sentence.format_map(values).strip()
        if text:
            sentences.append(text[:1].upper() + text[1:])
    return " ".join(sentences)


def at_text(text: str, at: datetime) -> str:
    """A sentence with the instant it happened: `... at 2026-06-01 08:00 UTC`."""
    return f"{text} at {minute_text(at)} UTC"


# --- priority, routing, clock -------------------------------------------------------------

DEFAULT_PRIORITY = "no priority set: normal assumed"


def priority_as_set(priority: str) -> str:
    return f"priority {priority} as set on the ticket"


def tag_refused(tag: str, refused: str) -> str:
    return f"escalation asked by tag {tag} refused: {refused}"


def tag_escalates(tag: str, priority: str, new_priority: str) -> str:
    return f"escalation asked by tag {tag}: priority {priority} → {new_priority}"


def rated(rating: Rating) -> str:
    """The timeline line of a satisfaction rating: `Customer rated 4 of 5: "Quick fix"`."""
    said = f"{rating.score} of 5" if rating.score is not None else rating.verdict
    return f"Customer rated {said}" + (f': "{rating.comment}"' if rating.comment else "")


def routed(code: str | None, team: str, default: bool) -> str:
    return f"reason code {code or 'none'} → {team} (default)" if default else f"reason code {code} → {team}"


def tier_floor(tier: str, priority: str, floor: str) -> str:
    return f"tier {tier} is a high-value account: priority {priority} → {floor} (its floor)"


def tier_floor_event(text: str) -> str:
    return f"escalation trigger high_value: {text}"


def refused_earlier() -> str:
    return "refused earlier (see the note)"


def may_not_escalate(role: str, why: str, rule: str) -> str:
    return f"role {role} ({why}, {rule}) may not escalate"


def escalation_raises(priority: str, raised: str, level: str | None) -> str:
    return f"priority {priority} → {raised}: escalation ({level or 'no ladder'}) raises it (never lowers it)"


def escalated_owner(level: str | None, owner: str | None, team: str | None) -> str:
    text = f"escalated to level {level}: owner {owner or 'none'}"
    return text + (f", team {team}" if team else "")


def tier_text(tier: str, why: str) -> str:
    return f"tier {tier}: {why}"


def calendar_text(name: str, timezone_name: str) -> str:
    return f"calendar {name} ({timezone_name})"


def deadline_text(d: Deadline, metric: str, priority: str, frozen_rules: bool) -> str:
    frozen = f", frozen from rules {d.rules_version}" if frozen_rules else ""
    paused = f", paused {format_duration(d.paused)}" if d.paused else ""
    return (f"due {minute_text(d.due_at)} UTC: {METRIC_NAMES.get(metric, metric)} {format_duration(d.target)} of "
            f"{d.calendar} working time from {minute_text(d.started_at)} UTC ({priority}{paused}); {d.state}{frozen}")


# --- escalation ---------------------------------------------------------------------------

def threshold_text(threshold: Threshold) -> str:
    parts = []
    if threshold.percent is not None:
        parts.append(f"{threshold.percent:g} %")
    if threshold.before is not None:
        parts.append(f"{format_duration(threshold.before)} before the deadline")
    return " or ".join(parts)


def threshold_reached(metric: str, threshold: Threshold, target: timedelta) -> str:
    return (f"{METRIC_NAMES[metric]} reached {threshold_text(threshold)} of its {format_duration(target)} target"
            + (f" → level {threshold.level}" if threshold.level else ""))


def threshold_cause(metric: str, threshold: Threshold, target: timedelta) -> str:
    if threshold.is_breach:
        return f"{METRIC_NAMES[metric]} breached its {format_duration(target)} target"
    return f"{METRIC_NAMES[metric]} reached {threshold_text(threshold)} of its {format_duration(target)} target"


def manual_climb(tag: str) -> str:
    return f"escalation asked by tag {tag}: one level up the ladder"


def manual_cause(tag: str) -> str:
    return f"escalation asked by tag {tag}"


def no_ladder(team: str | None) -> str:
    return f"no ladder for team {team or '-'}: the escalation stays a note"


def ladder_started(name: str, rules_version: str, at: datetime) -> str:
    return f"escalation started on ladder {name}, frozen from rules {rules_version} at {minute_text(at)} UTC"


def not_on_ladder(level: str | int, name: str, rules_version: str) -> str:
    return f"level {level} is not on the frozen ladder {name} (rules {rules_version}): one level up"


def already_at(cause: str, title: str) -> str:
    return f"{cause}: already at level {title}"


def level_reached(level: LevelSnapshot, index: int, count: int, ladder: str, rules_version: str, cause: str,
                  owner: PersonRef | None, source: str) -> str:
    return (f"level {level.title} ({index + 1} of {count}) on ladder {ladder}, frozen from "
            f"rules {rules_version}: {cause}; owner {owner.name if owner else 'none'} ({source})")


def timeout_cause(climb_after: timedelta | None, title: str) -> str:
    return f"no agent reply within {format_duration(climb_after)} at level {title}"


def first_reply_after(took: timedelta) -> str:
    return f"first public agent reply {format_duration(took)} after the escalation started"


def escalated_state(state: EscalationState) -> str:
    owner = state.owner.name if state.owner else "none"
    return (f"escalated: level {state.current.title} "
            f"({state.level + 1} of {len(state.ladder.levels)}) since {minute_text(state.level_since)} UTC; "
            f"owner {owner}; ladder {state.ladder.name} frozen from rules {state.ladder.rules_version} "
            f"at {minute_text(state.started_at)} UTC")


# What comes next, in a few words (the decision's `next_action`: the at-risk queue's "Next", explain).

def threshold_ahead(metric: str, threshold: Threshold, breach: bool) -> str:
    """`warning at 50 % of first response`, `escalation 2 h before resolution is due`, `resolution breach`."""
    name = METRIC_NAMES[metric]
    if breach:
        return f"{name} breach"
    head, t = "escalation" if threshold.level else "warning", threshold
    at = f"at {t.percent:g} % of {name}" if t.percent is not None else ""
    if t.before is None:
        return f"{head} {at}"
    lead = format_duration(t.before)
    return f"{head} {at} or {lead} before it is due" if at else f"{head} {lead} before {name} is due"


NEXT_TECH_LEAD = "tech-lead ticket"
NEXT_LEVEL = "next level unless an agent replies"
NEXT_CUSTOMER_UPDATE = "customer update"
NEXT_CLOSE = "closes unless the customer answers"
NEXT_AFTER_REOPEN = "a fresh look after the reopen"
NEXT_VENDOR_ETA = "vendor ETA due"
NEXT_BUDGET_CLIMB = "escalation: the level's budget is used up"


def ola_ahead(holder: str, warning: bool) -> str:
    return f"{holder} budget {'warning' if warning else 'used up'}"


def trigger_ahead(title: str) -> str:
    return f"{title} (trigger)"


# Note lines an agent reads in the helpdesk: short, display names, no due times (the note's own due line,
# written from the decision's final deadlines, is the one place a due time appears), no rules-file jargon.

def threshold_note(threshold: Threshold, metric: str, d: Deadline, also: list[str], level: str) -> str:
    t = threshold
    head = "SLA breach" if t.is_breach else "SLA escalation" if t.level else "SLA warning"
    passed = f"passed {threshold_text(t)}" if t.is_breach else f"reached {threshold_text(t)}"
    return (f"{head}: {METRIC_NAMES[metric]} {passed} of its {format_duration(d.target)} target"
            + (f" (and {', '.join(also)})" if also else "") + level + ".")


def threshold_note_level(level: str, reached: bool, current: str | None) -> str:
    if level and reached:
        return ""  # the escalation line that follows names the level and its owner
    if level and current is not None:
        return f"; already escalated to {current}"
    return ""


def level_note(state: EscalationState, passed: list[str], team: str | None) -> str:
    level, climb = state.current, state.climbs[-1]
    where = ", ".join(p for p in (level.title, team) if p)
    head = f"Escalated to {state.owner.name} ({where})" if state.owner else f"Escalated to {where} (no owner named)"
    return head + (f" via {', '.join(passed)}" if passed else "") + f": {climb.cause}."


def tech_lead_note(priority: str, after: timedelta, wall: bool, team: str, manager: str | None) -> str:
    told = f"; account manager {manager} notified" if manager else ""
    clock = "" if wall else " of working time"
    return (f"Still unresolved after {format_duration(after)}{clock} ({priority}): a tech-lead ticket was requested "
            f"for {team}{told}.")


def queued_note(starts: datetime, cal: WorkCalendar, now: datetime) -> str:
    return f"Arrived outside business hours: the first-response clock starts {customer_time(starts, cal.tz, now)}."


# --- roles and triggers -------------------------------------------------------------------

def refusal_note(tag: str, actor_id: str | None, role: str, rule: str, allowed: list[str]) -> str:
    who = f"user {actor_id}" if actor_id is not None else "someone slaclock does not know"
    return (f"Escalation refused: {who} ({role.replace('_', ' ')}) may not escalate, so the tag {tag} was removed. "
            f"Roles that may: {', '.join(r.replace('_', ' ') for r in allowed)}.")


# --- an owner from the first minute (rules.owner) ------------------------------------------

def owner_on_call(name: str, rota: str) -> str:
    return f"owner {name}: on call in rota {rota}"


def owner_nobody_on_call(rota: str, fallback: bool) -> str:
    return f"nobody on call in rota {rota}" + ("; the team's assignee owns it" if fallback else "; no owner")


def owner_no_load(read: bool, fallback: bool) -> str:
    why = "nobody in the team's group may take it" if read else "the team's open tickets could not be read"
    return why + ("; the team's assignee owns it" if fallback else "; no owner")


def owner_least_loaded(name: str, open_tickets: int, members: int) -> str:
    tickets = "1 open ticket" if open_tickets == 1 else f"{open_tickets} open tickets"
    if members == 1:
        return f"owner {name}: the only member of the team's group ({tickets})"
    return f"owner {name}: the fewest open tickets of the team's {members} members ({tickets})"


# --- bouncing (rules.bouncing) ---------------------------------------------------------------

def bounced(teams: list[str], within: timedelta, since: datetime, zone: ZoneInfo, now: datetime) -> str:
    moves = len(teams) - 1
    return (f"reassigned between teams {moves} times within {format_duration(within)} "
            f"({' → '.join(teams)}, since {customer_time(since, zone, now)})")


# --- what an escalation request carries (rules.escalation_request) ---------------------------

def listed(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def request_incomplete(missing: list[str]) -> str:
    return (f"Escalation waits: fill in {listed(missing)}; slaclock escalates once "
            f"{'it is' if len(missing) == 1 else 'they are'} there, no need to ask again.")


def request_still_waits(missing: list[str]) -> str:
    return f"the escalation request still waits for {listed(missing)}"


def request_complete(asked_at: datetime | None) -> str:
    return "the escalation request is complete now: escalated as asked" + (
        f" at {minute_text(asked_at)} UTC" if asked_at else "")


# --- roles enforced, the resolution path (rules.enforcement) --------------------------------

def _roles(roles: list[str]) -> str:
    return ", ".join(r.replace("_", " ") for r in roles)


def solve_undone(who: str, role: str, status: str, allowed: list[str]) -> str:
    return (f"Solve undone: {who} ({role.replace('_', ' ')}) may not solve cases, so the status is back to "
            f"{status}. Who may: {_roles(allowed)}.")


CHANGE_NAMES = {"status": "the status", "priority": "the priority", "routing": "the team or assignee"}


def change_undone(who: str, role: str, fields: list[str], allowed: list[str]) -> str:
    names = [CHANGE_NAMES[f] for f in fields]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    back = "it is back as it was" if len(names) == 1 else "they are back as they were"
    return f"Change undone: {who} ({role.replace('_', ' ')}) may not change {what}, so {back}. Who may: {_roles(allowed)}."


def solve_needs_path(title: str, status: str) -> str:
    return f"Solve undone: fill in {title} first, then solve again. The status is back to {status}."


def keyword_hit(keyword: str, where: str) -> str:
    return f'keyword "{keyword}" in the {where}'


def tag_hit(tag: str) -> str:
    return f"tag {tag}"


def promised_hit(within: timedelta) -> str:
    return f"the promised date is less than {format_duration(within)} away"


def trigger_push(title: str, why: str) -> str:
    return f"escalation trigger {title}: {why}"


def trigger_note(title: str, why: str, level: str | None, priority: str | None) -> str:
    return f"Escalation trigger {title}: {why}" + (f"; priority at least {priority}" if priority else "") + "."


def trigger_notify(ticket: str, subject: str, title: str, why: str) -> str:
    return f"{ticket} ({subject or '-'}): escalation trigger {title} fired ({why})."


# --- the vendor loop ----------------------------------------------------------------------

def vendor_cycle_ended(cycle: int, vendor: str, running: bool, team: str | None) -> str:
    why = "the case is no longer open" if not running else f"the case went to vendor {team}"
    return f"vendor request cycle {cycle} at {vendor} ended: {why}"


def vendor_follow_up(vendor: str) -> str:
    return f"Follow-up ticket requested for vendor {vendor}."


def vendor_requested(team: str, eta_due_at: datetime, eta_within: timedelta, calendar: str) -> str:
    return (f"team {team} is a vendor: capacity and ETA "
            f"requested, due {minute_text(eta_due_at)} UTC "
            f"({format_duration(eta_within)} on {calendar})")


VENDOR_NOT_AWAITED = "vendor update ignored: the case is not waiting on a vendor"


def vendor_other(sender: str, vendor: str) -> str:
    return f"vendor update from {sender} ignored: the case waits on {vendor}"


def vendor_update(vendor: str, u: VendorUpdate, zone: ZoneInfo, now: datetime) -> str:
    said = ", ".join(p for p in (f"ETA {customer_time(u.eta, zone, now)}" if u.eta else "",
                                 {True: "capacity available", False: "no capacity",
                                  None: ""}[u.capacity_available]) if p) or "no ETA"
    return f"Vendor {vendor}: {said}" + (f" ({u.note})" if u.note else "") + "."


VENDOR_NO_CAPACITY = "the vendor has no capacity"


ETA_AFTER_DUE = "the vendor's ETA is after the resolution due time"


def no_eta(eta_within: timedelta) -> str:
    return f"no ETA from the vendor within {format_duration(eta_within)}"


def vendor_risk(vendor: str, why: str) -> str:
    return f"SLA risk at vendor {vendor}: {why}"


def vendor_asked(subject: str, eta_due_at: str) -> str:
    """The capacity/ETA request to a vendor's system (its times already in the note's one zone)."""
    return f"Please confirm capacity and an ETA by {eta_due_at} for «{subject}»." if subject else \
        f"Please confirm capacity and an ETA by {eta_due_at}."


def vendor_override(priority: str, why: str) -> str:
    """The priority override sent to a vendor's system."""
    return f"Priority override to {priority}: {why}."


def vendor_risk_notify(ticket: str, text: str) -> str:
    return f"{ticket}: {text}."


def vendor_confirmed(vendor: str, eta: datetime, zone: ZoneInfo, now: datetime, after_risk: bool) -> str:
    late = " (a new ETA after the SLA risk)" if after_risk else ""
    return f"Vendor {vendor} confirmed the ETA {customer_time(eta, zone, now)}, in time for the SLA{late}."


# --- the customer and the cluster -----------------------------------------------------------

def no_customer_message(why_off: str) -> str:
    return f"no customer message: {why_off}"


UPDATES_OFF = "customer updates are off"
CASE_NOT_OPEN = "the case is not open"


def updates_off_for_team(team: str) -> str:
    return f"customer updates are off for team {team} (teams.{team}.customer_updates)"


def updates_off_for_tier(tier: str) -> str:
    return f"customer updates are off for tier {tier} (tiers.{tier}.customer_updates)"


def message_held(message: str, release: str) -> str:
    return f"customer message {message} held: the customer's quiet hours; it goes out {release}"


def customer_told(names: str, next_update: str | None) -> str:
    return f"customer told ({names}); " + (f"next update {next_update}" if next_update
                                           else "no cadence at this priority")


def cadence_restarted(reply: datetime) -> str:
    return (f"customer update cadence restarted by the agent's public reply at "
            f"{minute_text(reply)} UTC (no update sent over it)")


def cluster_member(key: str, problem: str, members: int) -> str:
    return (f"member of recurring-issue cluster {key} (problem {problem}, "
            f"{members} cases): escalated once through the problem, not per case")


# --- the confirmation loop (seeds 001, 003) ----------------------------------------------

CUSTOMER_CONFIRMED = "The customer confirmed the resolution."
CUSTOMER_NOT_FIXED = "The customer says the problem is not fixed: reopened for the case owner."


def confirmation_asked(close_at: datetime, zone: ZoneInfo, now: datetime) -> str:
    return f"Solved: the customer is asked to confirm; it closes on {customer_time(close_at, zone, now)} without an answer."


def confirmation_waits(tag: str, close_at: datetime, zone: ZoneInfo, now: datetime) -> str:
    return (f"solved but not confirmed (tag {tag}): closes when the customer confirms, or on "
            f"{customer_time(close_at, zone, now)} without an answer")


def confirmation_closed(outcome: str) -> str:
    return ("Closed: the customer confirmed the resolution." if outcome == "confirmed"
            else "Closed: no answer from the customer within the quiet period.")


def post_incident_note(owner: str | None, due: str) -> str:
    return (f"Post-incident review asked of {owner or 'the escalation owner'}: root cause, actions taken and "
            f"preventive steps, due {due}.")


# --- OLA budgets and forecasts ------------------------------------------------------------

def ola_warning(holder: str, used: timedelta, budget: timedelta) -> str:
    return f"{holder} has used {format_duration(used)} of its {format_duration(budget)} budget."


def ola_exhausted(holder: str, budget: timedelta) -> str:
    return f"{holder} used its whole {format_duration(budget)} budget"


def count(n: int, one: str, many: str | None = None) -> str:
    """`1 similar ticket`, `2 similar tickets`; `many` for a plural that is not `one` + s (`2 deliveries`)."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def forecast(ahead: timedelta, cases: int, q: float, deadline_in: timedelta, queued: int, team: str | None,
             owner_away: timedelta | None) -> str:
    """'forecast 31 h from 42 similar tickets (p80), deadline in 24 h', with what stretched it."""
    basis = [f"p{round(q * 100, 1):g}"]
    if queued:
        basis.append(f"{count(queued, 'more open ticket')} than usual"
                     + (f" in {team}" if team else ""))
    if owner_away is not None:
        basis.append(f"the owner starts in {format_duration(owner_away)}")
    return (f"forecast {format_duration(ahead)} from {count(cases, 'similar ticket')} "
            f"({'; '.join(basis)}), deadline in {format_duration(deadline_in)}")


def forecast_in_time(text: str) -> str:
    return f"{text}: in time, no escalation"


def no_forecast(cases: int, needed: int) -> str:
    return (f"no forecast: {count(cases, 'similar solved ticket')}, {needed} needed; "
            "the thresholds decide")
