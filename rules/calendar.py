"""Working calendars and working-time arithmetic.

Instants are UTC-aware datetimes; working hours are local wall time in the calendar's IANA
zone. A day's intervals are built in wall time, then converted to UTC once (and cached), so
budgets are always consumed in real elapsed time: a 25-hour autumn day counts 25 hours.

Wall time → instant (`wall_to_utc`) is "the first instant the wall clock reads that time":
an ambiguous time (clocks go back) is its first occurrence; a time that does not exist
(clocks go forward) is the instant of the jump. The mapping never goes backwards, so a
day's intervals stay ordered and never overlap after conversion.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterator, Mapping
from zoneinfo import ZoneInfo

import holidays as holidays_lib

UTC = timezone.utc
DAY_SECONDS = 86_400  # a wall-clock day; an interval may end at 24:00 = 86 400 s
ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
# A calendar with weekly hours has work every week; 10 years of closed days means a broken one.
MAX_CLOSED_DAYS = 3_660
# Where clocks go back across midnight (say from 00:30 to 23:30), the repeated half hour
# reads as the *previous* date although it comes after the next date's first midnight: an
# instant whose local date is D may lie inside a period of D + 1. Look one day further.
# (Santiago's April change, from 24:00 back to 23:00, stays within Saturday: a 25-hour day.)
_NEIGHBOUR = timedelta(days=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

WallInterval = tuple[int, int]  # [start, end) in seconds since local midnight, end ≤ 86 400
Period = tuple[datetime, datetime]  # [open, close) in UTC


def parse_instant(value: object) -> datetime | None:
    """An ISO instant or date (Zendesk `…Z`, Jira `….123+0000`, a custom field's text) as aware UTC:
    a bare date is midnight UTC, a naive time is UTC. None when absent or unreadable: an agent may
    type anything into a field, and slaclock simply writes its own fields again."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else utc_instant(value)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_instant(instant: datetime) -> datetime:
    """`instant` in UTC; a naive datetime is refused (it would silently mean server time)."""
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no time zone; slaclock works with UTC-aware instants")
    return instant.astimezone(UTC)


@lru_cache(maxsize=1024)
def holiday_names(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """Public holidays of one year from the `holidays` package (observed days included)."""
    return dict(holidays_lib.country_holidays(country, subdiv=subdivision, years=year))


def base_names(name: str) -> list[str]:
    """The holidays one `holidays` entry names: two on one day are joined by "; ", a moved one ends " (observed)"."""
    return [part.removesuffix(" (observed)").strip() for part in name.split("; ")]


def wall_to_utc(day: date, seconds: int, tz: ZoneInfo) -> datetime:
    """The first instant at which the wall clock in `tz` reads `day` + `seconds`."""
    if seconds >= DAY_SECONDS:  # 24:00 is the next day's midnight
        day, seconds = day + ONE_DAY, seconds - DAY_SECONDS
    naive = datetime.combine(day, time()) + timedelta(seconds=seconds)
    utc = naive.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the first of two readings
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc
    return _gap_end(naive, tz)


def _gap_end(naive: datetime, tz: ZoneInfo) -> datetime:
    """`naive` falls in a spring-forward gap: find the instant of the jump (whole seconds).

    fold=1 reads the wall time with the offset after the jump and lands before it; fold=0
    reads it with the offset before and lands after it. Bisect between the two.
    """
    lo = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    hi = int(naive.replace(tzinfo=tz, fold=0).timestamp())
    before = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


class WorkCalendar:
    """A named working calendar: time zone, weekly hours, holidays, closures, extra days."""

    def __init__(
        self,
        name: str,
        timezone_name: str,
        weekly: tuple[tuple[WallInterval, ...], ...] = ((),) * 7,
        *,
        always_open: bool = False,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        holidays_observed: frozenset[str] | None = None,
        closures: frozenset[date] = frozenset(),
        extra_working_days: Mapping[date, tuple[WallInterval, ...]] | None = None,
    ):
        self.name = name
        self.timezone_name = timezone_name
        self.tz = ZoneInfo(timezone_name)
        self.always_open = always_open
        self.weekly = (((0, DAY_SECONDS),),) * 7 if always_open else tuple(tuple(d) for d in weekly)
        self.holiday_country = holiday_country
        self.holiday_subdivision = holiday_subdivision
        self.holidays_observed = holidays_observed  # None: every holiday of the country/subdivision
        self.closures = frozenset(closures)
        self.extra_working_days = dict(extra_working_days or {})
        # 24×7 with no day of its own (closed or with other hours): plain UTC arithmetic, no day walking needed.
        self._plain = always_open and not holiday_country and not self.closures and not self.extra_working_days
        self._days: dict[date, tuple[tuple[Period, ...], timedelta]] = {}
        self._weeks: dict[date, timedelta] = {}
        if not any(self.weekly) and not self.extra_working_days:
            raise ValueError(f"calendar {name} has no working hours")

    def __repr__(self) -> str:
        return f"WorkCalendar({self.name!r}, {self.timezone_name!r})"

    # --- which days are open -------------------------------------------------------------

    def holiday(self, day: date) -> str | None:
        """The public holiday's name on `day`, if the calendar observes one."""
        if not self.holiday_country:
            return None
        name = holiday_names(self.holiday_country, self.holiday_subdivision, day.year).get(day)
        if name is None or self.holidays_observed is None:
            return name
        kept = [part for part in base_names(name) if part in self.holidays_observed]
        return "; ".join(kept) or None

    def wall_hours(self, day: date) -> tuple[WallInterval, ...]:
        """Working intervals of a local date (extra working day > closure > holiday > week)."""
        if day in self.extra_working_days:
            return self.extra_working_days[day]
        if day in self.closures or self.holiday(day):
            return ()
        return self.weekly[day.weekday()]

    def closed_reason(self, day: date) -> str | None:
        """Why a local date has no working time (None when it has some)."""
        if self.wall_hours(day):
            return None
        if day in self.closures:
            return "closure"
        name = self.holiday(day)
        if name:
            return f"holiday: {name}"
        return f"no hours on {WEEKDAYS[day.weekday()]}"

    def day_periods(self, day: date) -> tuple[Period, ...]:
        """The open periods of a local date as UTC [open, close) pairs (cached)."""
        return self._day(day)[0]

    def _day(self, day: date) -> tuple[tuple[Period, ...], timedelta]:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        periods: list[Period] = []
        for start, end in self.wall_hours(day):
            opens, closes = wall_to_utc(day, start, self.tz), wall_to_utc(day, end, self.tz)
            if closes <= opens:  # the whole interval fell in a spring-forward gap
                continue
            if periods and periods[-1][1] == opens:  # 08:00-12:00 + 12:00-17:00 → one period
                opens = periods.pop()[0]
            periods.append((opens, closes))
        total = sum((c - o for o, c in periods), ZERO)
        if len(self._days) > 50_000:  # bound the cache in a long-running worker
            self._days.clear()
            self._weeks.clear()
        entry = (tuple(periods), total)
        self._days[day] = entry
        return entry

    def _week_total(self, monday: date) -> timedelta:
        total = self._weeks.get(monday)
        if total is None:
            total = sum((self._day(monday + timedelta(days=i))[1] for i in range(7)), ZERO)
            self._weeks[monday] = total
        return total

    def local_date(self, instant: datetime) -> date:
        """The local calendar date of an instant."""
        return instant.astimezone(self.tz).date()

    # --- arithmetic ----------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of working time has passed since `start`.

        A positive duration ends inside or at the close of an open period, never inside a
        closed one; a zero duration returns `start` unchanged.
        """
        if duration < ZERO:
            raise ValueError("cannot add a negative working duration")
        if start.tzinfo is not UTC:
            start = utc_instant(start)
        if duration == ZERO:
            return start
        if self._plain:
            return start + duration
        remaining = duration
        day = self.local_date(start)
        whole_from = day + 2 * ONE_DAY  # see _NEIGHBOUR: from here on a day lies after `start`
        closed_run = 0
        while True:
            if day >= whole_from:  # skip whole days (and weeks) in one step when we can
                if day.weekday() == 0:
                    week = self._week_total(day)
                    if remaining > week:
                        remaining -= week
                        closed_run = closed_run + 7 if week == ZERO else 0
                        self._check_run(closed_run)
                        day += timedelta(days=7)
                        continue
                periods, total = self._day(day)
                if remaining > total:
                    remaining -= total
                    closed_run = closed_run + 1 if total == ZERO else 0
                    self._check_run(closed_run)
                    day += ONE_DAY
                    continue
            else:
                periods = self._day(day)[0]
            for opens, closes in periods:
                if closes <= start:
                    continue
                opens = max(opens, start)
                span = closes - opens
                if remaining <= span:
                    return opens + remaining
                remaining -= span
            day += ONE_DAY

    def _check_run(self, closed_days: int) -> None:
        if closed_days > MAX_CLOSED_DAYS:
            raise ValueError(f"calendar {self.name} has no working time for {closed_days} days")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (negative when `end` is before `start`)."""
        if end < start:
            return -self.elapsed(end, start)
        if end == start:
            return ZERO
        if self._plain:
            return end - start
        total = ZERO
        day = self.local_date(start)
        whole_from, end_day = day + 2 * ONE_DAY, self.local_date(end)
        while day <= end_day + _NEIGHBOUR:
            if day >= whole_from and day.weekday() == 0 and day + timedelta(days=6) < end_day:
                total += self._week_total(day)
                day += timedelta(days=7)
                continue
            for opens, closes in self._day(day)[0]:
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            day += ONE_DAY
        return total

    def is_open(self, instant: datetime) -> bool:
        """True when `instant` lies inside an open period ([open, close))."""
        day = self.local_date(instant)
        return any(o <= instant < c for d in (day, day + _NEIGHBOUR) for o, c in self.day_periods(d))

    def periods(self, start: datetime, end: datetime) -> Iterator[Period]:
        """The open periods between two instants, clipped to [start, end)."""
        day, last = self.local_date(start), self.local_date(end) + _NEIGHBOUR
        while day <= last:
            for opens, closes in self._day(day)[0]:
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    yield lo, hi
            day += ONE_DAY

    def next_open(self, instant: datetime) -> datetime:
        """The first instant at or after `instant` when the calendar is open."""
        day = self.local_date(instant)
        for _ in range(MAX_CLOSED_DAYS):
            for opens, closes in self._day(day)[0]:
                if closes > instant:
                    return max(opens, instant)
            day += ONE_DAY
        raise ValueError(f"calendar {self.name} never opens after {instant:%Y-%m-%d}")

    # --- description ---------------------------------------------------------------------

    def describe(self) -> str:
        """One line: zone, weekly hours, holidays and closures."""
        if self.always_open:
            hours = "24×7"
        else:
            hours = "; ".join(
                f"{WEEKDAYS[i]} {', '.join(format_interval(iv) for iv in day)}"
                for i, day in enumerate(self.weekly) if day
            )
        parts = [f"calendar {self.name} ({self.timezone_name}): {hours}"]
        if self.holiday_country:
            region = self.holiday_country + (f"-{self.holiday_subdivision}" if self.holiday_subdivision else "")
            observed = f" ({', '.join(sorted(self.holidays_observed))})" if self.holidays_observed is not None else ""
            parts.append(f"public holidays {region}{observed}")
        if self.closures:
            parts.append("closures " + ", ".join(d.isoformat() for d in sorted(self.closures)))
        if self.extra_working_days:
            parts.append("extra working days " + ", ".join(d.isoformat() for d in sorted(self.extra_working_days)))
        return "; ".join(parts)


def format_interval(interval: WallInterval) -> str:
    """(28800, 43200) → '08:00-12:00'."""
    return "-".join(f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in interval)


ALWAYS_OPEN = WorkCalendar("24x7", "UTC", always_open=True)
