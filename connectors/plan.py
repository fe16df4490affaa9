"""Turn a rules `Decision` into the `TicketUpdate` that brings the ticket there: only the difference."""
from __future__ import annotations

from datetime import datetime

from connectors.model import Ticket, TicketUpdate
from rules import Decision


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    # Helpdesk fields hold whole seconds; compare at that resolution.
    if a is None or b is None:
        return a is b
    return int(a.timestamp()) == int(b.timestamp())


def plan_update(ticket: Ticket, decision: Decision) -> TicketUpdate:
    """What must change on `ticket` to match `decision`, with an internal note saying why."""
    changed: dict[str, object] = {}
    if decision.priority != ticket.priority:
        changed["priority"] = decision.priority
    if decision.group_id and decision.group_id != ticket.group_id:
        changed["group_id"] = decision.group_id
    if decision.assignee_id and decision.assignee_id != ticket.assignee_id:
        changed["assignee_id"] = decision.assignee_id
    if not _same_instant(decision.due_at, ticket.due_at):
        changed["due_at"] = decision.due_at
    dropped = decision.tags_remove & ticket.tags
    added = decision.tags_add - ticket.tags
    if dropped or added:
        changed["tags"] = (ticket.tags - dropped) | added
    if not changed:
        return TicketUpdate(ticket_id=ticket.ticket_id, version=ticket.version)
    return TicketUpdate(ticket_id=ticket.ticket_id, version=ticket.version, note=note_for(ticket, decision, changed),
                        **changed)


def note_for(ticket: Ticket, decision: Decision, changed: dict[str, object]) -> str:
    """One or two lines an agent can read: what slaclock set, and the rules that made it."""
    parts = []
    if "group_id" in changed or "assignee_id" in changed:
        parts.append(f"routed to {decision.team}")
    if "priority" in changed:
        parts.append(f"priority {ticket.priority or 'none'} → {decision.priority}")
    if "due_at" in changed:
        parts.append(f"due {decision.due_at:%Y-%m-%d %H:%M} UTC")
    if "tags" in changed and decision.tags_remove & ticket.tags:
        parts.append("removed tag " + ", ".join(sorted(decision.tags_remove & ticket.tags)))
    fields = {"team"} if {"group_id", "assignee_id"} & changed.keys() else set()
    fields |= {"priority"} & changed.keys()
    fields |= {"due_at"} & changed.keys()
    why = "; ".join(r.text for r in decision.reasons if r.field in fields)
    return f"slaclock: {', '.join(parts)}.\nWhy: {why}." if why else f"slaclock: {', '.join(parts)}."


def update_to_json(update: TicketUpdate) -> dict:
    """Serialise an update for the outbox."""
    return {
        "ticket_id": update.ticket_id, "version": update.version, "priority": update.priority,
        "group_id": update.group_id, "assignee_id": update.assignee_id,
        "due_at": update.due_at.isoformat() if update.due_at else None,
        "tags": sorted(update.tags) if update.tags is not None else None, "note": update.note,
    }


def update_from_json(data: dict) -> TicketUpdate:
    """Rebuild an update from its outbox form."""
    return TicketUpdate(
        ticket_id=data["ticket_id"], version=data.get("version"), priority=data.get("priority"),
        group_id=data.get("group_id"), assignee_id=data.get("assignee_id"),
        due_at=datetime.fromisoformat(data["due_at"]) if data.get("due_at") else None,
        tags=frozenset(data["tags"]) if data.get("tags") is not None else None, note=data.get("note"),
    )
