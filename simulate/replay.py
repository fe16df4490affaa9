"""One ticket history through one rules set, with the pure engine and the clock injected: nothing is written.

Each recorded event is decided again at its instant, on the ticket as this replay's helpdesk would hold it: the
snapshot read then, with slaclock's own fields (priority, group, assignee, status, tags) as this replay last
wrote them, unless a person changed them since the recorded run's write (the snapshot differs from what that
write left). Between events the replay sweeps when its own decision asks (`next_action_at`), up to `until`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from connectors.model import Ticket
from jobs.explain import as_written
from reports.kpis import CaseHistory
from rules import CaseMemory, Decision, Rules, decide
from rules.decision import ActionKind, TimelineKind
from rules.forecast import Forecasts
from simulate.history import Step, TicketHistory

# slaclock's own fields on the ticket besides its tags (decide() reads them back).
FIELDS = ("priority", "group_id", "assignee_id", "status")
# A replay that keeps asking for sweeps (a rules file whose next look never settles) stops here.
MAX_SWEEPS = 200
MESSAGES = (ActionKind.PUBLIC_REPLY, ActionKind.CLOSE)


@dataclass(frozen=True)
class Look:
    """What one decision at a recorded event made of the ticket (compared between the two replays)."""

    team: str | None
    priority: str
    due_at: datetime | None
    level: str | None
    messages: int


@dataclass(frozen=True)
class Outcome:
    """A ticket's replay: where it ended up, what it went through, and its case for the KPIs."""

    key: str
    team: str | None
    priority: str
    due_at: datetime | None
    levels: tuple[str, ...]  # the ladder levels reached, in order
    messages: tuple[str, ...]  # the public replies and closing follow-ups the customer got
    looks: tuple[Look, ...]  # one per recorded event
    decisions: int  # decide() calls, sweeps included
    case: CaseHistory


def recorded_after(read: Ticket, written: dict) -> Ticket:
    """The ticket once the recorded decision's write landed."""
    after = as_written(read, written) if written else read
    return replace(after, status=written["status"]) if written.get("status") else after


def after(ticket: Ticket, d: Decision) -> Ticket:
    """The ticket once this replay's decision `d` was written."""
    return replace(ticket, priority=d.priority, group_id=d.group_id or ticket.group_id,
                   assignee_id=d.assignee_id or ticket.assignee_id, status=d.status or ticket.status,
                   tags=(ticket.tags - d.tags_remove) | d.tags_add)


def merged(read: Ticket, expected: Ticket | None, ours: Ticket | None) -> Ticket:
    """`read` (the recorded snapshot) with this replay's own writes where no person changed a field since the
    recorded write left it as `expected`."""
    if expected is None or ours is None:
        return read
    kept = {f: getattr(ours, f) for f in FIELDS if getattr(read, f) == getattr(expected, f) != getattr(ours, f)}
    if ours.tags != expected.tags:
        kept["tags"] = (ours.tags - (expected.tags - read.tags)) | (read.tags - expected.tags)
    return replace(read, **kept) if kept else read


def _inputs(step: Step) -> dict:
    return dict(agent_reply_at=step.agent_reply_at, vendor_update=step.vendor_update, cluster=step.cluster,
                actor_id=step.actor_id, actor_group_ids=step.actor_group_ids,
                customer_message_at=step.customer_message_at, customer_message_text=step.customer_message_text,
                rating=step.rating, team_load=step.team_load)


class _Run:
    """The state of one replay between decisions."""

    def __init__(self, rules: Rules, forecasts: Forecasts | None) -> None:
        self.rules = rules
        self.forecasts = forecasts if rules.predictive is not None and rules.predictive.enabled else None
        self.memory: CaseMemory | None = None
        self.decision: Decision | None = None
        self.team: str | None = None
        self.events: list = []
        self.messages: list[str] = []
        self.decisions = 0

    def decide(self, ticket: Ticket, now: datetime, **inputs) -> Decision:
        d = decide(ticket, self.rules, now, self.memory, forecasts=self.forecasts, **inputs)
        self.memory, self.decision, self.team = d.memory, d, d.team or self.team
        self.events += d.timeline
        self.messages += [a.text for a in d.actions if a.kind in MESSAGES and a.text]
        self.decisions += 1
        return d

    def sweep(self, ticket: Ticket, before: datetime) -> Ticket:
        """Decide at each `next_action_at` earlier than `before`, as the sweeper would; the ticket as written."""
        sweeps = 0
        while (self.decision is not None and self.decision.next_action_at is not None
               and self.decision.next_action_at < before and sweeps < MAX_SWEEPS):
            ticket = after(ticket, self.decide(ticket, self.decision.next_action_at))
            sweeps += 1
        return ticket


def replay(history: TicketHistory, rules: Rules, until: datetime, forecasts: Forecasts | None = None) -> Outcome:
    """Decide `history` again with `rules`, sweeping up to `until` (the replay's "now"); `forecasts`: the
    stored cases' times to resolve, for rules with predictive escalation on."""
    run = _Run(rules, forecasts)
    ours: Ticket | None = None
    expected: Ticket | None = None
    looks = []
    for step in history.steps:
        if step.sweep:
            continue  # the replay's own sweeps stand for the recorded ones
        if ours is not None:
            ours = run.sweep(ours, step.at)
        read = merged(step.ticket, expected, ours)
        before = len(run.messages)
        d = run.decide(read, step.at, **_inputs(step))
        ours, expected = after(read, d), recorded_after(step.ticket, step.written)
        looks.append(Look(run.team, d.priority, d.due_at, d.escalation_level, len(run.messages) - before))
    if ours is not None:
        run.sweep(ours, until)
    memory, d = run.memory or CaseMemory(), run.decision
    first = history.steps[0].ticket
    case = CaseHistory(key=history.key, opened_at=history.opened_at, memory=memory,
                       events=tuple(sorted(run.events, key=lambda e: e.at)), team=run.team,
                       priority=d.priority if d else first.priority,
                       tier=memory.bases[-1].tier if memory.bases else None, reason=first.reason_code,
                       cluster=history.cluster)
    levels = tuple(e.level or "?" for e in case.events if e.kind == TimelineKind.LEVEL_CHANGE)
    return Outcome(key=history.key, team=run.team, priority=case.priority or "", due_at=d.due_at if d else None,
                   levels=levels, messages=tuple(run.messages), looks=tuple(looks), decisions=run.decisions,
                   case=case)


def horizon(histories: list[TicketHistory], now: datetime) -> datetime:
    """The replays' "now": the caller's clock, never before the last recorded decision."""
    last = max((s.at for h in histories for s in h.steps), default=now)
    return max(now, last + timedelta(microseconds=1))
