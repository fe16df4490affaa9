"""Customer updates (seeds 000, 003), `[customer_updates]`, and the recurring-issue link note.

Every climb of the ladder is acknowledged with a public reply naming the escalation owner and the
time of the next update; vendor outcomes and a recurring-issue link send their own message. While
the case is escalated (or in a cluster) updates follow on a cadence per priority until it is
solved. The cadence counts from the latest of: the last message slaclock sent, the latest public
agent reply (an agent's reply replaces the update and restarts the cadence), the start of the
escalation, the end of a skip status. Messages due in the customer's quiet hours (outside
`send_hours`) are held to the next opening; several messages due together go out as one reply.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules import wording
from rules.calendar import WorkCalendar
from rules.decision import (Action, ActionKind, CaseMemory, ClusterInfo, CustomerState, EscalationState, HeldMessage,
                            Reason, TimelineEvent, TimelineKind)
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.frozen import evolved, quick_init
from rules.schema import BUILTIN_CALENDAR, CUSTOMER_FIELDS, CustomerUpdates, Rules, field_value
from rules.vendor import CustomerMessage


# A message that also says what another one would: sent together, the other is left out.
SAYS_ALSO = {"updated_plan": ("escalated", "escalated_again"), "escalated": ("escalated_again",)}


@quick_init
@dataclass(frozen=True)
class Told:
    """What the customer hears in one decision."""

    state: CustomerState
    effects: Effects = Effects()  # next_at: the earliest held release or cadence instant after now
    next_update_at: datetime | None = None  # the next cadence update (after holding)
    sent_keys: tuple[str, ...] = ()  # the message keys the public reply carries


@quick_init
@dataclass(frozen=True)
class CaseNow:
    """The case as the customer desk needs it, after the escalation."""

    priority: str
    team: str | None
    tier: str | None
    sla_calendar: WorkCalendar
    escalation: EscalationState | None
    cycle: int
    running: bool
    due_at: datetime | None
    cluster: ClusterInfo | None


class CustomerDesk:
    """Works out what the customer hears in one decision, and when they hear next."""

    def __init__(self, ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory, case: CaseNow):
        self.ticket, self.rules, self.now, self.memory = ticket, rules, now, memory
        self.cfg = rules.customer_updates
        self.priority, self.team, self.tier, self.sla_calendar = case.priority, case.team, case.tier, case.sla_calendar
        escalation = case.escalation
        self.escalation = escalation if escalation is not None and escalation.cycle == case.cycle \
            and escalation.level > 0 else None
        self.cycle, self.running, self.due_at, self.cluster = case.cycle, case.running, case.due_at, case.cluster
        self.status = memory.last_status
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
        # The customer's zone: their own field, else the send hours' zone, else the case's calendar zone; never
        # the built-in 24×7 calendar's UTC, which says when, not where (then the team's zone, as the notes).
        zones = [c.tz for c in (window, self.sla_calendar) if c is not None and c.name != BUILTIN_CALENDAR]
        zone = ZoneInfo(tz_name) if tz_name else zones[0] if zones else self.rules.note_zone(self.team)
        return zone, window

    def release(self, instant: datetime) -> datetime:
        """When a message due at `instant` may go out: at once, or at the end of quiet hours."""
        if self.window is None or self.priority not in self.cfg.hold_priorities or self.window.is_open(instant):
            return instant
        if self.sla_calendar.always_open and not self.cfg.hold_24x7:
            return instant  # a case worked around the clock is answered around the clock
        return self.window.next_open(instant)

    def cadence(self) -> timedelta | None:
        return getattr(self.cfg.cadence, self.priority)

    def _add(self, start: datetime, interval: timedelta) -> datetime:
        return self.sla_calendar.add(start, interval) if self.cfg.clock == "calendar" else start + interval

    def off_reason(self) -> str | None:
        """Why no message goes out for this case now (None: messages may go out)."""
        if self.cfg is None or not self.cfg.enabled:
            return wording.UPDATES_OFF
        if not self.running:
            return wording.CASE_NOT_OPEN
        spec = self.rules.teams.get(self.team) if self.team else None
        if spec is not None and not spec.customer_updates:
            return wording.updates_off_for_team(self.team)
        tier = self.rules.tiers.get(self.tier) if self.tier else None
        if tier is not None and not tier.customer_updates:
            return wording.updates_off_for_tier(self.tier)
        return None

    # -- the pass --

    def run(self, requests: list[CustomerMessage]) -> Told:
        """The messages due now (one public reply), those held, and the next cadence update."""
        state = self.memory.customer
        why_off = self.off_reason()
        if why_off is not None:
            reasons = [Reason("customer_updates", wording.no_customer_message(why_off), "customer")
                       ] if state.held or requests else []
            return Told(replace(state, held=(), active_since=state.active_since if self.running else None),
                        Effects(reasons=tuple(reasons)))
        active = self.escalation is not None or self.cluster is not None
        if not active and not requests and not state.held:
            return Told(evolved(state, active_since=None) if state.active_since else state)  # nothing to tell
        active_since = state.active_since
        if active and active_since is None:
            starts = [c.at for c in self.escalation.climbs] if self.escalation is not None else []
            active_since = min(starts, default=self.now)
        elif not active:
            active_since = None
        effects, held = self._hold(state, requests)
        due = [h for h in held if h.release_at <= self.now]
        held = [h for h in held if h.release_at > self.now]
        last_sent = state.last_sent_at
        interval = self.cadence()
        skipping = self.status in self.cfg.skip_statuses
        if not due and active and interval is not None and not skipping:
            base, _ = self._cadence_base(last_sent, active_since)
            nominal = self._add(base, interval)
            if self.release(nominal) <= self.now:
                due.append(HeldMessage(f"customer:update:{self.cycle}:{int(nominal.timestamp())}", "update", nominal,
                                       self.release(nominal)))
        sent_keys: tuple[str, ...] = ()
        if due:
            last_sent = self.now
            next_update = self.release(self._add(self.now, interval)) if active and interval is not None else None
            effects += self._reply(due, next_update)
            sent_keys = tuple(h.key for h in due)
        told = Told(CustomerState(last_sent, tuple(held), active_since), effects, sent_keys=sent_keys)
        return self._next(told, held, active and interval is not None and not skipping, bool(due))

    def _hold(self, state: CustomerState, requests: list[CustomerMessage]) -> tuple[Effects, list[HeldMessage]]:
        """Event messages: due now unless quiet hours hold them."""
        templates = self.cfg.templates
        sent = set(self.memory.sent)
        held_keys = {h.key for h in state.held}
        fresh = [r for r in requests if getattr(templates, r.message) and r.key not in sent and r.key not in held_keys]
        held = list(state.held)
        reasons = []
        for request in fresh:
            release = self.release(self.now)
            held.append(HeldMessage(request.key, request.message, request.at, release))
            if release > self.now:
                reasons.append(Reason("customer_updates.send_hours", wording.message_held(
                    request.message, wording.zone_text(release, self.zone)), "customer"))
        return Effects(reasons=tuple(reasons)), held

    def _reply(self, due: list[HeldMessage], next_update: datetime | None) -> Effects:
        # One reply: each message once (two held acknowledgements read the same now), and none that another
        # due with it already says (the updated plan tells of the escalation).
        shown = list({h.message: h for h in due}.values())
        said = {m for h in shown for m in SAYS_ALSO.get(h.message, ())}
        shown = [h for h in shown if h.message not in said]
        texts = [getattr(self.cfg.templates, h.message) for h in shown]
        values = self._values(next_update, {name for text in texts for name in wording.placeholders(text)})
        text = "\n\n".join(wording.fill_message(template, values) for template in texts)
        key = "+".join(h.key for h in due)
        names = "+".join(h.message for h in shown)
        told = wording.customer_told(names, wording.zone_text(next_update, self.zone) if next_update else None)
        return Effects(actions=(Action(key, ActionKind.PUBLIC_REPLY, text=text),),
                       timeline=(TimelineEvent(TimelineKind.CUSTOMER_UPDATE, self.now, key, threshold=names,
                                               text=text),),
                       reasons=(Reason(f"customer_updates.templates.{due[0].message}", told, "customer"),))

    def _next(self, told: Told, held: list[HeldMessage], cadence: bool, sent_now: bool) -> Told:
        """When to look again: a held message's release, the next cadence update."""
        candidates = [h.release_at for h in held]
        effects, next_update_at = told.effects, None
        if cadence:
            base, why = self._cadence_base(told.state.last_sent_at, told.state.active_since)
            next_update_at = self.release(self._add(base, self.cadence()))
            candidates.append(next_update_at)
            if why and not sent_now:
                effects = effects.add(reasons=[Reason("customer_updates.cadence", why, "customer")])
        future = [c for c in candidates if c > self.now]
        effects = effects.add(next_at=min(future, default=None), next_what=wording.NEXT_CUSTOMER_UPDATE)
        return evolved(told, effects=effects, next_update_at=next_update_at)

    def _cadence_base(self, last_sent: datetime | None, active_since: datetime | None) -> tuple[datetime, str]:
        """The instant the cadence counts from, and a sentence when an agent's reply restarted it."""
        reply = self.memory.last_reply_at
        resumed = self._resumed_at()
        options = [t for t in (last_sent, active_since, resumed) if t is not None]
        base = max(options, default=self.now)
        if reply is not None and reply > base and (active_since is None or reply >= active_since):
            return reply, wording.cadence_restarted(reply)
        return base, ""

    def _resumed_at(self) -> datetime | None:
        """When the case last left a skip status (the customer answered): the cadence restarts there."""
        skip = set(self.cfg.skip_statuses)
        statuses = self.memory.statuses
        for before, after in zip(reversed(statuses[:-1]), reversed(statuses[1:])):
            if before.status in skip and after.status not in skip:
                return after.at
        return None

    def _values(self, next_update: datetime | None, names: Iterable[str]) -> dict[str, str | None]:
        owner = None
        if self.escalation is not None and self.escalation.owner is not None:
            owner = self.escalation.owner.name
        elif self.cluster is not None and self.cluster.owner:
            owner = self.cluster.owner
        vendor = self.memory.vendor
        return message_values(self.ticket, self.cfg, MessageFacts(
            self.zone, self.now, self.priority, self.due_at, owner, next_update,
            vendor.eta if vendor is not None else None, vendor.vendor if vendor is not None else None,
            self.escalation.current.title if self.escalation is not None else None,
            (self.cluster.problem_id or self.cluster.subject or self.cluster.key) if self.cluster else None), names)


