"""A capacity-constrained month of tickets (`slaclock simulate --workload N`), run under several escalation
policies. The model and every number in it are described in docs/simulation.md; this module is the model.

Tickets arrive by weekday and hour (New York), with a priority and a reason code; the example rules route each to
a team. Each team has agents with capacity (one ticket at a time, in business hours); the vendor team works
slowly through a backlog; some customers must answer a question before the work can go on, and some never do.
The SLA targets are the example rules' (due times fixed when the ticket opens, paused while it waits on the
customer), the same for every policy: a policy only changes which ticket an agent takes next and who takes it.

A policy (`Policy`) is told of every ticket event and asked once a simulated minute; escalating a ticket puts it
at the front of a queue and lets the specialists (one of them on call around the clock) take it. `POLICIES` maps
each policy's name to a factory: add one there (e.g. `RulesPolicy` with other rules) and `--workload` runs it.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from connectors.model import Ticket
from rules import Decision, Rules, decide, load_rules
from rules.decision import ActionKind, TimelineKind
from rules.forecast import Forecasts
from simulate.replay import after

ZONE = ZoneInfo("America/New_York")
START = datetime(2026, 11, 2, 5, tzinfo=timezone.utc)  # Monday 2 November 2026, 00:00 in New York
DAYS = 30
MINUTE = timedelta(minutes=1)
PRIORITIES = {"urgent": 0.05, "high": 0.20, "normal": 0.55, "low": 0.20}
RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
REASONS = {"missing_part": 0.25, "wrong_item": 0.20, "site_not_ready": 0.10, "access_issue": 0.10, "defect": 0.10,
           None: 0.25}
WEEKDAYS = (1.2, 1.1, 1.0, 1.0, 0.9, 0.3, 0.2)  # Monday first
HOURS = (0.2,) * 7 + (0.8,) * 2 + (1.5,) * 8 + (0.8,) * 3 + (0.3,) * 4  # 00:00 to 23:00
AGENTS = {"support": 3, "purchasing": 2, "warehouse": 2, "branch_manager": 1, "acme_parts": 1, "specialists": 2,
          "engineering": 1, "tech_leads": 1}
WORK_HOURS = {"urgent": 1.5, "high": 3.0, "normal": 4.0, "low": 3.0}  # mean agent time to resolve
VENDOR_WORK_HOURS, VENDOR_BACKLOG = 10.0, 12
ESCALATION_TEAM = "specialists"  # where an escalated ticket goes; one of them is on call outside business hours
FIRST_REPLY = timedelta(minutes=10)  # an agent's first public reply, once they take the ticket
NEEDS_INFO, ANSWERS, ANSWER_HOURS, GIVE_UP = 0.30, 0.75, 8.0, timedelta(hours=72)
CONFIRMS, CONFIRM_HOURS = 0.5, 6.0  # customers who answer slaclock's "is it fixed?", and how soon
YES = "Yes, that fixed it, thanks"
# Who acts in slaclock's eyes: the agents (a support lead in the example roles, who may solve), the customer; and
# the example rules' resolution-path field, which an agent fills in before solving.
AGENT, CUSTOMER, RESOLUTION_PATH = "9002", "900", "360013"


@dataclass
class SimTicket:
    """One generated ticket: what it needs (fixed by the seed) and what happened to it (one policy's run)."""

    n: int
    opened_at: datetime
    priority: str
    reason: str | None
    work: timedelta
    needs_info: bool
    answers_after: timedelta | None  # None: the customer never answers the question
    confirms_after: timedelta | None  # None: the customer does not answer slaclock's confirmation request
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    team: str = "support"
    escalated: bool = False
    asked: bool = False  # the agent's question went out; the work resumes on the answer
    first_response_at: datetime | None = None
    solved_at: datetime | None = None
    paused: timedelta = timedelta(0)
    status: str = "new"
    waited_from: datetime | None = None  # pending since


@dataclass
class Agent:
    """Works one ticket at a time, in business hours (the on-call one around the clock, escalated tickets only)."""

    team: str
    on_call: bool = False
    left: int = 0  # minutes of work left on what the agent is doing
    ticket: SimTicket | None = None


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), list(weights.values()))[0]


def _local(at: datetime) -> datetime:
    return at.astimezone(ZONE)


