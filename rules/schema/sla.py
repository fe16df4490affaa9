"""The SLA sections of the rules file: targets, calendars, tiers, routing, teams, helpdesk fields."""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Annotated, Generic, Literal, TypeVar

import holidays as holidays_lib
from pydantic import Field, ValidationInfo, field_validator, model_validator

from rules.calendar import WEEKDAYS, WorkCalendar, base_names
from rules.schema.values import (BUILTIN_CALENDAR, DURATION_HELP, INTERVAL_HELP, METRICS, PRIORITIES, STATUSES,
                                 Duration, Interval, Mode, Priority, Status, Strict, TimeZoneName, check_disjoint,
                                 id_text, show)

T = TypeVar("T")


class ByPriority(Strict, Generic[T]):
    """A table with one optional entry per priority; `T` carries the entry's type and description."""

    key_kind = "priority"
    low: T = None
    normal: T = None
    high: T = None
    urgent: T = None


class MetricTargets(Strict):
    """The targets of one priority, per metric (absent: not measured at this priority)."""

    key_kind = "metric"
    first_response: Duration | None = Field(None, description=DURATION_HELP)
    next_update: Duration | None = Field(None, description=DURATION_HELP)
    next_reply: Duration | None = Field(None, description=DURATION_HELP)
    resolution: Duration | None = Field(None, description=DURATION_HELP)


class TargetsByPriority(ByPriority[Annotated[MetricTargets | None, Field(description="a table of metric targets")]]):
    """The metric targets per priority."""


class CalendarByPriority(ByPriority[Annotated[str | None, Field(description="a calendar name from [calendars]")]]):
    """The calendar a priority's clock runs on."""


_SEED_002 = TargetsByPriority(  # seed 002: SLA to resolve
    urgent=MetricTargets(resolution=timedelta(hours=4)), high=MetricTargets(resolution=timedelta(hours=24)),
    normal=MetricTargets(resolution=timedelta(hours=72)), low=MetricTargets(resolution=timedelta(hours=168)))


class HoursByPriority(Strict):
    """v1 form `[sla.resolution_hours]`: resolution targets in hours."""

    key_kind = "priority"
    low: Duration = Field(timedelta(hours=168), description=DURATION_HELP)
    normal: Duration = Field(timedelta(hours=72), description=DURATION_HELP)
    high: Duration = Field(timedelta(hours=24), description=DURATION_HELP)
    urgent: Duration = Field(timedelta(hours=4), description=DURATION_HELP)


class MetricOptions(Strict):
    pause_statuses: list[Status] | None = Field(
        None, description=f"a list of statuses from {', '.join(STATUSES)} (default: sla.pause_statuses)")
    calendar: str | None = Field(
        None, description="a calendar name from [calendars]: this metric counts on it whatever the priority, tier "
                          "or team (default: the calendar precedence)")


class MetricsOptions(Strict):
    key_kind = "metric"
    first_response: MetricOptions = MetricOptions()
    next_update: MetricOptions = MetricOptions()
    next_reply: MetricOptions = MetricOptions()
    resolution: MetricOptions = MetricOptions()


_MODE_HELP = '"rederive" (count again from the cycle start with the new target) or "carry" (keep the working time used)'


class Recompute(Strict):
    """What happens to a running clock when its basis changes (default: seed 002, rederive)."""

    priority: Mode = Field("rederive", description=_MODE_HELP)
    tier: Mode = Field("rederive", description=_MODE_HELP)
    calendar: Mode = Field("rederive", description=_MODE_HELP)
    team: Mode = Field("rederive", description=_MODE_HELP)


class Sla(Strict):
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


@lru_cache(maxsize=64)
def region_holiday_names(country: str, subdivision: str | None) -> frozenset[str]:
    """Every holiday name the `holidays` package knows for a region, over a span of years (some are not yearly)."""
    found = holidays_lib.country_holidays(country, subdiv=subdivision, years=range(2000, 2051)).values()
    return frozenset(part for name in found for part in base_names(name))


