"""The escalation sections of the rules file: people, rotas, thresholds, ladders, milestones, account managers."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from rules.schema.guards import EscalationRequest
from rules.schema.values import (DURATION_HELP, METRICS, SHIFTS_HELP, ClimbClock, DayOverride, Duration, IdText,
                                 Placeholders, Priority, Shifts, Strict, TimeZoneName, compact_duration)

# Placeholders the milestone templates may use.
TEMPLATE_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "opened_at", "due_at", "after",
                                    "team", "account_manager", "escalation_owner")
Template = Annotated[str, BeforeValidator(Placeholders(TEMPLATE_FIELDS))]


class Person(Strict):
    """Someone slaclock can name: an escalation owner, a follower, an account manager."""

    name: str | None = Field(None, description="the name shown in notes (default: the key)")
    zendesk: IdText | None = Field(None, description="the person's Zendesk user id (text)")
    jira: IdText | None = Field(None, description="the person's Jira account id (text)")
    email: str | None = Field(None, description="an e-mail address, for notifications outside the helpdesk")
    alerts: list[str] = Field([], description="a list of channel names from [alerts.channels] this person's alerts "
                                              "go to (empty: none)")
    calendar: str | None = Field(None, description="a calendar name from [calendars]: their quiet hours are when it "
                                                   "is closed (absent: alerts at any time)")


class RotaWeek(Strict):
    key_kind = "weekday"
    mon: Shifts = Field([], description=SHIFTS_HELP)
    tue: Shifts = Field([], description=SHIFTS_HELP)
    wed: Shifts = Field([], description=SHIFTS_HELP)
    thu: Shifts = Field([], description=SHIFTS_HELP)
    fri: Shifts = Field([], description=SHIFTS_HELP)
    sat: Shifts = Field([], description=SHIFTS_HELP)
    sun: Shifts = Field([], description=SHIFTS_HELP)


class Rota(Strict):
    """A weekly on-call rota in local wall time of its zone, with date overrides."""

    timezone: TimeZoneName = Field(description="an IANA time zone like Europe/Berlin")
    weekly: RotaWeek = Field(RotaWeek(), description="a table of weekdays mon..sun, each a table of shifts")
    overrides: dict[date, DayOverride] = Field(
        {}, description=f"a table date = person name (the whole day) or {SHIFTS_HELP}")
    fallback: str | None = Field(None, description="a person name from [people], on call when no shift matches")


_PERCENT_HELP = "a number of percent of the target, greater than 0 (100 = the deadline itself)"


class Threshold(Strict):
    """A point of a metric's working-time budget: a percentage of the target and/or a lead time."""

    percent: float | None = Field(None, gt=0, le=1000, description=_PERCENT_HELP)
    before: Duration | None = Field(None, description=f"working time left before the deadline: {DURATION_HELP}")
    level: str | None = Field(None, description="a ladder level name to climb to (absent: a warning)")
    name: str | None = Field(None, description="the key of this threshold (default: the percent, or before_<lead>)")
    tags: list[str] = Field([], description="a list of ticket tags to add when it fires")
    note: bool = Field(True, description="true to write an internal note when it fires")

    @model_validator(mode="after")
    def _percent_or_before(self) -> "Threshold":
        if self.percent is None and self.before is None:
            raise ValueError("got neither percent nor before; expected percent = 75 and/or before = \"2h\"")
        return self

    @property
    def label(self) -> str:
        """The threshold part of the fired key: `75`, `before_2h`, `75_or_before_2h`, or `name`."""
        if self.name:
            return self.name
        parts = []
        if self.percent is not None:
            parts.append(f"{self.percent:g}")
        if self.before is not None:
            parts.append("before_" + compact_duration(self.before))
        return "_or_".join(parts)

    @property
    def is_breach(self) -> bool:
        return self.percent == 100 and self.before is None


_THRESHOLDS_HELP = "a list of thresholds like { percent = 75, level = \"specialist\" }"


class Thresholds(Strict):
    key_kind = "metric"
    first_response: list[Threshold] = Field([], description=_THRESHOLDS_HELP)
    next_update: list[Threshold] = Field([], description=_THRESHOLDS_HELP)
    next_reply: list[Threshold] = Field([], description=_THRESHOLDS_HELP)
    resolution: list[Threshold] = Field([], description=_THRESHOLDS_HELP)

    @model_validator(mode="after")
    def _unique_labels(self) -> "Thresholds":
        for metric in METRICS:
            seen: set[str] = set()
            for t in getattr(self, metric):
                if t.label in seen:
                    raise ValueError(f"{metric}: two thresholds named {t.label}; expected each once "
                                     "(give one a name)")
                seen.add(t.label)
        return self


