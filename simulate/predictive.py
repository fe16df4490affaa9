"""Predictive escalation in the workload month: slaclock's example rules with `[predictive]` on, its forecasts
read from last month's solved tickets and this month's so far, every 5 simulated minutes (as the processor
does). `bench/outcome.py --predictive` and docs/simulation.md compare it with the fixed thresholds."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from rules import Rules
from rules.forecast import NO_REASON, Forecasts
from rules.schema.forecast import Predictive
from simulate.workload import Month, RulesPolicy, SimTicket, generate

REFRESH = timedelta(minutes=5)
LAST_MONTH = 1000  # last month's seed: this month's plus this


def solved_times(tickets: list[SimTicket]) -> dict[tuple[str, str, str], list[timedelta]]:
    """The resolution clock's working time (wall clock, paused time left out) of each solved ticket, filed as
    `rules.forecast.history_key` files a case: reason code, priority, team."""
    out: dict[tuple[str, str, str], list[timedelta]] = defaultdict(list)
    for t in tickets:
        if t.solved_at is not None:
            out[(t.reason or NO_REASON, t.priority, t.team)].append(t.solved_at - t.opened_at - t.paused)
    return out


def last_month(n: int, seed: int, rules: Rules) -> dict[tuple[str, str, str], list[timedelta]]:
    """The history a team would have: the same model's previous month under slaclock's example rules."""
    tickets = generate(n, seed + LAST_MONTH, rules)
    Month(tickets, RulesPolicy(rules)).run()
    return solved_times(tickets)


class MonthForecasts:
    """`RulesPolicy`'s forecasts hook: last month's history and this month's solved tickets so far, read again
    once `REFRESH` old."""

    def __init__(self, history: dict[tuple[str, str, str], list[timedelta]]) -> None:
        self.history = history
        self.current: Forecasts | None = None

    def __call__(self, month: Month, now: datetime) -> Forecasts:
        if self.current is None or now - self.current.computed_at >= REFRESH:
            resolved = {k: list(v) for k, v in self.history.items()}
            for key, times in solved_times(month.tickets).items():
                resolved.setdefault(key, []).extend(times)
            queues = Counter(t.team for t in month.tickets if t.opened_at <= now and t.solved_at is None)
            self.current = Forecasts(now, {k: tuple(sorted(v)) for k, v in resolved.items()}, dict(queues))
        return self.current


def predictive_policy(rules: Rules, history: dict[tuple[str, str, str], list[timedelta]]) -> RulesPolicy:
    """slaclock with `[predictive]` on (its defaults), forecasting from `history` and the month so far."""
    return RulesPolicy(rules.model_copy(update={"predictive": Predictive()}), MonthForecasts(history))
