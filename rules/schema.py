"""The rules file: TOML, validated by pydantic; every error names file, key path, value, what is allowed."""
from __future__ import annotations

import json
import re
import string
import tomllib
import types
import typing
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo,
                      field_validator, model_validator)
from pydantic.fields import FieldInfo

from rules.calendar import ALWAYS_OPEN, DAY_SECONDS, WEEKDAYS, WorkCalendar, format_interval

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
METRICS: tuple[str, ...] = ("first_response", "next_update", "resolution")
# The normalised ticket statuses (connectors.model.STATUSES; rules/ must not import connectors).
STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")
Status = Literal["new", "open", "pending", "hold", "solved", "closed"]
Mode = Literal["rederive", "carry"]
EXAMPLE_RULES = Path(__file__).with_name("rules.example.toml")
BUILTIN_CALENDAR = ALWAYS_OPEN.name  # "24x7": always there, may be redefined in the file


class RulesError(ValueError):
    """The rules file is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


# --- value types ------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+)s)?$")
DURATION_HELP = 'a positive number of hours or a duration like "30m", "4h", "1h30m", "7d" (d = 24 working hours)'


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(hours=value)
    elif isinstance(value, str) and value and (m := _DURATION.match(value.strip())):
        d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
        result = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    else:
        raise ValueError(f"got {_show(value)}; expected {DURATION_HELP}")
    if result <= timedelta(0):
        raise ValueError(f"got {_show(value)}; expected {DURATION_HELP}")
    return result


_INTERVAL = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
INTERVAL_HELP = '"HH:MM-HH:MM" with start before end, end may be 24:00'


def _interval(value: Any) -> tuple[int, int]:
    if isinstance(value, tuple):
        return value
    m = _INTERVAL.match(value.strip()) if isinstance(value, str) else None
    if m:
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if h1 < 24 and m1 < 60 and m2 < 60 and end <= DAY_SECONDS and start < end:
            return start, end
    raise ValueError(f"got {_show(value)}; expected {INTERVAL_HELP}")


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"got {_show(value)}; expected an IANA time zone like Europe/Berlin, "
                         "America/New_York, Australia/Adelaide, UTC") from None
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Interval = Annotated[tuple[int, int], BeforeValidator(_interval)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


# --- models -----------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # What an unknown key in this table is called in error messages.
    key_kind: typing.ClassVar[str] = "key"


class MetricTargets(_Strict):
    """The targets of one priority, per metric (absent: not measured at this priority)."""

    key_kind = "metric"
    first_response: Duration | None = Field(None, description=DURATION_HELP)
    next_update: Duration | None = Field(None, description=DURATION_HELP)
    resolution: Duration | None = Field(None, description=DURATION_HELP)


class TargetsByPriority(_Strict):
    key_kind = "priority"
    low: MetricTargets | None = Field(None, description="a table of metric targets")
    normal: MetricTargets | None = Field(None, description="a table of metric targets")
    high: MetricTargets | None = Field(None, description="a table of metric targets")
    urgent: MetricTargets | None = Field(None, description="a table of metric targets")


_SEED_002 = TargetsByPriority(  # seed 002: SLA to resolve
    urgent=MetricTargets(resolution=timedelta(hours=4)), high=MetricTargets(resolution=timedelta(hours=24)),
    normal=MetricTargets(resolution=timedelta(hours=72)), low=MetricTargets(resolution=timedelta(hours=168)))


class HoursByPriority(_Strict):
    """v1 form `[sla.resolution_hours]`: resolution targets in hours."""

    key_kind = "priority"
    low: Duration = Field(timedelta(hours=168), description=DURATION_HELP)
    normal: Duration = Field(timedelta(hours=72), description=DURATION_HELP)
    high: Duration = Field(timedelta(hours=24), description=DURATION_HELP)
    urgent: Duration = Field(timedelta(hours=4), description=DURATION_HELP)


class CalendarByPriority(_Strict):
    key_kind = "priority"
    low: str | None = Field(None, description="a calendar name from [calendars]")
    normal: str | None = Field(None, description="a calendar name from [calendars]")
    high: str | None = Field(None, description="a calendar name from [calendars]")
    urgent: str | None = Field(None, description="a calendar name from [calendars]")


class MetricOptions(_Strict):
    pause_statuses: list[Status] | None = Field(
        None, description=f"a list of statuses from {', '.join(STATUSES)} (default: sla.pause_statuses)")


class MetricsOptions(_Strict):
    key_kind = "metric"
    first_response: MetricOptions = MetricOptions()
    next_update: MetricOptions = MetricOptions()
    resolution: MetricOptions = MetricOptions()


_MODE_HELP = '"rederive" (count again from the cycle start with the new target) or "carry" (keep the working time used)'


class Recompute(_Strict):
    """What happens to a running clock when its basis changes (default: seed 002, rederive)."""

    priority: Mode = Field("rederive", description=_MODE_HELP)
    tier: Mode = Field("rederive", description=_MODE_HELP)
    calendar: Mode = Field("rederive", description=_MODE_HELP)
    team: Mode = Field("rederive", description=_MODE_HELP)


class Sla(_Strict):
    default_calendar: str = Field(BUILTIN_CALENDAR, description="a calendar name from [calendars]")
    calendar_by_priority: CalendarByPriority = CalendarByPriority()
    targets: TargetsByPriority = Field(_SEED_002, description="a table per priority: urgent, high, normal, low")
    resolution_hours: HoursByPriority | None = None
    metrics: MetricsOptions = MetricsOptions()
    pause_statuses: list[Status] = Field(["pending", "hold"], description=f"a list of statuses from {', '.join(STATUSES)}")
    stop_statuses: list[Status] = Field(["solved", "closed"], description=f"a list of statuses from {', '.join(STATUSES)}")
    on_reopen: Literal["resume", "new_cycle"] = Field(
        "resume", description='"resume" (the same cycle goes on) or "new_cycle" (a fresh budget from the reopening)')
    recompute: Recompute = Recompute()
    tier_field: str | None = Field(None, description="a helpdesk custom field id whose value names the tier")
    default_tier: str | None = Field(None, description="a tier name from [tiers]")

    @model_validator(mode="after")
    def _pause_is_not_stop(self) -> "Sla":
        stop = set(self.stop_statuses)
        lists = [("pause_statuses", self.pause_statuses)] + [
            (f"metrics.{m}.pause_statuses", getattr(self.metrics, m).pause_statuses or []) for m in METRICS]
        for key, statuses in lists:
            both = sorted(stop & set(statuses))
            if both:
                raise ValueError(f"{key}: got {', '.join(both)}, also in stop_statuses; expected a status "
                                 "that pauses or stops, not both")
        return self

    def resolution_targets_v1(self) -> TargetsByPriority | None:
        """`[sla.resolution_hours]` (v1) as targets, when the file uses that form."""
        if self.resolution_hours is None:
            return None
        hours = self.resolution_hours
        return TargetsByPriority(**{p: MetricTargets(resolution=getattr(hours, p)) for p in PRIORITIES})


class HolidaySource(_Strict):
    country: str = Field(description="an ISO 3166 country code supported by the holidays package, e.g. DE, US, AU")
    subdivision: str | None = Field(None, description="a subdivision code of the country, e.g. BE, NY, SA")

    @field_validator("country")
    @classmethod
    def _country(cls, country: str) -> str:
        if country not in holidays_lib.list_supported_countries():
            raise ValueError(f"got {_show(country)}; expected an ISO 3166 code supported by the holidays "
                             "package, e.g. AU, CL, DE, IN, NP, US")
        return country

    @field_validator("subdivision")
    @classmethod
    def _subdivision(cls, subdivision: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        allowed = holidays_lib.list_supported_countries().get(country) if country else None
        if subdivision is not None and allowed is not None and subdivision not in allowed:
            shown = ", ".join(allowed) if allowed else f"none ({country} has no subdivisions)"
            raise ValueError(f"got {_show(subdivision)}; expected one of {shown}")
        return subdivision


_DAY_HELP = f"a list of working intervals {INTERVAL_HELP}, e.g. [\"08:00-12:00\", \"13:00-17:00\"]"


class WeeklyHours(_Strict):
    key_kind = "weekday"
    mon: list[Interval] = Field([], description=_DAY_HELP)
    tue: list[Interval] = Field([], description=_DAY_HELP)
    wed: list[Interval] = Field([], description=_DAY_HELP)
    thu: list[Interval] = Field([], description=_DAY_HELP)
    fri: list[Interval] = Field([], description=_DAY_HELP)
    sat: list[Interval] = Field([], description=_DAY_HELP)
    sun: list[Interval] = Field([], description=_DAY_HELP)

    @field_validator(*WEEKDAYS)
    @classmethod
    def _disjoint(cls, intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return _check_disjoint(intervals)

    def days(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Monday-first intervals per weekday."""
        return tuple(tuple(getattr(self, d)) for d in WEEKDAYS)


