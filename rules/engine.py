"""The pure rules engine: `decide(ticket, rules, now, memory) -> Decision`. No I/O.

The actor's right to a manual escalation and the tier's priority floor, then routing and
priority, the SLA clock (`observe`), the vendor loop and the triggers (`rules.people`), the
escalation (`rules.escalation`): thresholds reached, ladder levels climbed, milestones; then
what the customer hears, the notification budget, and when to look again (`next_action_at`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from rules.calendar import utc_instant
from rules.decision import (STOPPED, TRIGGER, Action, BasisChange, CaseMemory, ClusterInfo, Decision, Reason,
                            StatusChange, TimelineEvent, VendorUpdate)
from rules.escalation import Escalator, format_duration, higher  # noqa: F401 (format_duration: explain)
from rules.metrics import MetricRun, freeze, run_clock
from rules.people import (ActorRole, CustomerDesk, TriggerStep, VendorDesk, actor_role, cluster_note, is_vendor,
                          refusal, tier_floor, trigger_actions, trigger_pushes)
from rules.policy import resolve_tier, select_calendar, team_of_group
from rules.schema import Rules

RUNNING_STATUSES = ("new", "open")


class TicketFacts(Protocol):
    """What the engine reads from a ticket (connectors.Ticket satisfies it).

    Optional, read when present: `status` (default "open"), `updated_at` (when the change
    happened; default `now`), `organization_id` and `custom_fields` (tier, vendor ETA, promised
    date, customer time zone), `subject` and `description` (trigger keywords), `ticket_id`, and
    `agent_reply_at` (a public agent reply this event reports; also a `decide` parameter).
    """

    connector: str
    priority: str | None
    opened_at: datetime
    tags: frozenset[str]
    reason_code: str | None
    group_id: str | None
    assignee_id: str | None


def _escalate(priority: str) -> str:
    # Seed 002: escalation bumps to high, or keeps urgent.
    return "urgent" if priority == "urgent" else "high"


def _priority(ticket: TicketFacts, rules: Rules, refused: str | None = None
              ) -> tuple[str, bool, frozenset[str], list[Reason]]:
    """`refused`: why a manual escalation asked for by tag is refused (the tag still goes)."""
    reasons: list[Reason] = []
    priority = ticket.priority or "normal"
    if not ticket.priority:
        reasons.append(Reason("sla.default_priority", "no priority set: normal assumed", "priority"))
    escalated = rules.escalation.tag in ticket.tags
    tags_remove: frozenset[str] = frozenset()
    if escalated and refused is not None:
        escalated = False
        tags_remove = frozenset({rules.escalation.tag})
        reasons.append(Reason("escalation.tag", f"escalation asked by tag {rules.escalation.tag} refused: {refused}",
                              "priority"))
        if ticket.priority:
            reasons.append(Reason("sla.priority", f"priority {priority} as set on the ticket", "priority"))
    elif escalated:
        new_priority = _escalate(priority)
        reasons.append(Reason("escalation.tag", f"escalation asked by tag {rules.escalation.tag}: "
                              f"priority {priority} → {new_priority}", "priority"))
        priority = new_priority
        tags_remove = frozenset({rules.escalation.tag})
    elif ticket.priority:
        reasons.append(Reason("sla.priority", f"priority {priority} as set on the ticket", "priority"))
    return priority, escalated, tags_remove, reasons


def _route(ticket: TicketFacts, rules: Rules, memory: CaseMemory
           ) -> tuple[str | None, str | None, str | None, list[Reason]]:
    # Route on first sight and whenever the reason code changes; otherwise an agent's
    # manual re-route stands.
    if memory.routed and memory.routed_reason_code == ticket.reason_code:
        return None, None, None, []
    code = ticket.reason_code
    if code in rules.routing.reason_codes:
        team = rules.routing.reason_codes[code]
        reason = Reason(f"routing.reason_codes.{code}", f"reason code {code} → {team}", "team")
    else:
        team = rules.routing.default_team
        reason = Reason("routing.default_team", f"reason code {code or 'none'} → {team} (default)", "team")
    target = getattr(rules.teams[team], ticket.connector, None)
    group_id, assignee_id = (target.group_id, target.assignee_id) if target else (None, None)
    return team, group_id, assignee_id, [reason]


def _observed_at(ticket: TicketFacts, memory: CaseMemory, now: datetime) -> datetime:
    """When the change seen now happened: the ticket's `updated_at`, kept between the last
    recorded change and `now` (webhooks can be late; `updated_at` is closer to the truth)."""
    floor = max([utc_instant(ticket.opened_at)] + [s.at for s in memory.statuses[-1:]]
                + [b.at for b in memory.bases[-1:]])
    updated = getattr(ticket, "updated_at", None)
    updated = utc_instant(updated) if updated is not None else now
    return min(max(updated, floor), max(now, floor))


@dataclass(frozen=True)
class ClockView:
    """The SLA clock as `decide` and `explain_clock` see it."""

    priority: str
    tier: str | None
    tier_rule: str
    tier_why: str
    team: str | None
    calendar: str
    calendar_rule: str
    memory: CaseMemory
    runs: dict[str, MetricRun]


def observe(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory, priority: str,
            team: str | None, agent_reply_at: datetime | None = None,
            basis_at: datetime | None = None) -> ClockView:
    """Fold what is seen now into the memory (status, reply, basis) and run the clock.

    `basis_at`: when a basis change was caused by slaclock itself (an escalation level raising
    the priority at the instant a threshold was reached), the instant it took effect.
    """
    at = _observed_at(ticket, memory, now)
    opened_at = utc_instant(ticket.opened_at)
    status = getattr(ticket, "status", None) or "open"
    statuses = memory.statuses
    if not statuses:
        # First sight: the case opened running; a later status is assumed to date from `at`.
        statuses = (StatusChange(opened_at, status),)
        if status not in RUNNING_STATUSES and at > opened_at:
            statuses = (StatusChange(opened_at, "open"), StatusChange(at, status))
    elif status != statuses[-1].status:
        statuses = (*statuses, StatusChange(at, status))

    reply = agent_reply_at or getattr(ticket, "agent_reply_at", None)
    reply = utc_instant(reply) if reply is not None else None
    first_reply, last_reply = memory.first_reply_at, memory.last_reply_at
    if reply is not None:
        first_reply = min(first_reply, reply) if first_reply else reply
        last_reply = max(last_reply, reply) if last_reply else reply

    tier, tier_rule, tier_why = resolve_tier(ticket, rules)
    calendar, calendar_rule = select_calendar(rules, priority, tier, team)
    basis = BasisChange(opened_at, priority, tier, team, calendar)
    bases = memory.bases
    if not bases:
        bases = (basis,)
    elif not bases[-1].same_basis(basis):
        previous = bases[-1]
        changed = [k for k in ("priority", "tier", "team", "calendar") if getattr(previous, k) != getattr(basis, k)]
        carry = any(getattr(rules.sla.recompute, k) == "carry" for k in changed)
        since = min(max(basis_at, previous.at), now) if basis_at is not None else at
        bases = (*bases, BasisChange(since, priority, tier, team, calendar, "carry" if carry else "rederive"))

    memory = memory.evolve(statuses=statuses, bases=bases, first_reply_at=first_reply, last_reply_at=last_reply,
                           seen_at=max(memory.seen_at, now) if memory.seen_at else now)
    runs = run_clock(rules, memory, opened_at, now)
    memory = memory.evolve(results=freeze(memory, runs))
    return ClockView(priority, tier, tier_rule, tier_why, team, calendar, calendar_rule, memory, runs)


@dataclass
class _Asked:
    """What the ticket asks for before the clock runs: a refused manual escalation, a tier's floor."""

    refused: str | None = None  # why the escalation tag is refused (None: not refused)
    actions: list[Action] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)


