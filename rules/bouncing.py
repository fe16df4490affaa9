"""Bouncing tickets (seed 003: "clear handoff criteria so tickets don't bounce or stagnate").

Every move of the case between teams is a `Hop` in its memory: slaclock's routing, an agent's
re-route by hand (seen as the ticket's group, or on Jira its assignee, naming another team), the
hand-off of an escalation level. More than `bouncing.hops` hops within `bouncing.within` climb the
ladder to `bouncing.level` once per case (`bouncing` in `CaseMemory.fired`); the escalation's
note lists the hops.
"""
from __future__ import annotations

from datetime import datetime

from rules import wording
from rules.decision import CaseMemory, Hop, TimelineKind
from rules.escalation import Push
from rules.facts import TicketFacts
from rules.policy import team_of_group
from rules.schema import Rules

KEY = "bouncing"


def team_holding(rules: Rules, ticket: TicketFacts) -> str | None:
    """The team the ticket's group names; where a team has no group in this helpdesk (Jira), its assignee."""
    team = team_of_group(rules, ticket.connector, ticket.group_id)
    if team is not None or ticket.assignee_id is None:
        return team
    for name, spec in rules.teams.items():
        target = getattr(spec, ticket.connector, None)
        if target is not None and target.group_id is None and target.assignee_id == ticket.assignee_id:
            return name
    return None


def hops_now(memory: CaseMemory, team: str | None, at: datetime) -> tuple[Hop, ...] | None:
    """The memory's hops, with one more when the case is now with another team than it last was."""
    hops = memory.hops or ()
    last = hops[-1].to_team if hops else memory.team
    if last is None or team is None or team == last:
        return memory.hops
    return (*hops, Hop(at, last, team))


def bounce_push(rules: Rules, hops: tuple[Hop, ...] | None, fired: tuple[str, ...],
                now: datetime) -> Push | None:
    """The climb to `bouncing.level` once more than `bouncing.hops` hops fall within `bouncing.within`."""
    cfg = rules.bouncing
    if cfg is None or not cfg.enabled or KEY in fired:
        return None
    recent = [h for h in hops or () if h.at > now - cfg.within]
    if len(recent) <= cfg.hops:
        return None
    titles = [rules.team_title(recent[0].from_team), *(rules.team_title(h.to_team) for h in recent)]
    text = wording.bounced(titles, cfg.within, recent[0].at, rules.note_zone(recent[-1].to_team), now)
    return Push(recent[-1].at, KEY, TimelineKind.BOUNCING, KEY, "bouncing", text, level=cfg.level,
                priority_rule="bouncing.level")
