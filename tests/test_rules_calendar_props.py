"""Property-based invariants of working-time arithmetic (hypothesis), near DST in eight zones."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules.calendar import DAY_SECONDS, WorkCalendar
from rules.metrics import active_add, normalise

UTC = timezone.utc
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Adelaide", "Asia/Kathmandu", "America/Santiago",
         "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"]
HOLIDAYS = [None, ("DE", "BE"), ("US", "NY"), ("AU", "SA"), ("CL", None), ("NP", None)]
QUARTER = 900  # working intervals on a 15-minute grid hit the DST change times (01:00-03:00)


def _transitions(zone: str) -> list[datetime]:
    tz, found = ZoneInfo(zone), []
    t = datetime(2025, 1, 1, tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t.year < 2028:
        now = t.astimezone(tz).utcoffset()
        if now != offset:
            found.append(t)
            offset = now
        t += timedelta(minutes=30)
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


@st.composite
def day_hours(draw):
    cuts = sorted(set(draw(st.lists(st.integers(0, DAY_SECONDS // QUARTER), max_size=6))))
    pairs = list(zip(cuts[::2], cuts[1::2]))
    return tuple((a * QUARTER, b * QUARTER) for a, b in pairs if b > a)


@st.composite
def calendars(draw, zone=None):
    zone = zone or draw(st.sampled_from(ZONES))
    weekly = tuple(draw(day_hours()) for _ in range(7))
    assume(any(weekly))
    country = draw(st.sampled_from(HOLIDAYS))
    closures = frozenset(draw(st.lists(st.dates(date(2025, 1, 1), date(2028, 12, 31)), max_size=3)))
    return WorkCalendar("prop", zone, weekly, holiday_country=country and country[0],
                        holiday_subdivision=country and country[1], closures=closures)


@st.composite
def instants(draw, zone: str):
    """Instants in 2025-2027, half of them within two days of a DST change of `zone`."""
    if TRANSITIONS[zone] and draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS[zone]))
        return base + timedelta(seconds=draw(st.integers(-2 * 86_400, 2 * 86_400)))
    seconds = draw(st.integers(0, 3 * 365 * 86_400))
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=draw(st.integers(0, 999_999)))


durations = st.builds(lambda m, us: timedelta(minutes=m, microseconds=us),
                      st.integers(0, 400 * 60), st.integers(0, 999_999))

@st.composite
def cases(draw):
    cal = draw(calendars())
    return cal, draw(instants(cal.timezone_name))


@given(cases(), durations, durations)
def test_add_is_additive(case, a, b):
    cal, t = case
    assert cal.add(cal.add(t, a), b) == cal.add(t, a + b)


@given(cases(), durations)
def test_elapsed_inverts_add(case, d):
    cal, t = case
    assert cal.elapsed(t, cal.add(t, d)) == d


@given(cases(), durations, durations, st.integers(0, 10 * 86_400))
def test_add_is_monotonic(case, a, b, shift):
    cal, t = case
    small, large = sorted((a, b))
    assert cal.add(t, small) <= cal.add(t, large)
    assert cal.add(t, a) <= cal.add(t + timedelta(seconds=shift), a)


@given(cases(), durations)
def test_result_never_inside_a_closed_period(case, d):
    cal, t = case
    assume(d > timedelta(0))
    due = cal.add(t, d)
    assert due > t
    # `due` ends an open period or lies inside one: the instant just before it is open.
    assert cal.is_open(due - timedelta(microseconds=1))


@given(cases(), st.integers(0, 20 * 86_400), st.integers(0, 20 * 86_400))
def test_elapsed_is_additive(case, x, y):
    cal, a = case
    b, c = a + timedelta(seconds=x), a + timedelta(seconds=x + y)
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert cal.elapsed(c, a) == -cal.elapsed(a, c)


@st.composite
def pause_lists(draw, around: datetime):
    spans = draw(st.lists(st.tuples(st.integers(-3 * 86_400, 30 * 86_400), st.integers(1, 5 * 86_400)), max_size=4))
    return normalise([(around + timedelta(seconds=s), around + timedelta(seconds=s + n)) for s, n in spans])


@given(st.data(), cases(), durations)
def test_pausing_never_makes_a_deadline_earlier(data, case, d):
    cal, t = case
    pauses = data.draw(pause_lists(t))
    extra = data.draw(pause_lists(t))
    before = active_add(cal, t, d, pauses)
    after = active_add(cal, t, d, normalise(pauses + extra))
    assert after >= before


# --- an independent oracle: count open minutes by brute force around DST changes ----------

def _oracle_minutes(cal: WorkCalendar, start: datetime, minutes: int) -> int:
    """Open minutes in [start, start + minutes), from the definition: an interval [a, b) of a
    local date runs from the first minute the wall clock reads ≥ a to the first it reads ≥ b."""
    tz = cal.tz
    margin = 3 * 24 * 60
    grid = [start + timedelta(minutes=i) for i in range(-margin, minutes + margin)]
    walls = [u.astimezone(tz).replace(tzinfo=None) for u in grid]

    def first_reading(wall: datetime) -> int:
        return next(i for i, w in enumerate(walls) if w >= wall)

    open_index = set()
    first_day = walls[0].date() + timedelta(days=1)
    for offset in range((walls[-1].date() - first_day).days - 1):
        day = first_day + timedelta(days=offset)
        for a, b in cal.wall_hours(day):
            base = datetime.combine(day, datetime.min.time())
            lo, hi = first_reading(base + timedelta(seconds=a)), first_reading(base + timedelta(seconds=b))
            open_index.update(range(lo, hi))
    return sum(1 for i in range(margin, margin + minutes) if i in open_index)


# The brute-force oracle is slow: two fifths of the profile's examples (60 of CI's 150; see tests/conftest.py).
@settings(max_examples=max(1, settings.default.max_examples * 2 // 5))
@given(st.data(), st.sampled_from([z for z in ZONES if TRANSITIONS[z]]))
def test_elapsed_matches_a_brute_force_count_around_dst(data, zone):
    cal = data.draw(calendars(zone))
    change = data.draw(st.sampled_from(TRANSITIONS[zone]))
    start = change.replace(minute=0, second=0) - timedelta(hours=data.draw(st.integers(0, 36)))
    minutes = 3 * 24 * 60
    assert cal.elapsed(start, start + timedelta(minutes=minutes)) == timedelta(minutes=_oracle_minutes(cal, start, minutes))