class HolidaySource(Strict):
    country: str = Field(description="an ISO 3166 country code supported by the holidays package, e.g. DE, US, AU")
    subdivision: str | None = Field(None, description="a subdivision code of the country, e.g. BE, NY, SA")
    only: list[str] | None = Field(None, description="a list of holiday names to observe (the others are working "
                                                     "days), as the holidays package names them, e.g. \"Labor Day\"")

    @field_validator("country")
    @classmethod
    def _country(cls, country: str) -> str:
        if country not in holidays_lib.list_supported_countries():
            raise ValueError(f"got {show(country)}; expected an ISO 3166 code supported by the holidays "
                             "package, e.g. AU, CL, DE, IN, NP, US")
        return country

    @field_validator("subdivision")
    @classmethod
    def _subdivision(cls, subdivision: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        allowed = holidays_lib.list_supported_countries().get(country) if country else None
        if subdivision is not None and allowed is not None and subdivision not in allowed:
            shown = ", ".join(allowed) if allowed else f"none ({country} has no subdivisions)"
            raise ValueError(f"got {show(subdivision)}; expected one of {shown}")
        return subdivision

    @model_validator(mode="after")
    def _known_names(self) -> "HolidaySource":
        if self.only is not None:
            known = region_holiday_names(self.country, self.subdivision)
            unknown = [name for name in self.only if name not in known]
            if unknown:
                raise ValueError(f"only: got {', '.join(map(show, unknown))}; expected holiday names of "
                                 f"{self.region()}: {', '.join(sorted(known))}")
        return self

    def region(self) -> str:
        return self.country + (f"-{self.subdivision}" if self.subdivision else "")


_DAY_HELP = f"a list of working intervals {INTERVAL_HELP}, e.g. [\"08:00-12:00\", \"13:00-17:00\"]"


class WeeklyHours(Strict):
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
        return check_disjoint(intervals)

    def days(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Monday-first intervals per weekday."""
        return tuple(tuple(getattr(self, d)) for d in WEEKDAYS)


class CalendarSpec(Strict):
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
            check_disjoint(intervals)
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
            holidays_observed=frozenset(self.holidays.only) if self.holidays and self.holidays.only is not None else None,
            closures=frozenset(self.closures),
            extra_working_days={d: tuple(iv) for d, iv in self.extra_working_days.items()},
        )


class Tier(Strict):
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
    def _ids_as_text(cls, value: object) -> object:
        return [id_text(v) for v in value] if isinstance(value, list) else value


class Routing(Strict):
    default_team: str = Field("support", description="a team name from [teams]")
    reason_codes: dict[str, str] = Field({}, description="a table reason_code = team name")
    note: bool = Field(False, description="true to write an internal note when slaclock only routes a case "
                                          "(sets its team and due times); by default those fields speak for "
                                          "themselves")


class HelpdeskTarget(Strict):
    group_id: str | None = Field(None, description="a helpdesk group id (text)")
    assignee_id: str | None = Field(None, description="a helpdesk user id (text)")
    owners_group_id: str | None = Field(None, description="a helpdesk group id (text) whose members a least-loaded "
                                                          "owner is picked from (default: group_id)")


TeamKind = Literal["internal", "vendor"]
OwnerMode = Literal["assignee", "rota", "least_loaded"]


_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class VendorWebhook(Strict):
    """The vendor's own system, told by a signed webhook (the URL and secret from the environment)."""

    url_env: str = Field(pattern=_ENV_NAME, description="the environment variable holding the vendor's webhook URL")
    secret_env: str = Field(pattern=_ENV_NAME, description="the environment variable holding its signing secret")


class Team(Strict):
    zendesk: HelpdeskTarget | None = None
    jira: HelpdeskTarget | None = None
    calendar: str | None = Field(None, description="a calendar name from [calendars]")
    ladder: str | None = Field(None, description="a ladder name from [ladders] (default: escalation.ladder)")
    kind: TeamKind = Field("internal", description='"internal" or "vendor" (a case sent there asks the vendor for '
                                                   'capacity and an ETA: [vendor])')
    title: str | None = Field(None, description="the name shown in notes and customer messages (default: the key)")
    customer_updates: bool = Field(True, description="false: no proactive customer updates while this team has "
                                                     "the case")
    owner: OwnerMode = Field("assignee", description='who owns a case routed here (seed 000: one owner at '
                                                     'creation): "assignee" (the team\'s assignee_id), "rota" (who '
                                                     'is on call in `rota`) or "least_loaded" (the member of the '
                                                     'team\'s group with the fewest open tickets)')
    rota: str | None = Field(None, description="a rota name from [rotas] (owner = \"rota\")")
    webhook: VendorWebhook | None = Field(None, description="a vendor team's system: a signed webhook asking for "
                                                          "capacity and an ETA, and telling of a priority override")

    @model_validator(mode="after")
    def _owner_and_webhook(self) -> "Team":
        if self.owner == "rota" and not self.rota:
            raise ValueError('owner = "rota" needs rota = "<a rota name from [rotas]>"')
        if self.webhook is not None and self.kind != "vendor":
            raise ValueError('webhook: only a team of kind = "vendor" tells its own system')
        return self


class ZendeskFields(Strict):
    reason_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")
    due_field_id: str | None = Field(None, description="a Zendesk custom field id (text)")


class JiraFields(Strict):
    reason_field_id: str | None = Field(None, description="a Jira custom field id (customfield_…, single select)")
    due_field_id: str | None = Field(None, description="a Jira custom field id (customfield_…, Date Time Picker)")
    organization_field_id: str | None = Field(None, description="JSM Organizations field (customfield_…)")
    request_type_field_id: str | None = Field(None, description="JSM Customer Request Type field (customfield_…)")
    group_field_id: str | None = Field(None, description="a group picker field to write team routing to")


class Connectors(Strict):
    zendesk: ZendeskFields = ZendeskFields()
    jira: JiraFields = JiraFields()