def _check_disjoint(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ordered = sorted(intervals)
    for a, b in zip(ordered, ordered[1:]):
        if b[0] < a[1]:
            raise ValueError(f"got {format_interval(a)} and {format_interval(b)}, which overlap; "
                             "expected intervals that do not overlap")
    return ordered


class CalendarSpec(_Strict):
    timezone: TimeZoneName = Field(description="an IANA time zone like Europe/Berlin")
    always_open: bool = Field(False, description="true for a 24×7 calendar")
    hours: WeeklyHours | None = Field(None, description="a table of weekdays mon..sun")
    holidays: HolidaySource | None = Field(None, description="a table with country and optional subdivision")
    closures: list[date] = Field([], description="a list of dates (2026-12-24) on which the calendar is closed")
    extra_working_days: dict[date, list[Interval]] = Field(
        {}, description=f"a table date = {_DAY_HELP}")

    @field_validator("extra_working_days")
    @classmethod
    def _days_disjoint(cls, days: dict[date, list[tuple[int, int]]]) -> dict[date, list[tuple[int, int]]]:
        for day, intervals in days.items():
            if not intervals:
                raise ValueError(f"{day.isoformat()}: got []; expected at least one interval (a closed date "
                                 "belongs in closures)")
            _check_disjoint(intervals)
        return {d: sorted(iv) for d, iv in days.items()}

    @model_validator(mode="after")
    def _hours_or_always(self) -> "CalendarSpec":
        if self.always_open and self.hours is not None:
            raise ValueError("got both hours and always_open = true; expected one of them")
        if not self.always_open and (self.hours is None or not any(self.hours.days())):
            raise ValueError("no working hours; expected [calendars.<name>.hours] with at least one "
                             "interval, or always_open = true")
        return self

    def build(self, name: str) -> WorkCalendar:
        """The runtime calendar for this section."""
        return WorkCalendar(
            name, self.timezone, self.hours.days() if self.hours else ((),) * 7,
            always_open=self.always_open,
            holiday_country=self.holidays.country if self.holidays else None,
            holiday_subdivision=self.holidays.subdivision if self.holidays else None,
            closures=frozenset(self.closures),
            extra_working_days={d: tuple(iv) for d, iv in self.extra_working_days.items()},
        )


class Tier(_Strict):
    organizations: list[str] = Field([], description="a list of helpdesk organization ids")
    tags: list[str] = Field([], description="a list of ticket tags")
    calendar: str | None = Field(None, description="a calendar name from [calendars]")
    calendar_by_priority: CalendarByPriority = CalendarByPriority()
    targets: TargetsByPriority = Field(TargetsByPriority(), description="a table per priority, as sla.targets")
    priority_floor: Priority | None = Field(None, description="a priority from low, normal, high, urgent: the "
                                                              "tier's cases never run below it (seed 003: "
                                                              "high-value account)")
    customer_updates: bool = Field(True, description="false: no proactive customer updates for this tier")

    @field_validator("organizations", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Organization ids are numbers in Zendesk; accept 9001 as well as "9001".
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


class Routing(_Strict):
    default_team: str = Field("support", description="a team name from [teams]")
    reason_codes: dict[str, str] = Field({}, description="a table reason_code = team name")


class HelpdeskTarget(_Strict):
    group_id: str | None = Field(None, description="a helpdesk group id (text)")
    assignee_id: str | None = Field(None, description="a helpdesk user id (text)")


TeamKind = Literal["internal", "vendor"]


class Team(_Strict):
    zendesk: HelpdeskTarget | None = None
    jira: HelpdeskTarget | None = None
    calendar: str | None = Field(None, description="a calendar name from [calendars]")
    ladder: str | None = Field(None, description="a ladder name from [ladders] (default: escalation.ladder)")
    kind: TeamKind = Field("internal", description='"internal" or "vendor" (a case sent there asks the vendor for '
                                                   'capacity and an ETA: [vendor])')
    title: str | None = Field(None, description="the name shown in notes and customer messages (default: the key)")
    customer_updates: bool = Field(True, description="false: no proactive customer updates while this team has "
                                                     "the case")


# --- escalation: people, rotas, ladders, thresholds, milestones --------------------------

def _id_text(value: Any) -> Any:
    # Helpdesk user ids are numbers in Zendesk; accept 3101 as well as "3101".
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IdText = Annotated[str, BeforeValidator(_id_text)]
CONNECTORS: tuple[str, ...] = ("zendesk", "jira")


class Person(_Strict):
    """Someone slaclock can name: an escalation owner, a follower, an account manager."""

    name: str | None = Field(None, description="the name shown in notes (default: the key)")
    zendesk: IdText | None = Field(None, description="the person's Zendesk user id (text)")
    jira: IdText | None = Field(None, description="the person's Jira account id (text)")
    email: str | None = Field(None, description="an e-mail address, for notifications outside the helpdesk")


_SHIFTS_HELP = f'a table "HH:MM-HH:MM" = person name, e.g. {{ "08:00-20:00" = "erik" }} ({INTERVAL_HELP})'


def _shifts(value: Any) -> list[tuple[int, int, str]]:
    if isinstance(value, list) and all(isinstance(v, tuple) for v in value):  # already parsed
        return value
    if not isinstance(value, dict):
        raise ValueError(f"got {_show(value)}; expected {_SHIFTS_HELP}")
    shifts = []
    for span, person in value.items():
        start, end = _interval(span)
        if not isinstance(person, str):
            raise ValueError(f"{span}: got {_show(person)}; expected a person name from [people]")
        shifts.append((start, end, person))
    _check_disjoint([(a, b) for a, b, _ in shifts])
    return sorted(shifts)


Shifts = Annotated[list[tuple[int, int, str]], BeforeValidator(_shifts)]


class RotaWeek(_Strict):
    key_kind = "weekday"
    mon: Shifts = Field([], description=_SHIFTS_HELP)
    tue: Shifts = Field([], description=_SHIFTS_HELP)
    wed: Shifts = Field([], description=_SHIFTS_HELP)
    thu: Shifts = Field([], description=_SHIFTS_HELP)
    fri: Shifts = Field([], description=_SHIFTS_HELP)
    sat: Shifts = Field([], description=_SHIFTS_HELP)
    sun: Shifts = Field([], description=_SHIFTS_HELP)


def _override(value: Any) -> Any:
    # A date's override: one person for the whole day, or shifts that replace those hours.
    if isinstance(value, str):
        return [(0, DAY_SECONDS, value)]
    return _shifts(value)


class Rota(_Strict):
    """A weekly on-call rota in local wall time of its zone, with date overrides."""

    timezone: TimeZoneName = Field(description="an IANA time zone like Europe/Berlin")
    weekly: RotaWeek = Field(RotaWeek(), description="a table of weekdays mon..sun, each a table of shifts")
    overrides: dict[date, Annotated[list[tuple[int, int, str]], BeforeValidator(_override)]] = Field(
        {}, description=f"a table date = person name (the whole day) or {_SHIFTS_HELP}")
    fallback: str | None = Field(None, description="a person name from [people], on call when no shift matches")


_PERCENT_HELP = "a number of percent of the target, greater than 0 (100 = the deadline itself)"


class Threshold(_Strict):
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


def compact_duration(duration: timedelta) -> str:
    """timedelta(hours=1, minutes=30) → '1h30m' (the rules-file form)."""
    seconds = int(duration.total_seconds())
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


_THRESHOLDS_HELP = "a list of thresholds like { percent = 75, level = \"specialist\" }"


class Thresholds(_Strict):
    key_kind = "metric"
    first_response: list[Threshold] = Field([], description=_THRESHOLDS_HELP)
    next_update: list[Threshold] = Field([], description=_THRESHOLDS_HELP)
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


ClimbClock = Literal["calendar", "wall"]


class LadderLevel(_Strict):
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


class Ladder(_Strict):
    title: str | None = Field(None, description="the name shown in notes")
    levels: list[LadderLevel] = Field(description="an array of tables [[ladders.<name>.levels]], the first "
                                                  "being where every case starts")

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[LadderLevel]) -> list[LadderLevel]:
        if len(levels) < 2:
            raise ValueError(f"got {len(levels)} level(s); expected at least 2 (the first is where a case starts)")
        names = [lv.name for lv in levels]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"got level {', '.join(twice)} more than once; expected unique level names")
        return levels


