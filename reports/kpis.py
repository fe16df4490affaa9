"""Escalation KPIs (seeds 000, 002, 003), computed from each case's timeline and memory. Pure: the period
and the stop statuses are parameters; nothing here reads the store or the clock.

A case counts in a period when it opened inside it; its events count up to the period's end. A metric
whose clock never ran its course (solved before any public reply) is *not measured*, never "met".
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Sequence

from rules.attribution import Holding, holder_line
from rules.decision import CaseMemory, DeadlineState, Rating, TimelineEvent, TimelineKind

# Seed 003: resolved "without additional customer return" within this many days of the solve.
DEFAULT_RETURN_DAYS = 7
# Seed 000: the vendor owes capacity and an ETA within 48 hours.
VENDOR_ETA_TARGET = timedelta(hours=48)
GROUPINGS = ("team", "priority", "tier", "reason")


@dataclass(frozen=True)
class Period:
    """[since, until): cases opened inside it; `until` is also "now" for what is still running."""

    since: datetime
    until: datetime

    def holds(self, at: datetime) -> bool:
        return self.since <= at < self.until


@dataclass(frozen=True)
class CaseHistory:
    """One case as the KPIs read it: its facts, its memory and its rules timeline events (in order)."""

    key: str
    opened_at: datetime
    memory: CaseMemory
    events: tuple[TimelineEvent, ...] = ()
    team: str | None = None
    priority: str | None = None
    tier: str | None = None
    reason: str | None = None
    cluster: str | None = None


@dataclass(frozen=True)
class Durations:
    """How long something took, over the cases where it happened (hours)."""

    count: int = 0
    mean_hours: float | None = None
    median_hours: float | None = None

    @classmethod
    def of(cls, spans: Iterable[timedelta]) -> Durations:
        hours = [s.total_seconds() / 3600 for s in spans]
        if not hours:
            return cls()
        return cls(len(hours), round(statistics.fmean(hours), 2), round(statistics.median(hours), 2))

    def to_json(self) -> dict:
        return {"count": self.count, "mean_hours": self.mean_hours, "median_hours": self.median_hours}


@dataclass(frozen=True)
class MetricOutcomes:
    met: int = 0
    breached: int = 0
    not_measured: int = 0
    averted: int = 0  # a warning or escalation fired, and the metric was met

    @property
    def breach_rate(self) -> float | None:
        measured = self.met + self.breached
        return round(self.breached / measured, 4) if measured else None

    def to_json(self) -> dict:
        return {"met": self.met, "breached": self.breached, "not_measured": self.not_measured,
                "breaches_averted": self.averted, "breach_rate": self.breach_rate}


@dataclass(frozen=True)
class Csat:
    """The customers' satisfaction ratings, one per rated case (its latest): 1-5 scores and good/bad verdicts."""

    ratings: tuple[Rating, ...] = ()

    @property
    def good_share(self) -> float | None:
        """Satisfied (a good verdict, or a score of 4 or 5) ÷ rated; None when nothing was rated."""
        return round(sum(r.good for r in self.ratings) / len(self.ratings), 4) if self.ratings else None

    def to_json(self) -> dict:
        scores = [r.score for r in self.ratings if r.score is not None]
        good = sum(r.good for r in self.ratings)
        return {"count": len(self.ratings), "scored": len(scores),
                "mean": round(statistics.fmean(scores), 2) if scores else None,
                "distribution": {str(n): scores.count(n) for n in range(1, 6)},
                "good": good, "bad": len(self.ratings) - good, "good_share": self.good_share}


@dataclass(frozen=True)
class HolderTime:
    """One holder's share of the resolution clock over a group of cases (the SLA / OLA split)."""

    title: str
    kind: str
    cases: int = 0
    used: timedelta = timedelta()
    budget: timedelta | None = None
    over_budget: int = 0  # cases in which the holder used more than its budget

    def plus(self, h: Holding) -> HolderTime:
        return HolderTime(self.title, self.kind, self.cases + 1, self.used + h.used, h.budget,
                          self.over_budget + h.over_budget)

    def to_json(self) -> dict:
        hours = self.used.total_seconds() / 3600
        return {"title": self.title, "kind": self.kind, "cases": self.cases, "hours": round(hours, 2),
                "mean_hours": round(hours / self.cases, 2) if self.cases else None,
                "budget_hours": round(self.budget.total_seconds() / 3600, 2) if self.budget is not None else None,
                "over_budget": self.over_budget}


