"""Time budgets beyond the SLA thresholds: each holder's share of the resolution clock (OLAs), and escalation on a
forecast of when the case will be done (predictive)."""
from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from rules.schema.values import DURATION_HELP, Duration, Strict


class Ola(Strict):
    """Operational-level budgets: the resolution clock's working time one holder (a ladder level, a vendor team)
    may use; at `warn_percent` of it a note warns, past it the case climbs one level (`escalate`)."""

    enabled: bool = Field(True, description="false: no OLA warnings or escalations (time by holder is still shown)")
    budgets: dict[str, Duration] = Field({}, description="a table: a ladder level's name or a vendor team's key = "
                                                         + DURATION_HELP)
    warn_percent: float = Field(75, gt=0, lt=100, description="a percentage of a budget at which a note warns")
    escalate: bool = Field(True, description="false: an exhausted budget warns only")


class Predictive(Strict):
    """Escalate when the forecast finish passes the resolution deadline: the forecast is a quantile of how long
    similar cases (reason code, priority, team) took to resolve, from at least `min_cases` of them, stretched by
    the queue of the owner's team and by the owner's closed hours; with fewer cases the thresholds alone decide."""

    enabled: bool = Field(True, description="false: no predictive escalation")
    quantile: float = Field(0.8, gt=0, lt=1, description="the quantile of past times to resolve, e.g. 0.8")
    min_cases: int = Field(20, ge=1, description="how many similar solved cases a forecast needs")
    queue_baseline: int = Field(10, ge=0, description="the open cases a team usually has: the history's pace")
    per_queued_case: Duration = Field(timedelta(minutes=30), description="time added per open case in the owner's "
                                                                         "team beyond queue_baseline: " + DURATION_HELP)
    level: str | None = Field(None, description="a ladder level name to climb to (absent: one level up)")