class Escalation(_Strict):
    tag: str = Field("slaclock_escalate", description="a ticket tag")
    ladder: str | None = Field(None, description="a ladder name from [ladders]: the default ladder")
    thresholds: Thresholds = Field(Thresholds(), description="a table per metric of threshold lists")


# Placeholders the milestone templates may use.
TEMPLATE_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "opened_at", "due_at", "after",
                                    "team", "account_manager", "escalation_owner")


def _check_template(value: Any, fields: tuple[str, ...]) -> Any:
    if not isinstance(value, str):
        return value
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as e:
        raise ValueError(f"got {_show(value)}: {e}; expected text with {{placeholders}}") from None
    unknown = sorted(n for n in names if n not in fields)
    if unknown:
        raise ValueError(f"got placeholder {{{unknown[0]}}}; expected one of "
                         f"{', '.join('{' + f + '}' for f in fields)}")
    return value


def _template(value: Any) -> Any:
    return _check_template(value, TEMPLATE_FIELDS)


def template_of(fields: tuple[str, ...]) -> Any:
    """A text type whose {placeholders} must be among `fields` (an unknown one is a validation error)."""
    return Annotated[str, BeforeValidator(lambda value: _check_template(value, fields))]


Template = Annotated[str, BeforeValidator(_template)]


