"""Predictive escalation (`[predictive]`): climb when the forecast finish passes the resolution deadline. Pure.

The forecast: the `quantile` of the resolution clock's working time that similar solved cases (same reason
code, first priority and first team: `history_key`) took, from at least `min_cases` of them; minus the time this case has used, plus
`per_queued_case` for each open case of its team beyond `queue_baseline`, counted from when its owner next works
(now, or when their calendar opens). The history is read outside `rules/` and passed in (`Forecasts`); with too
few similar cases there is no forecast and the fixed thresholds alone decide. Fires once per cycle
(`forecast:<cycle>` in `CaseMemory.fired`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from rules import wording
from rules.calendar import ZERO
from rules.clock import ClockView
from rules.decision import CaseMemory, Reason, TimelineKind
from rules.effects import Effects
from rules.escalation import Push
from rules.facts import TicketFacts
from rules.schema import Rules

NO_REASON = "-"  # the history's key for cases without a reason code


@dataclass(frozen=True)
class Forecasts:
    """What the history says, computed outside the rules (at `computed_at`): per (reason code, priority, team),
    the resolution clock's working time each solved case took; and the open cases per team now."""

    computed_at: datetime
    resolved: Mapping[tuple[str, str, str], Sequence[timedelta]] = field(default_factory=dict)
    open_by_team: Mapping[str, int] = field(default_factory=dict)

    def similar(self, key: tuple[str, str, str]) -> Sequence[timedelta]:
        return self.resolved.get(key, ())


def history_key(reason: str | None, memory: CaseMemory) -> tuple[str, str, str]:
    """How the history files a case: its reason code, and the priority and team its clock started with (an
    escalation's raised priority is an outcome, not a likeness)."""
    first = memory.bases[0] if memory.bases else None
    team = first.team if first is not None else memory.team
    return reason or NO_REASON, first.priority if first is not None else "normal", team or NO_REASON


def quantile(values: Sequence[timedelta], q: float) -> timedelta:
    """The nearest-rank quantile: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class Forecast:
    """A forecast finish and what it rests on."""

    finish: datetime
    cases: int
    quantile: float
    typical: timedelta  # the quantile of the similar cases' times to resolve
    queued: int  # open cases in the team beyond the baseline
    starts: datetime  # when the owner next works (now, when working)


def forecast(ticket: TicketFacts, rules: Rules, view: ClockView, forecasts: Forecasts, team: str | None,
             now: datetime) -> Forecast | int:
    """The forecast finish of the case's resolution, or how many similar cases there were when too few."""
    cfg = rules.predictive
    assert cfg is not None
    run = view.runs["resolution"]
    sample = forecasts.similar(history_key(ticket.reason_code, view.memory))
    if len(sample) < cfg.min_cases:
        return len(sample)
    typical = quantile(sample, cfg.quantile)
    queued = max(forecasts.open_by_team.get(team or NO_REASON, 0) - cfg.queue_baseline, 0)
    remaining = max(typical - run.deadline.used, ZERO) + cfg.per_queued_case * queued
    state = view.memory.escalation
    person = rules.people.get(state.owner.key) if state is not None and state.owner is not None else None
    works = rules.calendar(person.calendar if person is not None and person.calendar else view.calendar)
    starts = works.next_open(now)
    finish = run.segments[-1].calendar.add(starts, remaining) if run.segments else starts + remaining
    return Forecast(finish, len(sample), cfg.quantile, typical, queued, starts)


def forecast_push(ticket: TicketFacts, rules: Rules, view: ClockView, forecasts: Forecasts | None,
                  team: str | None, now: datetime) -> tuple[Push | None, Effects]:
    """A climb when the forecast finish passes the deadline (once per cycle), and a reason saying why or why not."""
    cfg = rules.predictive
    res = view.resolution
    key = f"forecast:{view.cycle}"
    if (cfg is None or not cfg.enabled or forecasts is None or res is None or res.frozen or not view.running
            or view.paused(rules, "resolution") or key in view.memory.fired or res.deadline.due_at <= now):
        return None, Effects()
    made = forecast(ticket, rules, view, forecasts, team, now)
    if isinstance(made, int):
        text = wording.no_forecast(made, cfg.min_cases)
        return None, Effects(reasons=(Reason("predictive.min_cases", text, "resolution"),))
    owner_away = made.starts - now if made.starts > now else None
    text = wording.forecast(made.finish - now, made.cases, made.quantile, res.deadline.due_at - now,
                            made.queued, rules.team_title(team) if team else None, owner_away)
    if made.finish <= res.deadline.due_at:
        return None, Effects(reasons=(Reason("predictive", wording.forecast_in_time(text), "resolution"),))
    push = Push(now, key, TimelineKind.FORECAST, "forecast", "predictive", text, level=cfg.level,
                priority_rule="predictive.level")
    return push, Effects()
