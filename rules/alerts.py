"""The alerts a level change or a breach sends outside the helpdesk (issue 12): NOTIFY actions for the
people `[alerts]` names (the escalation owner, the on-call person of the level's rota, the account
manager), each only for a person who has alert channels (`people.<p>.alerts`).

Pure: the jobs layer turns each action into one outbox row per channel and sends it. Keys are stable
(`<event key>:notify:<person>`, the event key being the level change's or the threshold's), so the
notification budget (`CaseMemory.sent`) sends each once; digest keys are `<person>:level:<level>`,
`<person>:breach:<metric>` and `<person>:warning:<metric>`. Texts are short, use display names and the
ticket's own reference, and give times in the recipient's calendar zone (the case's calendar zone when
the person has none).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from rules.decision import Action, ActionKind, EscalationState
from rules.facts import TicketFacts
from rules.ladder import PersonRef
from rules.schema import Rules


def reference(connector: str, ticket_id: str) -> str:
    """The ticket as people know it: `#42` in Zendesk, the issue key (`SD-12`) in Jira."""
    return f"#{ticket_id}" if connector == "zendesk" else str(ticket_id)


def zone_of(rules: Rules, person_key: str, fallback: ZoneInfo) -> ZoneInfo:
    """The recipient's calendar zone (their quiet-hours calendar), else `fallback`."""
    spec = rules.people.get(person_key)
    return rules.calendar(spec.calendar).tz if spec is not None and spec.calendar else fallback


def when(instant: datetime, zone: ZoneInfo) -> str:
    """`Wed 2 Dec 14:30 CET`: one instant, in one zone, with its abbreviation."""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"


def _recipients(rules: Rules, who: Iterable[str], state: EscalationState | None, now: datetime,
                account_manager: PersonRef | None) -> list[PersonRef]:
    """The people named by `who` (owner, on_call, account_manager) who have alert channels, each once."""
    found: list[PersonRef] = []
    for role in who:
        person = None
        if role == "owner" and state is not None:
            person = state.owner
        elif role == "on_call" and state is not None and state.current.rota is not None:
            person = state.current.rota.on_call(now)
        elif role == "account_manager":
            person = account_manager
        spec = rules.people.get(person.key) if person is not None else None
        if person is not None and spec is not None and spec.alerts and all(p.key != person.key for p in found):
            found.append(person)
    return found


def _notify(key: str, person: PersonRef, connector: str, digest: str, text: str) -> Action:
    return Action(f"{key}:notify:{person.key}", ActionKind.NOTIFY, text=text, person_id=person.id_for(connector),
                  person_name=person.name, email=person.email, digest_key=f"{person.key}:{digest}")


def level_alerts(ticket: TicketFacts, rules: Rules, state: EscalationState, now: datetime, zone: ZoneInfo,
                 account_manager: PersonRef | None, due_at: datetime | None) -> list[Action]:
    """One NOTIFY per recipient of the level the case reached in this decision."""
    if rules.alerts is None:
        return []
    level = state.current
    key = f"level:{state.cycle}:{state.level}:{level.name}"
    actions = []
    for person in _recipients(rules, rules.alerts.level_changed, state, now, account_manager):
        owner = state.owner.name if state.owner is not None else "nobody named"
        due = f"; resolution due {when(due_at, zone_of(rules, person.key, zone))}" if due_at is not None else ""
        text = (f"{reference(ticket.connector, ticket.ticket_id)} {_subject(ticket)}escalated to {level.title}, "
                f"owner {owner}{due}.")
        actions.append(_notify(key, person, ticket.connector, f"level:{level.name}", text))
    return actions


def threshold_alerts(ticket: TicketFacts, rules: Rules, key: str, metric: str, breach: bool, due_at: datetime,
                     state: EscalationState | None, now: datetime, zone: ZoneInfo,
                     account_manager: PersonRef | None) -> list[Action]:
    """One NOTIFY per recipient of a breach (or a warning) of `metric`, due at `due_at`."""
    if rules.alerts is None:
        return []
    who = rules.alerts.breached if breach else rules.alerts.warned
    actions = []
    for person in _recipients(rules, who, state, now, account_manager):
        due = when(due_at, zone_of(rules, person.key, zone))
        what = f"{metric.replace('_', ' ')} was due {due} and is breached" if breach else \
            f"{metric.replace('_', ' ')} due {due} is at risk"
        owner = f"; owner {state.owner.name} ({state.current.title})" if state is not None and state.owner else ""
        text = f"{reference(ticket.connector, ticket.ticket_id)} {_subject(ticket)}{what}{owner}."
        actions.append(_notify(key, person, ticket.connector, f"{'breach' if breach else 'warning'}:{metric}", text))
    return actions


def _subject(ticket: TicketFacts) -> str:
    return f"«{ticket.subject}» " if ticket.subject else ""
