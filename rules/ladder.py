"""Escalation ladders as a running escalation keeps them: frozen snapshots, people and on-call rotas.

When a case starts to escalate, its team's ladder is copied out of the rules into the case's
memory, with every person, rota and helpdesk group it names resolved (Grafana OnCall's
escalation snapshot; GitLab: "existing alerts should follow the original rules"). A later
edit of the rules file changes new escalations only. Everything here is plain data with a
JSON form; `LadderSnapshot.take` is the only reader of the rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.codec import JsonForm, Wire
from rules.schema import CONNECTORS, Rules


@dataclass(frozen=True)
class PersonRef(JsonForm):
    """A person as the snapshot names them: key, display name, helpdesk user ids."""

    wire = Wire(tables=("ids",), same_as={"name": "key"})

    key: str
    name: str
    ids: tuple[tuple[str, str], ...] = ()  # (connector, user id)
    email: str | None = None

    def id_for(self, connector: str) -> str | None:
        """The person's user id in one helpdesk (None when the rules give none)."""
        for c, i in self.ids:  # a loop, not next(genexpr): asked several times a decision
            if c == connector:
                return i
        return None

    @classmethod
    def of(cls, rules: Rules, key: str) -> "PersonRef":
        """The person `key` of the rules (one per rules: it is plain frozen data)."""
        return rules.once(("person", key), lambda: cls._of(rules, key))

    @classmethod
    def _of(cls, rules: Rules, key: str) -> "PersonRef":
        spec = rules.people[key]
        ids = tuple(sorted((c, getattr(spec, c)) for c in CONNECTORS if getattr(spec, c)))
        return cls(key, spec.name or key, ids, spec.email)

Shift = tuple[int, int, str]  # [start, end) seconds of local wall time, person key


@dataclass(frozen=True)
class RotaSnapshot(JsonForm):
    """A weekly on-call rota in its own zone; date overrides replace the hours they cover."""

    wire = Wire(tables=("overrides",))

    name: str
    timezone: str
    weekly: tuple[tuple[Shift, ...], ...]  # Monday first
    overrides: tuple[tuple[date, tuple[Shift, ...]], ...] = ()
    fallback: str | None = None
    people: tuple[PersonRef, ...] = ()

    @classmethod
    def take(cls, rules: Rules, name: str) -> "RotaSnapshot":
        spec = rules.rotas[name]
        weekly = tuple(tuple(getattr(spec.weekly, d)) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
        overrides = tuple(sorted((d, tuple(shifts)) for d, shifts in spec.overrides.items()))
        keys = {p for day in weekly for *_, p in day} | {p for _, day in overrides for *_, p in day}
        keys |= {spec.fallback} if spec.fallback else set()
        return cls(name, spec.timezone, weekly, overrides, spec.fallback,
                   tuple(PersonRef.of(rules, k) for k in sorted(keys)))

    def on_call(self, instant: datetime) -> PersonRef | None:
        """Who is on call at `instant`: a date override, else the weekly shift, else the fallback."""
        local = instant.astimezone(ZoneInfo(self.timezone))
        second = local.hour * 3600 + local.minute * 60 + local.second
        key = None
        for day, shifts in self.overrides:
            if day == local.date():
                key = next((p for start, end, p in shifts if start <= second < end), None)
        if key is None:
            key = next((p for start, end, p in self.weekly[local.weekday()] if start <= second < end), None)
        key = key or self.fallback
        return next((p for p in self.people if p.key == key), None) if key else None

@dataclass(frozen=True)
class LevelSnapshot(JsonForm):
    """One rung, resolved: helpdesk targets per connector, owner sources, actions, timeout."""

    wire = Wire(keys={"climb_after": "climb_after_seconds"}, same_as={"title": "name"})

    name: str
    title: str
    team: str | None = None
    targets: tuple[tuple[str, str | None, str | None], ...] = ()  # (connector, group_id, assignee_id)
    person: PersonRef | None = None
    rota: RotaSnapshot | None = None
    owner: PersonRef | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    followers: tuple[PersonRef, ...] = ()
    climb_after: timedelta | None = None
    climb_clock: str = "calendar"

    def target(self, connector: str) -> tuple[str | None, str | None]:
        """(group_id, assignee_id) of this level's team in one helpdesk."""
        for c, g, a in self.targets:
            if c == connector:
                return g, a
        return None, None

    def resolve_owner(self, instant: datetime) -> tuple[PersonRef | None, str]:
        """The single named owner at `instant` and how it was found: person, rota, or owner."""
        if self.person is not None:
            return self.person, "named person"
        if self.rota is not None:
            on_call = self.rota.on_call(instant)
            if on_call is not None:
                return on_call, f"on call in rota {self.rota.name}"
        if self.owner is not None:
            return self.owner, "level owner" + (f" (nobody on call in rota {self.rota.name})" if self.rota else "")
        return None, "no owner"

@dataclass(frozen=True)
class LadderSnapshot(JsonForm):
    """A team's ladder as it stood in rules `rules_version` when the escalation started."""

    name: str
    rules_version: str
    levels: tuple[LevelSnapshot, ...]

    @classmethod
    def take(cls, rules: Rules, name: str) -> "LadderSnapshot":
        """The ladder `name` as the rules hold it (one snapshot per rules: it is plain frozen data)."""
        return rules.once(("ladder", name), lambda: cls._take(rules, name))

    @classmethod
    def _take(cls, rules: Rules, name: str) -> "LadderSnapshot":
        levels = []
        for spec in rules.ladders[name].levels:
            team = rules.teams.get(spec.team) if spec.team else None
            targets = tuple((c, t.group_id, t.assignee_id) for c in CONNECTORS
                            if team is not None and (t := getattr(team, c)) is not None)
            levels.append(LevelSnapshot(
                name=spec.name, title=spec.title or spec.name, team=spec.team, targets=targets,
                person=PersonRef.of(rules, spec.person) if spec.person else None,
                rota=RotaSnapshot.take(rules, spec.rota) if spec.rota else None,
                owner=PersonRef.of(rules, spec.owner) if spec.owner else None,
                priority=spec.priority, tags=tuple(spec.tags),
                followers=tuple(PersonRef.of(rules, f) for f in spec.followers),
                climb_after=spec.climb_after, climb_clock=spec.climb_clock,
            ))
        return cls(name, rules.version, tuple(levels))

    def index(self, level_name: str) -> int | None:
        for i, level in enumerate(self.levels):
            if level.name == level_name:
                return i
        return None