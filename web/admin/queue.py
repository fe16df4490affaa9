"""The at-risk queue: open cases ordered by the time to their next threshold or breach. Pure: cases and now in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Mapping

from rules.decision import CaseMemory
from store import Case


@dataclass(frozen=True)
class QueueRow:
    """One open case as the queue shows it."""

    key: str
    connector: str
    ticket_id: str
    subject: str
    priority: str | None
    status: str | None
    team: str | None
    level: str  # the escalation ladder's level title, or "-" when not escalated
    owner: str  # the escalation's owner, else the team slaclock routed to (its title)
    due_at: datetime | None  # the resolution deadline: the breach
    next_at: datetime | None  # the next threshold or breach, whichever comes first
    next_what: str  # what falls due then ("warning at 75 % of resolution", "breach")
    url: str | None

    def seconds_left(self, now: datetime) -> float | None:
        return (self.next_at - now).total_seconds() if self.next_at else None


def _level_and_owner(memory: CaseMemory, team: str) -> tuple[str, str]:
    escalation = memory.escalation
    if escalation is None or not escalation.ladder.levels:
        return "-", team
    level = escalation.current
    owner = escalation.owner.name if escalation.owner else team
    return level.title or level.name, owner


def queue_rows(cases: Iterable[Case], now: datetime, links: Mapping[str, str | None],
               team_title: Callable[[str], str] = str) -> list[QueueRow]:
    """Open cases, soonest next threshold or breach first (cases with neither last); `links`: key → helpdesk URL;
    `team_title`: how a team is named (the rules' title for a team key).

    The next instant is the earlier of the sweeper's `next_action_at` (the next threshold, milestone or breach the
    rules will act on) and the resolution deadline `due_at`."""
    rows = []
    for case in cases:
        snapshot = case.snapshot or {}
        if snapshot.get("status") in ("solved", "closed"):
            continue
        memory = CaseMemory.from_json(case.memory)
        team = case.team or memory.team
        level, owner = _level_and_owner(memory, team_title(team) if team else "-")
        # A case last decided before slaclock named its next action says "next threshold" until decided again.
        candidates = [(at, what) for at, what in ((case.next_action_at, case.next_action or "next threshold"),
                                                  (case.due_at, "resolution breach")) if at is not None]
        next_at, what = min(candidates, key=lambda c: c[0]) if candidates else (None, "")
        if next_at is not None and case.due_at is not None and next_at == case.due_at:
            what = "resolution breach"
        key = f"{case.connector}:{case.ticket_id}"
        rows.append(QueueRow(key=key, connector=case.connector, ticket_id=case.ticket_id,
                             subject=str(snapshot.get("subject") or ""), priority=case.priority,
                             status=snapshot.get("status"), team=case.team, level=level, owner=owner,
                             due_at=case.due_at, next_at=next_at, next_what=what, url=links.get(key)))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(rows, key=lambda r: (r.next_at or far, r.key))
