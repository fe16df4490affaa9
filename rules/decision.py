"""What the rules engine answers (`Decision`, `Reason`, `Deadline`) and remembers (`CaseMemory`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

# Deadline states.
ACTIVE, PAUSED, STOPPED, BREACHED = "active", "paused", "stopped", "breached"


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Reason:
    """One rule that shaped the decision: its key path in the rules file and a sentence."""

    rule: str
    text: str
    field: str  # which decision field it sets: priority, team, due_at, tags, tier, calendar, <metric>


@dataclass(frozen=True)
class Deadline:
    """One metric's clock in one cycle: when it is due, on which calendar, under which rules."""

    metric: str  # first_response | next_update | resolution
    cycle: int  # 1 for the first; a reopening with on_reopen = "new_cycle" starts the next
    state: str  # active | paused | stopped | breached (running and past due)
    due_at: datetime
    started_at: datetime
    target: timedelta  # working time allowed
    used: timedelta  # working time counted up to `now` (or up to the stop)
    paused: timedelta  # working time the pauses took out of the clock (moved the deadline)
    calendar: str
    rules_version: str
    stopped_at: datetime | None = None
    rule: str = ""  # key path of the target in the rules file

    @property
    def paused_seconds(self) -> float:
        return self.paused.total_seconds()

    @property
    def met(self) -> bool | None:
        """For a stopped clock: stopped by the due time; None while it runs."""
        return None if self.stopped_at is None else self.stopped_at <= self.due_at

    @property
    def remaining(self) -> timedelta:
        """Working time left in the budget (negative once overrun)."""
        return self.target - self.used

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "cycle": self.cycle, "state": self.state,
            "due_at": _iso(self.due_at), "started_at": _iso(self.started_at),
            "target_seconds": self.target.total_seconds(), "used_seconds": self.used.total_seconds(),
            "paused_seconds": self.paused.total_seconds(), "calendar": self.calendar,
            "rules_version": self.rules_version, "stopped_at": _iso(self.stopped_at), "rule": self.rule,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Deadline":
        return cls(
            metric=data["metric"], cycle=int(data["cycle"]), state=data["state"],
            due_at=_instant(data["due_at"]), started_at=_instant(data["started_at"]),
            target=timedelta(seconds=data["target_seconds"]), used=timedelta(seconds=data["used_seconds"]),
            paused=timedelta(seconds=data["paused_seconds"]), calendar=data["calendar"],
            rules_version=data["rules_version"], stopped_at=_instant(data.get("stopped_at")),
            rule=data.get("rule", ""),
        )


@dataclass(frozen=True)
class StatusChange:
    """The ticket was seen entering `status` at `at`."""

    at: datetime
    status: str


@dataclass(frozen=True)
class BasisChange:
    """From `at` on, the clock runs for this priority, tier, team and calendar.

    `mode` says how the change treated the running clock: "start" (the first basis),
    "rederive" (count again from the cycle start) or "carry" (keep the working time used).
    """

    at: datetime
    priority: str
    tier: str | None
    team: str | None
    calendar: str
    mode: str = "start"

    def same_basis(self, other: "BasisChange") -> bool:
        return (self.priority, self.tier, self.team, self.calendar) == (
            other.priority, other.tier, other.team, other.calendar)


@dataclass(frozen=True)
class CaseMemory:
    """What slaclock remembers about a ticket between decisions (the store keeps it as JSON).

    Pauses and cycles are rebuilt from `statuses` on every decision (not kept as counters);
    `results` freezes each stopped clock with the rules version and calendar it used.
    """

    routed_reason_code: str | None = None
    routed: bool = False
    team: str | None = None  # the team slaclock last routed to
    statuses: tuple[StatusChange, ...] = ()
    bases: tuple[BasisChange, ...] = ()
    first_reply_at: datetime | None = None  # first public agent reply
    last_reply_at: datetime | None = None  # latest public agent reply
    results: tuple[Deadline, ...] = ()  # stopped clocks, one per (metric, cycle), frozen
    seen_at: datetime | None = None  # `now` of the last decision

    @property
    def last_status(self) -> str | None:
        return self.statuses[-1].status if self.statuses else None

    def result(self, metric: str, cycle: int) -> Deadline | None:
        """The frozen result of one metric in one cycle, if it stopped."""
        return next((d for d in self.results if d.metric == metric and d.cycle == cycle), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "routed_reason_code": self.routed_reason_code,
            "routed": self.routed,
            "team": self.team,
            "statuses": [{"at": _iso(s.at), "status": s.status} for s in self.statuses],
            "bases": [{"at": _iso(b.at), "priority": b.priority, "tier": b.tier, "team": b.team,
                       "calendar": b.calendar, "mode": b.mode} for b in self.bases],
            "first_reply_at": _iso(self.first_reply_at),
            "last_reply_at": _iso(self.last_reply_at),
            "results": [d.to_json() for d in self.results],
            "seen_at": _iso(self.seen_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "CaseMemory":
        """Read what `to_json` wrote; keys missing from older memories take their defaults."""
        data = data or {}
        return cls(
            routed_reason_code=data.get("routed_reason_code"),
            routed=bool(data.get("routed", False)),
            team=data.get("team"),
            statuses=tuple(StatusChange(_instant(s["at"]), s["status"]) for s in data.get("statuses", ())),
            bases=tuple(BasisChange(_instant(b["at"]), b["priority"], b.get("tier"), b.get("team"),
                                    b["calendar"], b.get("mode", "start")) for b in data.get("bases", ())),
            first_reply_at=_instant(data.get("first_reply_at")),
            last_reply_at=_instant(data.get("last_reply_at")),
            results=tuple(Deadline.from_json(d) for d in data.get("results", ())),
            seen_at=_instant(data.get("seen_at")),
        )

    def evolve(self, **changes: Any) -> "CaseMemory":
        return replace(self, **changes)


@dataclass(frozen=True)
class Decision:
    """The state the rules want the ticket in, with the reasons and inputs that led there."""

    priority: str
    team: str | None
    group_id: str | None
    assignee_id: str | None
    due_at: datetime  # the resolution deadline (= deadlines["resolution"].due_at)
    tags_add: frozenset[str] = frozenset()
    tags_remove: frozenset[str] = frozenset()
    escalated: bool = False
    reasons: tuple[Reason, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    rules_version: str = ""
    memory: CaseMemory = CaseMemory()
    deadlines: Mapping[str, Deadline] = field(default_factory=dict)  # per metric, current cycle
    tier: str | None = None
    calendar: str | None = None  # the calendar the clock runs on now

    def reasons_for(self, field_name: str) -> list[Reason]:
        """The reasons that set one decision field."""
        return [r for r in self.reasons if r.field == field_name]