class TechLeadMilestone(_Strict):
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


class QueuedMilestone(_Strict):
    """Seed 001: a case arriving outside business hours is queued for the next business morning."""

    priorities: list[Priority] = Field(["low", "normal", "high"], description="a list of priorities it applies to")
    tag: str = Field("slaclock_queued", description="a ticket tag")
    note: bool = Field(True, description="true to write a note saying when the clock starts")


class Milestones(_Strict):
    tech_lead: TechLeadMilestone | None = None
    queued: QueuedMilestone | None = None


class AccountManagers(_Strict):
    """Who hears about a milestone: by organization, else by tier, else the default."""

    default: str | None = Field(None, description="a person name from [people]")
    tiers: dict[str, str] = Field({}, description="a table tier name = person name")
    organizations: dict[str, str] = Field({}, description="a table organization id = person name")


# --- people around the case: vendors, customers, triggers, roles, recurring issues ------------

def _field_ref(value: Any) -> Any:
    # One id for every helpdesk ("360010", 360010) or a table per connector.
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return {"*": str(value)}
    if isinstance(value, dict):
        unknown = sorted(k for k in value if k not in CONNECTORS and k != "*")
        if unknown:
            raise ValueError(f"got connector {_show(unknown[0])}; expected {FIELD_HELP}")
        return {k: _id_text(v) for k, v in value.items()}
    raise ValueError(f"got {_show(value)}; expected {FIELD_HELP}")


FIELD_HELP = ('a helpdesk custom field id ("360010"), or a table per connector '
              '{ zendesk = "360010", jira = "customfield_10061" }')
FieldRef = Annotated[dict[str, str], BeforeValidator(_field_ref)]


def field_id(ref: dict[str, str] | None, connector: str) -> str | None:
    """The custom field id `ref` names in one helpdesk (None: not configured there)."""
    if not ref:
        return None
    return ref.get(connector) or ref.get("*")


def field_value(ticket: Any, ref: dict[str, str] | None) -> Any:
    """The ticket's value of the custom field `ref` names (None when absent or not configured).

    A Jira option (`{"value": "yes"}`) reads as its value.
    """
    fid = field_id(ref, getattr(ticket, "connector", ""))
    value = (getattr(ticket, "custom_fields", None) or {}).get(fid) if fid else None
    if isinstance(value, dict):
        value = value.get("value", value.get("name"))
    return value


# Placeholders of the vendor loop's texts.
VENDOR_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "due_at", "vendor", "team",
                                  "eta_due_at", "eta_within", "eta")
VendorTemplate = template_of(VENDOR_FIELDS)


class VendorLoop(_Strict):
    """Seed 000: a case sent to a vendor team asks for capacity and an ETA, on a clock of its own."""

    eta_within: Duration = Field(timedelta(hours=48), description=f"the time-to-ETA budget: {DURATION_HELP}")
    calendar: str = Field(BUILTIN_CALENDAR, description='a calendar name from [calendars] the time-to-ETA clock '
                                                        'counts on (default "24x7": wall-clock hours)')
    eta_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the vendor's ETA (an ISO instant)")
    capacity_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding yes / no: capacity available")
    request_note: VendorTemplate = Field(
        "Vendor {vendor}: capacity and an ETA requested for {ticket}; ETA due by {eta_due_at} "
        "(within {eta_within}); resolution due {due_at}.", description="a text template")
    follow_up: bool = Field(False, description="true to also ask for a follow-up ticket in the vendor's group")
    follow_up_subject: VendorTemplate = Field("Capacity and ETA needed: {subject} ({ticket})",
                                              description="a text template")
    follow_up_body: VendorTemplate = Field(
        "Please confirm capacity and an ETA for {ticket} by {eta_due_at}. The customer's resolution is due "
        "{due_at}.", description="a text template")
    risk_level: str | None = Field(None, description="a ladder level name to climb to on an SLA risk (absent: one "
                                                     "level up)")
    risk_priority: Priority = Field("high", description="the priority an SLA risk raises to (never lowers): the "
                                                        "priority override")
    notify: list[str] = Field([], description="a list of person names from [people] told of an SLA risk")


# Placeholders of the customer messages.
CUSTOMER_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "due_at", "owner",
                                    "next_update_at", "eta", "vendor", "level", "problem")
CustomerTemplate = template_of(CUSTOMER_FIELDS)


class CustomerTemplates(_Strict):
    """Public replies; an empty text switches that message off."""

    key_kind = "message"
    escalated: CustomerTemplate = Field(
        "Your request {ticket_id} has been escalated ({level}). {owner} now owns it and coordinates the next "
        "steps. We will update you by {next_update_at}.", description="a text template")
    update: CustomerTemplate = Field(
        "Update on {ticket_id}: {owner} is still working on your request. Next update by {next_update_at}.",
        description="a text template")
    schedule_confirmed: CustomerTemplate = Field(
        "Good news on {ticket_id}: {vendor} confirmed the repair for {eta}. {owner} keeps you posted; next update "
        "by {next_update_at}.", description="a text template")
    updated_plan: CustomerTemplate = Field(
        "Update on {ticket_id}: the vendor could not confirm a schedule in time, so we have escalated with a "
        "priority override. {owner} owns your request; next update by {next_update_at}.",
        description="a text template")
    linked: CustomerTemplate = Field(
        "We have linked {ticket_id} to a known issue ({problem}) that several customers reported; our engineers "
        "are on it. Next update by {next_update_at}.", description="a text template")


class CadenceByPriority(_Strict):
    key_kind = "priority"
    low: Duration | None = Field(None, description=DURATION_HELP)
    normal: Duration | None = Field(None, description=DURATION_HELP)
    high: Duration | None = Field(None, description=DURATION_HELP)
    urgent: Duration | None = Field(None, description=DURATION_HELP)