@dataclass(frozen=True)
class BreachShare:
    """A case whose resolution clock breached, and who held it for how long."""

    case: str
    target: timedelta | None
    holders: tuple[Holding, ...]

    @property
    def text(self) -> str:
        return "; ".join(holder_line(h, self.target) for h in self.holders) or "no time counted"

    def to_json(self) -> dict:
        return {"case": self.case, "text": self.text, "holders": [h.to_json() for h in self.holders],
                "target_hours": round(self.target.total_seconds() / 3600, 2) if self.target is not None else None}


# Who held a case, up to an instant (the SLA / OLA split: rules.attribution.time_by_holder, with the rules bound).
Attribute = Callable[[CaseHistory, datetime], Sequence[Holding]]


@dataclass(frozen=True)
class KpiReport:
    """The figures of one group of cases over one period (stable JSON keys: `to_json`)."""

    tickets: int
    escalated: int
    repeat_escalations: int
    repeat_cluster_escalations: int
    escalation_to_first_response: Durations
    escalation_to_resolution: Durations
    resolved: int
    resolved_without_return: int
    mttr: Durations
    sla: Mapping[str, MetricOutcomes]
    dwell_per_level: Mapping[str, Durations]
    vendor_time_to_eta: Durations
    vendor_eta_in_time: int
    cadence_updates: int
    cadence_kept: int
    csat: Csat = Csat()
    weekly: tuple[tuple[str, int, int], ...] = field(default=())  # (monday, tickets opened, of them escalated)
    # Seed 003 step 8: the root causes written on post-incident tasks, per recurring cluster ("-": none).
    root_causes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    time_by_holder: Mapping[str, HolderTime] = field(default_factory=dict)  # per holder key, first held first
    breached_by_holder: tuple[BreachShare, ...] = ()

    @property
    def escalations_per_1000(self) -> float | None:
        return round(1000 * self.escalated / self.tickets, 1) if self.tickets else None

    @property
    def breach_rate(self) -> float | None:
        met = sum(o.met for o in self.sla.values())
        breached = sum(o.breached for o in self.sla.values())
        return round(breached / (met + breached), 4) if met + breached else None

    @property
    def breaches_averted(self) -> int:
        return sum(o.averted for o in self.sla.values())

    def to_json(self) -> dict:
        """The report with stable keys, for `slaclock report --format json`."""
        return {
            "tickets": self.tickets, "escalated": self.escalated, "escalations_per_1000": self.escalations_per_1000,
            "repeat_escalations": self.repeat_escalations,
            "repeat_cluster_escalations": self.repeat_cluster_escalations,
            "escalation_to_first_response": self.escalation_to_first_response.to_json(),
            "escalation_to_resolution": self.escalation_to_resolution.to_json(),
            "resolved": self.resolved, "resolved_without_return": self.resolved_without_return,
            "mttr": self.mttr.to_json(), "breach_rate": self.breach_rate, "breaches_averted": self.breaches_averted,
            "sla": {metric: o.to_json() for metric, o in sorted(self.sla.items())},
            "dwell_per_level": {level: d.to_json() for level, d in self.dwell_per_level.items()},
            "vendor_time_to_eta": self.vendor_time_to_eta.to_json(), "vendor_eta_in_time": self.vendor_eta_in_time,
            "cadence_updates": self.cadence_updates, "cadence_kept": self.cadence_kept,
            "csat": self.csat.to_json(),
            "root_causes": {cluster: list(texts) for cluster, texts in sorted(self.root_causes.items())},
            "time_by_holder": {key: t.to_json() for key, t in self.time_by_holder.items()},
            "breached_by_holder": [b.to_json() for b in self.breached_by_holder],
            "weekly": [{"week": week, "tickets": n, "escalated": e,
                        "escalations_per_1000": round(1000 * e / n, 1) if n else None} for week, n, e in self.weekly],
        }


# --- one case ---------------------------------------------------------------------------------

def _events(case: CaseHistory, period: Period, *kinds: TimelineKind) -> list[TimelineEvent]:
    return [e for e in case.events if e.kind in kinds and e.at < period.until]


def _climbs(case: CaseHistory, period: Period) -> list[tuple[int, TimelineEvent]]:
    """(cycle, event) of each level reached; the cycle is part of the event's key `level:<cycle>:<index>:<name>`."""
    out = []
    for e in _events(case, period, TimelineKind.LEVEL_CHANGE):
        parts = e.key.split(":")
        out.append((int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 1, e))
    return out


