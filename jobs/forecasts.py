"""The history behind predictive escalation (`rules.forecast`), read from the store at most every few minutes."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Iterable

from rules.decision import CaseMemory, DeadlineState
from rules.forecast import NO_REASON, Forecasts, history_key
from rules.schema import Rules
from store import Store
from store.rows import Case

REFRESH = timedelta(minutes=5)


def forecasts_from(cases: Iterable[Case], stop: frozenset[str], now: datetime) -> Forecasts:
    """Per (reason code, first priority, first team), the working time each solved case's first resolution took;
    and the open cases per team."""
    resolved: dict[tuple[str, str, str], list[timedelta]] = defaultdict(list)
    open_by_team: Counter[str] = Counter()
    for case in cases:
        memory, snapshot = CaseMemory.from_json(case.memory), case.snapshot or {}
        if snapshot.get("status") not in stop:
            open_by_team[case.team or NO_REASON] += 1
        first = next((d for d in memory.results if d.metric == "resolution" and d.cycle == 1
                      and d.state != DeadlineState.UNMEASURED), None)
        if first is not None and first.stopped_at is not None and first.stopped_at <= now:
            resolved[history_key(snapshot.get("reason_code"), memory)].append(first.used)
    return Forecasts(now, {k: tuple(sorted(v)) for k, v in resolved.items()}, dict(open_by_team))


class ForecastCache:
    """`Forecasts` for the processor's decisions, computed again once `REFRESH` old (None: predictive is off)."""

    def __init__(self, store: Store, rules: Rules, refresh: timedelta = REFRESH):
        self.store, self.rules, self.refresh = store, rules, refresh
        self.current: Forecasts | None = None

    def at(self, now: datetime) -> Forecasts | None:
        cfg = self.rules.predictive
        if cfg is None or not cfg.enabled:
            return None
        if self.current is None or not self.current.computed_at <= now < self.current.computed_at + self.refresh:
            self.current = forecasts_from(self.store.cases(), frozenset(self.rules.sla.stop_statuses), now)
        return self.current


