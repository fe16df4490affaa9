"""Checks that span sections of the rules file, in one table (`CHECKS`): mostly references (`Ref`: a
key path whose name must be defined in another section), and a few rules across sections.

They read the raw TOML, not the validated models: a file with one bad value has no models, and its
broken references must be reported with the rest, under the key path the user wrote.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rules.calendar import WEEKDAYS
from rules.schema.people import SEED_ROLE_RIGHTS
from rules.schema.sla import Routing
from rules.schema.values import BUILTIN_CALENDAR, CONNECTORS, DURATION_HELP, PRIORITIES, show

Raw = Mapping[str, Any]  # a table of the TOML as read, before validation


def table(node: object, *keys: str) -> Raw:
    """The table at `keys` below `node` (empty when absent or not a table)."""
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _levels(ladder: object) -> list[Raw]:
    levels = table(ladder).get("levels")
    return [lv for lv in levels if isinstance(lv, Mapping)] if isinstance(levels, list) else []


def _any_level(data: Raw) -> list[str]:
    return sorted({str(lv.get("name")) for ladder in table(data, "ladders").values() for lv in _levels(ladder)})


def _default_levels(data: Raw) -> list[str]:
    default = table(data, "escalation").get("ladder")
    ladder = table(data, "ladders", default) if isinstance(default, str) else {}
    return [str(lv.get("name")) for lv in _levels(ladder)]


@dataclass(frozen=True)
class Names:
    """What references point into: the names it holds, and how a miss reads."""

    names: Callable[[Raw], list[str]]
    miss: str  # "names no team"
    section: str = ""  # where they are defined, cited as (a [<section>.<name>] section)
    none: str = "(none defined)"

    def problem(self, data: Raw, path: str, value: str, cite: bool) -> str | None:
        """The error for `value` at `path`, or None when it names something."""
        names = self.names(data)
        if value in names:
            return None
        where = f" (a [{self.section}.<name>] section)" if cite and self.section else ""
        return f"{path}: got {show(value)}, which {self.miss}; expected one of {', '.join(names) or self.none}{where}"


TEAMS = Names(lambda data: list(table(data, "teams")), "names no team", "teams")
PEOPLE = Names(lambda data: list(table(data, "people")), "names no person", "people")
ROTAS = Names(lambda data: list(table(data, "rotas")), "names no rota", "rotas")
LADDERS = Names(lambda data: list(table(data, "ladders")), "names no ladder", "ladders")
TIERS = Names(lambda data: list(table(data, "tiers")), "names no tier", "tiers")
CALENDARS = Names(lambda data: sorted(set(table(data, "calendars")) | {BUILTIN_CALENDAR}), "names no calendar",
                  "calendars")
ROLES = Names(lambda data: [*SEED_ROLE_RIGHTS, *(r for r in table(data, "roles", "rights") if r not in SEED_ROLE_RIGHTS)],
              "names no role", "roles.rights")
CHANNELS = Names(lambda data: list(table(data, "alerts", "channels")), "names no alert channel", "alerts.channels")
ANY_LEVEL = Names(_any_level, "is not a level of any ladder", none="(no ladders defined)")
HOLDERS = Names(lambda data: [*_any_level(data), *(k for k, t in table(data, "teams").items()
                                                    if isinstance(t, dict) and t.get("kind") == "vendor")],
                "is neither a ladder level nor a vendor team")
DEFAULT_LEVEL = Names(_default_levels, "is not a level of escalation.ladder", none="(no default ladder)")


@dataclass(frozen=True)
class Ref:
    """A key path that holds a reference: `*` is every key of a table, `[*]` every item of a list,
    `(a|b)` the keys a and b in that order."""

    path: str
    to: Names
    cite: bool = True  # end the error by citing the section the names come from
    key: bool = False  # the table key is the reference, not its value
    default: str | None = None  # what an absent key means

    def __call__(self, data: Raw) -> list[str]:
        """The problems of every reference this row finds in `data`."""
        found = list(walk(data, self.path)) or ([(self.path, "", self.default)] if self.default is not None else [])
        problems = []
        for path, key, value in found:
            name = key if self.key else value
            problem = self.to.problem(data, path, name, self.cite) if isinstance(name, str) else None
            if problem:
                problems.append(problem)
        return problems


def walk(data: Raw, pattern: str) -> Iterator[tuple[str, str, object]]:
    """(key path, last key, value) of every place in `data` that `pattern` matches, in file order."""
    found: list[tuple[str, str, object]] = [("", "", data)]
    for part in pattern.split("."):
        keys, items = part.removesuffix("[*]"), part.endswith("[*]")
        found = [(f"{path}.{key}" if path else key, key, value)
                 for path, _, node in found for key, value in _children(node, keys)]
        if items:
            found = [(f"{path}[{i}]", key, item) for path, key, node in found
                     for i, item in enumerate(node if isinstance(node, list) else [])]
    return iter(found)


def _children(node: object, keys: str) -> list[tuple[str, object]]:
    if not isinstance(node, Mapping):
        return []
    if keys == "*":
        return list(node.items())
    wanted = keys.strip("()").split("|")
    return [(k, node[k]) for k in wanted if k in node]


def _tiers_disjoint(data: Raw) -> list[str]:
    problems = []
    for key in ("organizations", "tags"):
        owner: dict[str, str] = {}
        for name, tier in table(data, "tiers").items():
            for value in (str(v) for _, _, v in walk(table(tier), f"{key}[*]")):
                if value in owner:
                    problems.append(f"tiers.{name}.{key}: got {show(value)}, already in tiers.{owner[value]}; "
                                    "expected each value in one tier only")
                owner.setdefault(value, name)
    return problems


def _closures_not_extra(data: Raw) -> list[str]:
    problems = []
    for path, _, calendar in walk(data, "calendars.*"):
        extra = {str(d) for d in table(calendar, "extra_working_days")}
        problems += [f"{path}.closures: got {show(day)}, also in extra_working_days; expected a date in one of "
                     "them only" for _, _, day in walk(table(calendar), "closures[*]") if str(day) in extra]
    return problems


def _later_levels_owned(data: Raw) -> list[str]:
    return [f"{path}: no escalation owner; expected person, rota or owner (seed 003: an escalated case has a "
            "single named owner)" for path, _, level in walk(data, "ladders.*.levels[*]")
            if isinstance(level, Mapping) and not path.endswith("[0]")
            and not any(level.get(k) for k in ("person", "rota", "owner"))]


def _threshold_levels(data: Raw) -> list[str]:
    ladders, teams = table(data, "ladders"), table(data, "teams")
    default = table(data, "escalation").get("ladder")
    everyone = bool(ladders) and bool(default or all(table(teams, t).get("ladder") for t in teams))
    problems = []
    for path, _, level in walk(data, "escalation.thresholds.*[*].level"):
        if not isinstance(level, str):
            continue
        if not everyone:
            problems.append(f"{path}: got {show(level)}, but no ladder applies to every team; expected "
                            "escalation.ladder = <a [ladders.<name>] section>")
            continue
        for name, ladder in ladders.items():
            names = [lv.get("name") for lv in _levels(ladder)]
            if level not in names:
                problems.append(f"{path}: got {show(level)}, which is not a level of ladders.{name}; "
                                f"expected a level every ladder has: {', '.join(map(str, names))}")
    return problems


def _targets_complete(data: Raw) -> list[str]:
    sla = table(data, "sla")
    if "targets" not in sla:
        return []
    problems = (["sla.resolution_hours: got both resolution_hours (v1) and targets; expected only sla.targets"]
                if "resolution_hours" in sla else [])
    return problems + [f"sla.targets.{p}: no resolution target; expected resolution = {DURATION_HELP} for every "
                       "priority (it sets due_at)" for p in PRIORITIES
                       if not isinstance(table(sla, "targets", p).get("resolution"), (int, float, str))]


_DAYS = "(" + "|".join(WEEKDAYS) + ")"
_KINDS = "(" + "|".join(CONNECTORS) + ").(users|groups)"

CHECKS: tuple[Callable[[Raw], list[str]], ...] = (
    Ref("routing.default_team", TEAMS, default=Routing.model_fields["default_team"].default),
    Ref("routing.reason_codes.*", TEAMS),
    Ref("sla.default_calendar", CALENDARS, cite=False),
    Ref("sla.calendar_by_priority.*", CALENDARS, cite=False),
    Ref("sla.metrics.*.calendar", CALENDARS, cite=False),
    Ref("tiers.*.calendar", CALENDARS, cite=False),
    Ref("tiers.*.calendar_by_priority.*", CALENDARS, cite=False),
    Ref("teams.*.calendar", CALENDARS, cite=False),
    Ref("sla.default_tier", TIERS, cite=False),
    _tiers_disjoint,
    _closures_not_extra,
    Ref("escalation.ladder", LADDERS),
    Ref("teams.*.ladder", LADDERS),
    Ref("teams.*.rota", ROTAS),
    Ref("ladders.*.levels[*].team", TEAMS),
    Ref("ladders.*.levels[*].rota", ROTAS),
    Ref("ladders.*.levels[*].(person|owner)", PEOPLE),
    Ref("ladders.*.levels[*].followers[*]", PEOPLE),
    _later_levels_owned,
    Ref(f"rotas.*.weekly.{_DAYS}", PEOPLE),
    Ref(f"rotas.*.weekly.{_DAYS}.*", PEOPLE),
    Ref("rotas.*.overrides.*", PEOPLE),
    Ref("rotas.*.overrides.*.*", PEOPLE),
    Ref("rotas.*.fallback", PEOPLE),
    _threshold_levels,
    Ref("milestones.tech_lead.team", TEAMS),
    Ref("account_managers.default", PEOPLE),
    Ref("account_managers.tiers.*", TIERS, key=True),
    Ref("account_managers.tiers.*", PEOPLE),
    Ref("account_managers.organizations.*", PEOPLE),
    Ref("vendor.calendar", CALENDARS),
    Ref("vendor.risk_level", ANY_LEVEL),
    Ref("vendor.notify[*]", PEOPLE),
    Ref("customer_updates.send_hours", CALENDARS),
    Ref("customer_updates.send_hours_by_tier.*", TIERS, key=True),
    Ref("customer_updates.send_hours_by_tier.*", CALENDARS),
    Ref("triggers.*.level", ANY_LEVEL),
    Ref("bouncing.level", ANY_LEVEL),
    Ref("ola.budgets.*", HOLDERS, key=True),
    Ref("predictive.level", ANY_LEVEL),
    Ref("triggers.*.notify[*]", PEOPLE),
    Ref("roles.default", ROLES),
    Ref("roles.people.*", PEOPLE, key=True),
    Ref("roles.people.*", ROLES),
    Ref(f"roles.{_KINDS}.*", ROLES),
    Ref("people.*.alerts[*]", CHANNELS),
    Ref("people.*.calendar", CALENDARS),
    Ref("recurring.team", TEAMS),
    Ref("recurring.level", DEFAULT_LEVEL),
    _targets_complete,
)


def cross_check(data: Raw) -> list[str]:
    """Every problem spanning several sections, found on the raw TOML so they show with the others."""
    return [p for check in CHECKS for p in check(data)]