def _stops(memory: CaseMemory, stop: frozenset[str], until: datetime) -> tuple[list[datetime], list[datetime]]:
    """When the case was solved/closed, and when it was reopened after that (status history)."""
    solved, reopened, was_stopped = [], [], False
    for change in memory.statuses:
        if change.at >= until:
            break
        if change.status in stop and not was_stopped:
            solved.append(change.at)
        elif change.status not in stop and was_stopped:
            reopened.append(change.at)
        was_stopped = change.status in stop
    return solved, reopened


def _returns(case: CaseHistory, period: Period, solved: list[datetime], reopened: list[datetime],
             days: int) -> list[datetime]:
    """Reopens within `days` of the first solve, save those the customer's confirmation caused: on Zendesk the
    requester's "yes, fixed" reopens the solved ticket by itself, just before slaclock closes it."""
    confirmed = [e.at for e in _events(case, period, TimelineKind.RESOLUTION_CONFIRMED)]

    def answered_yes(at: datetime) -> bool:
        before = max((s for s in solved if s < at), default=None)
        after = min((s for s in solved if s > at), default=period.until)
        return before is not None and any(before <= c <= after for c in confirmed)
    return [r for r in reopened if solved[0] < r <= solved[0] + timedelta(days=days) and not answered_yes(r)]


def _sla(case: CaseHistory, period: Period, into: dict[str, list[str]]) -> None:
    """Each metric clock's outcome in this case: met, breached, not measured; and whether a warning came first."""
    warned = {(e.metric, e.cycle) for e in _events(case, period, TimelineKind.WARNING, TimelineKind.ESCALATION)
              if e.metric}
    seen = set()
    for d in case.memory.results:
        if d.stopped_at is None or d.stopped_at >= period.until:
            continue
        seen.add((d.metric, d.cycle))
        if d.state == DeadlineState.UNMEASURED or d.met is None:
            into[d.metric].append("not_measured")
        elif d.met:
            into[d.metric].append("averted" if (d.metric, d.cycle) in warned else "met")
        else:
            into[d.metric].append("breached")
    for e in _events(case, period, TimelineKind.BREACH):  # breached and still running
        if e.metric and (e.metric, e.cycle) not in seen:
            seen.add((e.metric, e.cycle))
            into[e.metric].append("breached")


def _resolution_breach(case: CaseHistory, period: Period) -> tuple[bool, timedelta | None]:
    """(the resolution clock breached, its target when known): a stopped clock that missed, or one still running
    past its deadline."""
    stopped = [d for d in case.memory.results if d.metric == "resolution" and d.stopped_at is not None
               and d.stopped_at < period.until]
    if stopped and stopped[-1].met is False:
        return True, stopped[-1].target
    cycles = {d.cycle for d in stopped}
    running = [e for e in _events(case, period, TimelineKind.BREACH) if e.metric == "resolution"
               and e.cycle not in cycles]
    return bool(running), None


def _dwell(case: CaseHistory, period: Period, solved: list[datetime], into: dict[str, list[timedelta]]) -> None:
    """Time spent on each ladder level: until the next level, the case's next solve, or the period's end."""
    climbs = _climbs(case, period)
    for (cycle, e), following in zip(climbs, [*climbs[1:], None]):
        ends = [s for s in solved if s > e.at]
        end = following[1].at if following is not None and following[0] == cycle else None
        end = min([t for t in (end, ends[0] if ends else None) if t is not None], default=period.until)
        into[e.level or "?"].append(end - e.at)


def _cadence(case: CaseHistory, period: Period, cadence: timedelta | None) -> tuple[int, int]:
    """(updates owed, updates sent in time) while escalated: each gap from the escalation or the previous
    update to the next customer update is one update owed; kept when it is at most the cadence."""
    climbs = _climbs(case, period)
    if cadence is None or not climbs:
        return 0, 0
    updates = [e.at for e in _events(case, period, TimelineKind.CUSTOMER_UPDATE) if e.at >= climbs[0][1].at]
    marks = [climbs[0][1].at, *updates]
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    return len(gaps), sum(1 for g in gaps if g <= cadence)


# --- a group of cases -------------------------------------------------------------------------

