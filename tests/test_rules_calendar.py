"""Working-time arithmetic, table-driven and pinned to fixed instants in five time zones.

Zones: Europe/Berlin (north, DST at 02:00/03:00), America/New_York (north), Australia/Adelaide
(south, +09:30/+10:30), Asia/Kathmandu (+05:45, Sunday–Friday week), America/Santiago (south,
DST at midnight: a missing and a repeated midnight).
"""
from datetime import datetime, timedelta, timezone

import pytest

from rules import parse_rules
from rules.calendar import wall_to_utc

UTC = timezone.utc
H = timedelta(hours=1)

RULES = parse_rules('''
[calendars.berlin]
timezone = "Europe/Berlin"
closures = [2026-12-24]
extra_working_days = { 2026-12-27 = ["10:00-14:00"] }
holidays = { country = "DE", subdivision = "BE" }
[calendars.berlin.hours]
mon = ["09:00-12:00", "13:00-17:00"]
tue = ["09:00-12:00", "13:00-17:00"]
wed = ["09:00-12:00", "13:00-17:00"]
thu = ["09:00-12:00", "13:00-17:00"]
fri = ["09:00-12:00", "13:00-17:00"]

[calendars.berlin_all_days]
timezone = "Europe/Berlin"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[calendars.berlin_24x7_holidays]
timezone = "Europe/Berlin"
always_open = true
holidays = { country = "DE", subdivision = "BE" }

[calendars.new_york]
timezone = "America/New_York"
holidays = { country = "US", subdivision = "NY" }
[calendars.new_york.hours]
mon = ["08:00-12:00", "13:00-17:00"]
tue = ["08:00-12:00", "13:00-17:00"]
wed = ["08:00-12:00", "13:00-17:00"]
thu = ["08:00-12:00", "13:00-17:00"]
fri = ["08:00-12:00", "13:00-17:00"]

[calendars.new_york_all_days]
timezone = "America/New_York"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[calendars.new_york_sunday_night]
timezone = "America/New_York"
hours = { sun = ["01:00-03:00"] }

[calendars.adelaide]
timezone = "Australia/Adelaide"
holidays = { country = "AU", subdivision = "SA" }
[calendars.adelaide.hours]
mon = ["08:30-17:00"]
tue = ["08:30-17:00"]
wed = ["08:30-17:00"]
thu = ["08:30-17:00"]
fri = ["08:30-17:00"]

[calendars.adelaide_all_days]
timezone = "Australia/Adelaide"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[calendars.kathmandu]
timezone = "Asia/Kathmandu"
holidays = { country = "NP" }
[calendars.kathmandu.hours]
sun = ["10:00-17:00"]
mon = ["10:00-17:00"]
tue = ["10:00-17:00"]
wed = ["10:00-17:00"]
thu = ["10:00-17:00"]
fri = ["10:00-17:00"]

[calendars.kathmandu_night]
timezone = "Asia/Kathmandu"
[calendars.kathmandu_night.hours]
mon = ["00:00-06:00", "18:00-24:00"]
tue = ["00:00-06:00", "18:00-24:00"]
wed = ["00:00-06:00", "18:00-24:00"]
thu = ["00:00-06:00", "18:00-24:00"]
fri = ["00:00-06:00", "18:00-24:00"]

[calendars.santiago]
timezone = "America/Santiago"
holidays = { country = "CL" }
[calendars.santiago.hours]
mon = ["09:00-18:00"]
tue = ["09:00-18:00"]
wed = ["09:00-18:00"]
thu = ["09:00-18:00"]
fri = ["09:00-18:00"]

[calendars.santiago_all_days]
timezone = "America/Santiago"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[calendars.santiago_saturday_evening]
timezone = "America/Santiago"
hours = { sat = ["20:00-24:00"] }

[teams.support]
''', "test.toml")


def local(calendar: str, text: str) -> datetime:
    """'2026-04-02 16:00' read as wall time in the calendar's zone (first reading if repeated)."""
    return datetime.fromisoformat(text).replace(tzinfo=RULES.calendar(calendar).tz).astimezone(UTC)


