"""Escalation triggers (seed 003) and the tier's priority floor.

`[triggers.<name>]`: keywords in the subject / description, ticket tags, or a promised date
(`promised_field`) coming within `within`. A trigger fires once per case (`trigger:<name>` in
`CaseMemory.fired`), records a `trigger` timeline event and climbs the ladder at once (to
`level`, else one level up), raising the priority to `priority`. A tier's `priority_floor`
(high-value account) keeps its cases at or above that priority; the first time it lifts a case
the timeline says so (`trigger:tier_floor:<tier>`, name "high_value").
"""
from __future__ import annotations

import functools
import re
from datetime import datetime

from rules import wording
from rules.calendar import parse_instant
from rules.decision import Action, ActionKind, CaseMemory, TimelineKind
from rules.effects import Effects
from rules.escalation import Push
from rules.facts import TicketFacts
from rules.ladder import PersonRef
from rules.schema import Rules, TriggerField, field_value


@functools.lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A keyword as whole words, any run of whitespace between them, any case; compiled once per keyword."""
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in keyword.split()) + r"(?!\w)", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _any_keyword(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a trigger's keywords: most texts hit none, and one search tells."""
    return re.compile("|".join(f"(?:{_keyword_pattern(k).pattern})" for k in keywords), re.IGNORECASE)


def _keyword_hit(text: str, keyword: str) -> bool:
    return _keyword_pattern(keyword).search(text) is not None


def _first_keyword(text: str, keywords: list[str]) -> str | None:
    """The first of `keywords` (in the rules' order) that `text` holds."""
    if not keywords or _any_keyword(tuple(keywords)).search(text) is None:
        return None
    return next((k for k in keywords if _keyword_hit(text, k)), None)


def _text(ticket: TicketFacts, where: TriggerField) -> str:
    return (ticket.subject if where == "subject" else ticket.description) or ""


def _every_keyword(rules: Rules) -> re.Pattern[str] | None:
    """One pattern for all the triggers' keywords (None: no trigger has any), once per rules."""
    return rules.once("trigger_keywords", lambda: _union(tuple(k for spec in rules.triggers.values()
                                                                for k in spec.keywords)))


def _union(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    return _any_keyword(keywords) if keywords else None


def _searched(ticket: TicketFacts, rules: Rules) -> dict[str, str]:
    """The ticket's texts that hold any trigger keyword, by field (most hold none: one search each tells)."""
    pattern = _every_keyword(rules)
    if pattern is None:
        return {}
    texts = {where: _text(ticket, where) for where in ("subject", "description")}
    return {where: text for where, text in texts.items() if text and pattern.search(text) is not None}


def trigger_pushes(ticket: TicketFacts, rules: Rules, memory: CaseMemory, observed_at: datetime, now: datetime
                   ) -> tuple[tuple[Push, ...], Effects]:
    """The triggers that fire by `now` (as pushes for the escalator) and the next one time will fire."""
    pushes: list[Push] = []
    upcoming = Effects()  # the next promised date to come near, and whose
    if not rules.triggers:
        return (), Effects()
    searched = _searched(ticket, rules)
    for name, spec, key in rules.once("trigger_keys", lambda: tuple(
            (name, spec, f"trigger:{name}") for name, spec in rules.triggers.items())):
        if key in memory.fired:
            continue
        hits: list[tuple[datetime, str]] = []
        for where in spec.match_in if searched else ():
            kw = _first_keyword(searched[where], spec.keywords) if where in searched else None
            if kw is not None:
                hits.append((observed_at, wording.keyword_hit(kw, where)))
                break
        tag = next((t for t in spec.tags if t in ticket.tags), None) if ticket.tags else None
        if tag is not None:
            hits.append((observed_at, wording.tag_hit(tag)))
        promised = parse_instant(field_value(ticket, spec.promised_field)) if spec.promised_field else None
        if promised is not None:
            fire_at = promised - spec.within
            if fire_at <= now:
                hits.append((min(max(fire_at, observed_at), now), wording.promised_hit(spec.within)))
            else:
                upcoming = upcoming.add(next_at=fire_at, next_what=wording.trigger_ahead(spec.title or name))
        if not hits:
            continue
        at, why = min(hits)
        pushes.append(Push(at, key, TimelineKind.TRIGGER, name, f"triggers.{name}",
                           wording.trigger_push(spec.title or name, why), level=spec.level, priority=spec.priority,
                           tags=tuple(spec.add_tags), why=why))
    return tuple(pushes), upcoming


def trigger_actions(ticket: TicketFacts, rules: Rules, pushes: tuple[Push, ...], fired_now: set[str],
                    climbed: bool = False) -> Effects:
    """The note and notifications of each trigger that fired in this decision; no note when the case climbed
    the ladder (the escalation line names the trigger)."""
    actions: list[Action] = []
    for push in pushes:
        if push.key not in fired_now:
            continue
        spec = rules.triggers[push.name]
        title = spec.title or push.name
        if spec.note and not climbed:
            actions.append(Action(push.key, ActionKind.NOTE,
                                  text=wording.trigger_note(title, push.why, spec.level, spec.priority)))
        for person_key in spec.notify:
            person = PersonRef.of(rules, person_key)
            actions.append(Action(f"{push.key}:notify:{person_key}", ActionKind.NOTIFY,
                                  text=wording.trigger_notify(ticket.key, ticket.subject, title, push.why),
                                  person_id=person.id_for(ticket.connector), person_name=person.name,
                                  email=person.email, digest_key=f"{person_key}:trigger:{push.name}"))
    return Effects(actions=tuple(actions))


def tier_floor(rules: Rules, tier: str | None) -> str | None:
    """The priority a tier's cases never run below (seed 003: a high-value account)."""
    spec = rules.tiers.get(tier) if tier else None
    return spec.priority_floor if spec is not None else None
