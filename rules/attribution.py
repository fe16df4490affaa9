"""SLA / OLA split: the resolution clock's working time attributed to who held the case. Pure.

A case is held, at each instant it is open, by one holder: the customer (a pause status such as pending:
the clock stops), the vendor (a team of kind "vendor"), or the ladder level it stands on (the first level
before any climb). Working time is counted on the resolution clock's calendar; time solved or closed
counts for nobody. A level's optional budget (`[ola.budgets]`, the OLA) is compared with its total.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.calendar import ZERO, WorkCalendar
from rules.decision import CaseMemory
from rules.schema import Rules
from rules.wording import format_duration

CUSTOMER = "customer"


@dataclass(frozen=True)
class Holding:
    """One holder's share of a case's clock: `used` working time (paused: the SLA clock did not count it)."""

    holder: str  # a ladder level's name, a vendor team's key, "customer", or another pause status
    title: str  # as people read it: "L1 support", "ACME Parts", "waiting on customer"
    kind: str  # level | vendor | paused
    used: timedelta
    teams: tuple[str, ...] = ()  # the teams that held it (level: in the order seen)
    budget: timedelta | None = None  # the holder's OLA budget, when the rules give one

    @property
    def paused(self) -> bool:
        return self.kind == "paused"

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.used > self.budget

    def to_json(self) -> dict:
        return {"holder": self.holder, "title": self.title, "kind": self.kind,
                "hours": round(self.used.total_seconds() / 3600, 2), "teams": list(self.teams),
                "budget_hours": round(self.budget.total_seconds() / 3600, 2) if self.budget is not None else None}


def resolution_calendar(rules: Rules, memory: CaseMemory) -> WorkCalendar:
    """The calendar the resolution clock counts on: its own, else the case's latest basis, else the default."""
    own = rules.sla.metrics.resolution.calendar
    if own:
        return rules.calendar(own)
    name = memory.bases[-1].calendar if memory.bases else rules.sla.default_calendar
    return rules.calendar(name if name in rules.calendars else "24x7")


def _levels(rules: Rules, memory: CaseMemory, team: str | None) -> tuple[list[tuple[datetime, str, str]], str, str]:
    """(climbs as (at, level name, title), the first level's name and title) of the case's ladder."""
    state = memory.escalation
    if state is not None:
        levels = state.ladder.levels
        climbs = [(c.at, levels[c.level].name, levels[c.level].title) for c in state.climbs]
        return climbs, levels[0].name, levels[0].title
    ladder = rules.ladders.get(rules.ladder_of(team) or "")
    if ladder is None or not ladder.levels:  # no ladder: the team holds it
        return [], team or "team", rules.team_title(team) if team else "the team"
    first = ladder.levels[0]
    return [], first.name, first.title or first.name


def _title(status: str) -> str:
    return "waiting on customer" if status == "pending" else f"on {status}"


@dataclass(frozen=True)
class Span:
    """[start, end): one holder held the open case."""

    start: datetime
    end: datetime
    holder: str
    title: str
    kind: str
    team: str | None


def spans(rules: Rules, memory: CaseMemory, opened_at: datetime, until: datetime) -> list[Span]:
    """Who held the open case from `opened_at` to `until`, span by span (solved and closed time left out); while
    it is open at `until`, the last span ends there (a span of no length when a new holder took it just then)."""
    stop, pause = frozenset(rules.sla.stop_statuses), rules.pause_statuses("resolution")
    teams = [(b.at, b.team) for b in memory.bases]
    first_team = teams[0][1] if teams else memory.team
    climbs, level_name, level_title = _levels(rules, memory, first_team)
    marks = sorted(t for t in {opened_at, until, *(s.at for s in memory.statuses), *(t for t, _ in teams),
                               *(c[0] for c in climbs)} if opened_at <= t <= until)
    out: list[Span] = []
    for a, b in zip(marks, [*marks[1:], until]):
        status = next((s.status for s in reversed(memory.statuses) if s.at <= a), "new")
        if status in stop or (b == a and a != until):
            continue
        team = next((t for at, t in reversed(teams) if at <= a), first_team)
        if status in pause:
            key, title, kind = (CUSTOMER if status == "pending" else status), _title(status), "paused"
        elif team is not None and team in rules.teams and rules.teams[team].kind == "vendor":
            key, title, kind = team, rules.team_title(team), "vendor"
        else:
            (key, title), kind = next(((n, t) for at, n, t in reversed(climbs) if at <= a),
                                      (level_name, level_title)), "level"
        if out and (out[-1].holder, out[-1].team, out[-1].end) == (key, team, a):
            out[-1] = Span(out[-1].start, b, key, title, kind, team)
        else:
            out.append(Span(a, b, key, title, kind, team))
    return out


def time_by_holder(rules: Rules, memory: CaseMemory, opened_at: datetime, until: datetime,
                   calendar: WorkCalendar | None = None) -> tuple[Holding, ...]:
    """Each holder's working time from `opened_at` to `until`, in the order they first held the case."""
    cal = calendar or resolution_calendar(rules, memory)
    budgets = rules.ola.budgets if rules.ola is not None else {}
    totals: dict[str, list] = {}
    for span in spans(rules, memory, opened_at, until):
        if span.end == span.start:
            continue
        entry = totals.setdefault(span.holder, [span.title, span.kind, ZERO, []])
        entry[2] += cal.elapsed(span.start, span.end)
        if span.team and span.kind == "level" and span.team not in entry[3]:
            entry[3].append(span.team)
    return tuple(Holding(key, title, kind, used, tuple(seen), budgets.get(key))
                 for key, (title, kind, used, seen) in totals.items())


def holder_line(h: Holding, target: timedelta | None) -> str:
    """'L1 support used 18 h of 24 h' (of the budget when it has one, else of the SLA target)."""
    if h.paused:
        return f"{h.title}: {format_duration(h.used)}, not counted"
    if h.budget is not None:
        over = f", {format_duration(h.used - h.budget)} over" if h.over_budget else ""
        return f"{h.title} used {format_duration(h.used)} of its {format_duration(h.budget)} budget{over}"
    of = f" of {format_duration(target)}" if target is not None else ""
    return f"{h.title} used {format_duration(h.used)}{of}"
