"""The people around the case (issue 6): roles, escalation triggers, the vendor loop, customer updates.

Roles (seed 002). An actor's role is, first match wins: `roles.<connector>.users.<user id>`; the
person of `[people]` with that user id, via `roles.people.<person>`; the roles of the actor's
groups (`roles.<connector>.groups.<group id>`; with several, the one with the most rights);
else `roles.default` (default "support", who may escalate, so a file without a role map behaves
as before). A manual escalation (the tag) asked for by a role without `escalate` is refused:
the tag is removed, an internal note says why, the timeline records `refused`, nothing climbs.

Triggers (seed 003), `[triggers.<name>]`: keywords in the subject / description, ticket tags, or
a promised date (`promised_field`) coming within `within`. A trigger fires once per case
(`trigger:<name>` in `CaseMemory.fired`), records a `trigger` timeline event and climbs the
ladder at once (to `level`, else one level up), raising the priority to `priority`. A tier's
`priority_floor` (high-value account) keeps its cases at or above that priority; the first
time it lifts a case the timeline says so (`trigger:tier_floor:<tier>`, name "high_value").

Vendor loop (seed 000). A case whose team has `kind = "vendor"` starts a vendor request cycle:
an internal note asks for capacity and an ETA (and, with `vendor.follow_up`, a follow-up ticket
for the vendor's group), and a time-to-ETA clock starts (`vendor.eta_within`, default 48 h on
`vendor.calendar`). Vendor updates come from `decide(vendor_update=...)` or from the ETA /
capacity custom fields (a changed value is an update). Outcomes, each once per cycle:
confirmed (an ETA at or before the SLA resolution due time, capacity not refused) → the
customer hears "schedule confirmed" and the clock stops; SLA risk (no ETA by the deadline,
capacity refused, or an ETA after the due time) → priority override (`vendor.risk_priority`),
one level up the ladder (or `vendor.risk_level`), the customer hears "updated plan". A good
ETA arriving after the risk (the vendor's new ETA after the override) still confirms.

Customer updates (seeds 000, 003), `[customer_updates]`: every climb of the ladder is
acknowledged with a public reply naming the escalation owner and the time of the next update;
vendor outcomes and a recurring-issue link send their own message. While the case is escalated
(or in a cluster) updates follow on a cadence per priority until it is solved. The cadence
counts from the latest of: the last message slaclock sent, the latest public agent reply (an
agent's reply replaces the update and restarts the cadence), the start of the escalation, the
end of a skip status. Messages due in the customer's quiet hours (outside `send_hours`) are held
to the next opening; several messages due together go out as one reply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.calendar import WorkCalendar, parse_instant, utc_instant
from rules.decision import (CLUSTER_LINK, CUSTOMER_UPDATE, FOLLOW_UP, NOTE, NOTIFY, PUBLIC_REPLY, REFUSED, TRIGGER,
                            VENDOR_CONFIRMED, VENDOR_REQUEST, VENDOR_RISK, VENDOR_UPDATE, Action, CaseMemory,
                            ClusterInfo, CustomerState, EscalationState, HeldMessage, Reason, TimelineEvent,
                            VendorState, VendorUpdate)
from rules.escalation import Push, format_duration
from rules.ladder import PersonRef
from rules.schema import CUSTOMER_FIELDS, Rules, field_value


# --- values typed into custom fields -------------------------------------------------------

_YES = {"yes", "y", "true", "1", "available", "capacity_available", "ok"}
_NO = {"no", "n", "false", "0", "unavailable", "capacity_unavailable", "none"}


def parse_yes_no(value: Any) -> bool | None:
    """yes / no (true / false, available / unavailable) from a custom field; None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _YES else False if text in _NO else None
    return None


def zone_text(instant: datetime, zone: ZoneInfo) -> str:
    """`Mon 01 Jun 2026 14:00 Europe/Berlin`: an instant as the customer reads it."""
    return f"{instant.astimezone(zone):%a %d %b %Y %H:%M} {zone.key}"