@quick_init
@dataclass(frozen=True)
class MessageFacts:
    """What a customer message may say; None where the case has no such value."""

    zone: ZoneInfo
    now: datetime
    priority: str
    due_at: datetime | None
    owner: str | None
    next_update: datetime | None
    eta: datetime | None
    vendor: str | None
    level: str | None
    problem: str | None


Words = Callable[[datetime], str]  # an instant in the customer's words
# Each placeholder of the customer templates, from the ticket, the settings and the facts.
PLACEHOLDERS: dict[str, Callable[[TicketFacts, CustomerUpdates, MessageFacts, Words], str | None]] = {
    "reference": lambda t, cfg, f, when: f"#{t.ticket_id}" if t.connector == "zendesk" else str(t.ticket_id),
    "next_update": lambda t, cfg, f, when: f"by {when(f.next_update)}" if f.next_update else cfg.no_next_update_text,
    "planned_for": lambda t, cfg, f, when: f"planned for {when(f.eta)}" if f.eta else None,
    "ticket": lambda t, cfg, f, when: t.key,
    "ticket_id": lambda t, cfg, f, when: str(t.ticket_id),
    "subject": lambda t, cfg, f, when: t.subject or "",
    "priority": lambda t, cfg, f, when: f.priority,
    "due_at": lambda t, cfg, f, when: when(f.due_at) if f.due_at else "-",
    "owner": lambda t, cfg, f, when: f.owner or cfg.no_owner_text,
    "next_update_at": lambda t, cfg, f, when: when(f.next_update) if f.next_update else cfg.no_next_update_text,
    "eta": lambda t, cfg, f, when: when(f.eta) if f.eta else "to be confirmed",
    "vendor": lambda t, cfg, f, when: f.vendor if f.vendor and cfg.name_vendor else "our partner",
    "level": lambda t, cfg, f, when: f.level or "",
    "problem": lambda t, cfg, f, when: f.problem or "",
}
assert set(PLACEHOLDERS) == set(CUSTOMER_FIELDS)