def _check_manual(ticket: TicketFacts, rules: Rules, memory: CaseMemory, role: ActorRole, actor_id: str | None,
                  stamp: str, at: datetime, asked: _Asked) -> None:
    """Seed 002: an escalation asked for by tag needs the `escalate` right (once per request)."""
    if rules.escalation.tag not in ticket.tags or f"manual:{stamp}" in memory.fired:
        return
    if f"refused:{stamp}" in memory.fired:
        asked.refused = "refused earlier (see the note)"
    elif not role.may("escalate"):
        asked.refused = f"role {role.role} ({role.why}, {role.rule}) may not escalate"
        note, event, reason = refusal(rules, ticket, role, actor_id, f"refused:{stamp}", at)
        asked.actions.append(note)
        asked.timeline.append(event)
        asked.fired.append(f"refused:{stamp}")
        asked.reasons.append(reason)


def _floor(ticket: TicketFacts, rules: Rules, memory: CaseMemory, priority: str, at: datetime, asked: _Asked) -> str:
    """Seed 003, high-value account: the tier's priority floor; logged once as trigger high_value."""
    tier = resolve_tier(ticket, rules)[0]
    floor = tier_floor(rules, tier)
    if floor is None or higher(priority, floor) == priority:
        return priority
    text = f"tier {tier} is a high-value account: priority {priority} → {floor} (its floor)"
    asked.reasons.append(Reason(f"tiers.{tier}.priority_floor", text, "priority"))
    key = f"trigger:tier_floor:{tier}"
    if key not in memory.fired:
        asked.fired.append(key)
        asked.timeline.append(TimelineEvent(TRIGGER, at, key, threshold="high_value",
                                            text=f"escalation trigger high_value: {text}"))
    return floor