def _ticket_key(ticket: Any) -> str:
    return f"{ticket.connector}:{getattr(ticket, 'ticket_id', '')}"


# --- roles ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActorRole:
    """Who made a change, as the role map sees them."""

    role: str
    rights: frozenset[str]
    rule: str  # key path in the rules file
    why: str

    def may(self, right: str) -> bool:
        return right in self.rights


def actor_role(rules: Rules, connector: str, actor_id: str | None,
               group_ids: frozenset[str] = frozenset()) -> ActorRole:
    """The actor's role by the precedence in this module's docstring."""
    roles = rules.roles
    members = getattr(roles, connector, None)
    if actor_id is not None and members is not None and actor_id in members.users:
        role = members.users[actor_id]
        return ActorRole(role, roles.rights_of(role), f"roles.{connector}.users.{actor_id}", f"user {actor_id}")
    if actor_id is not None:
        for person, role in roles.people.items():
            spec = rules.people.get(person)
            if spec is not None and getattr(spec, connector, None) == actor_id:
                return ActorRole(role, roles.rights_of(role), f"roles.people.{person}",
                                 f"user {actor_id} is {spec.name or person}")
    if members is not None:
        matched = [(members.groups[g], g) for g in sorted(group_ids) if g in members.groups]
        if matched:
            role, group = max(matched, key=lambda rg: (len(roles.rights_of(rg[0])), -roles.names().index(rg[0])
                                                       if rg[0] in roles.names() else 0))
            return ActorRole(role, roles.rights_of(role), f"roles.{connector}.groups.{group}", f"group {group}")
    who = f"user {actor_id}" if actor_id is not None else "no known actor"
    return ActorRole(roles.default, roles.rights_of(roles.default), "roles.default", f"{who}: default role")


def refusal(rules: Rules, ticket: Any, role: ActorRole, actor_id: str | None, key: str, at: datetime
            ) -> tuple[Action, TimelineEvent, Reason]:
    """The note, timeline event and reason of a manual escalation refused for want of `escalate`."""
    who = f"user {actor_id}" if actor_id is not None else "an unknown actor"
    allowed = sorted(r for r in rules.roles.names() if "escalate" in rules.roles.rights_of(r))
    text = (f"Escalation refused: tag {rules.escalation.tag} was added by {who} with role {role.role} ({role.rule}), "
            f"which may not escalate (seed 002: {', '.join(allowed)} may). The tag was removed; nothing changed. "
            "Ask a lead or manager to escalate.")
    return (Action(key, NOTE, text=text),
            TimelineEvent(REFUSED, at, key, threshold="manual", text=text),
            Reason(role.rule, text, "escalation"))


# --- triggers -----------------------------------------------------------------------------------

def _keyword_hit(text: str, keyword: str) -> bool:
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in keyword.split()) + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


@dataclass
class TriggerStep:
    pushes: list[Push] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)  # push key → what matched
    next_at: datetime | None = None


def trigger_pushes(ticket: Any, rules: Rules, memory: CaseMemory, observed_at: datetime, now: datetime
                   ) -> TriggerStep:
    """The triggers that fire by `now` (as pushes for the escalator) and the next one time will fire."""
    step = TriggerStep()
    upcoming: list[datetime] = []
    tags = getattr(ticket, "tags", frozenset()) or frozenset()
    for name, spec in rules.triggers.items():
        key = f"trigger:{name}"
        if key in memory.fired:
            continue
        hits: list[tuple[datetime, str]] = []
        for where in spec.match_in:
            text = getattr(ticket, where, "") or ""
            kw = next((k for k in spec.keywords if _keyword_hit(text, k)), None)
            if kw is not None:
                hits.append((observed_at, f'keyword "{kw}" in the {where}'))
                break
        tag = next((t for t in spec.tags if t in tags), None)
        if tag is not None:
            hits.append((observed_at, f"tag {tag}"))
        promised = parse_instant(field_value(ticket, spec.promised_field)) if spec.promised_field else None
        if promised is not None:
            fire_at = promised - spec.within
            if fire_at <= now:
                hits.append((min(max(fire_at, observed_at), now),
                             f"promised {promised:%Y-%m-%d %H:%M} UTC is within {format_duration(spec.within)}"))
            else:
                upcoming.append(fire_at)
        if not hits:
            continue
        at, why = min(hits)
        title = spec.title or name
        step.pushes.append(Push(at, key, TRIGGER, name, f"triggers.{name}", f"escalation trigger {title}: {why}",
                                level=spec.level, priority=spec.priority, tags=tuple(spec.add_tags)))
        step.why[key] = why
    step.next_at = min(upcoming, default=None)
    return step