class CustomerUpdates(_Strict):
    """Seeds 000, 003: customers hear first. An escalation is acknowledged, then updates follow on a cadence."""

    enabled: bool = Field(True, description="false to switch every proactive customer message off")
    cadence: CadenceByPriority = Field(CadenceByPriority(), description="a table priority = interval between "
                                                                        "updates (absent: no cadence)")
    clock: ClimbClock = Field("wall", description='"wall" (clock hours) or "calendar" (working time of the '
                                                  'ticket\'s SLA calendar)')
    skip_statuses: list[Status] = Field(["pending"], description="a list of statuses in which no cadence update "
                                                                 "goes out (the cadence restarts when it ends)")
    send_hours: str | None = Field(None, description="a calendar name from [calendars]: messages go out while it is "
                                                     "open; outside it (the customer's quiet hours) they are held")
    send_hours_by_tier: dict[str, str] = Field({}, description="a table tier name = calendar name")
    timezone_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the customer's IANA time "
                                                                           "zone (the send hours are read there)")
    hold_priorities: list[Priority] = Field(["low", "normal", "high", "urgent"],
                                            description="a list of priorities whose messages quiet hours hold")
    no_owner_text: str = Field("our support team", description="the {owner} text when nobody is named")
    no_next_update_text: str = Field("as soon as we have news", description="the {next_update_at} text when no "
                                                                           "cadence applies")
    templates: CustomerTemplates = CustomerTemplates()


TriggerField = Literal["subject", "description"]


class Trigger(_Strict):
    """Seed 003: an escalation trigger. It fires once per case and climbs the ladder at once."""

    title: str | None = Field(None, description="the name shown in notes (default: the key)")
    keywords: list[str] = Field([], description="a list of words or phrases (case-insensitive, whole words)")
    match_in: list[TriggerField] = Field(["subject", "description"], description="a list of subject, description")
    tags: list[str] = Field([], description="a list of ticket tags, any of which fires it")
    promised_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding a promised date or instant")
    within: Duration = Field(timedelta(hours=24), description=f"with promised_field: fire this long before the "
                                                              f"promised time ({DURATION_HELP}, wall-clock)")
    level: str | None = Field(None, description="a ladder level name to climb to (absent: one level up)")
    priority: Priority | None = Field("high", description="a priority it raises to (never lowers)")
    add_tags: list[str] = Field([], description="a list of ticket tags to add when it fires")
    notify: list[str] = Field([], description="a list of person names from [people] to notify")
    note: bool = Field(True, description="true to write an internal note when it fires")

    @model_validator(mode="after")
    def _something_to_match(self) -> "Trigger":
        if not (self.keywords or self.tags or self.promised_field):
            raise ValueError("got no keywords, tags or promised_field; expected at least one of them")
        if any(not k.strip() for k in self.keywords):
            raise ValueError("keywords: got an empty keyword; expected words or phrases")
        return self


RIGHTS: tuple[str, ...] = ("read", "write", "escalate", "resolve")
Right = Literal["read", "write", "escalate", "resolve"]
# Seed 002's "who can do what"; support_lead is the "Support (lead)" who may resolve.
SEED_ROLE_RIGHTS: dict[str, tuple[str, ...]] = {
    "support": ("read", "write", "escalate"),
    "support_lead": ("read", "write", "escalate", "resolve"),
    "service": ("read", "write"),
    "manager": ("read", "write", "escalate", "resolve"),
    "installer": ("read",),
    "owner": ("read", "write", "escalate", "resolve"),
    "admin": ("read", "write", "escalate", "resolve"),
    "executive": ("read",),
}


class RoleMembers(_Strict):
    users: dict[str, str] = Field({}, description="a table user id = role name")
    groups: dict[str, str] = Field({}, description="a table group id = role name")


class Roles(_Strict):
    """Seed 002: who may do what. An actor's role: their user id, else their person, else their groups."""

    default: str = Field("support", description="the role of an actor the map does not know (support: may "
                                                "escalate, as without a role map)")
    rights: dict[str, list[Right]] = Field({}, description="a table role name = list of read, write, escalate, "
                                                           "resolve (adds roles or replaces seed 002's rights)")
    people: dict[str, str] = Field({}, description="a table person name from [people] = role name")
    zendesk: RoleMembers = RoleMembers()
    jira: RoleMembers = RoleMembers()

    def rights_of(self, role: str) -> frozenset[str]:
        """The rights of a role (seed 002 unless the file says otherwise)."""
        if role in self.rights:
            return frozenset(self.rights[role])
        return frozenset(SEED_ROLE_RIGHTS.get(role, ()))

    def names(self) -> list[str]:
        return [*SEED_ROLE_RIGHTS, *(r for r in self.rights if r not in SEED_ROLE_RIGHTS)]


ClusterKey = Literal["product", "order", "reason_code"]
CLUSTER_FIELDS: tuple[str, ...] = ("key", "value", "count", "customers", "members", "first_seen", "window",
                                   "reason_code", "product", "order")
ClusterTemplate = template_of(CLUSTER_FIELDS)


def _cluster_keys(value: Any) -> Any:
    if isinstance(value, list):
        return [[v] if isinstance(v, str) else v for v in value]
    return value