def generate(n: int, seed: int, rules: Rules) -> list[SimTicket]:
    """`n` tickets over `DAYS` days, with due times from `rules` (the first decision's deadlines)."""
    rng = random.Random(seed)
    days = [START + timedelta(days=d) for d in range(DAYS)]
    day_weights = [WEEKDAYS[_local(d + timedelta(hours=12)).weekday()] for d in days]
    tickets = []
    for i in range(n):
        day = rng.choices(days, day_weights)[0]
        at = day + timedelta(hours=rng.choices(range(24), HOURS)[0], minutes=rng.randrange(60))
        priority, reason = _pick(rng, PRIORITIES), _pick(rng, REASONS)
        hours = VENDOR_WORK_HOURS if rules.routing.reason_codes.get(reason or "") == "acme_parts" else WORK_HOURS[priority]
        work = timedelta(minutes=max(15, round(rng.expovariate(1 / (hours * 60)))))
        needs_info = rng.random() < NEEDS_INFO
        answers = timedelta(hours=rng.expovariate(1 / ANSWER_HOURS)) if rng.random() < ANSWERS else None
        confirms = timedelta(hours=rng.expovariate(1 / CONFIRM_HOURS)) if rng.random() < CONFIRMS else None
        tickets.append(SimTicket(i + 1, at, priority, reason, work, needs_info, answers, confirms))
    tickets.sort(key=lambda t: (t.opened_at, t.n))
    for t in tickets:
        d = decide(facts(t), rules, t.opened_at)
        t.first_response_due, t.resolution_due = d.deadlines["first_response"].due_at, d.deadlines["resolution"].due_at
        t.team = d.team or "support"
    return tickets


def facts(t: SimTicket) -> Ticket:
    return Ticket("zendesk", str(t.n), t.status, t.priority, t.opened_at, updated_at=t.opened_at,
                  subject=f"Order {t.n}", requester_id=CUSTOMER, reason_code=t.reason)


def next_due(t: SimTicket) -> datetime:
    """The ticket's next deadline: its first response until answered, then its resolution (paused time added)."""
    return t.first_response_due if t.first_response_at is None else t.resolution_due + t.paused


def _order(t: SimTicket) -> tuple:
    """Whom an agent takes next: escalated tickets first, soonest deadline first; then by priority and age."""
    if t.escalated:
        return 0, next_due(t), t.n
    return 1, RANK[t.priority], t.opened_at, t.n


class Policy:
    """How escalation watches the month: told of each ticket event, asked once a simulated minute."""

    escalations = 0  # tickets escalated at least once
    messages = 0  # messages the policy sent to customers

    def event(self, month: Month, t: SimTicket, now: datetime, kind: str) -> None:
        """`kind`: opened, first_response, asked (the agent asked the customer), answered, solved, gave_up."""

    def tick(self, month: Month, now: datetime) -> None:
        """Once a minute, after the events of that minute."""


class NoEscalation(Policy):
    """Agents work their queue by priority and age; nobody watches the deadlines."""


class HourlyAutomations(Policy):
    """Zendesk-style automations: once an hour, on the hour, a ticket whose next deadline is less than two whole
    hours away ("hours until next SLA breach < 2") is escalated, once."""

    def tick(self, month: Month, now: datetime) -> None:
        if now.minute != 0:
            return
        for t in month.waiting():
            due = next_due(t)
            if not t.escalated and due is not None and due >= now and (due - now) // timedelta(hours=1) < 2:
                self.escalations += 1
                month.escalate(t)