def trigger_actions(ticket: Any, rules: Rules, step: TriggerStep, fired_now: set[str]) -> list[Action]:
    """The note and notifications of each trigger that fired in this decision."""
    actions: list[Action] = []
    for push in step.pushes:
        if push.key not in fired_now:
            continue
        spec = rules.triggers[push.name]
        title = spec.title or push.name
        where = f"level {spec.level}" if spec.level else "one level up the ladder"
        if spec.note:
            actions.append(Action(push.key, NOTE, text=f"Escalation trigger {title}: {step.why[push.key]} → "
                                                        f"{where}" + (f", priority at least {spec.priority}"
                                                                      if spec.priority else "") + "."))
        for person_key in spec.notify:
            person = PersonRef.of(rules, person_key)
            actions.append(Action(f"{push.key}:notify:{person_key}", NOTIFY,
                                  text=f"{_ticket_key(ticket)} ({getattr(ticket, 'subject', '') or '-'}): escalation "
                                       f"trigger {title} fired ({step.why[push.key]}).",
                                  person_id=person.id_for(ticket.connector), person_name=person.name,
                                  email=person.email, digest_key=f"{person_key}:trigger:{push.name}"))
    return actions


def tier_floor(rules: Rules, tier: str | None) -> str | None:
    """The priority a tier's cases never run below (seed 003: a high-value account)."""
    spec = rules.tiers.get(tier) if tier else None
    return spec.priority_floor if spec is not None else None


# --- the vendor loop ----------------------------------------------------------------------------

@dataclass
class VendorStep:
    state: VendorState | None
    pushes: list[Push] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    messages: list[tuple[str, str, datetime]] = field(default_factory=list)  # (key, message, at) for the customer
    next_at: datetime | None = None


def _vendor_title(rules: Rules, team: str) -> str:
    spec = rules.teams.get(team)
    return (spec.title if spec is not None and spec.title else None) or team


def is_vendor(rules: Rules, team: str | None) -> bool:
    spec = rules.teams.get(team) if team else None
    return spec is not None and spec.kind == "vendor"