def shown(calendar: str, instant: datetime) -> str:
    return instant.astimezone(RULES.calendar(calendar).tz).strftime("%Y-%m-%d %H:%M%z")


ADD_CASES = [
    # calendar, start (local wall time), working duration, expected (local, with offset), why
    ("berlin", "2026-03-02 06:00", 1 * H, "2026-03-02 10:00+0100", "before opening: starts at 09:00"),
    ("berlin", "2026-03-02 20:00", 1 * H, "2026-03-03 10:00+0100", "after hours: next business morning (seed 001)"),
    ("berlin", "2026-03-02 11:30", 1 * H, "2026-03-02 13:30+0100", "lunch break 12:00-13:00 skipped"),
    ("berlin", "2026-03-02 10:00", 2 * H, "2026-03-02 12:00+0100", "ends exactly at the lunch break: 12:00, not 13:00"),
    ("berlin", "2026-03-27 16:00", 2 * H, "2026-03-30 10:00+0200", "weekend with spring-forward Sunday"),
    ("berlin", "2026-10-23 16:00", 2 * H, "2026-10-26 10:00+0100", "weekend with fall-back Sunday"),
    ("berlin", "2026-04-02 16:00", 2 * H, "2026-04-07 10:00+0200", "Good Friday + weekend + Easter Monday"),
    ("berlin", "2026-12-31 16:00", 3 * H, "2027-01-04 11:00+0100", "year end: New Year's Day joins the weekend"),
    ("berlin", "2026-12-23 16:00", 3 * H, "2026-12-27 12:00+0100", "closure 24th, holidays 25th/26th, extra Sunday 10-14"),
    ("berlin", "2026-03-02 09:00", 7 * H, "2026-03-02 17:00+0100", "a whole day ends at the close, not next morning"),
    ("berlin", "2026-03-02 09:00", 35 * H, "2026-03-06 17:00+0100", "a whole week"),
    ("berlin_all_days", "2026-03-28 12:00", 24 * H, "2026-03-29 13:00+0200", "23-hour day: 24 real hours read 13:00"),
    ("berlin_all_days", "2026-10-24 12:00", 24 * H, "2026-10-25 11:00+0100", "25-hour day: 24 real hours read 11:00"),
    ("berlin_24x7_holidays", "2026-12-24 22:00", 4 * H, "2026-12-27 02:00+0100", "24×7 closed on public holidays"),
    ("new_york", "2026-10-30 16:00", 2 * H, "2026-11-02 09:00-0500", "fall-back weekend"),
    ("new_york", "2026-11-25 16:00", 2 * H, "2026-11-27 09:00-0500", "Thanksgiving"),
    ("new_york", "2026-12-23 15:00", 8 * H, "2026-12-24 15:00-0500", "Christmas Eve is a working day"),
    ("new_york_all_days", "2026-03-07 20:00", 24 * H, "2026-03-08 21:00-0400", "style-anchors B1: 24 h are not 20:00"),
    ("adelaide", "2026-04-02 16:00", 2 * H, "2026-04-07 09:30+0930", "Easter Fri-Mon in SA, DST ends on Easter Sunday"),
    ("adelaide", "2026-10-02 16:00", 2 * H, "2026-10-06 09:30+1030", "DST starts Sunday, Labour Day Monday"),
    ("adelaide", "2026-12-24 16:00", 3 * H, "2026-12-29 10:30+1030", "year end: Christmas, Proclamation Day observed"),
    ("adelaide", "2026-03-02 07:00", 30 * timedelta(minutes=1), "2026-03-02 09:00+1030", "half-hour offset zone, early start"),
    ("adelaide_all_days", "2026-04-04 12:00", 24 * H, "2026-04-05 11:00+0930", "southern 25-hour day"),
    ("adelaide_all_days", "2026-10-03 12:00", 24 * H, "2026-10-04 13:00+1030", "southern 23-hour day"),
    ("kathmandu", "2026-10-16 16:00", 2 * H, "2026-10-23 11:00+0545", "Saturday off, then Dashain Sun-Thu"),
    ("kathmandu", "2026-12-29 16:00", 2 * H, "2026-12-31 11:00+0545", "Tamu Lhochhar on the 30th"),
    ("kathmandu", "2026-12-31 16:00", 2 * H, "2027-01-01 11:00+0545", "year end: 1 January is a working Friday"),
    ("kathmandu", "2026-03-06 09:00", 30 * timedelta(minutes=1), "2026-03-06 10:30+0545", "+05:45 zone"),
    ("kathmandu_night", "2026-03-02 23:30", 1 * H, "2026-03-03 00:30+0545", "an interval ending at 24:00 runs on at 00:00"),
    ("kathmandu_night", "2026-03-06 23:30", 1 * H, "2026-03-09 00:30+0545", "Friday night to Monday 00:00"),
    ("kathmandu_night", "2026-03-02 06:00", 1 * H, "2026-03-02 19:00+0545", "closed 06:00-18:00"),
    ("santiago", "2026-09-04 17:00", 2 * H, "2026-09-07 10:00-0300", "spring forward at Sunday midnight"),
    ("santiago", "2026-04-02 17:00", 2 * H, "2026-04-06 10:00-0400", "Good Friday, Holy Saturday, fall back at midnight"),
    ("santiago", "2026-09-17 17:00", 2 * H, "2026-09-21 10:00-0300", "Fiestas Patrias join the weekend"),
    ("santiago", "2026-12-31 17:00", 2 * H, "2027-01-04 10:00-0300", "year end"),
]