class RulesPolicy(Policy):
    """slaclock: the real `decide()` on each event and whenever its last decision asked to look again
    (`next_action_at`, to the minute); a ladder level escalates the ticket to the level's team."""

    def __init__(self, rules: Rules, forecasts: Callable[[Month, datetime], Forecasts | None] | None = None) -> None:
        """`forecasts(month, now)`: what predictive rules (`[predictive]`) forecast from, as of `now`."""
        self.rules, self.forecasts = rules, forecasts
        self.state: dict[int, tuple[Ticket, object, Decision]] = {}
        self.looks: dict[datetime, list[SimTicket]] = {}
        self.escalated: set[int] = set()

    def _decide(self, month: Month, t: SimTicket, now: datetime, **inputs) -> None:
        ticket, memory, _ = self.state.get(t.n, (facts(t), None, None))
        status = ticket.status if ticket.status == "closed" and t.status == "solved" else t.status  # slaclock closed it
        fields = {RESOLUTION_PATH: "Replaced the part"} if status == "solved" else {}
        ticket = replace(ticket, status=status, updated_at=now, custom_fields=fields)
        forecasts = self.forecasts(month, now) if self.forecasts else None
        d = decide(ticket, self.rules, now, memory, forecasts=forecasts, **inputs)
        self.state[t.n] = (after(ticket, d), d.memory, d)
        self.messages += sum(1 for a in d.actions if a.kind in (ActionKind.PUBLIC_REPLY, ActionKind.CLOSE) and a.text)
        climbed = any(e.kind == TimelineKind.LEVEL_CHANGE for e in d.timeline)
        if climbed:
            if t.n not in self.escalated:
                self.escalated.add(t.n)
                self.escalations += 1
            month.escalate(t)
        if d.next_action_at is not None:
            at = d.next_action_at.replace(second=0, microsecond=0) + (MINUTE if d.next_action_at.second or
                                                                    d.next_action_at.microsecond else timedelta(0))
            self.looks.setdefault(at, []).append(t)

    def event(self, month: Month, t: SimTicket, now: datetime, kind: str) -> None:
        if kind == "first_response":
            self._decide(month, t, now, agent_reply_at=now, actor_id=AGENT)
        elif kind == "answered":
            self._decide(month, t, now, customer_message_at=now, customer_message_text="Here is the order number",
                         actor_id=CUSTOMER)
        elif kind == "confirmed":
            self._decide(month, t, now, customer_message_at=now, customer_message_text=YES, actor_id=CUSTOMER)
        else:  # opened by the customer; asked, solved by the agent
            self._decide(month, t, now, actor_id=CUSTOMER if kind == "opened" else AGENT)
        if kind == "solved" and t.confirms_after is not None:
            month.later(now + t.confirms_after, t, "confirmed")

    def tick(self, month: Month, now: datetime) -> None:
        for t in self.looks.pop(now, ()):
            _, _, last = self.state[t.n]
            if last.next_action_at is not None and last.next_action_at <= now:
                self._decide(month, t, now)


@dataclass
class Result:
    """One policy's month, in the figures the comparison prints."""

    breach_rate: float
    median_first_response_minutes: float | None
    escalations_per_1000: float
    customer_messages_per_ticket: float

    def to_json(self) -> dict:
        return {"breach_rate": self.breach_rate, "median_first_response_minutes": self.median_first_response_minutes,
                "escalations_per_1000": self.escalations_per_1000,
                "customer_messages_per_ticket": self.customer_messages_per_ticket}


