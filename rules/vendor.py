"""The vendor loop (seed 000).

A case whose team has `kind = "vendor"` starts a vendor request cycle: an internal note asks for
capacity and an ETA (and, with `vendor.follow_up`, a follow-up ticket for the vendor's group),
and a time-to-ETA clock starts (`vendor.eta_within`, default 48 h on `vendor.calendar`). Vendor
updates come from `decide(vendor_update=...)` or from the ETA / capacity custom fields (a changed
value is an update). Outcomes, each once per cycle: confirmed (an ETA at or before the SLA
resolution due time, capacity not refused) → the customer hears "schedule confirmed" and the
clock stops; SLA risk (no ETA by the deadline, capacity refused, or an ETA after the due time) →
priority override (`vendor.risk_priority`), one level up the ladder (or `vendor.risk_level`),
the customer hears "updated plan". A good ETA arriving after the risk (the vendor's new ETA
after the override) still confirms.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from rules import wording
from rules.calendar import parse_instant, utc_instant
from rules.decision import Action, ActionKind, Reason, TimelineEvent, TimelineKind, VendorState, VendorUpdate
from rules.effects import Effects
from rules.escalation import Push, higher
from rules.facts import TicketFacts
from rules.frozen import quick_init
from rules.ladder import PersonRef
from rules.schema import Rules, field_value

_YES = {"yes", "y", "true", "1", "available", "capacity_available", "ok"}
_NO = {"no", "n", "false", "0", "unavailable", "capacity_unavailable", "none"}


def parse_yes_no(value: object) -> bool | None:
    """yes / no (true / false, available / unavailable) from a custom field; None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _YES else False if text in _NO else None
    return None


def is_vendor(rules: Rules, team: str | None) -> bool:
    spec = rules.teams.get(team) if team else None
    return spec is not None and spec.kind == "vendor"


def _field_text(ticket: TicketFacts, ref: dict[str, str] | None) -> str | None:
    raw = field_value(ticket, ref) if ref else None
    return None if raw in (None, "") else str(raw)


@quick_init
@dataclass(frozen=True)
class CustomerMessage:
    """A message the customer is due to hear: its key, the template's name, when it arose."""

    key: str
    message: str
    at: datetime