def message_values(ticket: TicketFacts, cfg: CustomerUpdates, facts: MessageFacts,
                   names: Iterable[str] = CUSTOMER_FIELDS) -> dict[str, str | None]:
    """The placeholders `names` (default: all) of the customer templates; a sentence naming a None value is left
    out. Only the named ones are worked out: a template names a few, and instants take the time to word."""
    said: dict[datetime, str] = {}

    def when(instant: datetime) -> str:
        if instant not in said:  # next_update is named twice
            said[instant] = wording.customer_time(instant, facts.zone, facts.now)
        return said[instant]

    return {name: PLACEHOLDERS[name](ticket, cfg, facts, when) for name in names}


def cluster_note(rules: Rules, cluster: ClusterInfo, at: datetime) -> tuple[Action, TimelineEvent, Reason]:
    """The internal note on a member of a recurring-issue cluster, once per cluster."""
    template = rules.recurring.member_note if rules.recurring is not None else wording.DEFAULT_MEMBER_NOTE
    problem = cluster.problem_id or cluster.subject or cluster.key
    text = template.format_map({"problem": problem, "key": cluster.key})
    key = f"cluster:{cluster.key}"
    return (Action(key, ActionKind.NOTE, text=text),
            TimelineEvent(TimelineKind.CLUSTER_LINK, at, key, threshold=cluster.key, text=text),
            Reason("recurring", wording.cluster_member(cluster.key, problem, cluster.members), "escalation"))