class VendorDesk:
    """Works out one decision's vendor loop: start a request cycle, fold updates in, find outcomes."""

    def __init__(self, ticket: Any, rules: Rules, now: datetime, memory: CaseMemory):
        self.ticket, self.rules, self.now = ticket, rules, now
        self.cfg = rules.vendor
        self.step = VendorStep(memory.vendor)
        self.fired = set(memory.fired)

    def _values(self, state: VendorState, due_at: datetime | None) -> dict[str, str]:
        t = self.ticket
        return {
            "ticket": _ticket_key(t), "ticket_id": str(getattr(t, "ticket_id", "")),
            "subject": getattr(t, "subject", "") or "", "priority": getattr(t, "priority", None) or "normal",
            "due_at": f"{due_at:%Y-%m-%d %H:%M} UTC" if due_at else "-", "vendor": state.vendor, "team": state.team,
            "eta_due_at": f"{state.eta_due_at:%Y-%m-%d %H:%M} UTC", "eta_within": format_duration(self.cfg.eta_within),
            "eta": f"{state.eta:%Y-%m-%d %H:%M} UTC" if state.eta else "none yet",
        }

    def follow(self, team: str | None, at: datetime, due_at: datetime | None, running: bool) -> None:
        """Start a request cycle when the case is at a vendor team it is not already asking.

        A cycle runs until the case is solved / closed or another vendor takes it: an internal
        team chasing the vendor (an escalation level, say) does not end it.
        """
        state = self.step.state
        vendor = is_vendor(self.rules, team)
        if state is not None and state.ended_at is None and (not running or (vendor and state.team != team)):
            state = replace(state, ended_at=at)
            why = "the case is no longer open" if not running else f"the case went to vendor {team}"
            self.step.reasons.append(Reason("vendor", f"vendor request cycle {state.cycle} at {state.vendor} ended: "
                                                      f"{why}", "vendor"))
        if vendor and running and (state is None or state.ended_at is not None):
            cal = self.rules.calendar(self.cfg.calendar)
            state = VendorState(cycle=state.cycle + 1 if state else 1, team=team,
                                vendor=_vendor_title(self.rules, team),
                                requested_at=at, eta_due_at=cal.add(at, self.cfg.eta_within),
                                field_eta=state.field_eta if state else None,
                                field_capacity=state.field_capacity if state else None)
            values = self._values(state, due_at)
            key = f"vendor:{state.cycle}:request"
            text = self.cfg.request_note.format_map(values)
            self.step.actions.append(Action(key, NOTE, text=text))
            if self.cfg.follow_up:
                target = getattr(self.rules.teams[team], self.ticket.connector, None)
                self.step.actions.append(Action(
                    f"{key}:follow_up", FOLLOW_UP, text=f"Follow-up ticket requested for vendor {state.vendor}.",
                    subject=self.cfg.follow_up_subject.format_map(values),
                    body=self.cfg.follow_up_body.format_map(values),
                    group_id=target.group_id if target else None, assignee_id=target.assignee_id if target else None,
                    priority=getattr(self.ticket, "priority", None)))
            self.step.timeline.append(TimelineEvent(VENDOR_REQUEST, at, key, threshold=team, text=text))
            self.step.reasons.append(Reason(f"teams.{team}.kind", f"team {team} is a vendor: capacity and ETA "
                                            f"requested, due {state.eta_due_at:%Y-%m-%d %H:%M} UTC "
                                            f"({format_duration(self.cfg.eta_within)} on {cal.name})", "vendor"))
        self.step.state = state

    def updates(self, update: VendorUpdate | None, observed_at: datetime) -> None:
        """Fold the vendor's word in: the processor's update, then changed ETA / capacity fields."""
        state = self.step.state
        if state is None or state.ended_at is not None:
            if update is not None:
                self.step.reasons.append(Reason("vendor", "vendor update ignored: the case is not waiting on a "
                                                          "vendor", "vendor"))
            return
        incoming: list[VendorUpdate] = []
        if update is not None:
            if update.vendor and update.vendor not in (state.team, state.vendor):
                self.step.reasons.append(Reason("vendor", f"vendor update from {update.vendor} ignored: the case "
                                                          f"waits on {state.vendor}", "vendor"))
            else:
                incoming.append(replace(update, at=utc_instant(update.at),
                                        eta=utc_instant(update.eta) if update.eta else None))
        raw_eta = field_value(self.ticket, self.cfg.eta_field) if self.cfg.eta_field else None
        raw_cap = field_value(self.ticket, self.cfg.capacity_field) if self.cfg.capacity_field else None
        raw_eta = None if raw_eta in (None, "") else str(raw_eta)
        raw_cap = None if raw_cap in (None, "") else str(raw_cap)
        if (raw_eta, raw_cap) != (state.field_eta, state.field_capacity):
            eta = parse_instant(raw_eta) if raw_eta != state.field_eta else None
            capacity = parse_yes_no(raw_cap) if raw_cap != state.field_capacity else None
            state = replace(state, field_eta=raw_eta, field_capacity=raw_cap)
            if eta is not None or capacity is not None:
                incoming.append(VendorUpdate(at=observed_at, eta=eta, capacity_available=capacity,
                                             note="from the helpdesk fields", vendor=state.team))
        for u in sorted(incoming, key=lambda u: u.at):
            at = min(max(u.at, state.requested_at), self.now)
            known = state.last_word_at is not None and at <= state.last_word_at
            if known and u.eta in (None, state.eta) and u.capacity_available in (None, state.capacity_available):
                continue  # a repeat of what the vendor already said (a redelivered POST, say)
            state = replace(
                state, eta=u.eta or state.eta, eta_reported_at=at if u.eta else state.eta_reported_at, last_word_at=at,
                capacity_available=(u.capacity_available if u.capacity_available is not None
                                    else state.capacity_available),
                note=u.note or state.note,
                clock_stopped_at=state.clock_stopped_at or (at if u.eta else None))
            said = ", ".join(p for p in (f"ETA {u.eta:%Y-%m-%d %H:%M} UTC" if u.eta else "",
                                         {True: "capacity available", False: "no capacity",
                                          None: ""}[u.capacity_available]) if p) or "no ETA"
            text = f"Vendor {state.vendor} update: {said}" + (f" ({u.note})" if u.note else "") + "."
            key = f"vendor:{state.cycle}:update:{int(at.timestamp())}"
            self.step.timeline.append(TimelineEvent(VENDOR_UPDATE, at, key, text=text))
            self.step.actions.append(Action(key, NOTE, text=text))
        self.step.state = state

    def outcomes(self, due_at: datetime | None, running: bool) -> None:
        """Confirmed or SLA risk, each once per cycle; the time-to-ETA deadline to look again at."""
        state = self.step.state
        if state is None or state.ended_at is not None or not running:
            return
        cycle = state.cycle
        risk_key, confirmed_key = f"vendor:{cycle}:risk", f"vendor:{cycle}:confirmed"
        if risk_key not in self.fired and state.risk_at is None:
            risks = []
            if state.capacity_available is False:
                risks.append((state.last_word_at or self.now, "capacity_unavailable", "the vendor has no capacity"))
            if state.eta is not None and due_at is not None and state.eta > due_at:
                risks.append((state.eta_reported_at or self.now, "eta_after_due",
                              f"the vendor's ETA {state.eta:%Y-%m-%d %H:%M} UTC is after the resolution due time "
                              f"{due_at:%Y-%m-%d %H:%M} UTC"))
            if (state.eta_reported_at is None or state.eta_reported_at > state.eta_due_at) \
                    and state.eta_due_at <= self.now:
                risks.append((state.eta_due_at, "no_eta", f"no ETA from the vendor within "
                                                           f"{format_duration(self.cfg.eta_within)}"))
            if risks:
                at, cause, why = min(risks)
                at = min(max(at, state.requested_at), self.now)
                text = f"SLA risk at vendor {state.vendor}: {why}"
                self.step.pushes.append(Push(at, risk_key, VENDOR_RISK, cause, "vendor", text,
                                             level=self.cfg.risk_level, priority=self.cfg.risk_priority,
                                             priority_rule="vendor.risk_priority"))
                state = replace(state, risk_at=at, risk_cause=cause, clock_stopped_at=state.clock_stopped_at or at)
                self.step.messages.append((f"customer:updated_plan:{cycle}", "updated_plan", at))
                for person_key in self.cfg.notify:
                    person = PersonRef.of(self.rules, person_key)
                    self.step.actions.append(Action(
                        f"{risk_key}:notify:{person_key}", NOTIFY, text=f"{_ticket_key(self.ticket)}: {text}.",
                        person_id=person.id_for(self.ticket.connector), person_name=person.name, email=person.email,
                        digest_key=f"{person_key}:vendor_risk"))
        good_eta = (state.eta is not None and due_at is not None and state.eta <= due_at
                    and state.capacity_available is not False)
        if confirmed_key not in self.fired and state.confirmed_at is None and good_eta:
            at = min(max(state.eta_reported_at or self.now, state.requested_at), self.now)
            late = " (a new ETA after the SLA risk)" if state.risk_at is not None else ""
            text = (f"Vendor {state.vendor} confirmed: ETA {state.eta:%Y-%m-%d %H:%M} UTC, before the resolution due "
                    f"time {due_at:%Y-%m-%d %H:%M} UTC{late}; time-to-ETA clock stopped.")
            self.fired.add(confirmed_key)
            self.step.fired.append(confirmed_key)
            state = replace(state, confirmed_at=at, clock_stopped_at=state.clock_stopped_at or at)
            self.step.timeline.append(TimelineEvent(VENDOR_CONFIRMED, at, confirmed_key, threshold="confirmed",
                                                    text=text))
            self.step.reasons.append(Reason("vendor", text, "vendor"))
            self.step.messages.append((f"customer:schedule_confirmed:{cycle}", "schedule_confirmed", at))
        if state.clock_running and state.eta_due_at > self.now:
            self.step.next_at = state.eta_due_at
        self.step.state = state


