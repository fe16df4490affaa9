"""Instants in words are formatted by hand (strftime costs a decision dozens of microseconds): they read as
strftime writes them, in every zone, before and after DST changes, at any minute."""
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules import wording

ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe")]


def instants(count=3000):
    rng = random.Random(11)
    start = datetime(1990, 1, 1, tzinfo=UTC)
    return [start + timedelta(seconds=rng.randrange(60 * 365 * 86_400), microseconds=rng.randrange(10**6))
            for _ in range(count)]


def test_instants_read_as_strftime_writes_them():
    for i, instant in enumerate(instants()):
        zone = ZONES[i % len(ZONES)]
        local = instant.astimezone(zone)
        assert wording.minute_text(instant) == instant.strftime("%Y-%m-%d %H:%M")
        assert wording.minute_text(local) == local.strftime("%Y-%m-%d %H:%M")
        assert wording.zone_text(instant, zone) == local.strftime(f"%a %d %b %Y %H:%M {zone.key}")
        assert wording.customer_time(instant, zone, instant).startswith(local.strftime("%a ") + f"{local.day} ")
        assert local.strftime(" at %H:%M ") in wording.customer_time(instant, zone, instant)


def test_a_naive_instant_and_an_early_year_keep_four_digits():
    assert wording.minute_text(datetime(987, 3, 4, 5, 6)) == "0987-03-04 05:06"
    berlin = ZoneInfo("Europe/Berlin")
    assert wording.zone_text(datetime(2026, 3, 29, 0, 59, tzinfo=UTC), berlin) == "Sun 29 Mar 2026 01:59 Europe/Berlin"
    assert wording.zone_text(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), berlin) == "Sun 29 Mar 2026 03:00 Europe/Berlin"