def report(cases: Iterable[CaseHistory], period: Period, *, stop: frozenset[str] = frozenset({"solved", "closed"}),
           return_days: int = DEFAULT_RETURN_DAYS,
           cadence: Callable[[str | None], timedelta | None] = lambda priority: None,
           attribute: Attribute | None = None) -> KpiReport:
    """The KPIs of the cases opened in `period`; `cadence(priority)`: the customer-update interval owed;
    `attribute`: who held a case for how long (None: no time by holder)."""
    mine = [c for c in cases if period.holds(c.opened_at)]
    sla: dict[str, list[str]] = defaultdict(list)
    dwell: dict[str, list[timedelta]] = defaultdict(list)
    to_reply, to_resolve, resolve, eta = [], [], [], []
    escalated = repeat = resolved = kept_resolved = eta_in_time = owed = kept = 0
    escalated_by_cluster: dict[str, int] = defaultdict(int)
    ratings: list[Rating] = []
    weekly: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    causes: dict[str, list[str]] = defaultdict(list)
    holders: dict[str, HolderTime] = {}
    shares: list[BreachShare] = []
    for case in mine:
        if attribute is not None:
            held = tuple(attribute(case, period.until))
            for h in held:
                holders[h.holder] = holders.get(h.holder, HolderTime(h.title, h.kind)).plus(h)
            breached, target = _resolution_breach(case, period)
            if breached:
                shares.append(BreachShare(case.key, target, held))
        causes[case.cluster or "-"] += [e.text for e in _events(case, period, TimelineKind.ROOT_CAUSE)]
        solved, reopened = _stops(case.memory, stop, period.until)
        climbs = _climbs(case, period)
        week = (case.opened_at - timedelta(days=case.opened_at.weekday())).date().isoformat()
        weekly[week][0] += 1
        if climbs:
            escalated += 1
            weekly[week][1] += 1
            repeat += len({cycle for cycle, _ in climbs}) > 1
            if case.cluster:
                escalated_by_cluster[case.cluster] += 1
            start = climbs[0][1].at
            replies = [e.at for e in _events(case, period, TimelineKind.FIRST_RESPONSE_AFTER_ESCALATION)]
            to_reply += [min(replies) - start] if replies else []
            after = [s for s in solved if s >= start]
            to_resolve += [after[0] - start] if after else []
        if solved:
            resolved += 1
            resolve.append(solved[0] - case.opened_at)
            kept_resolved += not _returns(case, period, solved, reopened, return_days)
        _sla(case, period, sla)
        _dwell(case, period, solved, dwell)
        requests = _events(case, period, TimelineKind.VENDOR_REQUEST)
        answers = _events(case, period, TimelineKind.VENDOR_CONFIRMED, TimelineKind.VENDOR_UPDATE)
        if requests and answers:
            eta.append(min(a.at for a in answers) - requests[0].at)
            eta_in_time += eta[-1] <= VENDOR_ETA_TARGET
        o, k = _cadence(case, period, cadence(case.priority))
        owed, kept = owed + o, kept + k
        rated = [e.rating for e in _events(case, period, TimelineKind.CSAT) if e.rating is not None]
        ratings += rated[-1:]  # a customer who rates again changes the rating
    outcomes = {metric: MetricOutcomes(met=v.count("met") + v.count("averted"), breached=v.count("breached"),
                                       not_measured=v.count("not_measured"), averted=v.count("averted"))
                for metric, v in sla.items()}
    return KpiReport(
        tickets=len(mine), escalated=escalated, repeat_escalations=repeat,
        repeat_cluster_escalations=sum(n - 1 for n in escalated_by_cluster.values() if n > 1),
        escalation_to_first_response=Durations.of(to_reply), escalation_to_resolution=Durations.of(to_resolve),
        resolved=resolved, resolved_without_return=kept_resolved, mttr=Durations.of(resolve), sla=outcomes,
        dwell_per_level={level: Durations.of(spans) for level, spans in dwell.items()},
        vendor_time_to_eta=Durations.of(eta), vendor_eta_in_time=eta_in_time, cadence_updates=owed,
        cadence_kept=kept, csat=Csat(tuple(ratings)), weekly=tuple((w, n, e) for w, (n, e) in sorted(weekly.items())),
        root_causes={cluster: tuple(texts) for cluster, texts in causes.items() if texts},
        time_by_holder=holders, breached_by_holder=tuple(shares))


def report_by(cases: Iterable[CaseHistory], period: Period, by: str, **options) -> dict[str, KpiReport]:
    """One report per value of `by` (team, priority, tier, reason); cases without a value group under "-"."""
    if by not in GROUPINGS:
        raise ValueError(f"--by: got {by!r}; expected one of {', '.join(GROUPINGS)}")
    groups: dict[str, list[CaseHistory]] = defaultdict(list)
    for case in cases:
        if period.holds(case.opened_at):
            groups[getattr(case, by) or "-"].append(case)
    return {name: report(members, period, **options) for name, members in sorted(groups.items())}