class Recurring(_Strict):
    """Seed 003: the same problem from several customers becomes one problem ticket, escalated once."""

    min_customers: int = Field(3, ge=2, description="a number of different customers, at least 2")
    window: Duration = Field(timedelta(days=7), description=f"how far back open cases count: {DURATION_HELP} "
                                                            "(wall-clock)")
    keys: Annotated[list[list[ClusterKey]], BeforeValidator(_cluster_keys)] = Field(
        [["product"], ["order"]], description='a list of product, order, reason_code, or lists of them for a '
                                              'combined key, e.g. ["product", ["reason_code", "order"]]')
    product_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the product")
    order_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the order")
    customer: Literal["organization", "requester"] = Field(
        "organization", description='"organization" (the requester when there is none) or "requester"')
    team: str | None = Field(None, description="a team name from [teams]: the problem ticket's group")
    level: str | None = Field(None, description="a level of escalation.ladder whose team and owner take the problem "
                                                "ticket (when no team is given)")
    priority: Priority = Field("high", description="the problem ticket's priority")
    subject: ClusterTemplate = Field("Recurring issue: {key} ({customers} customers)", description="a text template")
    body: ClusterTemplate = Field(
        "{count} open cases from {customers} different customers share {key} since {first_seen} (window "
        "{window}): {members}. Find the root cause once; slaclock keeps the customers updated.",
        description="a text template")
    member_note: str = Field("Linked to problem {problem} (recurring issue {key}): it is escalated once there, "
                             "not case by case.", description="the internal note on each member; placeholders "
                                                              "{problem}, {key}")

    @field_validator("keys")
    @classmethod
    def _keys(cls, keys: list[list[str]]) -> list[list[str]]:
        if not keys or any(not k for k in keys):
            raise ValueError("got an empty key; expected product, order, reason_code or a list of them")
        return keys

    @field_validator("member_note")
    @classmethod
    def _member_note(cls, text: str) -> str:
        return _check_template(text, ("problem", "key"))


class ZendeskFields(_Strict):
    reason_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")
    due_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")


class JiraFields(_Strict):
    reason_field_id: str | None = Field(None, description="a Jira custom field id (customfield_…, single select)")
    due_field_id: str | None = Field(None, description="a Jira custom field id (customfield_…, Date Time Picker)")
    organization_field_id: str | None = Field(None, description="JSM Organizations field (customfield_…)")
    request_type_field_id: str | None = Field(None, description="JSM Customer Request Type field (customfield_…)")
    group_field_id: str | None = Field(None, description="a group picker field to write team routing to")


class Connectors(_Strict):
    zendesk: ZendeskFields = ZendeskFields()
    jira: JiraFields = JiraFields()


class Rules(_Strict):
    version: str = Field("unversioned", description="a text naming this version of the rules")
    sla: Sla = Sla()
    calendars: dict[str, CalendarSpec] = Field({}, description="a table per calendar name")
    tiers: dict[str, Tier] = Field({}, description="a table per tier name")
    routing: Routing = Routing()
    teams: dict[str, Team] = Field({}, description="a table per team name")
    escalation: Escalation = Escalation()
    people: dict[str, Person] = Field({}, description="a table per person name")
    rotas: dict[str, Rota] = Field({}, description="a table per rota name")
    ladders: dict[str, Ladder] = Field({}, description="a table per ladder name")
    milestones: Milestones = Milestones()
    account_managers: AccountManagers = AccountManagers()
    connectors: Connectors = Connectors()
    vendor: VendorLoop = VendorLoop()
    customer_updates: CustomerUpdates | None = Field(None, description="a table: proactive customer messages "
                                                                       "(absent: none)")
    triggers: dict[str, Trigger] = Field({}, description="a table per trigger name")
    roles: Roles = Roles()
    recurring: Recurring | None = Field(None, description="a table: recurring-issue clusters (absent: none)")

    _built: dict[str, WorkCalendar] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Equal rules are equal whether or not their calendars have been built (the cache).
        return isinstance(other, Rules) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # dict fields: not hashable

    def field_ids(self, connector: str) -> tuple[str, ...]:
        """Every helpdesk custom field the rules read in one helpdesk (so its connector fetches them)."""
        refs = [self.vendor.eta_field, self.vendor.capacity_field,
                *(t.promised_field for t in self.triggers.values()),
                self.customer_updates.timezone_field if self.customer_updates else None,
                self.recurring.product_field if self.recurring else None,
                self.recurring.order_field if self.recurring else None]
        ids = [field_id(ref, connector) for ref in refs] + [self.sla.tier_field]
        return tuple(dict.fromkeys(i for i in ids if i))

    def calendar(self, name: str) -> WorkCalendar:
        """The runtime calendar called `name` (built once per Rules, then cached)."""
        built = self._built.get(name)
        if built is None:
            spec = self.calendars.get(name)
            if spec is None:
                if name != BUILTIN_CALENDAR:
                    raise KeyError(f"no calendar {name!r}")
                built = ALWAYS_OPEN
            else:
                built = spec.build(name)
            self._built[name] = built
        return built

    def calendar_in(self, name: str, timezone: str | None) -> WorkCalendar:
        """The calendar called `name`, its hours read in another zone (a customer's); cached too."""
        base = self.calendar(name)
        if not timezone or timezone == base.timezone_name:
            return base
        key = f"{name}@{timezone}"
        built = self._built.get(key)
        if built is None:
            spec = self.calendars.get(name)
            built = (spec.model_copy(update={"timezone": timezone}).build(name) if spec is not None
                     else WorkCalendar(name, timezone, always_open=True))
            self._built[key] = built
        return built

    def targets(self) -> TargetsByPriority:
        """The base targets per priority (v1 `resolution_hours` when the file uses it)."""
        return self.sla.resolution_targets_v1() or self.sla.targets

    def ladder_of(self, team: str | None) -> str | None:
        """The ladder a team's cases climb (`teams.<t>.ladder`, else `escalation.ladder`)."""
        spec = self.teams.get(team) if team else None
        return (spec.ladder if spec is not None and spec.ladder else None) or self.escalation.ladder

    def pause_statuses(self, metric: str) -> frozenset[str]:
        """The statuses that pause one metric."""
        own = getattr(self.sla.metrics, metric).pause_statuses
        return frozenset(self.sla.pause_statuses if own is None else own)


# --- errors -----------------------------------------------------------------------------

def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type that holds keys."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _locate(loc: tuple) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last key of `loc`, and that key's field (None if unknown)."""
    tp: Any = Rules
    model: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
            info = tp.model_fields.get(str(part))
            if info is None:
                return model, None
            tp = info.annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        else:
            break
    return model, info


