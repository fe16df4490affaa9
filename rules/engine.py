"""The pure rules engine: `decide(ticket, rules, now, memory) -> Decision`. No I/O.

First a person's change is checked against the roles and the resolution path (`rules.enforcement`):
a refused one is put back, and the steps read the ticket as put back. Then `decide` runs `STEPS`
in order, each a small function `(Context, Draft) -> Draft`: what the
ticket asks for (the actor's right to a manual escalation, the tier's priority floor), routing,
the customer's satisfaction rating, the SLA clock (`rules.clock`), the vendor loop (`rules.vendor`), the triggers (`rules.triggers`),
the escalation (`rules.escalation`: thresholds, ladder levels, milestones), the deadlines in
words, the vendor handover, the triggers' notes, the recurring-issue link, what the customer
hears (`rules.customer_updates`), the confirmation of a solve (`rules.confirmation`), the
post-incident review (`rules.post_incident`), the notification budget and when to look again. Each step
adds its `Effects` under a section; `ORDER` says in which order the sections read.
A new rule is a new step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

from rules import wording
from rules.bouncing import bounce_push, hops_now, team_holding
from rules.calendar import utc_instant
from rules.clock import ClockView, Observation, clock_reasons, observation, observed_at
from rules.confirmation import confirm
from rules.customer_updates import CaseNow, CustomerDesk, Told, cluster_note
from rules.decision import (Action, CaseMemory, ClusterInfo, Decision, Rating, Reason, TimelineEvent, TimelineKind,
                            VendorState, VendorUpdate)
from rules.effects import Effects
from rules.enforcement import guard, guarding, held_after
from rules.escalation_request import Review, review
from rules.escalation import Escalator, Outcome, Push, higher, live_fired
from rules.facts import TicketFacts
from rules.forecast import Forecasts, forecast_push
from rules.frozen import evolved
from rules.ola import ola_pushes
from rules.owner import owner_of
from rules.policy import resolve_tier, team_of_group
from rules.post_incident import review_task
from rules.roles import ActorRole, actor_role, refusal
from rules.schema import Rules
from rules.triggers import tier_floor, trigger_actions, trigger_pushes
from rules.vendor import CustomerMessage, VendorDesk, is_vendor

MAX_REDERIVE = 16  # clock re-derivations per decision; each raises the priority or moves the team


@dataclass(frozen=True)
class Context:
    """What a decision starts from: the ticket, the rules, `now`, the incoming memory, the event."""

    ticket: TicketFacts
    rules: Rules
    now: datetime
    incoming: CaseMemory
    agent_reply_at: datetime | None = None
    vendor_update: VendorUpdate | None = None
    cluster: ClusterInfo | None = None
    actor_id: str | None = None
    actor_group_ids: frozenset[str] = frozenset()
    customer_message_at: datetime | None = None
    customer_message_text: str | None = None
    rating: Rating | None = None
    team_load: Mapping[str, int] | None = None  # open tickets per member of the routed team's group
    forecasts: Forecasts | None = None  # the history's times to resolve and the queues (rules.forecast)

    # Worked out in `__post_init__`, not as cached properties: those take a lock on first use, twice a decision.
    observed_at: datetime = field(init=False)
    manual_stamp: datetime | None = field(init=False)  # the instant naming a manual escalation request (updated_at)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_at", observed_at(self.ticket, self.incoming, self.now))
        object.__setattr__(self, "manual_stamp",
                           utc_instant(self.ticket.updated_at) if self.ticket.updated_at is not None else None)

    @property
    def first_sight(self) -> bool:
        """Never decided on before."""
        return not self.incoming.statuses and not self.incoming.routed

    @property
    def has_actor(self) -> bool:
        return self.actor_id is not None or bool(self.actor_group_ids)


@dataclass(slots=True)
class Draft:
    """A decision in the making, private to one `decide` call: each step changes it (`but`, `plus`) and returns
    it (copies step by step were a tenth of a decision's time; its slots refuse a misspelt field)."""

    memory: CaseMemory  # the incoming memory, routed
    role: ActorRole | None = None
    priority: str = "normal"  # before the escalation; after it, the decision's
    escalated: bool = False  # the escalation tag asks for a climb (and may)
    tags_remove: frozenset[str] = frozenset()
    team: str | None = None  # the decision's team / group / assignee (None: no change)
    group_id: str | None = None
    assignee_id: str | None = None
    current_team: str | None = None  # the team working the case before the escalation
    seen: Observation | None = None  # the clock before its basis (an escalation re-targets it)
    view: ClockView | None = None
    vendor: VendorState | None = None
    vendor_pushes: tuple[Push, ...] = ()
    trigger_pushes: tuple[Push, ...] = ()
    bounce_pushes: tuple[Push, ...] = ()
    time_pushes: tuple[Push, ...] = ()  # OLA budgets used up, forecasts past the deadline
    messages: tuple[CustomerMessage, ...] = ()  # for the customer, besides the escalation's
    outcome: Outcome | None = None
    changed_at: datetime | None = None  # when the escalation first changed priority or team
    cluster: ClusterInfo | None = None
    told: Told | None = None
    customer_zone: ZoneInfo | None = None
    status: str | None = None  # the status the rules want (None: leave it)
    closes: bool = False  # a `close` action closes the case in this decision's writes
    tags_add: frozenset[str] = frozenset()  # besides the escalation's
    actions: tuple[Action, ...] = ()  # after the notification budget
    sent: tuple[str, ...] = ()
    next_action_at: datetime | None = None
    next_action: str | None = None
    effects: dict[str, Effects] = field(default_factory=dict)

    @property
    def clock(self) -> ClockView:
        assert self.view is not None, "the clock step runs first"
        return self.view

    @property
    def escalation(self) -> Outcome:
        assert self.outcome is not None, "the escalation step runs first"
        return self.outcome

    @property
    def working_team(self) -> str | None:
        """The team working the case after the escalation."""
        return self.escalation.team or self.current_team

    def but(self, **changes: object) -> Draft:
        """This draft with `changes`."""
        for name, value in changes.items():
            setattr(self, name, value)
        return self

    def plus(self, section: str, effects: Effects, **changes: object) -> Draft:
        """This draft with `effects` added to `section`, and `changes`."""
        self.effects[section] = self.effects.get(section, NO_EFFECTS) + effects
        for name, value in changes.items():
            setattr(self, name, value)
        return self

    def sections(self, kind: str) -> list[Effects]:
        """The sections' effects in the order `kind` (reasons, actions, ...) reads in: `ORDER`, then the rest."""
        order, effects = ORDER[kind], self.effects
        found = [effects[s] for s in order if s in effects]
        if len(found) < len(effects):
            found += [e for s, e in effects.items() if s not in order]
        return found


# The order the sections' output reads in a decision (the steps run in another order).
ORDER: dict[str, tuple[str, ...]] = {
    "reasons": ("guard", "asked", "route", "escalation", "forecast", "clock", "vendor", "cluster", "customer",
                "confirmation", "post_incident"),
    "actions": ("guard", "escalation", "ola", "asked", "triggers", "vendor", "cluster", "customer", "post_incident",
                "confirmation"),
    "timeline": ("guard", "asked", "vendor", "ola", "escalation", "cluster", "customer", "confirmation",
                 "post_incident", "csat"),
    "fired": ("guard", "escalation", "asked", "vendor"),
}

NO_EFFECTS = Effects()
_AT = attrgetter("at")

Step = Callable[[Context, Draft], Draft]


# --- the steps --------------------------------------------------------------------------

def _escalate(priority: str) -> str:
    # Seed 002: escalation bumps to high, or keeps urgent.
    return "urgent" if priority == "urgent" else "high"


def _refused(ctx: Context, role: ActorRole) -> tuple[str | None, Effects]:
    """Seed 002: an escalation asked for by tag needs the `escalate` right (once per request)."""
    stamp = (ctx.manual_stamp or ctx.now).isoformat()
    if ctx.rules.escalation.tag not in ctx.ticket.tags or f"manual:{stamp}" in ctx.incoming.fired:
        return None, Effects()
    if f"refused:{stamp}" in ctx.incoming.fired:
        return wording.refused_earlier(), Effects()
    if not role.may("escalate"):
        return (wording.may_not_escalate(role.role, role.why, role.rule),
                refusal(ctx.rules, role, ctx.actor_id, f"refused:{stamp}", ctx.observed_at))
    return None, Effects()


def _priority(ticket: TicketFacts, rules: Rules, refused: str | None, request: Review
              ) -> tuple[str, bool, frozenset[str], list[Reason]]:
    """`refused`: why a manual escalation asked for by tag is refused (the tag still goes); `request`: the request
    waits for its items (the tag goes, no climb) or an earlier one is complete now (a climb without the tag)."""
    reasons: list[Reason] = []
    priority = ticket.priority or "normal"
    if not ticket.priority:
        reasons.append(Reason("sla.default_priority", wording.DEFAULT_PRIORITY, "priority"))
    escalated = rules.escalation.tag in ticket.tags or request.resumes
    tags_remove: frozenset[str] = frozenset()
    if escalated and (refused is not None or request.waits):
        escalated = False
        tags_remove = frozenset({rules.escalation.tag})
        if refused is not None:
            reasons.append(Reason("escalation.tag", wording.tag_refused(rules.escalation.tag, refused), "priority"))
        if ticket.priority:
            reasons.append(Reason("sla.priority", wording.priority_as_set(priority), "priority"))
    elif escalated:
        new_priority = _escalate(priority)
        reasons.append(Reason("escalation.tag", wording.tag_escalates(rules.escalation.tag, priority, new_priority),
                              "priority"))
        priority = new_priority
        tags_remove = frozenset({rules.escalation.tag})
    elif ticket.priority:
        reasons.append(Reason("sla.priority", wording.priority_as_set(priority), "priority"))
    return priority, escalated, tags_remove, reasons


def _floor(ctx: Context, priority: str) -> tuple[str, Effects]:
    """Seed 003, high-value account: the tier's priority floor; logged once as trigger high_value."""
    tier = resolve_tier(ctx.ticket, ctx.rules)[0]
    floor = tier_floor(ctx.rules, tier)
    if tier is None or floor is None or higher(priority, floor) == priority:
        return priority, Effects()
    text = wording.tier_floor(tier, priority, floor)
    effects = Effects(reasons=(Reason(f"tiers.{tier}.priority_floor", text, "priority"),))
    key = f"trigger:tier_floor:{tier}"
    if key not in ctx.incoming.fired:
        effects = effects.add(fired=[key], timeline=[TimelineEvent(
            TimelineKind.TRIGGER, ctx.observed_at, key, threshold="high_value", text=wording.tier_floor_event(text))])
    return floor, effects


def asked(ctx: Context, d: Draft) -> Draft:
    """What the ticket asks for before the clock runs: a manual escalation (or its refusal), a tier's floor."""
    role = actor_role(ctx.rules, ctx.ticket.connector, ctx.actor_id, ctx.actor_group_ids)
    refused, refusal_effects = _refused(ctx, role)
    stamp = (ctx.manual_stamp or ctx.now).isoformat()
    asks = (refused is None and ctx.rules.escalation.tag in ctx.ticket.tags
            and f"manual:{stamp}" not in ctx.incoming.fired)
    request = review(ctx.ticket, ctx.rules, ctx.incoming, asks, stamp, ctx.observed_at)
    priority, escalated, tags_remove, reasons = _priority(ctx.ticket, ctx.rules, refused, request)
    priority, floor_effects = _floor(ctx, priority)
    effects = Effects(reasons=tuple(reasons)) + refusal_effects + request.effects + floor_effects
    return d.plus("asked", effects, role=role, priority=priority, escalated=escalated, tags_remove=tags_remove,
                  memory=d.memory.evolve(escalation_requested_at=request.pending_since))


def route(ctx: Context, d: Draft) -> Draft:
    """Route on first sight and whenever the reason code changes (with the team's owner: `rules.owner`);
    otherwise an agent's manual re-route stands."""
    ticket, rules, memory = ctx.ticket, ctx.rules, d.memory
    team = routing_team(ticket, rules, memory)
    if team is None:
        return d.but(current_team=team_of_group(rules, ticket.connector, ticket.group_id) or memory.team)
    code = ticket.reason_code
    if code in rules.routing.reason_codes:
        reason = Reason(f"routing.reason_codes.{code}", wording.routed(code, team, False), "team")
    else:
        reason = Reason("routing.default_team", wording.routed(code, team, True), "team")
    target = getattr(rules.teams[team], ticket.connector, None)
    assignee_id, owner_reason = owner_of(rules, ticket.connector, team, ctx.now, ctx.team_load)
    reasons = (reason,) if owner_reason is None else (reason, owner_reason)
    return d.plus("route", Effects(reasons=reasons), team=team, group_id=target.group_id if target else None,
                  assignee_id=assignee_id, current_team=team,
                  memory=memory.evolve(routed_reason_code=code, routed=True, team=team))


def routing_team(ticket: TicketFacts, rules: Rules, memory: CaseMemory) -> str | None:
    """The team a decision now routes the ticket to: on first sight and when its reason code changed (None: it
    does not route). The jobs layer asks it to know whose open tickets a least-loaded pick needs."""
    if memory.routed and memory.routed_reason_code == ticket.reason_code:
        return None
    return rules.routing.reason_codes.get(ticket.reason_code or "", rules.routing.default_team)


def satisfaction(ctx: Context, d: Draft) -> Draft:
    """A satisfaction rating the case did not have (a first one, or a changed one): on the timeline, remembered."""
    if ctx.rating is None or ctx.rating == d.memory.rating:
        return d
    event = TimelineEvent(TimelineKind.CSAT, ctx.observed_at, f"csat:{ctx.observed_at.isoformat()}",
                          rating=ctx.rating, text=wording.rated(ctx.rating))
    return d.plus("csat", Effects(timeline=(event,)), memory=d.memory.evolve(rating=ctx.rating))


def clock(ctx: Context, d: Draft) -> Draft:
    """The SLA clock at the asked priority and the current team."""
    # The context's observed_at: the steps before the clock leave the status history as it came in.
    seen = observation(ctx.ticket, ctx.rules, ctx.now, d.memory, ctx.agent_reply_at, ctx.customer_message_at,
                       at=ctx.observed_at)
    return d.but(seen=seen, view=seen.view(d.priority, d.current_team))


def vendor(ctx: Context, d: Draft) -> Draft:
    """The vendor loop (seed 000): a request cycle, the vendor's word, confirmed or SLA risk."""
    view = d.clock
    if view.memory.vendor is None and ctx.vendor_update is None and not is_vendor(ctx.rules, d.current_team):
        return d  # no request cycle to start, follow or end
    res = view.resolution
    due_before = res.deadline.due_at if res is not None else None
    desk = VendorDesk(ctx.ticket, ctx.rules, ctx.now, view.memory.vendor, view.memory.fired)
    desk.follow(d.current_team, ctx.observed_at, due_before, view.running)
    desk.updates(ctx.vendor_update, ctx.observed_at)
    desk.outcomes(due_before, view.running)
    return d.plus("vendor", desk.effects, vendor=desk.state, vendor_pushes=tuple(desk.pushes),
                  messages=(*d.messages, *desk.messages))


def triggers(ctx: Context, d: Draft) -> Draft:
    """The escalation triggers (seed 003) that fire by now, while the case is open."""
    view = d.clock
    if not view.running:
        return d
    pushes, effects = trigger_pushes(ctx.ticket, ctx.rules, view.memory, ctx.observed_at, ctx.now)
    return d.plus("triggers", effects, trigger_pushes=pushes)


def bounces(ctx: Context, d: Draft) -> Draft:
    """Seed 003: a move between teams is a hop; too many within the window climb the ladder once."""
    if ctx.rules.bouncing is None or not ctx.rules.bouncing.enabled:
        return d
    view = d.clock
    team = d.team if d.team is not None else team_holding(ctx.rules, ctx.ticket) or d.current_team
    hops = hops_now(ctx.incoming, team, ctx.observed_at)
    push = bounce_push(ctx.rules, hops, view.memory.fired, ctx.now) if view.running else None
    if hops is not view.memory.hops:
        view = evolved(view, memory=view.memory.evolve(hops=hops))
    return d.but(view=view, bounce_pushes=(push,) if push is not None else ())


def ola_budgets(ctx: Context, d: Draft) -> Draft:
    """OLA budgets (`rules.ola`): the holder warned near its budget, the case climbing once it is used up."""
    view = d.clock
    if ctx.rules.ola is None or not view.running:
        return d
    pushes, effects = ola_pushes(ctx.rules, view.memory, utc_instant(ctx.ticket.opened_at), ctx.now, view.cycle)
    return d.plus("ola", effects, time_pushes=(*d.time_pushes, *pushes))


def predict(ctx: Context, d: Draft) -> Draft:
    """Predictive escalation (`rules.forecast`): climb when the forecast finish passes the deadline."""
    if ctx.rules.predictive is None:
        return d
    push, effects = forecast_push(ctx.ticket, ctx.rules, d.clock, ctx.forecasts, d.current_team, ctx.now)
    return d.plus("forecast", effects, time_pushes=(*d.time_pushes, *([push] if push else [])))


def ola_handed_on(ctx: Context, d: Draft) -> Draft:
    """A climb in this decision hands the case to a new holder: its OLA budget counts from now on."""
    view = d.clock
    if ctx.rules.ola is None or not d.escalation.climbed or not view.running:
        return d
    memory = view.memory.evolve(escalation=d.escalation.state)
    pushes, effects = ola_pushes(ctx.rules, memory, utc_instant(ctx.ticket.opened_at), ctx.now, view.cycle,
                                 d.effects["ola"].fired if "ola" in d.effects else ())
    if pushes:  # the new holder's budget is already used up (a late decision): it climbs on the next one
        effects = effects.add(next_at=max(pushes[0].at, ctx.now + timedelta(minutes=1)),
                              next_what=wording.NEXT_BUDGET_CLIMB)
    return d.plus("ola", effects)


def _rederive(ctx: Context, d: Draft, escalator: Escalator) -> ClockView:
    """Fire what has been reached; a level that raises the priority or hands the case to another
    team re-derives the clock (as the escalation tag does), which may reach more."""
    view, seen = d.clock, d.seen
    assert seen is not None
    escalator.run(view, d.escalated)
    for _ in range(MAX_REDERIVE):
        want_priority = higher(view.priority, escalator.priority)
        want_team = escalator.level_team() or view.team
        if (want_priority, want_team) == (view.priority, view.team):
            break
        before, view = view, seen.view(want_priority, want_team, basis_at=escalator.changed_at, previous=view)
        # A point is reached by now once its used time is: the same deadlines (used, target) reach nothing new.
        if not _same_deadlines(before, view):
            escalator.run(view, d.escalated)
    return view


def _same_deadlines(a: ClockView, b: ClockView) -> bool:
    return a.runs.keys() == b.runs.keys() and all(run.deadline == b.runs[m].deadline for m, run in a.runs.items())


def escalation(ctx: Context, d: Draft) -> Draft:
    """Thresholds, ladder levels, pushes and milestones; the priority it raises, the owner it assigns."""
    escalator = Escalator(ctx.ticket, ctx.rules, ctx.now, d.clock.memory, team=d.current_team,
                          manual_stamp=ctx.manual_stamp, manual_at=ctx.observed_at, first_sight=ctx.first_sight,
                          pushes=(*d.vendor_pushes, *d.trigger_pushes, *d.bounce_pushes, *d.time_pushes))
    view = _rederive(ctx, d, escalator)
    outcome = escalator.finish(view, view.priority)
    reasons = []
    if view.priority != d.priority:
        reasons.append(Reason(outcome.priority_rule, wording.escalation_raises(d.priority, view.priority,
                                                                               outcome.level), "priority"))
    team, group_id, assignee_id = d.team, d.group_id, d.assignee_id
    if outcome.group_id or outcome.assignee_id:
        team, group_id, assignee_id = outcome.team or d.current_team, outcome.group_id, outcome.assignee_id
        reasons.append(Reason(outcome.level_rule, wording.escalated_owner(outcome.level, outcome.owner,
                                                                          outcome.team), "team"))
        if outcome.team:
            hops = (hops_now(view.memory, outcome.team, escalator.changed_at or ctx.observed_at)
                    if ctx.rules.bouncing is not None else view.memory.hops)
            view = evolved(view, memory=view.memory.evolve(team=outcome.team, hops=hops))
    return d.plus("escalation", Effects(reasons=tuple(reasons)) + outcome.effects, view=view,
                  priority=view.priority, team=team, group_id=group_id, assignee_id=assignee_id, outcome=outcome,
                  changed_at=escalator.changed_at)


def deadlines(ctx: Context, d: Draft) -> Draft:
    """The tier, the calendar and every deadline, in words."""
    return d.plus("clock", Effects(reasons=clock_reasons(d.clock, ctx.rules, d.priority)))


def handover(ctx: Context, d: Draft) -> Draft:
    """An escalation that hands the case to a vendor team starts a request cycle there."""
    team = d.working_team
    if team == d.current_team or not is_vendor(ctx.rules, team):
        return d
    view = d.clock
    desk = VendorDesk(ctx.ticket, ctx.rules, ctx.now, d.vendor, view.memory.fired)
    desk.follow(team, d.changed_at or ctx.now, view.runs["resolution"].deadline.due_at, view.running)
    return d.plus("vendor", desk.effects, vendor=desk.state)


def trigger_notes(ctx: Context, d: Draft) -> Draft:
    """The note and notifications of each trigger that fired in this decision."""
    fired_now = set(d.escalation.effects.fired)
    return d.plus("triggers", trigger_actions(ctx.ticket, ctx.rules, d.trigger_pushes, fired_now,
                                              d.escalation.climbed))


def cluster(ctx: Context, d: Draft) -> Draft:
    """A member of a recurring-issue cluster: a note once, and the customer hears of the link."""
    found = ctx.cluster or ctx.incoming.cluster
    if found is None:
        return d
    note, event, reason = cluster_note(ctx.rules, found, ctx.observed_at)
    if note.key in ctx.incoming.sent:
        return d.plus("cluster", Effects(reasons=(reason,)), cluster=found)
    linked = CustomerMessage(f"customer:linked:{found.key}", "linked", ctx.observed_at)
    return d.plus("cluster", Effects(actions=(note,), timeline=(event,), reasons=(reason,)), cluster=found,
                  messages=(*d.messages, linked))


def customer(ctx: Context, d: Draft) -> Draft:
    """What the customer hears now (a climb, a vendor outcome, the link, the cadence) and next."""
    view, outcome = d.clock, d.escalation
    state = outcome.state
    requests = []
    if outcome.climbed and state is not None and state.level > 0:
        # A later climb of the same escalation tells of the new owner, not of the escalation again.
        again = any(c.at < state.level_since for c in state.climbs)
        requests.append(CustomerMessage(f"customer:escalated:{state.cycle}:{state.level}",
                                        "escalated_again" if again else "escalated", state.level_since))
    resolution = view.runs["resolution"].deadline
    case = CaseNow(priority=d.priority, team=d.working_team, tier=view.tier,
                   sla_calendar=ctx.rules.calendar(view.calendar), escalation=state, cycle=resolution.cycle,
                   running=view.running, due_at=resolution.due_at, cluster=d.cluster)
    desk = CustomerDesk(ctx.ticket, ctx.rules, ctx.now, view.memory.evolve(escalation=state, vendor=d.vendor), case)
    told = desk.run([*requests, *d.messages])
    return d.plus("customer", told.effects, told=told, customer_zone=desk.zone)


def confirmation(ctx: Context, d: Draft) -> Draft:
    """Seeds 001, 003: a solve waits for the customer's word; yes (or silence) closes, no reopens for the owner."""
    cfg = ctx.rules.confirmation
    if cfg is None or not cfg.enabled:
        return d
    state = d.escalation.state
    owner_id = state.owner.id_for(ctx.ticket.connector) if state is not None and state.owner is not None else None
    answer = confirm(ctx.ticket, cfg, d.clock.memory, ctx.now, d.customer_zone or ZoneInfo("UTC"), owner_id,
                     ctx.customer_message_at, ctx.customer_message_text)
    view, seen = d.clock, "closed" if answer.closing else answer.status
    if seen not in (None, ctx.ticket.status):
        # The clock sees the status slaclock writes now (reopened: it resumes; closed: it stays stopped), as its own
        # write comes back as an echo that is not decided.
        view = observation(ctx.ticket, ctx.rules, ctx.now, d.memory, ctx.agent_reply_at, ctx.customer_message_at,
                           status=seen).view(view.priority, view.team, basis_at=d.changed_at)
    view = evolved(view, memory=view.memory.evolve(confirmation=answer.state))
    return d.plus("confirmation", answer.effects, view=view, status=answer.status or d.status, closes=answer.closing,
                  assignee_id=answer.assignee_id or d.assignee_id, tags_add=d.tags_add | answer.tags_add,
                  tags_remove=d.tags_remove | answer.tags_remove)


def post_incident(ctx: Context, d: Draft) -> Draft:
    """Seed 003 step 8: a solved escalated case asks its escalation owner for a post-incident review."""
    return d.plus("post_incident", review_task(ctx.ticket, ctx.rules.post_incident, d.clock, d.escalation.state,
                                               ctx.incoming.sent, ctx.rules.note_zone(d.working_team), ctx.now))


def budget(ctx: Context, d: Draft) -> Draft:
    """Notification budget: an action key goes out once per ticket, whatever decides again."""
    sent = list(ctx.incoming.sent)
    budgeted = []
    for action in (a for e in d.sections("actions") for a in e.actions):
        if action.key not in sent:
            budgeted.append(action)
            sent.append(action.key)
    told_keys = d.told.sent_keys if d.told is not None else ()
    sent += [k for k in told_keys if k not in sent]
    return d.but(actions=tuple(budgeted), sent=tuple(sent))


def next_look(ctx: Context, d: Draft) -> Draft:
    """When to decide again by time alone, and for what: the earliest next look any section asked for."""
    looks = [(e.next_at, e.next_what) for e in d.effects.values() if e.next_at is not None and e.next_at > ctx.now]
    at, what = min(looks, key=lambda look: look[0], default=(None, None))
    return d.but(next_action_at=at, next_action=what or None)


STEPS: tuple[Step, ...] = (asked, route, satisfaction, clock, vendor, triggers, bounces, ola_budgets, predict,
                           escalation, ola_handed_on, deadlines, handover, trigger_notes, cluster, customer,
                           confirmation, post_incident, budget, next_look)


# --- the decision -----------------------------------------------------------------------

def _inputs(ctx: Context, d: Draft) -> dict[str, object]:
    ticket = ctx.ticket
    return {
        "priority": ticket.priority,
        "reason_code": ticket.reason_code,
        "opened_at": ticket.opened_at.isoformat(),
        "tags": sorted(ticket.tags),
        "status": ticket.status,
        "organization_id": ticket.organization_id,
        "now": ctx.now.isoformat(),
        **({"actor_id": ctx.actor_id, "actor_role": d.role.role} if ctx.has_actor and d.role else {}),
        **({"vendor_update": ctx.vendor_update.to_json()} if ctx.vendor_update is not None else {}),
        **({"cluster": d.cluster.key} if d.cluster is not None else {}),
    }


def _decision(ctx: Context, d: Draft) -> Decision:
    view, outcome, told = d.clock, d.escalation, d.told
    assert told is not None and d.role is not None
    fired_now = [k for e in d.sections("fired") for k in e.fired]
    fired = live_fired(view, tuple(dict.fromkeys((*ctx.incoming.fired, *fired_now))))
    reasons = tuple(r for e in d.sections("reasons") for r in e.reasons)
    deadlines_now = {metric: run.deadline for metric, run in view.runs.items()}
    state = d.vendor
    return Decision(
        priority=d.priority, team=d.team, group_id=d.group_id, assignee_id=d.assignee_id,
        due_at=deadlines_now["resolution"].due_at, tags_remove=d.tags_remove, escalated=d.escalated,
        reasons=reasons, inputs=_inputs(ctx, d), rules_version=ctx.rules.version,
        memory=view.memory.evolve(fired=fired, escalation=outcome.state, vendor=state, customer=told.state,
                                  cluster=d.cluster, sent=d.sent,
                                  held=held_after(ctx.ticket, "closed" if d.closes else d.status, d.priority,
                                                  d.group_id, d.assignee_id)
                                  if guarding(ctx.rules) else view.memory.held),
        deadlines=deadlines_now, tier=view.tier, calendar=view.calendar,
        tags_add=(outcome.tags_add | d.tags_add) - d.tags_remove, followers_add=outcome.followers_add,
        escalation_level=outcome.level, escalation_owner=outcome.owner, actions=d.actions,
        timeline=tuple(sorted((t for e in d.sections("timeline") for t in e.timeline), key=_AT)),
        next_action_at=d.next_action_at, next_action=d.next_action,
        vendor_eta=state.eta if state is not None and state.ended_at is None else None,
        vendor_eta_due_at=state.eta_due_at if state is not None and state.clock_running else None,
        next_customer_update_at=told.next_update_at,
        actor_role=d.role.role if ctx.has_actor else None,
        cluster_key=d.cluster.key if d.cluster is not None else None,
        team_title=ctx.rules.team_title(d.team) if d.team else None,
        note_zone=ctx.rules.note_zone(d.team).key, note_on_routing=ctx.rules.routing.note, status=d.status,
    )


def clock_view(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None,
               agent_reply_at: datetime | None = None, *, vendor_update: VendorUpdate | None = None,
               cluster: ClusterInfo | None = None, actor_id: str | None = None,
               actor_group_ids: frozenset[str] = frozenset(), customer_message_at: datetime | None = None,
               customer_message_text: str | None = None, rating: Rating | None = None,
               team_load: Mapping[str, int] | None = None, forecasts: Forecasts | None = None
               ) -> tuple[ClockView, Decision]:
    """The decision and the clock behind it (`explain_clock` prints the latter)."""
    memory = memory or CaseMemory()
    now = utc_instant(now)
    role = actor_role(rules, ticket.connector, actor_id, actor_group_ids) if actor_id is not None else None
    checked = guard(ticket, rules, memory, actor_id, role, now)
    ctx = Context(checked.ticket, rules, now, memory, agent_reply_at, vendor_update, cluster, actor_id,
                  actor_group_ids, customer_message_at, customer_message_text, rating, team_load, forecasts)
    draft = Draft(memory=memory, status=checked.status, group_id=checked.group_id, assignee_id=checked.assignee_id,
                  effects={"guard": checked.effects})
    for step in STEPS:
        draft = step(ctx, draft)
    decision = _decision(ctx, draft)
    return evolved(draft.clock, memory=decision.memory), decision


def decide(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None,
           *, agent_reply_at: datetime | None = None, vendor_update: VendorUpdate | None = None,
           cluster: ClusterInfo | None = None, actor_id: str | None = None,
           actor_group_ids: frozenset[str] = frozenset(), customer_message_at: datetime | None = None,
           customer_message_text: str | None = None, rating: Rating | None = None,
           team_load: Mapping[str, int] | None = None, forecasts: Forecasts | None = None) -> Decision:
    """Work out priority, team, SLA deadlines and tag changes for a ticket at instant `now`,
    with what the escalation does now (`actions`, `timeline`) and when to decide again by time
    alone (`next_action_at`). Pass the previous decision's `memory` back in: it holds what has
    fired, the frozen ladder, the vendor cycle, what the customer was told and what was sent.

    `agent_reply_at`: the instant of a public agent reply this event reports (it stops
    first_response and re-arms next_update); the processor passes it when it knows one.
    `customer_message_at`: the instant of a public customer message this event reports (it
    starts next_reply when the case was already answered; `customer_message_text`, its words, answer a
    request to confirm a solve).
    `vendor_update`: what a vendor said (POST /vendor/eta); the ETA / capacity custom fields
    are read from the ticket as well. `cluster`: the recurring-issue cluster the case belongs
    to (`recurring_clusters`); remembered, so sweeps may pass None. `actor_id` /
    `actor_group_ids`: who made the change this event reports (user id and group ids in the
    ticket's helpdesk), checked against the roles map (a manual escalation needs `escalate`).
    `rating`: the customer's satisfaction rating as read now (None: none, or not read this time); a
    new or changed one is a `csat` timeline event.
    `team_load`: open tickets per member (user id → count, in the helpdesk's order) of the group of the team
    `routing_team` names, for a least-loaded owner (`rules.owner`).
    `forecasts`: the history's times to resolve similar cases and the teams' queues, for `[predictive]`
    (`rules.forecast`; the processor computes them every few minutes).
    """
    return clock_view(ticket, rules, now, memory, agent_reply_at, vendor_update=vendor_update, cluster=cluster,
                      actor_id=actor_id, actor_group_ids=actor_group_ids, customer_message_at=customer_message_at,
                      customer_message_text=customer_message_text, rating=rating, team_load=team_load,
                      forecasts=forecasts)[1]