@dataclass
class Month:
    """One policy's run over the generated tickets, a minute at a time."""

    tickets: list[SimTicket]
    policy: Policy
    agents: list[Agent] = field(default_factory=list)
    queues: dict[str, list[SimTicket]] = field(default_factory=dict)
    pending: dict[datetime, list[tuple[SimTicket, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.agents = [Agent(team) for team, count in AGENTS.items() for _ in range(count)]
        self.agents.append(Agent(ESCALATION_TEAM, on_call=True))
        self.queues = {team: [] for team in AGENTS}

    def later(self, at: datetime, t: SimTicket, kind: str) -> None:
        self.pending.setdefault(at.replace(second=0, microsecond=0), []).append((t, kind))

    def waiting(self) -> list[SimTicket]:
        """Open tickets no agent is working on now."""
        return [t for q in self.queues.values() for t in q]

    def escalate(self, t: SimTicket) -> None:
        """To the front of its queue, within reach of the specialists (and of the one on call) as well."""
        t.escalated = True

    def _tell(self, t: SimTicket, now: datetime, kind: str) -> None:
        self.policy.event(self, t, now, kind)

    def _take(self, agent: Agent, now: datetime) -> None:
        queue = [] if agent.on_call else list(self.queues[agent.team])
        if agent.team == ESCALATION_TEAM:  # specialists also take escalated tickets waiting in any queue
            queue += [t for team, q in self.queues.items() if team != ESCALATION_TEAM for t in q if t.escalated]
        if not queue:
            return
        t = min(queue, key=_order)
        self.queues[t.team].remove(t)
        t.status, agent.ticket = "open", t
        if t.first_response_at is None:
            t.first_response_at = now + FIRST_REPLY
            self.later(t.first_response_at, t, "first_response")
        asks = t.needs_info and not t.asked
        agent.left = int(FIRST_REPLY / MINUTE) if asks else int(t.work / MINUTE)

    def _finish(self, agent: Agent, now: datetime) -> None:
        t, agent.ticket = agent.ticket, None
        if t.needs_info and not t.asked:  # the agent asked the customer for what is missing
            t.asked, t.status, t.waited_from = True, "pending", now
            self._tell(t, now, "asked")
            self.later(now + (t.answers_after if t.answers_after is not None else GIVE_UP), t,
                       "answered" if t.answers_after is not None else "gave_up")
            return
        self._solve(t, now)

    def _solve(self, t: SimTicket, now: datetime) -> None:
        t.status, t.solved_at = "solved", now
        self._tell(t, now, "solved")

    def _happen(self, t: SimTicket, kind: str, now: datetime) -> None:
        if kind in ("answered", "gave_up"):
            t.paused += now - t.waited_from
            if kind == "gave_up":  # solved for want of an answer
                self._solve(t, now)
                return
            t.status = "open"
            self.queues[t.team].append(t)
        elif kind == "confirmed" and t.status != "solved":
            return
        self._tell(t, now, kind)

    def run(self) -> Result:
        end = START + timedelta(days=DAYS)
        arrivals: dict[datetime, list[SimTicket]] = {}
        for t in self.tickets:
            arrivals.setdefault(t.opened_at, []).append(t)
        vendor = next(a for a in self.agents if a.team == "acme_parts")
        vendor.left = int(VENDOR_BACKLOG * VENDOR_WORK_HOURS * 60)  # its own backlog comes first
        working: dict[datetime, bool] = {}
        now = START
        while now < end:
            for t in arrivals.get(now, ()):
                self.queues[t.team].append(t)
                self._tell(t, now, "opened")
            for t, kind in self.pending.pop(now, ()):
                self._happen(t, kind, now)
            self.policy.tick(self, now)
            hour = now.replace(minute=0)
            if hour not in working:
                local = _local(now)
                working[hour] = local.weekday() < 5 and 8 <= local.hour < 18
            for agent in self.agents:
                if not (agent.on_call or working[hour]):
                    continue
                if agent.left > 0:
                    agent.left -= 1
                    if agent.left == 0 and agent.ticket is not None:
                        self._finish(agent, now)
                if agent.left == 0:
                    self._take(agent, now)
            now += MINUTE
        return self._result(end)

    def _result(self, end: datetime) -> Result:
        met = breached = 0
        for t in self.tickets:
            for done, due in ((t.first_response_at, t.first_response_due),
                              (t.solved_at, t.resolution_due + t.paused if t.resolution_due else None)):
                if due is None:
                    continue
                if done is not None and done <= due:
                    met += 1
                elif (done is not None and done > due) or due < end:
                    breached += 1
        waits = [(t.first_response_at - t.opened_at) / MINUTE for t in self.tickets if t.first_response_at]
        n = len(self.tickets)
        return Result(breach_rate=round(breached / (met + breached), 4) if met + breached else 0.0,
                      median_first_response_minutes=round(statistics.median(waits), 1) if waits else None,
                      escalations_per_1000=round(1000 * self.policy.escalations / n, 1) if n else 0.0,
                      customer_messages_per_ticket=round(self.policy.messages / n, 3) if n else 0.0)


# The policies `--workload` compares, by name: each a factory given the example rules. Add one here to compare it.
POLICIES: dict[str, Callable[[Rules], Policy]] = {
    "none": lambda rules: NoEscalation(),
    "hourly_automations": lambda rules: HourlyAutomations(),
    "slaclock": RulesPolicy,
}


def compare_policies(n: int, seed: int = 1, rules: Rules | None = None,
                     policies: dict[str, Callable[[Rules], Policy]] | None = None) -> dict[str, Result]:
    """The same generated month under each policy."""
    rules = rules or load_rules()
    results = {}
    for name, make in (policies or POLICIES).items():
        month = Month(generate(n, seed, rules), make(rules))
        results[name] = month.run()
    return results


def render(results: dict[str, Result], n: int, seed: int) -> str:
    lines = [f"A month of {n:,} tickets (seed {seed}), capacity-constrained (docs/simulation.md):",
             f"  {'policy':<20}{'breach rate':>12}{'median first response':>24}{'escalations/1000':>18}"
             f"{'messages/ticket':>17}"]
    for name, r in results.items():
        median = "-" if r.median_first_response_minutes is None else f"{r.median_first_response_minutes:g} min"
        lines.append(f"  {name:<20}{r.breach_rate:>12.1%}{median:>24}{r.escalations_per_1000:>18g}"
                     f"{r.customer_messages_per_ticket:>17.2f}")
    return "\n".join(lines)
