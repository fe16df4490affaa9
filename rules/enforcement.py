"""Roles enforced on every change (seed 002's table, `roles.enforce`) and the resolution path a solve must record
(`resolution_path`).

slaclock remembers the status, priority and routing the ticket last stood at with its consent
(`CaseMemory.held`). A person's change since then is checked before anything else is decided:
a solve needs `resolve`, any other status change, a priority change or a re-route (group or
assignee) needs `write` (an executive, read only, changes nothing); a solve also needs the
`resolution_path.field` filled in. A refused change is put back as it was, with one internal note
saying what and who may; the rest of the decision reads the ticket as put back. slaclock's own
writes come back as echoes and are never decided, and a change is undone once (`undone:<stamp>`
in `CaseMemory.fired`): no loop with the agent. A change nobody can be named for (a sweep) stands.
"""
from __future__ import annotations

from dataclasses import dataclass, is_dataclass, replace
from datetime import datetime

from rules import wording
from rules.decision import Action, ActionKind, CaseMemory, Held, Reason, TimelineEvent, TimelineKind
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.frozen import quick_init
from rules.roles import ActorRole
from rules.schema import Rules, field_value

DONE = ("solved", "closed")


@quick_init
@dataclass(frozen=True)
class Guard:
    """The ticket as slaclock accepts it (a priority put back is in it), the status and routing to write back
    (None: nothing), and the note, event and reason."""

    ticket: TicketFacts
    status: str | None = None
    group_id: str | None = None
    assignee_id: str | None = None
    effects: Effects = Effects()


def guarding(rules: Rules) -> bool:
    """True when changes are checked at all (so `CaseMemory.held` is kept)."""
    return rules.roles.enforce or (rules.resolution_path is not None and rules.resolution_path.enabled)


def changed(ticket: TicketFacts, held: Held | None) -> list[str]:
    """The guarded fields a change since `held` touched: status, priority, routing."""
    if held is None:
        return []
    return [name for name, now, then in (("status", ticket.status, held.status),
                                         ("priority", ticket.priority, held.priority),
                                         ("routing", (ticket.group_id, ticket.assignee_id),
                                          (held.group_id, held.assignee_id)))
            if now != then]


def held_after(ticket: TicketFacts, status: str | None, priority: str, group_id: str | None,
               assignee_id: str | None) -> Held:
    """What the ticket stands at once the decision's write lands."""
    return Held(status or ticket.status, priority, group_id or ticket.group_id, assignee_id or ticket.assignee_id)


def _who(rules: Rules, connector: str, actor_id: str | None) -> str:
    person = next((p for p in rules.people.values() if actor_id and getattr(p, connector, None) == actor_id), None)
    return (person.name or "someone") if person is not None else f"user {actor_id}"


def guard(ticket: TicketFacts, rules: Rules, memory: CaseMemory, actor_id: str | None, role: ActorRole | None,
          at: datetime) -> Guard:
    """Check the change since `memory.held` (module docstring); `role`: the actor's (None: nobody known)."""
    held = memory.held
    fields = changed(ticket, held)
    if not fields or held is None:
        return Guard(ticket)
    stamp = ticket.updated_at.isoformat() if ticket.updated_at is not None else at.isoformat()
    key = f"undone:{stamp}"
    if key in memory.fired or not guarding(rules):
        return Guard(ticket)
    enforce = rules.roles.enforce and role is not None and actor_id is not None
    path = rules.resolution_path
    solving = "status" in fields and ticket.status in DONE and held.status not in DONE
    text, rule = None, ""
    undo: list[str] = []
    if solving and enforce and not role.may("resolve"):
        undo, rule = ["status"], "roles.enforce"
        text = wording.solve_undone(_who(rules, ticket.connector, actor_id), role.role, held.status,
                                    _allowed(rules, "resolve"))
    elif solving and path is not None and path.enabled and path.field and field_value(ticket, path.field) in (
            None, "", [], {}):
        undo, rule = ["status"], "resolution_path.field"
        text = wording.solve_needs_path(path.title, held.status)
    elif enforce and not role.may("write"):
        undo = [f for f in fields if (f != "status" or not solving) and (f != "priority" or held.priority)]
        rule = "roles.enforce"
        if undo:
            text = wording.change_undone(_who(rules, ticket.connector, actor_id), role.role, undo,
                                         _allowed(rules, "write"))
    if text is None:
        return Guard(ticket)
    put_back = {"status": held.status} if "status" in undo else {}
    if "priority" in undo:
        put_back["priority"] = held.priority
    if "routing" in undo:
        put_back.update(group_id=held.group_id, assignee_id=held.assignee_id)
    accepted = replace(ticket, **put_back) if is_dataclass(ticket) else ticket
    effects = Effects(actions=(Action(key, ActionKind.NOTE, text=text),),
                      timeline=(TimelineEvent(TimelineKind.UNDONE, at, key, threshold=",".join(undo), text=text),),
                      reasons=(Reason(rule, text, "status" if "status" in undo else undo[0]),), fired=(key,))
    return Guard(accepted, put_back.get("status"), put_back.get("group_id"), put_back.get("assignee_id"), effects)


def _allowed(rules: Rules, right: str) -> list[str]:
    return [r for r in rules.roles.names() if right in rules.roles.rights_of(r)]
