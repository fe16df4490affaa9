"""The SLA clock as one decision sees it: fold what is seen now into the memory, run the metrics."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules import wording
from rules.calendar import utc_instant
from rules.decision import BasisChange, BasisMode, CaseMemory, Reason, StatusChange
from rules.facts import TicketFacts
from rules.frozen import quick_init
from rules.metrics import MetricRun, Span, freeze, run_spans, spans_of
from rules.policy import resolve_tier, select_calendar
from rules.schema import Rules

RUNNING_STATUSES = ("new", "open")


@quick_init
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
    # Worked out with the runs (steps ask them dozens of times a decision): the resolution run, whether it runs (the
    # case is not solved or closed), and its cycle.
    resolution: MetricRun | None
    running: bool
    cycle: int

    def paused(self, rules: Rules, metric: str) -> bool:
        return self.memory.last_status in rules.pause_statuses(metric)


def observed_at(ticket: TicketFacts, memory: CaseMemory, now: datetime) -> datetime:
    """When the change seen now happened: the ticket's `updated_at`, kept between the last
    recorded change and `now` (webhooks can be late; `updated_at` is closer to the truth)."""
    floor = max([utc_instant(ticket.opened_at)] + [s.at for s in memory.statuses[-1:]]
                + [b.at for b in memory.bases[-1:]])
    updated = utc_instant(ticket.updated_at) if ticket.updated_at is not None else now
    return min(max(updated, floor), max(now, floor))


def _statuses(ticket: TicketFacts, memory: CaseMemory, at: datetime,
              status: str | None = None) -> tuple[StatusChange, ...]:
    opened_at = utc_instant(ticket.opened_at)
    status = status or ticket.status or "open"
    statuses = memory.statuses
    if not statuses:
        # First sight: the case opened running; a later status is assumed to date from `at`.
        statuses = (StatusChange(opened_at, status),)
        if status not in RUNNING_STATUSES and at > opened_at:
            statuses = (StatusChange(opened_at, "open"), StatusChange(at, status))
    elif status != statuses[-1].status:
        statuses = (*statuses, StatusChange(at, status))
    return statuses


def _bases(rules: Rules, memory: CaseMemory, basis: BasisChange, at: datetime, now: datetime,
           basis_at: datetime | None) -> tuple[BasisChange, ...]:
    bases = memory.bases
    if not bases:
        return (basis,)
    if bases[-1].same_basis(basis):
        return bases
    previous = bases[-1]
    changed = [k for k in ("priority", "tier", "team", "calendar") if getattr(previous, k) != getattr(basis, k)]
    carry = any(getattr(rules.sla.recompute, k) == BasisMode.CARRY for k in changed)
    since = min(max(basis_at, previous.at), now) if basis_at is not None else at
    return (*bases, BasisChange(since, basis.priority, basis.tier, basis.team, basis.calendar,
                                BasisMode.CARRY if carry else BasisMode.REDERIVE))


def _awaiting(since: datetime | None, message_at: datetime | None, last_reply: datetime | None) -> datetime | None:
    """The oldest customer message not answered yet; before the first reply, first_response covers it."""
    message = utc_instant(message_at) if message_at is not None else None
    if message is not None and last_reply is not None and message > last_reply:
        since = min(since, message) if since else message
    return since if since is not None and last_reply is not None and since > last_reply else None


@quick_init
@dataclass(frozen=True)
class Observation:
    """What a decision sees now, before the clock's basis is chosen: the status history, the replies, the tier
    and each metric's span. A level that raises the priority or moves the team re-targets it (`view`) without
    walking the history again."""

    rules: Rules
    now: datetime
    at: datetime  # when the change seen now happened (`observed_at`)
    opened_at: datetime
    tier: str | None
    tier_rule: str
    tier_why: str
    memory: CaseMemory  # the incoming memory with the statuses, replies and seen_at folded in (not the bases)
    spans: list[Span]

    def view(self, priority: str, team: str | None, basis_at: datetime | None = None,
             previous: ClockView | None = None) -> ClockView:
        """The clock at `priority` and `team`. `basis_at`: when a basis change was caused by slaclock itself (an
        escalation level raising the priority at the instant a threshold was reached), the instant it took
        effect. `previous`: a view of this observation that this one re-targets (its runs may be extended)."""
        rules, memory = self.rules, self.memory
        calendar, calendar_rule = select_calendar(rules, priority, self.tier, team)
        bases = _bases(rules, memory, BasisChange(self.opened_at, priority, self.tier, team, calendar), self.at,
                       self.now, basis_at)
        before = previous.memory.bases if previous is not None else ()
        # One basis more (on the same fallback calendar, `_segments`): the previous runs may only gain a segment.
        extends = (previous is not None and len(bases) == len(before) + 1 and bases[:-1] == before
                   and before[-1].calendar == calendar)
        runs = run_spans(rules, self.spans, bases, self.now,
                         previous.runs if previous is not None and extends else None)
        memory = memory.evolve(bases=bases, results=freeze(memory, runs))
        res = runs.get("resolution")
        return ClockView(priority, self.tier, self.tier_rule, self.tier_why, team, calendar, calendar_rule, memory,
                         runs, res, res is not None and res.deadline.stopped_at is None,
                         res.deadline.cycle if res is not None else 1)


def observation(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory,
                agent_reply_at: datetime | None = None, customer_message_at: datetime | None = None,
                status: str | None = None, at: datetime | None = None) -> Observation:
    """Fold what is seen now into the memory (status, reply, customer message) and find each metric's span.

    `status`: the status slaclock itself moves the case to now (a reopen, a close), in place of the ticket's.
    `at`: `observed_at(ticket, memory, now)` when the caller has it.
    """
    at = at or observed_at(ticket, memory, now)
    opened_at = utc_instant(ticket.opened_at)
    reply = utc_instant(agent_reply_at) if agent_reply_at is not None else None
    first_reply, last_reply = memory.first_reply_at, memory.last_reply_at
    if reply is not None:
        first_reply = min(first_reply, reply) if first_reply else reply
        last_reply = max(last_reply, reply) if last_reply else reply
    awaiting = _awaiting(memory.awaiting_reply_since, customer_message_at, last_reply)
    memory = memory.evolve(statuses=_statuses(ticket, memory, at, status), first_reply_at=first_reply,
                           last_reply_at=last_reply, awaiting_reply_since=awaiting,
                           seen_at=max(memory.seen_at, now) if memory.seen_at else now)
    return Observation(rules, now, at, opened_at, *resolve_tier(ticket, rules), memory,
                       spans_of(rules, memory, opened_at, now))


def clock_reasons(view: ClockView, rules: Rules, priority: str) -> tuple[Reason, ...]:
    """The tier, the calendar and each metric's deadline, in words."""
    reasons = [Reason(view.tier_rule, wording.tier_text(view.tier, view.tier_why), "tier")] if view.tier else []
    cal = rules.calendar(view.calendar)
    reasons.append(Reason(view.calendar_rule, wording.calendar_text(view.calendar, cal.timezone_name), "calendar"))
    for metric, run in view.runs.items():
        text = wording.deadline_text(run.deadline, metric, priority, run.frozen)
        reasons.append(Reason(run.deadline.rule, text, "due_at" if metric == "resolution" else metric))
    return tuple(reasons)