def clock_view(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None,
               agent_reply_at: datetime | None = None, *, vendor_update: VendorUpdate | None = None,
               cluster: ClusterInfo | None = None, actor_id: str | None = None,
               actor_group_ids: frozenset[str] = frozenset()) -> tuple[ClockView, Decision]:
    """The decision and the clock behind it (`explain_clock` prints the latter)."""
    now = utc_instant(now)
    memory = memory or CaseMemory()
    incoming = memory
    first_sight = not memory.statuses and not memory.routed  # never decided on before
    updated = getattr(ticket, "updated_at", None)
    manual_stamp = utc_instant(updated) if updated is not None else None
    observed_at = _observed_at(ticket, memory, now)

    role = actor_role(rules, ticket.connector, actor_id, actor_group_ids)
    asked = _Asked()
    _check_manual(ticket, rules, memory, role, actor_id, (manual_stamp or now).isoformat(), observed_at, asked)
    priority, escalated, tags_remove, reasons = _priority(ticket, rules, asked.refused)
    priority = _floor(ticket, rules, memory, priority, observed_at, asked)
    reasons += asked.reasons
    team, group_id, assignee_id, route_reasons = _route(ticket, rules, memory)
    reasons += route_reasons
    if team:
        memory = memory.evolve(routed_reason_code=ticket.reason_code, routed=True, team=team)
    current_team = team or team_of_group(rules, ticket.connector, ticket.group_id) or memory.team
    view = observe(ticket, rules, now, memory, priority, current_team, agent_reply_at)

    # The vendor loop (seed 000) and the triggers (seed 003) push climbs into the escalation.
    res = view.runs.get("resolution")
    running = res is not None and res.deadline.state != STOPPED
    due_before = res.deadline.due_at if res is not None else None
    vendor = VendorDesk(ticket, rules, now, view.memory)
    vendor.follow(current_team, observed_at, due_before, running)
    vendor.updates(vendor_update, observed_at)
    vendor.outcomes(due_before, running)
    triggers = trigger_pushes(ticket, rules, view.memory, observed_at, now) if running else TriggerStep()

    # Escalation: fire what has been reached; a level that raises the priority or hands the case
    # to another team re-derives the clock (as the escalation tag does), which may reach more.
    escalator = Escalator(ticket, rules, now, view.memory, team=current_team, manual_stamp=manual_stamp,
                          manual_at=observed_at, first_sight=first_sight,
                          pushes=tuple(vendor.step.pushes + triggers.pushes))
    escalator.run(view, escalated)
    for _ in range(16):
        want_priority = higher(view.priority, escalator.priority)
        want_team = escalator.level_team() or view.team
        if (want_priority, want_team) == (view.priority, view.team):
            break
        view = observe(ticket, rules, now, memory, want_priority, want_team, agent_reply_at,
                       basis_at=escalator.changed_at)
        escalator.run(view, escalated)
    outcome = escalator.finish(view, view.priority)
    if view.priority != priority:
        reasons.append(Reason(outcome.priority_rule, f"priority {priority} → {view.priority}: escalation "
                              f"({outcome.level or 'no ladder'}) raises it (never lowers it)", "priority"))
        priority = view.priority
    if outcome.group_id or outcome.assignee_id:
        team, group_id, assignee_id = outcome.team or current_team, outcome.group_id, outcome.assignee_id
        owner = f"escalated to level {outcome.level}: owner {outcome.owner or 'none'}"
        reasons.append(Reason(outcome.level_rule, owner + (f", team {outcome.team}" if outcome.team else ""), "team"))
        if outcome.team:
            view = replace(view, memory=view.memory.evolve(team=outcome.team))
    reasons += outcome.reasons

    if view.tier:
        reasons.append(Reason(view.tier_rule, f"tier {view.tier}: {view.tier_why}", "tier"))
    cal = rules.calendar(view.calendar)
    reasons.append(Reason(view.calendar_rule, f"calendar {view.calendar} ({cal.timezone_name})", "calendar"))
    deadlines = {metric: run.deadline for metric, run in view.runs.items()}
    resolution = deadlines["resolution"]
    for metric, d in deadlines.items():
        frozen = f", frozen from rules {d.rules_version}" if view.runs[metric].frozen else ""
        paused = f", paused {format_duration(d.paused)}" if d.paused else ""
        text = (f"due {d.due_at:%Y-%m-%d %H:%M} UTC: {metric} {format_duration(d.target)} of {d.calendar} "
                f"working time from {d.started_at:%Y-%m-%d %H:%M} UTC ({priority}{paused}); {d.state}{frozen}")
        reasons.append(Reason(d.rule, text, "due_at" if metric == "resolution" else metric))

    # The people around the case: the vendor, the triggers' notes, the cluster, the customer.
    final_team = outcome.team or current_team
    if final_team != current_team and is_vendor(rules, final_team):
        vendor.follow(final_team, escalator.changed_at or now, resolution.due_at, running)
    actions = [*outcome.actions, *asked.actions,
               *trigger_actions(ticket, rules, triggers, set(outcome.fired) - set(incoming.fired)),
               *vendor.step.actions]
    reasons += vendor.step.reasons
    later: list[TimelineEvent] = []  # after the escalation's events of the same instant
    state = outcome.state
    requests = [(f"customer:escalated:{state.cycle}:{state.level}", "escalated", state.level_since)
                ] if escalator.reached and state is not None and state.level > 0 else []
    requests += vendor.step.messages
    cluster = cluster or incoming.cluster
    if cluster is not None:
        note, event, reason = cluster_note(rules, cluster, observed_at)
        reasons.append(reason)
        if note.key not in incoming.sent:
            actions.append(note)
            later.append(event)
            requests.append((f"customer:linked:{cluster.key}", "linked", observed_at))
    customer = CustomerDesk(
        ticket, rules, now, view.memory.evolve(escalation=state, vendor=vendor.step.state), priority=priority,
        team=final_team, tier=view.tier, sla_calendar=cal, escalation=state, cycle=resolution.cycle,
        running=resolution.state != STOPPED, status=view.memory.last_status, due_at=resolution.due_at,
        cluster=cluster).run(requests)
    actions += customer.actions
    later += customer.timeline
    reasons += customer.reasons

    # Notification budget: an action key goes out once per ticket, whatever decides again.
    sent = list(incoming.sent)
    budgeted = []
    for action in actions:
        if action.key not in sent:
            budgeted.append(action)
            sent.append(action.key)
    sent += [k for k in customer.sent_keys if k not in sent]
    fired = outcome.fired + tuple(k for k in (*asked.fired, *vendor.step.fired) if k not in outcome.fired)
    candidates = [outcome.next_action_at, vendor.step.next_at, triggers.next_at, customer.next_at]
    vendor_state = vendor.step.state

    decision = Decision(
        priority=priority,
        team=team,
        group_id=group_id,
        assignee_id=assignee_id,
        due_at=resolution.due_at,
        tags_remove=tags_remove,
        escalated=escalated,
        reasons=tuple(reasons),
        inputs={
            "priority": ticket.priority,
            "reason_code": ticket.reason_code,
            "opened_at": ticket.opened_at.isoformat(),
            "tags": sorted(ticket.tags),
            "status": getattr(ticket, "status", None),
            "organization_id": getattr(ticket, "organization_id", None),
            "now": now.isoformat(),
            **({"actor_id": actor_id, "actor_role": role.role} if actor_id is not None or actor_group_ids else {}),
            **({"vendor_update": vendor_update.to_json()} if vendor_update is not None else {}),
            **({"cluster": cluster.key} if cluster is not None else {}),
        },
        rules_version=rules.version,
        memory=view.memory.evolve(fired=fired, escalation=state, vendor=vendor_state, customer=customer.state,
                                  cluster=cluster, sent=tuple(sent)),
        deadlines=deadlines,
        tier=view.tier,
        calendar=view.calendar,
        tags_add=outcome.tags_add - tags_remove,
        followers_add=outcome.followers_add,
        escalation_level=outcome.level,
        escalation_owner=outcome.owner,
        actions=tuple(budgeted),
        timeline=tuple(sorted((*asked.timeline, *vendor.step.timeline, *outcome.timeline, *later),
                              key=lambda e: e.at)),
        next_action_at=min((c for c in candidates if c is not None and c > now), default=None),
        vendor_eta=vendor_state.eta if vendor_state is not None and vendor_state.ended_at is None else None,
        vendor_eta_due_at=vendor_state.eta_due_at if vendor_state is not None and vendor_state.clock_running else None,
        next_customer_update_at=customer.next_update_at,
        actor_role=role.role if actor_id is not None or actor_group_ids else None,
        cluster_key=cluster.key if cluster is not None else None,
    )
    view = replace(view, memory=decision.memory)
    return view, decision