class LadderLevel(Strict):
    """One rung of an escalation ladder: who takes the case and what changes on the ticket."""

    name: str = Field(description="the level's key, named by thresholds, e.g. specialist")
    title: str | None = Field(None, description="the name shown in notes, e.g. \"L2 specialist\"")
    team: str | None = Field(None, description="a team name from [teams]: its helpdesk group takes the case")
    person: str | None = Field(None, description="a person name from [people]: the escalation owner")
    rota: str | None = Field(None, description="a rota name from [rotas]: whoever is on call owns the case")
    owner: str | None = Field(None, description="a person name from [people]: the owner when no person or "
                                                 "nobody on call")
    priority: Priority | None = Field(None, description="a priority from low, normal, high, urgent to raise to "
                                                        "(never lowered)")
    tags: list[str] = Field([], description="a list of ticket tags to add")
    followers: list[str] = Field([], description="a list of person names from [people] to add as followers")
    climb_after: Duration | None = Field(None, description=f"climb on when no agent replies within: {DURATION_HELP}")
    climb_clock: ClimbClock = Field("calendar", description='"calendar" (the ticket\'s working time) or "wall"')


class Ladder(Strict):
    title: str | None = Field(None, description="the name shown in notes")
    levels: list[LadderLevel] = Field(description="an array of tables [[ladders.<name>.levels]], the first "
                                                  "being where every case starts")

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[LadderLevel]) -> list[LadderLevel]:
        if len(levels) < 2:
            got = "1 level" if len(levels) == 1 else "no levels"
            raise ValueError(f"got {got}; expected at least 2 (the first is where a case starts)")
        names = [lv.name for lv in levels]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"got level {', '.join(twice)} more than once; expected unique level names")
        return levels


class Escalation(Strict):
    tag: str = Field("slaclock_escalate", description="a ticket tag")
    ladder: str | None = Field(None, description="a ladder name from [ladders]: the default ladder")
    thresholds: Thresholds = Field(Thresholds(), description="a table per metric of threshold lists")
    request: EscalationRequest | None = Field(None, description="a table: what an agent's escalation request must "
                                                                "carry (absent: nothing)")


# Placeholders the milestone templates may use.
class TechLeadMilestone(Strict):
    """Seed 001: a case unresolved after a while asks the tech leads for a linked follow-up ticket."""

    priorities: list[Priority] = Field(["urgent"], description="a list of priorities it applies to")
    after: Duration = Field(timedelta(minutes=60), description=DURATION_HELP)
    clock: ClimbClock = Field("wall", description='"wall" (since the case opened) or "calendar" (working time '
                                                  'used, pauses excluded)')
    team: str = Field(description="a team name from [teams]: its group receives the follow-up ticket")
    priority: Priority | None = Field(None, description="the follow-up's priority (default: the case's)")
    subject: Template = Field("Tech lead needed: {subject} ({ticket})", description="a text template")
    body: Template = Field("{ticket} ({priority}) is unresolved after {after}; due {due_at}.",
                           description="a text template")
    notify_account_manager: bool = Field(True, description="true to notify the account manager")
    notify_text: Template = Field("{ticket} ({priority}) is unresolved after {after}; tech leads engaged.",
                                  description="a text template")


class QueuedMilestone(Strict):
    """Seed 001: a case arriving outside business hours is queued for the next business morning."""

    priorities: list[Priority] = Field(["low", "normal", "high"], description="a list of priorities it applies to")
    tag: str = Field("slaclock_queued", description="a ticket tag")
    note: bool = Field(True, description="true to write a note saying when the first-response clock starts")


class Milestones(Strict):
    tech_lead: TechLeadMilestone | None = None
    queued: QueuedMilestone | None = None


class AccountManagers(Strict):
    """Who hears about a milestone: by organization, else by tier, else the default."""

    default: str | None = Field(None, description="a person name from [people]")
    tiers: dict[str, str] = Field({}, description="a table tier name = person name")
    organizations: dict[str, str] = Field({}, description="a table organization id = person name")
