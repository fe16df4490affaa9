"""`slaclock simulate --rules NEW.toml`: the stored ticket histories through the current and the new rules, and
what changes: per ticket (routing, priority, due, escalations, customer messages, with examples), per decision at
a recorded event, and the KPIs side by side (reports/kpis.py on each replay's timelines).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, Sequence

from reports.history import report_options
from reports.kpis import KpiReport, Period, report
from rules import Rules
from rules.forecast import Forecasts
from rules.wording import count
from simulate.history import TicketHistory
from simulate.pool import replays
from simulate.replay import Outcome

# What a ticket's replay can change, in the order the diff prints them.
ASPECTS = ("routing", "priority", "due", "escalations", "customer messages")
EXAMPLES = 3  # example tickets shown per aspect


def _minute(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "none"


def _shown(rules: Rules, outcome: Outcome) -> dict[str, str]:
    """How a replay's outcome reads, per aspect (the due time to the minute: seconds of drift are no change)."""
    messages = len(outcome.messages)
    return {"routing": rules.team_title(outcome.team) if outcome.team else "none",
            "priority": outcome.priority or "none", "due": _minute(outcome.due_at),
            "escalations": " → ".join(outcome.levels) or "none",
            "customer messages": count(messages, "message")}


def _look(look) -> tuple:
    return look.team, look.priority, _minute(look.due_at), look.level, look.messages


@dataclass
class Comparison:
    """What the new rules change on the replayed histories."""

    histories: int = 0
    decisions: int = 0  # recorded events decided again (each once per rules set)
    decisions_changed: int = 0
    changed: dict[str, list[tuple[str, str, str]]] = field(default_factory=lambda: {a: [] for a in ASPECTS})
    kpis: dict[str, KpiReport] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"histories": self.histories, "decisions": self.decisions,
                "decisions_changed": self.decisions_changed,
                "changes": {aspect: {"tickets": len(rows), "examples": [
                    {"ticket": key, "current": before, "new": after} for key, before, after in rows[:EXAMPLES]]}
                    for aspect, rows in self.changed.items()},
                "kpis": {name: {**_kpis(k), "customer_messages": self.messages[name]} for name, k in self.kpis.items()}}


def _kpis(k: KpiReport) -> dict:
    return {"tickets": k.tickets, "breach_rate": k.breach_rate, "breaches_averted": k.breaches_averted,
            "escalations_per_1000": k.escalations_per_1000}


def compare(histories: Sequence[TicketHistory], current: Rules, new: Rules, period: Period,
            progress: Callable[[Iterable], Iterable] = lambda items: items,
            forecasts: Forecasts | None = None, jobs: int = 1) -> Comparison:
    """Replay each history through `current` and `new` up to `period.until` (on up to `jobs` processes); the KPIs
    of the cases opened in `period`, each with its own rules' stop statuses and update cadence. `forecasts`: for
    predictive rules."""
    out = Comparison()
    cases: dict[str, list] = {"current": [], "new": []}
    sent = {"current": 0, "new": 0}
    for history, (before, after) in progress(zip(histories, replays(histories, current, new, period.until,
                                                                     forecasts, jobs))):
        out.histories += 1
        out.decisions += len(before.looks)
        out.decisions_changed += sum(_look(a) != _look(b) for a, b in zip(before.looks, after.looks))
        then, now = _shown(current, before), _shown(new, after)
        for aspect in ASPECTS:
            if then[aspect] != now[aspect]:
                out.changed[aspect].append((history.key, then[aspect], now[aspect]))
        for name, outcome in (("current", before), ("new", after)):
            cases[name].append(outcome.case)
            sent[name] += len(outcome.messages)
    out.kpis = {"current": report(cases["current"], period, **report_options(current)),
                "new": report(cases["new"], period, **report_options(new))}
    out.messages = sent
    return out


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render(c: Comparison, current: str, new: str, fmt: str = "table") -> str:
    """The comparison as a terminal table (default) or one JSON document; `current` / `new` name the rules."""
    if fmt == "json":
        return json.dumps(c.to_json(), indent=2)
    lines = [f"{c.histories} ticket histories replayed ({c.decisions} recorded decisions) through {current} and {new}",
             f"decisions that change: {c.decisions_changed} of {c.decisions}"]
    width = max(len(a) for a in ASPECTS)
    for aspect, rows in c.changed.items():
        lines.append(f"  {aspect:<{width}}  {count(len(rows), 'ticket')}")
        lines += [f"    {key}: {before} → {after}" for key, before, after in rows[:EXAMPLES]]
    k = c.kpis
    rows = [("tickets", str(k["current"].tickets), str(k["new"].tickets)),
            ("breach rate", _rate(k["current"].breach_rate), _rate(k["new"].breach_rate)),
            ("breaches averted", str(k["current"].breaches_averted), str(k["new"].breaches_averted)),
            ("escalations per 1,000", *(f"{k[n].escalations_per_1000 or 0:g}" for n in ("current", "new"))),
            ("customer messages sent", str(c.messages["current"]), str(c.messages["new"]))]
    lines += ["", f"  {'KPI':<24}{'current':>10}{'new':>10}"]
    lines += [f"  {name:<24}{a:>10}{b:>10}" for name, a, b in rows]
    return "\n".join(lines)


def period_of(histories: list[TicketHistory], since: datetime | None, until: datetime) -> Period:
    """The KPIs' period: from `since` (default: the first ticket opened) to the replays' "now"."""
    first = min((h.opened_at for h in histories), default=until)
    return Period(since or first, until + timedelta(microseconds=1))