def decide(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None,
           *, agent_reply_at: datetime | None = None, vendor_update: VendorUpdate | None = None,
           cluster: ClusterInfo | None = None, actor_id: str | None = None,
           actor_group_ids: frozenset[str] = frozenset()) -> Decision:
    """Work out priority, team, SLA deadlines and tag changes for a ticket at instant `now`,
    with what the escalation does now (`actions`, `timeline`) and when to decide again by time
    alone (`next_action_at`). Pass the previous decision's `memory` back in: it holds what has
    fired, the frozen ladder, the vendor cycle, what the customer was told and what was sent.

    `agent_reply_at`: the instant of a public agent reply this event reports (it stops
    first_response and re-arms next_update); the processor passes it when it knows one.
    `vendor_update`: what a vendor said (POST /vendor/eta); the ETA / capacity custom fields
    are read from the ticket as well. `cluster`: the recurring-issue cluster the case belongs
    to (`recurring_clusters`); remembered, so sweeps may pass None. `actor_id` /
    `actor_group_ids`: who made the change this event reports (user id and group ids in the
    ticket's helpdesk), checked against the roles map (a manual escalation needs `escalate`).
    """
    return clock_view(ticket, rules, now, memory, agent_reply_at, vendor_update=vendor_update, cluster=cluster,
                      actor_id=actor_id, actor_group_ids=actor_group_ids)[1]
