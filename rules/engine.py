"""The pure rules engine: `decide(ticket, rules, now, memory) -> Decision`. No I/O."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from rules.decision import CaseMemory, Decision, Reason
from rules.schema import Rules

PRIORITY_ORDER = ("low", "normal", "high", "urgent")


class TicketFacts(Protocol):
    """What the engine reads from a ticket (connectors.Ticket satisfies it)."""

    connector: str
    priority: str | None
    opened_at: datetime
    tags: frozenset[str]
    reason_code: str | None
    group_id: str | None
    assignee_id: str | None


def resolution_target(rules: Rules, priority: str) -> timedelta:
    """The SLA to resolve for a priority (seed 002)."""
    return timedelta(hours=getattr(rules.sla.resolution_hours, priority))


def _escalate(priority: str) -> str:
    # Seed 002: escalation bumps to high, or keeps urgent.
    return "urgent" if priority == "urgent" else "high"


def decide(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None) -> Decision:
    """Work out priority, team, due time and tag changes for a ticket at instant `now`."""
    memory = memory or CaseMemory()
    reasons: list[Reason] = []
    priority = ticket.priority or "normal"
    if not ticket.priority:
        reasons.append(Reason("sla.default_priority", "no priority set: normal assumed", "priority"))

    escalated = rules.escalation.tag in ticket.tags
    tags_remove: frozenset[str] = frozenset()
    if escalated:
        new_priority = _escalate(priority)
        reasons.append(Reason("escalation.tag", f"escalation asked by tag {rules.escalation.tag}: "
                              f"priority {priority} → {new_priority}", "priority"))
        priority = new_priority
        tags_remove = frozenset({rules.escalation.tag})
    elif ticket.priority:
        reasons.append(Reason("sla.priority", f"priority {priority} as set on the ticket", "priority"))

    # Route on first sight and whenever the reason code changes; otherwise an agent's
    # manual re-route stands.
    team = group_id = assignee_id = None
    if not memory.routed or memory.routed_reason_code != ticket.reason_code:
        code = ticket.reason_code
        if code in rules.routing.reason_codes:
            team = rules.routing.reason_codes[code]
            reasons.append(Reason(f"routing.reason_codes.{code}", f"reason code {code} → {team}", "team"))
        else:
            team = rules.routing.default_team
            shown = code or "none"
            reasons.append(Reason("routing.default_team", f"reason code {shown} → {team} (default)", "team"))
        target = getattr(rules.teams[team], ticket.connector, None)
        if target:
            group_id, assignee_id = target.group_id, target.assignee_id

    target_time = resolution_target(rules, priority)
    due_at = ticket.opened_at + target_time
    hours = target_time.total_seconds() / 3600
    reasons.append(Reason(f"sla.resolution_hours.{priority}",
                          f"due {due_at:%Y-%m-%d %H:%M} UTC: opened {ticket.opened_at:%Y-%m-%d %H:%M} + {hours:g} h ({priority})",
                          "due_at"))

    return Decision(
        priority=priority,
        team=team,
        group_id=group_id,
        assignee_id=assignee_id,
        due_at=due_at,
        tags_remove=tags_remove,
        escalated=escalated,
        reasons=tuple(reasons),
        inputs={
            "priority": ticket.priority,
            "reason_code": ticket.reason_code,
            "opened_at": ticket.opened_at.isoformat(),
            "tags": sorted(ticket.tags),
            "now": now.isoformat(),
        },
        rules_version=rules.version,
        memory=CaseMemory(routed_reason_code=ticket.reason_code, routed=True) if team else memory,
    )