@pytest.mark.parametrize("calendar,start,duration,expected,why", ADD_CASES, ids=[c[4] for c in ADD_CASES])
def test_add_working_time(calendar, start, duration, expected, why):
    cal = RULES.calendar(calendar)
    begin = local(calendar, start)
    due = cal.add(begin, duration)
    assert shown(calendar, due) == expected
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)  # stored in UTC
    assert cal.elapsed(begin, due) == duration


ELAPSED_CASES = [
    ("berlin_all_days", "2026-03-29 00:00", "2026-03-30 00:00", 23 * H, "spring-forward day has 23 h"),
    ("berlin_all_days", "2026-10-25 00:00", "2026-10-26 00:00", 25 * H, "fall-back day has 25 h"),
    ("new_york_sunday_night", "2026-03-08 00:00", "2026-03-09 00:00", 1 * H, "01:00-03:00 lasts 1 h on spring day"),
    ("new_york_sunday_night", "2026-11-01 00:00", "2026-11-02 00:00", 3 * H, "01:00-03:00 lasts 3 h on fall day"),
    ("adelaide_all_days", "2026-04-05 00:00", "2026-04-06 00:00", 25 * H, "southern fall-back day"),
    ("santiago_all_days", "2026-04-04 00:00", "2026-04-06 00:00", 49 * H, "midnight fall-back weekend"),
    ("santiago_all_days", "2026-09-05 00:00", "2026-09-07 00:00", 47 * H, "midnight spring-forward weekend"),
    ("santiago_saturday_evening", "2026-04-04 00:00", "2026-04-06 00:00", 5 * H,
     "20:00-24:00 lasts 5 h the night clocks go back at 24:00"),
    ("santiago_saturday_evening", "2026-09-05 00:00", "2026-09-07 00:00", 4 * H,
     "20:00-24:00 the night midnight is skipped: 4 h"),
    ("berlin", "2026-03-30 00:00", "2026-03-27 00:00", -7 * H, "negative when end is before start"),
    # Working weekdays Dec 21-23, 28-31, Jan 4-8 = 12 × 7 h, plus the extra Sunday Dec 27 (4 h);
    # Dec 24 closure, Dec 25/26 and Jan 1 holidays.
    ("berlin", "2026-12-21 00:00", "2027-01-11 00:00", 88 * H, "over Christmas and New Year"),
]


