"""Post-incident follow-up (seed 003 step 8: root cause, actions taken, preventive steps).

When an escalated case is solved, its escalation owner gets a follow-up task linked to it, with the three headings,
due `due_in` after the solve; once per resolution cycle. When the task is solved, its root cause (the
`root_cause_field`, else the text under its Root cause heading) is kept on the case, per recurring cluster, for
`slaclock report`.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from rules import wording
from rules.clock import ClockView
from rules.decision import Action, ActionKind, EscalationState, Reason, TimelineEvent, TimelineKind
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.schema import field_value
from rules.schema.lifecycle import HEADINGS, PostIncident

KEY_PREFIX = "post_incident:"
_HEADING = re.compile(r"^\s*(" + "|".join(re.escape(h) for h in HEADINGS) + r")\s*:?\s*", re.IGNORECASE | re.MULTILINE)


def review_task(ticket: TicketFacts, cfg: PostIncident | None, view: ClockView, state: EscalationState | None,
                sent: tuple[str, ...], zone: ZoneInfo, now: datetime) -> Effects:
    """The follow-up task for the escalation owner, on the decision that sees the escalated case solved."""
    res = view.resolution
    if cfg is None or not cfg.enabled or res is None or view.running or res.deadline.stopped_at is None:
        return Effects()
    if state is None or state.level == 0 or state.cycle != res.deadline.cycle:
        return Effects()  # not escalated in this cycle
    key = f"{KEY_PREFIX}{state.cycle}"
    if key in sent:
        return Effects()
    solved_at, owner = res.deadline.stopped_at, state.owner
    due = solved_at + cfg.due_in
    values = {"ticket": ticket.key, "ticket_id": str(ticket.ticket_id), "subject": ticket.subject or "",
              "priority": view.priority, "owner": owner.name if owner else "the escalation owner",
              "level": state.current.title, "solved_at": wording.customer_time(solved_at, zone, now),
              "due": wording.customer_time(due, zone, now)}
    body = cfg.body.format_map(values) + "\n\n" + "\n\n".join(f"{heading}:" for heading in HEADINGS)
    note = wording.post_incident_note(owner.name if owner else None, wording.customer_time(due, zone, now))
    action = Action(key, ActionKind.FOLLOW_UP, text=note, subject=cfg.subject.format_map(values), body=body,
                    assignee_id=owner.id_for(ticket.connector) if owner else None, priority=cfg.priority, due_at=due)
    event = TimelineEvent(TimelineKind.POST_INCIDENT, solved_at, key, cycle=state.cycle, level=state.current.name,
                          text=note)
    return Effects(actions=(action,), timeline=(event,), reasons=(Reason("post_incident", note, "escalation"),))


def root_cause_of(task: TicketFacts, cfg: PostIncident) -> str | None:
    """The root cause written on a solved post-incident task (None: nothing written there)."""
    value = field_value(task, cfg.root_cause_field) if cfg.root_cause_field else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    found = list(_HEADING.finditer(task.description or ""))
    for heading, following in zip(found, [*found[1:], None]):
        if heading.group(1).lower() == HEADINGS[0].lower():
            text = task.description[heading.end():following.start() if following else None].strip()
            return " ".join(text.split()) or None
    return None
