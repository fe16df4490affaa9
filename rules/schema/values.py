"""The rules file's vocabularies and value types: durations, intervals, zones, ids, shifts, templates,
custom-field references. Each type parses what a person writes in TOML and says what it expects."""
from __future__ import annotations

import json
import re
import string
import typing
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict

from rules.calendar import ALWAYS_OPEN, DAY_SECONDS, format_interval

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
METRICS: tuple[str, ...] = ("first_response", "next_update", "next_reply", "resolution")
# The normalised ticket statuses (connectors.model.STATUSES; rules/ must not import connectors).
STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")
Status = Literal["new", "open", "pending", "hold", "solved", "closed"]
Mode = Literal["rederive", "carry"]
ClimbClock = Literal["calendar", "wall"]
CONNECTORS: tuple[str, ...] = ("zendesk", "jira")
BUILTIN_CALENDAR = ALWAYS_OPEN.name  # "24x7": always there, may be redefined in the file


class Strict(BaseModel):
    """A table of the rules file: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # What an unknown key in this table is called in error messages.
    key_kind: typing.ClassVar[str] = "key"


def show(value: object) -> str:
    """A value as an error message quotes it: text in double quotes, dates in ISO form."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+)s)?$")
DURATION_HELP = 'a positive number of hours or a duration like "30m", "4h", "1h30m", "7d" (d = 24 working hours)'


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(hours=value)
    elif isinstance(value, str) and value and (m := _DURATION.match(value.strip())):
        d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
        result = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    else:
        raise ValueError(f"got {show(value)}; expected {DURATION_HELP}")
    if result <= timedelta(0):
        raise ValueError(f"got {show(value)}; expected {DURATION_HELP}")
    return result


def compact_duration(duration: timedelta) -> str:
    """timedelta(hours=1, minutes=30) → '1h30m' (the rules-file form)."""
    seconds = int(duration.total_seconds())
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


_INTERVAL = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
INTERVAL_HELP = '"HH:MM-HH:MM" with start before end, end may be 24:00'


def interval(value: object) -> tuple[int, int]:
    """"HH:MM-HH:MM" as [start, end) seconds of the day."""
    if isinstance(value, tuple):
        return value
    m = _INTERVAL.match(value.strip()) if isinstance(value, str) else None
    if m:
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if h1 < 24 and m1 < 60 and m2 < 60 and end <= DAY_SECONDS and start < end:
            return start, end
    raise ValueError(f"got {show(value)}; expected {INTERVAL_HELP}")


def check_disjoint(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intervals in order; a ValueError when two overlap."""
    ordered = sorted(intervals)
    for a, b in zip(ordered, ordered[1:]):
        if b[0] < a[1]:
            raise ValueError(f"got {format_interval(a)} and {format_interval(b)}, which overlap; "
                             "expected intervals that do not overlap")
    return ordered


def _timezone(value: object) -> str:
    try:
        if isinstance(value, str) and ZoneInfo(value):
            return value
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise ValueError(f"got {show(value)}; expected an IANA time zone like Europe/Berlin, "
                     "America/New_York, Australia/Adelaide, UTC")


def id_text(value: object) -> object:
    """Helpdesk ids are numbers in Zendesk; accept 3101 as well as "3101"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Interval = Annotated[tuple[int, int], BeforeValidator(interval)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]
IdText = Annotated[str, BeforeValidator(id_text)]

SHIFTS_HELP = f'a table "HH:MM-HH:MM" = person name, e.g. {{ "08:00-20:00" = "erik" }} ({INTERVAL_HELP})'


def _shifts(value: object) -> list[tuple[int, int, str]]:
    if isinstance(value, list) and all(isinstance(v, tuple) for v in value):  # already parsed
        return value
    if not isinstance(value, dict):
        raise ValueError(f"got {show(value)}; expected {SHIFTS_HELP}")
    shifts = []
    for span, person in value.items():
        start, end = interval(span)
        if not isinstance(person, str):
            raise ValueError(f"{span}: got {show(person)}; expected a person name from [people]")
        shifts.append((start, end, person))
    check_disjoint([(a, b) for a, b, _ in shifts])
    return sorted(shifts)


def _override(value: object) -> list[tuple[int, int, str]]:
    # A date's override: one person for the whole day, or shifts that replace those hours.
    if isinstance(value, str):
        return [(0, DAY_SECONDS, value)]
    return _shifts(value)


Shifts = Annotated[list[tuple[int, int, str]], BeforeValidator(_shifts)]
DayOverride = Annotated[list[tuple[int, int, str]], BeforeValidator(_override)]


@dataclass(frozen=True)
class Placeholders:
    """A before-validator: text whose {placeholders} are all among `fields`."""

    fields: tuple[str, ...]

    def __call__(self, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as e:
            raise ValueError(f"got {show(value)}: {e}; expected text with {{placeholders}}") from None
        unknown = sorted(n for n in names if n not in self.fields)
        if unknown:
            raise ValueError(f"got placeholder {{{unknown[0]}}}; expected one of "
                             f"{', '.join('{' + f + '}' for f in self.fields)}")
        return value


FIELD_HELP = ('a helpdesk custom field id ("360010"), or a table per connector '
              '{ zendesk = "360010", jira = "customfield_10061" }')


def _field_ref(value: object) -> dict[str, object]:
    # One id for every helpdesk ("360010", 360010) or a table per connector.
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return {"*": str(value)}
    if isinstance(value, dict):
        unknown = sorted(k for k in value if k not in CONNECTORS and k != "*")
        if unknown:
            raise ValueError(f"got connector {show(unknown[0])}; expected {FIELD_HELP}")
        return {k: id_text(v) for k, v in value.items()}
    raise ValueError(f"got {show(value)}; expected {FIELD_HELP}")


FieldRef = Annotated[dict[str, str], BeforeValidator(_field_ref)]


def field_id(ref: dict[str, str] | None, connector: str) -> str | None:
    """The custom field id `ref` names in one helpdesk (None: not configured there)."""
    if not ref:
        return None
    return ref.get(connector) or ref.get("*")


def field_value(ticket: object, ref: dict[str, str] | None) -> object:
    """The ticket's value of the custom field `ref` names (None when absent or not configured).

    A Jira option (`{"value": "yes"}`) reads as its value.
    """
    fields = getattr(ticket, "custom_fields", None)
    if not fields:
        return None  # most tickets carry none: no lookup
    fid = field_id(ref, getattr(ticket, "connector", ""))
    value = fields.get(fid) if fid else None
    if isinstance(value, dict):
        value = value.get("value", value.get("name"))
    return value
