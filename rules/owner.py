"""An owner from the first minute (seed 000: "assign a single case owner at creation").

A case routed to a team gets a named assignee as the team chooses (`teams.<t>.owner`):
"assignee" (the team's `assignee_id`), "rota" (who is on call in `teams.<t>.rota` now) or
"least_loaded" (the member of the team's group with the fewest open tickets; the jobs layer
reads the members and their counts from the helpdesk and passes them in as `load`, in the
helpdesk's order, which breaks ties). Without a pick (nobody on call, no load read) the team's
`assignee_id` stands in.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from rules import wording
from rules.decision import Reason
from rules.ladder import PersonRef, RotaSnapshot
from rules.schema import Rules


def load_group(rules: Rules, connector: str, team: str | None) -> str | None:
    """The helpdesk group whose members' open tickets a least-loaded pick needs (None: nothing to read)."""
    spec = rules.teams.get(team) if team else None
    if spec is None or spec.owner != "least_loaded":
        return None
    target = getattr(spec, connector, None)
    return (target.owners_group_id or target.group_id) if target is not None else None


def _name(rules: Rules, connector: str, user_id: str) -> str:
    person = next((p for p in rules.people.values() if getattr(p, connector, None) == user_id), None)
    return person.name if person is not None and person.name else f"user {user_id}"


def owner_of(rules: Rules, connector: str, team: str, now: datetime,
             load: Mapping[str, int] | None) -> tuple[str | None, Reason | None]:
    """(assignee id, why) for a case routed to `team` at `now`; (the team's assignee_id, None) by default."""
    spec = rules.teams[team]
    target = getattr(spec, connector, None)
    fallback = target.assignee_id if target is not None else None
    rule = f"teams.{team}.owner"
    if spec.owner == "rota" and spec.rota:
        person: PersonRef | None = RotaSnapshot.take(rules, spec.rota).on_call(now)
        user_id = person.id_for(connector) if person is not None else None
        if person is not None and user_id:
            return user_id, Reason(rule, wording.owner_on_call(person.name, spec.rota), "assignee")
        return fallback, Reason(rule, wording.owner_nobody_on_call(spec.rota, fallback is not None), "assignee")
    if spec.owner == "least_loaded":
        if not load:
            return fallback, Reason(rule, wording.owner_no_load(load is not None, fallback is not None), "assignee")
        least = min(load.values())
        user_id = next(u for u, n in load.items() if n == least)
        return user_id, Reason(rule, wording.owner_least_loaded(_name(rules, connector, user_id), least, len(load)),
                               "assignee")
    return fallback, None