class VendorDesk:
    """Works out one decision's vendor loop: start a request cycle, fold updates in, find outcomes.

    `state`, `effects`, `pushes` (SLA risks for the escalator) and `messages` (for the customer)
    accumulate over the calls."""

    def __init__(self, ticket: TicketFacts, rules: Rules, now: datetime, state: VendorState | None,
                 fired: frozenset[str] | tuple[str, ...]):
        self.ticket, self.rules, self.now = ticket, rules, now
        self.cfg = rules.vendor
        self.state = state
        self.fired = set(fired)
        self.effects = Effects()
        self.pushes: list[Push] = []
        self.messages: list[CustomerMessage] = []

    def _values(self, state: VendorState, due_at: datetime | None) -> dict[str, str]:
        t, zone = self.ticket, self.rules.note_zone(state.team)

        def when(instant: datetime) -> str:
            return wording.customer_time(instant, zone, self.now)

        return {
            "ticket": t.key, "ticket_id": str(t.ticket_id),
            "subject": t.subject or "", "priority": t.priority or "normal",
            "due_at": when(due_at) if due_at else "-", "vendor": state.vendor, "team": state.team,
            "eta_due_at": when(state.eta_due_at), "eta_within": wording.format_duration(self.cfg.eta_within),
            "eta": when(state.eta) if state.eta else "none yet",
        }

    def follow(self, team: str | None, at: datetime, due_at: datetime | None, running: bool) -> None:
        """Start a request cycle when the case is at a vendor team it is not already asking.

        A cycle runs until the case is solved / closed or another vendor takes it: an internal
        team chasing the vendor (an escalation level, say) does not end it.
        """
        state = self.state
        vendor = is_vendor(self.rules, team)
        if state is not None and state.ended_at is None and (not running or (vendor and state.team != team)):
            state = replace(state, ended_at=at)
            self.effects = self.effects.add(reasons=[Reason("vendor", wording.vendor_cycle_ended(
                state.cycle, state.vendor, running, team), "vendor")])
        if vendor and running and team is not None and (state is None or state.ended_at is not None):
            state = self._request(team, at, due_at, state)
        self.state = state

    def _request(self, team: str, at: datetime, due_at: datetime | None, last: VendorState | None) -> VendorState:
        cal = self.rules.calendar(self.cfg.calendar)
        state = VendorState(cycle=last.cycle + 1 if last else 1, team=team, vendor=self.rules.team_title(team),
                            requested_at=at, eta_due_at=cal.add(at, self.cfg.eta_within),
                            field_eta=last.field_eta if last else None,
                            field_capacity=last.field_capacity if last else None)
        values = self._values(state, due_at)
        key = f"vendor:{state.cycle}:request"
        text = self.cfg.request_note.format_map(values)
        actions = [Action(key, ActionKind.NOTE, text=text)]
        if self.cfg.follow_up:
            target = getattr(self.rules.teams[team], self.ticket.connector, None)
            actions.append(Action(
                f"{key}:follow_up", ActionKind.FOLLOW_UP, text=wording.vendor_follow_up(state.vendor),
                subject=self.cfg.follow_up_subject.format_map(values),
                body=self.cfg.follow_up_body.format_map(values),
                group_id=target.group_id if target else None, assignee_id=target.assignee_id if target else None,
                priority=self.ticket.priority))
        if self.rules.teams[team].webhook is not None:
            actions.append(Action(f"{key}:webhook", ActionKind.VENDOR_WEBHOOK, subject="vendor.capacity_requested",
                                  text=wording.vendor_asked(self.ticket.subject, values["eta_due_at"]),
                                  priority=self.ticket.priority or "normal", team=team))
        self.effects = self.effects.add(
            actions=actions, timeline=[TimelineEvent(TimelineKind.VENDOR_REQUEST, at, key, threshold=team, text=text)],
            reasons=[Reason(f"teams.{team}.kind", wording.vendor_requested(team, state.eta_due_at,
                                                                           self.cfg.eta_within, cal.name), "vendor")])
        return state

    def _incoming(self, state: VendorState, update: VendorUpdate | None, observed_at: datetime
                  ) -> tuple[VendorState, list[VendorUpdate]]:
        """The processor's update (unless from another vendor), then changed ETA / capacity fields."""
        incoming: list[VendorUpdate] = []
        if update is not None:
            if update.vendor and update.vendor not in (state.team, state.vendor):
                self.effects = self.effects.add(reasons=[Reason("vendor", wording.vendor_other(
                    update.vendor, state.vendor), "vendor")])
            else:
                incoming.append(replace(update, at=utc_instant(update.at),
                                        eta=utc_instant(update.eta) if update.eta else None))
        raw_eta = _field_text(self.ticket, self.cfg.eta_field)
        raw_cap = _field_text(self.ticket, self.cfg.capacity_field)
        if (raw_eta, raw_cap) != (state.field_eta, state.field_capacity):
            eta = parse_instant(raw_eta) if raw_eta != state.field_eta else None
            capacity = parse_yes_no(raw_cap) if raw_cap != state.field_capacity else None
            state = replace(state, field_eta=raw_eta, field_capacity=raw_cap)
            if eta is not None or capacity is not None:
                incoming.append(VendorUpdate(at=observed_at, eta=eta, capacity_available=capacity,
                                             note="from the helpdesk fields", vendor=state.team))
        return state, incoming

    def updates(self, update: VendorUpdate | None, observed_at: datetime) -> None:
        """Fold the vendor's word in: the processor's update, then changed ETA / capacity fields."""
        state = self.state
        if state is None or state.ended_at is not None:
            if update is not None:
                self.effects = self.effects.add(reasons=[Reason("vendor", wording.VENDOR_NOT_AWAITED, "vendor")])
            return
        state, incoming = self._incoming(state, update, observed_at)
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
            text = wording.vendor_update(state.vendor, u, self.rules.note_zone(state.team), self.now)
            key = f"vendor:{state.cycle}:update:{int(at.timestamp())}"
            self.effects = self.effects.add(timeline=[TimelineEvent(TimelineKind.VENDOR_UPDATE, at, key, text=text)],
                                            actions=[Action(key, ActionKind.NOTE, text=text)])
        self.state = state

    def outcomes(self, due_at: datetime | None, running: bool) -> None:
        """Confirmed or SLA risk, each once per cycle; the time-to-ETA deadline to look again at."""
        state = self.state
        if state is None or state.ended_at is not None or not running:
            return
        if f"vendor:{state.cycle}:risk" not in self.fired and state.risk_at is None:
            state = self._risk(state, due_at)
        good_eta = (state.eta is not None and due_at is not None and state.eta <= due_at
                    and state.capacity_available is not False)
        if f"vendor:{state.cycle}:confirmed" not in self.fired and state.confirmed_at is None and good_eta:
            state = self._confirm(state, due_at)
        if state.clock_running and state.eta_due_at > self.now:
            self.effects = self.effects.add(next_at=state.eta_due_at, next_what=wording.NEXT_VENDOR_ETA)
        self.state = state

    def _risk(self, state: VendorState, due_at: datetime | None) -> VendorState:
        risks = []
        if state.capacity_available is False:
            risks.append((state.last_word_at or self.now, "capacity_unavailable", wording.VENDOR_NO_CAPACITY))
        if state.eta is not None and due_at is not None and state.eta > due_at:
            risks.append((state.eta_reported_at or self.now, "eta_after_due", wording.ETA_AFTER_DUE))
        if (state.eta_reported_at is None or state.eta_reported_at > state.eta_due_at) \
                and state.eta_due_at <= self.now:
            risks.append((state.eta_due_at, "no_eta", wording.no_eta(self.cfg.eta_within)))
        if not risks:
            return state
        at, cause, why = min(risks)
        at = min(max(at, state.requested_at), self.now)
        text = wording.vendor_risk(state.vendor, why)
        risk_key = f"vendor:{state.cycle}:risk"
        self.pushes.append(Push(at, risk_key, TimelineKind.VENDOR_RISK, cause, "vendor", text,
                                level=self.cfg.risk_level, priority=self.cfg.risk_priority,
                                priority_rule="vendor.risk_priority"))
        self.messages.append(CustomerMessage(f"customer:updated_plan:{state.cycle}", "updated_plan", at))
        if self.rules.teams[state.team].webhook is not None:
            priority = higher(self.ticket.priority or "normal", self.cfg.risk_priority)
            self.effects = self.effects.add(actions=[Action(
                f"{risk_key}:webhook", ActionKind.VENDOR_WEBHOOK, subject="vendor.priority_override",
                text=wording.vendor_override(priority, why), priority=priority, team=state.team)])
        for person_key in self.cfg.notify:
            person = PersonRef.of(self.rules, person_key)
            self.effects = self.effects.add(actions=[Action(
                f"{risk_key}:notify:{person_key}", ActionKind.NOTIFY,
                text=wording.vendor_risk_notify(self.ticket.key, text),
                person_id=person.id_for(self.ticket.connector), person_name=person.name, email=person.email,
                digest_key=f"{person_key}:vendor_risk")])
        return replace(state, risk_at=at, risk_cause=cause, clock_stopped_at=state.clock_stopped_at or at)

    def _confirm(self, state: VendorState, due_at: datetime) -> VendorState:
        assert state.eta is not None
        key = f"vendor:{state.cycle}:confirmed"
        at = min(max(state.eta_reported_at or self.now, state.requested_at), self.now)
        text = wording.vendor_confirmed(state.vendor, state.eta, self.rules.note_zone(state.team), self.now,
                                        state.risk_at is not None)
        self.fired.add(key)
        self.effects = self.effects.add(
            fired=[key], timeline=[TimelineEvent(TimelineKind.VENDOR_CONFIRMED, at, key, threshold="confirmed",
                                                 text=text)],
            reasons=[Reason("vendor", text, "vendor")])
        self.messages.append(CustomerMessage(f"customer:schedule_confirmed:{state.cycle}", "schedule_confirmed", at))
        return replace(state, confirmed_at=at, clock_stopped_at=state.clock_stopped_at or at)
