"""The rules file: TOML, validated by pydantic; every error names file, key path, value, what is allowed."""
from __future__ import annotations

import json
import re
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


class Team(_Strict):
    zendesk: HelpdeskTarget | None = None
    jira: HelpdeskTarget | None = None
    calendar: str | None = Field(None, description="a calendar name from [calendars]")


class Escalation(_Strict):
    tag: str = Field("slaclock_escalate", description="a ticket tag")


class ZendeskFields(_Strict):
    reason_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")
    due_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")


class Connectors(_Strict):
    zendesk: ZendeskFields = ZendeskFields()


class Rules(_Strict):
    version: str = Field("unversioned", description="a text naming this version of the rules")
    sla: Sla = Sla()
    calendars: dict[str, CalendarSpec] = Field({}, description="a table per calendar name")
    tiers: dict[str, Tier] = Field({}, description="a table per tier name")
    routing: Routing = Routing()
    teams: dict[str, Team] = Field({}, description="a table per team name")
    escalation: Escalation = Escalation()
    connectors: Connectors = Connectors()

    _built: dict[str, WorkCalendar] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Equal rules are equal whether or not their calendars have been built (the cache).
        return isinstance(other, Rules) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # dict fields: not hashable

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

    def targets(self) -> TargetsByPriority:
        """The base targets per priority (v1 `resolution_hours` when the file uses it)."""
        return self.sla.resolution_targets_v1() or self.sla.targets

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