# --- customer updates -------------------------------------------------------------------------

@dataclass
class CustomerStep:
    state: CustomerState
    actions: list[Action] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    next_at: datetime | None = None  # the earliest held release or cadence instant after now
    next_update_at: datetime | None = None  # the next cadence update (after holding)
    sent_keys: list[str] = field(default_factory=list)  # the message keys the public reply carries


class CustomerDesk:
    """Works out what the customer hears in one decision, and when they hear next."""

    def __init__(self, ticket: Any, rules: Rules, now: datetime, memory: CaseMemory, *, priority: str,
                 team: str | None, tier: str | None, sla_calendar: WorkCalendar, escalation: EscalationState | None,
                 cycle: int, running: bool, status: str | None, due_at: datetime | None,
                 cluster: ClusterInfo | None):
        self.ticket, self.rules, self.now, self.memory = ticket, rules, now, memory
        self.cfg = rules.customer_updates
        self.priority, self.team, self.tier, self.sla_calendar = priority, team, tier, sla_calendar
        self.escalation = escalation if escalation is not None and escalation.cycle == cycle and escalation.level > 0 \
            else None
        self.cycle, self.running, self.status, self.due_at, self.cluster = cycle, running, status, due_at, cluster
        self.zone, self.window = self._zone_and_window()

    # -- where and when the customer may hear --

    def _zone_and_window(self) -> tuple[ZoneInfo, WorkCalendar | None]:
        """The customer's zone and send window: `send_hours_by_tier`, else `send_hours`, read in the
        zone of `timezone_field` when it holds a valid IANA name."""
        cfg = self.cfg
        if cfg is None:
            return self.sla_calendar.tz, None
        name = (cfg.send_hours_by_tier.get(self.tier) if self.tier else None) or cfg.send_hours
        tz_name = None
        value = field_value(self.ticket, cfg.timezone_field) if cfg.timezone_field else None
        if isinstance(value, str) and value.strip():
            try:
                ZoneInfo(value.strip())
                tz_name = value.strip()
            except (ZoneInfoNotFoundError, ValueError, OSError):
                tz_name = None
        window = self.rules.calendar_in(name, tz_name) if name else None
        zone = ZoneInfo(tz_name) if tz_name else window.tz if window is not None else self.sla_calendar.tz
        return zone, window

    def release(self, instant: datetime) -> datetime:
        """When a message due at `instant` may go out: at once, or at the end of quiet hours."""
        if self.window is None or self.priority not in self.cfg.hold_priorities or self.window.is_open(instant):
            return instant
        return self.window.next_open(instant)

    def cadence(self) -> timedelta | None:
        return getattr(self.cfg.cadence, self.priority)

    def _add(self, start: datetime, interval: timedelta) -> datetime:
        return self.sla_calendar.add(start, interval) if self.cfg.clock == "calendar" else start + interval

    def off_reason(self) -> str | None:
        """Why no message goes out for this case now (None: messages may go out)."""
        if self.cfg is None or not self.cfg.enabled:
            return "customer updates are off"
        if not self.running:
            return "the case is not open"
        spec = self.rules.teams.get(self.team) if self.team else None
        if spec is not None and not spec.customer_updates:
            return f"customer updates are off for team {self.team} (teams.{self.team}.customer_updates)"
        tier = self.rules.tiers.get(self.tier) if self.tier else None
        if tier is not None and not tier.customer_updates:
            return f"customer updates are off for tier {self.tier} (tiers.{self.tier}.customer_updates)"
        return None

    # -- the pass --

    def run(self, requests: list[tuple[str, str, datetime]]) -> CustomerStep:
        state = self.memory.customer
        step = CustomerStep(state)
        why_off = self.off_reason()
        if why_off is not None:
            if state.held or requests:
                step.reasons.append(Reason("customer_updates", f"no customer message: {why_off}", "customer"))
            step.state = replace(state, held=(), active_since=state.active_since if self.running else None)
            return step
        templates = self.cfg.templates
        sent = set(self.memory.sent)
        held_keys = {h.key for h in state.held}
        fresh = [(k, m, at) for k, m, at in requests
                 if getattr(templates, m) and k not in sent and k not in held_keys]
        active = self.escalation is not None or self.cluster is not None
        active_since = state.active_since
        if active and active_since is None:
            starts = [c.at for c in self.escalation.climbs] if self.escalation is not None else []
            active_since = min(starts, default=self.now)
        elif not active:
            active_since = None
        # Event messages: due now unless quiet hours hold them.
        held = list(state.held)
        for key, message, at in fresh:
            release = self.release(self.now)
            held.append(HeldMessage(key, message, at, release))
            if release > self.now:
                step.reasons.append(Reason("customer_updates.send_hours", f"customer message {message} held: the "
                                           f"customer's quiet hours; it goes out {zone_text(release, self.zone)}",
                                           "customer"))
        due = [h for h in held if h.release_at <= self.now]
        held = [h for h in held if h.release_at > self.now]
        last_sent = state.last_sent_at
        interval = self.cadence()
        skipping = self.status in self.cfg.skip_statuses
        if not due and active and interval is not None and not skipping:
            base, why = self._cadence_base(last_sent, active_since)
            nominal = self._add(base, interval)
            if self.release(nominal) <= self.now:
                due.append(HeldMessage(f"customer:update:{self.cycle}:{int(nominal.timestamp())}", "update", nominal,
                                       self.release(nominal)))
        if due:
            last_sent = self.now
            next_update = self.release(self._add(self.now, interval)) if active and interval is not None else None
            # One reply: each message once (two held acknowledgements read the same now).
            shown = list({h.message: h for h in due}.values())
            text = "\n\n".join(getattr(templates, h.message).format_map(self._values(next_update)) for h in shown)
            key = "+".join(h.key for h in due)
            names = "+".join(h.message for h in shown)
            step.actions.append(Action(key, PUBLIC_REPLY, text=text))
            step.timeline.append(TimelineEvent(CUSTOMER_UPDATE, self.now, key, threshold=names, text=text))
            step.reasons.append(Reason(f"customer_updates.templates.{due[0].message}", f"customer told ({names}); "
                                       + (f"next update {zone_text(next_update, self.zone)}" if next_update
                                          else "no cadence at this priority"), "customer"))
            step.sent_keys = [h.key for h in due]
        step.state = CustomerState(last_sent, tuple(held), active_since)
        # When to look again: a held message's release, the next cadence update.
        candidates = [h.release_at for h in held]
        if active and interval is not None and not skipping:
            base, why = self._cadence_base(last_sent, active_since)
            step.next_update_at = self.release(self._add(base, interval))
            candidates.append(step.next_update_at)
            if why and not due:
                step.reasons.append(Reason("customer_updates.cadence", why, "customer"))
        future = [c for c in candidates if c > self.now]
        step.next_at = min(future, default=None)
        return step

    def _cadence_base(self, last_sent: datetime | None, active_since: datetime | None) -> tuple[datetime, str]:
        """The instant the cadence counts from, and a sentence when an agent's reply restarted it."""
        reply = self.memory.last_reply_at
        resumed = self._resumed_at()
        options = [t for t in (last_sent, active_since, resumed) if t is not None]
        base = max(options, default=self.now)
        if reply is not None and reply > base and (active_since is None or reply >= active_since):
            return reply, (f"customer update cadence restarted by the agent's public reply at "
                           f"{reply:%Y-%m-%d %H:%M} UTC (no update sent over it)")
        return base, ""

    def _resumed_at(self) -> datetime | None:
        """When the case last left a skip status (the customer answered): the cadence restarts there."""
        skip = set(self.cfg.skip_statuses)
        statuses = self.memory.statuses
        for before, after in zip(reversed(statuses[:-1]), reversed(statuses[1:])):
            if before.status in skip and after.status not in skip:
                return after.at
        return None

    def _values(self, next_update: datetime | None) -> dict[str, str]:
        cfg, t = self.cfg, self.ticket
        owner = None
        if self.escalation is not None and self.escalation.owner is not None:
            owner = self.escalation.owner.name
        elif self.cluster is not None and self.cluster.owner:
            owner = self.cluster.owner
        vendor = self.memory.vendor
        values = {
            "ticket": _ticket_key(t), "ticket_id": str(getattr(t, "ticket_id", "")),
            "subject": getattr(t, "subject", "") or "", "priority": self.priority,
            "due_at": zone_text(self.due_at, self.zone) if self.due_at else "-",
            "owner": owner or cfg.no_owner_text,
            "next_update_at": zone_text(next_update, self.zone) if next_update else cfg.no_next_update_text,
            "eta": zone_text(vendor.eta, self.zone) if vendor is not None and vendor.eta else "to be confirmed",
            "vendor": vendor.vendor if vendor is not None else "our partner",
            "level": self.escalation.current.title if self.escalation is not None else "",
            "problem": (self.cluster.problem_id or self.cluster.subject or self.cluster.key) if self.cluster else "",
        }
        assert set(values) == set(CUSTOMER_FIELDS)
        return values


def cluster_note(rules: Rules, cluster: ClusterInfo, at: datetime) -> tuple[Action, TimelineEvent, Reason]:
    """The internal note on a member of a recurring-issue cluster, once per cluster."""
    template = rules.recurring.member_note if rules.recurring is not None else (
        "Linked to problem {problem} (recurring issue {key}): it is escalated once there, not case by case.")
    problem = cluster.problem_id or cluster.subject or cluster.key
    text = template.format_map({"problem": problem, "key": cluster.key})
    key = f"cluster:{cluster.key}"
    return (Action(key, NOTE, text=text), TimelineEvent(CLUSTER_LINK, at, key, threshold=cluster.key, text=text),
            Reason("recurring", f"member of recurring-issue cluster {cluster.key} (problem {problem}, "
                                f"{cluster.members} cases): escalated once through the problem, not per case",
                   "escalation"))


__all__ = ["ActorRole", "CustomerDesk", "VendorDesk", "actor_role", "cluster_note", "is_vendor", "parse_instant",
           "parse_yes_no", "refusal", "tier_floor", "trigger_actions", "trigger_pushes", "zone_text"]