@pytest.mark.parametrize("calendar,start,end,expected,why", ELAPSED_CASES, ids=[c[4] for c in ELAPSED_CASES])
def test_elapsed_working_time(calendar, start, end, expected, why):
    assert RULES.calendar(calendar).elapsed(local(calendar, start), local(calendar, end)) == expected


def test_repeated_hour_before_midnight_belongs_to_saturday():
    # Santiago 2026-04-05 03:00 UTC: clocks go from Saturday 24:00 (-03) back to 23:00 (-04).
    cal = RULES.calendar("santiago_all_days")
    start, end = datetime(2026, 4, 5, 3, 10, tzinfo=UTC), datetime(2026, 4, 5, 3, 50, tzinfo=UTC)
    assert cal.local_date(start).isoformat() == "2026-04-04"
    assert cal.is_open(start)
    assert cal.elapsed(start, end) == timedelta(minutes=40)
    assert cal.add(start, timedelta(minutes=40)) == end


@pytest.mark.parametrize("zone,day,seconds,expected", [
    ("America/New_York", "2026-03-08", 2 * 3600 + 1800, "2026-03-08 07:00"),  # 02:30 does not exist: the jump
    ("America/New_York", "2026-11-01", 3600 + 1800, "2026-11-01 05:30"),  # 01:30 twice: the first (EDT)
    ("Europe/Berlin", "2026-03-29", 2 * 3600 + 1800, "2026-03-29 01:00"),
    ("America/Santiago", "2026-09-06", 0, "2026-09-06 04:00"),  # midnight does not exist
    ("America/Santiago", "2026-04-05", 0, "2026-04-05 04:00"),  # after 23:00-24:00 ran twice
    ("Asia/Kathmandu", "2026-03-02", 86_400, "2026-03-02 18:15"),  # 24:00 = next midnight
    ("Australia/Adelaide", "2026-10-04", 2 * 3600 + 900, "2026-10-03 16:30"),
])
def test_wall_to_utc(zone, day, seconds, expected):
    from datetime import date
    from zoneinfo import ZoneInfo
    got = wall_to_utc(date.fromisoformat(day), seconds, ZoneInfo(zone))
    assert got.strftime("%Y-%m-%d %H:%M") == expected


def test_24x7_is_plain_utc():
    cal = RULES.calendar("24x7")
    start = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)
    assert cal.add(start, 4 * H) == start + 4 * H
    assert cal.elapsed(start, start + 30 * 24 * H) == 30 * 24 * H


def test_zero_duration_and_negative():
    cal = RULES.calendar("berlin")
    sunday = local("berlin", "2026-03-01 12:00")
    assert cal.add(sunday, timedelta(0)) == sunday
    with pytest.raises(ValueError):
        cal.add(sunday, -H)


def test_next_open_and_closed_reason():
    cal = RULES.calendar("berlin")
    assert shown("berlin", cal.next_open(local("berlin", "2026-04-02 17:30"))) == "2026-04-07 09:00+0200"
    from datetime import date
    assert cal.closed_reason(date(2026, 4, 3)) == "holiday: Good Friday"
    assert cal.closed_reason(date(2026, 12, 24)) == "closure"
    assert cal.closed_reason(date(2026, 12, 26)).startswith("holiday")
    assert cal.closed_reason(date(2026, 3, 1)) == "no hours on sun"
    assert cal.closed_reason(date(2026, 12, 27)) is None  # extra working day


def test_30_day_target_spans_months_quickly():
    cal = RULES.calendar("new_york")
    start = local("new_york", "2026-01-05 08:00")
    due = cal.add(start, 30 * 24 * H)  # 720 working hours = 90 eight-hour days
    assert cal.elapsed(start, due) == 30 * 24 * H
    # Weekdays: Jan 19 (MLK), Feb 12 and 16 off → 19 + 18 in Jan/Feb, 22 + 22 in Mar/Apr = 81,
    # then May 1, 4-8, 11-13: the 90th day ends May 13 at 17:00 (EDT).
    assert shown("new_york", due) == "2026-05-13 17:00-0400"


# --- 24×7 with days of its own, holiday lists, a repeated wall time ------------------------------