def _describe(error: dict) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))  # drop validator tags
    path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[") or "(top level)"
    model, info = _locate(loc)
    if error["type"] == "extra_forbidden" and model is not None:
        kind = getattr(model, "key_kind", "key")
        return f"{path}: unknown {kind}; expected one of {', '.join(model.model_fields)}"
    expected = f"; expected {info.description}" if info is not None and info.description else ""
    if error["type"] == "missing":
        return f"{path}: missing{expected}"
    message = str(error["msg"])
    if error["type"] == "value_error":
        return f"{path}: {message.removeprefix('Value error, ')}"
    value = error.get("input")
    shown = "a table" if isinstance(value, dict) else _show(value)
    return f"{path}: got {shown}; {message[:1].lower()}{message[1:]}{expected}"


def _cross_check(data: dict) -> list[str]:
    """Problems spanning several sections, found on the raw TOML so they show with the others."""
    errors: list[str] = []

    def table(d: Any, *keys: str) -> dict:
        for key in keys:
            d = d.get(key) if isinstance(d, dict) else None
        return d if isinstance(d, dict) else {}

    teams = table(data, "teams")
    calendars = set(table(data, "calendars")) | {BUILTIN_CALENDAR}
    tiers = table(data, "tiers")
    sla = table(data, "sla")

    routing = table(data, "routing")
    named = [("routing.default_team", routing.get("default_team", "support"))]
    named += [(f"routing.reason_codes.{code}", team) for code, team in table(routing, "reason_codes").items()]
    for path, team in named:
        if isinstance(team, str) and team not in teams:
            errors.append(f"{path}: got {_show(team)}, which names no team; expected one of "
                          f"{', '.join(teams) or '(none defined)'} (a [teams.<name>] section)")

    refs = [("sla.default_calendar", sla.get("default_calendar"))]
    refs += [(f"sla.calendar_by_priority.{p}", c) for p, c in table(sla, "calendar_by_priority").items()]
    for name, tier in tiers.items():
        refs.append((f"tiers.{name}.calendar", table(tiers, name).get("calendar")))
        refs += [(f"tiers.{name}.calendar_by_priority.{p}", c)
                 for p, c in table(tier, "calendar_by_priority").items()]
    refs += [(f"teams.{name}.calendar", table(teams, name).get("calendar")) for name in teams]
    for path, name in refs:
        if isinstance(name, str) and name not in calendars:
            errors.append(f"{path}: got {_show(name)}, which names no calendar; expected one of "
                          f"{', '.join(sorted(calendars))}")

    default_tier = sla.get("default_tier")
    if isinstance(default_tier, str) and default_tier not in tiers:
        errors.append(f"sla.default_tier: got {_show(default_tier)}, which names no tier; expected one of "
                      f"{', '.join(tiers) or '(none defined)'}")
    for key in ("organizations", "tags"):
        owner: dict[str, str] = {}
        for name, tier in tiers.items():
            values = tier.get(key) if isinstance(tier, dict) else None
            for value in values if isinstance(values, list) else []:
                value = str(value)
                if value in owner:
                    errors.append(f"tiers.{name}.{key}: got {_show(value)}, already in tiers.{owner[value]}; "
                                  "expected each value in one tier only")
                owner.setdefault(value, name)

    for name, cal in table(data, "calendars").items():
        if isinstance(cal, dict) and isinstance(cal.get("closures"), list):
            extra = {str(d) for d in table(cal, "extra_working_days")}
            for day in cal["closures"]:
                if str(day) in extra:
                    errors.append(f"calendars.{name}.closures: got {_show(day)}, also in extra_working_days; "
                                  "expected a date in one of them only")

    errors += _cross_check_escalation(data, table)
    errors += _cross_check_people(data, table)

    if "resolution_hours" in sla and "targets" in sla:
        errors.append("sla.resolution_hours: got both resolution_hours (v1) and targets; expected only "
                      "sla.targets")
    targets = table(sla, "targets")
    if "targets" in sla:
        for priority in PRIORITIES:
            if not isinstance(table(targets, priority).get("resolution"), (int, float, str)):
                errors.append(f"sla.targets.{priority}: no resolution target; expected resolution = "
                              f"{DURATION_HELP} for every priority (it sets due_at)")
    return errors


def _cross_check_escalation(data: dict, table: Any) -> list[str]:
    """Names used by ladders, rotas, thresholds, milestones and account managers exist."""
    errors: list[str] = []
    teams, people, rotas, ladders = (table(data, k) for k in ("teams", "people", "rotas", "ladders"))
    tiers = table(data, "tiers")

    def known(path: str, value: Any, names: dict, what: str, section: str) -> None:
        if isinstance(value, str) and value not in names:
            errors.append(f"{path}: got {_show(value)}, which names no {what}; expected one of "
                          f"{', '.join(names) or '(none defined)'} (a [{section}.<name>] section)")

    escalation = table(data, "escalation")
    known("escalation.ladder", escalation.get("ladder"), ladders, "ladder", "ladders")
    for name in teams:
        known(f"teams.{name}.ladder", table(teams, name).get("ladder"), ladders, "ladder", "ladders")

    level_names: dict[str, list[str]] = {}
    for lname, ladder in ladders.items():
        levels = ladder.get("levels") if isinstance(ladder, dict) else None
        levels = [lv for lv in levels if isinstance(lv, dict)] if isinstance(levels, list) else []
        level_names[lname] = [lv.get("name") for lv in levels]
        for i, level in enumerate(levels):
            path = f"ladders.{lname}.levels[{i}]"
            known(f"{path}.team", level.get("team"), teams, "team", "teams")
            known(f"{path}.rota", level.get("rota"), rotas, "rota", "rotas")
            for key in ("person", "owner"):
                known(f"{path}.{key}", level.get(key), people, "person", "people")
            followers = level.get("followers")
            for j, follower in enumerate(followers if isinstance(followers, list) else []):
                known(f"{path}.followers[{j}]", follower, people, "person", "people")
            if i > 0 and not any(level.get(k) for k in ("person", "rota", "owner")):
                errors.append(f"{path}: no escalation owner; expected person, rota or owner (seed 003: an "
                              "escalated case has a single named owner)")

    for rname, rota in rotas.items():
        shifts = [(f"rotas.{rname}.weekly.{day}", table(rota, "weekly").get(day)) for day in WEEKDAYS]
        shifts += [(f"rotas.{rname}.overrides.{day}", v) for day, v in table(rota, "overrides").items()]
        for path, value in shifts:
            if isinstance(value, str):
                known(path, value, people, "person", "people")
            for span, person in (value.items() if isinstance(value, dict) else ()):
                known(f"{path}.{span}", person, people, "person", "people")
        fallback = rota.get("fallback") if isinstance(rota, dict) else None
        known(f"rotas.{rname}.fallback", fallback, people, "person", "people")

    thresholds = table(escalation, "thresholds")
    default_ladder = escalation.get("ladder")
    for metric, items in thresholds.items():
        for i, item in enumerate(items if isinstance(items, list) else []):
            level = item.get("level") if isinstance(item, dict) else None
            if not isinstance(level, str):
                continue
            path = f"escalation.thresholds.{metric}[{i}].level"
            if not ladders or not (default_ladder or all(table(teams, t).get("ladder") for t in teams)):
                errors.append(f"{path}: got {_show(level)}, but no ladder applies to every team; expected "
                              "escalation.ladder = <a [ladders.<name>] section>")
                continue
            for lname, names in level_names.items():
                if level not in names:
                    errors.append(f"{path}: got {_show(level)}, which is not a level of ladders.{lname}; "
                                  f"expected a level every ladder has: {', '.join(map(str, names))}")

    tech_lead = table(data, "milestones", "tech_lead")
    known("milestones.tech_lead.team", tech_lead.get("team"), teams, "team", "teams")
    managers = table(data, "account_managers")
    known("account_managers.default", managers.get("default"), people, "person", "people")
    for tier, person in table(managers, "tiers").items():
        known(f"account_managers.tiers.{tier}", tier, tiers, "tier", "tiers")
        known(f"account_managers.tiers.{tier}", person, people, "person", "people")
    for org, person in table(managers, "organizations").items():
        known(f"account_managers.organizations.{org}", person, people, "person", "people")
    return errors


def _cross_check_people(data: dict, table: Any) -> list[str]:
    """Names used by the vendor loop, customer updates, triggers, roles and recurring issues exist."""
    errors: list[str] = []
    teams, people, ladders, tiers = (table(data, k) for k in ("teams", "people", "ladders", "tiers"))
    calendars = set(table(data, "calendars")) | {BUILTIN_CALENDAR}

    def known(path: str, value: Any, names: Any, what: str, section: str) -> None:
        if isinstance(value, str) and value not in names:
            errors.append(f"{path}: got {_show(value)}, which names no {what}; expected one of "
                          f"{', '.join(names) or '(none defined)'} (a [{section}.<name>] section)")

    def level(path: str, value: Any) -> None:
        names = {lv.get("name") for ladder in ladders.values() if isinstance(ladder, dict)
                 for lv in (ladder.get("levels") if isinstance(ladder.get("levels"), list) else [])
                 if isinstance(lv, dict)}
        if isinstance(value, str) and value not in names:
            errors.append(f"{path}: got {_show(value)}, which is not a level of any ladder; expected one of "
                          f"{', '.join(sorted(map(str, names))) or '(no ladders defined)'}")

    def persons(path: str, values: Any) -> None:
        for j, person in enumerate(values if isinstance(values, list) else []):
            known(f"{path}[{j}]", person, people, "person", "people")

    vendor = table(data, "vendor")
    known("vendor.calendar", vendor.get("calendar"), sorted(calendars), "calendar", "calendars")
    level("vendor.risk_level", vendor.get("risk_level"))
    persons("vendor.notify", vendor.get("notify"))

    updates = table(data, "customer_updates")
    known("customer_updates.send_hours", updates.get("send_hours"), sorted(calendars), "calendar", "calendars")
    for tier, cal in table(updates, "send_hours_by_tier").items():
        known(f"customer_updates.send_hours_by_tier.{tier}", tier, tiers, "tier", "tiers")
        known(f"customer_updates.send_hours_by_tier.{tier}", cal, sorted(calendars), "calendar", "calendars")

    for name, trigger in table(data, "triggers").items():
        if isinstance(trigger, dict):
            level(f"triggers.{name}.level", trigger.get("level"))
            persons(f"triggers.{name}.notify", trigger.get("notify"))

    roles = table(data, "roles")
    role_names = [*SEED_ROLE_RIGHTS, *(r for r in table(roles, "rights") if r not in SEED_ROLE_RIGHTS)]
    known("roles.default", roles.get("default"), role_names, "role", "roles.rights")
    for person, role in table(roles, "people").items():
        known(f"roles.people.{person}", person, people, "person", "people")
        known(f"roles.people.{person}", role, role_names, "role", "roles.rights")
    for connector in CONNECTORS:
        for kind in ("users", "groups"):
            for member, role in table(roles, connector, kind).items():
                known(f"roles.{connector}.{kind}.{member}", role, role_names, "role", "roles.rights")

    recurring = table(data, "recurring")
    known("recurring.team", recurring.get("team"), teams, "team", "teams")
    if isinstance(recurring.get("level"), str):
        default = table(data, "escalation").get("ladder")
        ladder = table(ladders, default) if isinstance(default, str) else {}
        names = [lv.get("name") for lv in ladder.get("levels", []) if isinstance(lv, dict)]
        if recurring["level"] not in names:
            errors.append(f"recurring.level: got {_show(recurring['level'])}, which is not a level of "
                          f"escalation.ladder; expected one of {', '.join(map(str, names)) or '(no default ladder)'}")
    return errors


def parse_rules(text: str, source: str = "rules.toml") -> Rules:
    """Parse and validate rules from TOML text; raise RulesError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError([f"{source}: not valid TOML: {e}"]) from e
    problems: list[str] = []
    rules: Rules | None = None
    try:
        rules = Rules.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err) for err in e.errors()]
    problems += [p for p in _cross_check(data) if p not in problems]
    if problems or rules is None:
        raise RulesError([f"{source}: {p}" for p in problems])
    return rules


def load_rules(path: str | Path | None = None) -> Rules:
    """Load the rules file at `path` (default: the example rules shipped with slaclock)."""
    path = Path(path) if path else EXAMPLE_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError([f"{path}: cannot read rules file: {e.strerror}"]) from e
    return parse_rules(text, source=path.name)