def one_calendar(toml: str):
    """Rules holding the calendars in `toml` (and the one team rules need)."""
    return parse_rules(toml + "\n[teams.support]\n", "test.toml")


def test_24x7_extra_working_day_is_counted_as_it_is_open():
    rules = one_calendar('''
[calendars.round_the_clock]
timezone = "Europe/Berlin"
always_open = true
extra_working_days = { 2026-12-27 = ["10:00-14:00"] }
''')
    cal = rules.calendar("round_the_clock")
    day_start, day_end = local("berlin", "2026-12-27 00:00"), local("berlin", "2026-12-28 00:00")
    assert not cal.is_open(local("berlin", "2026-12-27 09:00")) and cal.is_open(local("berlin", "2026-12-27 10:00"))
    assert cal.elapsed(day_start, day_end) == 4 * H  # the day's own hours, not 24 h
    assert shown("berlin", cal.add(local("berlin", "2026-12-27 09:00"), 2 * H)) == "2026-12-27 12:00+0100"
    assert cal.elapsed(local("berlin", "2026-12-26 00:00"), day_start) == 24 * H  # other days stay 24 h


def test_holidays_only_keeps_the_named_ones_observed_days_included():
    rules = one_calendar('''
[calendars.desk]
timezone = "America/New_York"
holidays = { country = "US", only = ["Independence Day", "Thanksgiving Day"] }
[calendars.desk.hours]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
''')
    from datetime import date
    cal = rules.calendar("desk")
    assert cal.closed_reason(date(2026, 7, 3)) == "holiday: Independence Day"  # observed Friday
    assert cal.closed_reason(date(2026, 11, 26)) == "holiday: Thanksgiving Day"
    assert cal.closed_reason(date(2026, 10, 12)) is None  # Columbus Day: a working day here
    assert cal.closed_reason(date(2026, 11, 11)) is None  # Veterans Day
    assert "public holidays US (Independence Day, Thanksgiving Day)" in cal.describe()


def test_holidays_only_names_a_misspelt_holiday_and_lists_the_known_ones():
    from rules.schema import RulesError
    with pytest.raises(RulesError) as caught:
        one_calendar('''
[calendars.desk]
timezone = "America/New_York"
always_open = true
holidays = { country = "US", only = ["Thanksgiving"] }
''')
    message = str(caught.value)
    assert 'calendars.desk.holidays: only: got "Thanksgiving"; expected holiday names of US' in message
    assert "Thanksgiving Day" in message and "Labor Day" in message


def test_example_business_calendar_works_the_state_and_minor_federal_holidays():
    from datetime import date

    from rules import EXAMPLE_RULES, load_rules
    cal = load_rules(EXAMPLE_RULES).calendar("business")
    worked = [date(2026, 2, 12), date(2026, 10, 12), date(2026, 11, 3), date(2026, 11, 11)]  # Lincoln, Columbus, …
    assert [cal.closed_reason(d) for d in worked] == [None] * 4
    closed = [date(2026, 1, 1), date(2026, 5, 25), date(2026, 7, 3), date(2026, 9, 7), date(2026, 11, 26),
              date(2026, 12, 25)]
    assert all(cal.closed_reason(d).startswith("holiday: ") for d in closed)


def test_a_shift_ending_in_the_repeated_hour_ends_at_its_first_occurrence():
    # New York, 2026-11-01: 01:00-02:00 EDT, then 01:00-02:00 EST again. A shift 00:00-01:30 ends at the
    # first 01:30 (EDT, 05:30 UTC): 1.5 h of work, not 2.5 h. The README states this choice.
    rules = one_calendar('''
[calendars.night]
timezone = "America/New_York"
[calendars.night.hours]
sun = ["00:00-01:30"]
''')
    cal = rules.calendar("night")
    start = local("new_york", "2026-11-01 00:00")
    assert cal.elapsed(start, start + 5 * H) == timedelta(hours=1, minutes=30)
    assert cal.add(start, timedelta(hours=1, minutes=30)).strftime("%H:%M %Z") == "05:30 UTC"
