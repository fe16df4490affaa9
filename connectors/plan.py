"""Turn a rules `Decision` into the `TicketUpdate` that brings the ticket there: only the difference."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from connectors.model import FollowUp, Ticket, TicketUpdate
from rules import Decision
from rules.decision import ActionKind, DeadlineState, TimelineKind
from rules.post_incident import KEY_PREFIX as REVIEW_KEY_PREFIX
from rules.wording import customer_time, listed


# A due time that moves less than this is rewritten without a note (the default; see SLACLOCK_NOTE_MOVE_MINUTES).
DEFAULT_NOTE_MOVE = timedelta(minutes=15)
LABELS = {"due_at": "resolution due", "first_response": "first response due", "next_update": "next update due",
          "next_reply": "next reply due"}
# An update's outbox fields as a timeline line names them (the tags added and removed are in `tags`).
FIELD_WORDS = {"priority": "priority", "group_id": "group", "assignee_id": "assignee", "due_at": LABELS["due_at"],
               "tags": "tags", "followers_add": "followers", "problem_id": "problem link", "status": "status",
               "note": "internal note"}


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    # Helpdesk fields hold whole seconds; compare at that resolution.
    if a is None or b is None:
        return a is b
    return int(a.timestamp()) == int(b.timestamp())


def follow_up_to_json(follow_up: FollowUp) -> dict:
    """Serialise a follow-up for the outbox."""
    return dict(vars(follow_up))


def plan_update(ticket: Ticket, decision: Decision, due_metrics: frozenset[str] = frozenset(),
                note_move: timedelta = DEFAULT_NOTE_MOVE, problem_id: str | None = None,
                carried: tuple[str, ...] = ()) -> TicketUpdate:
    """What must change on `ticket` to match `decision`, with an internal note saying why.

    `due_metrics` are the metrics besides resolution that have a due field in this helpdesk;
    `problem_id` is the recurring-issue problem ticket to link, when the decision links the case;
    `carried`: the event lines of an earlier note the helpdesk refused (409), which this one says instead.
    """
    changed: dict[str, object] = {}
    if decision.priority != ticket.priority:
        changed["priority"] = decision.priority
    if decision.group_id and decision.group_id != ticket.group_id:
        changed["group_id"] = decision.group_id
    if decision.assignee_id and decision.assignee_id != ticket.assignee_id:
        changed["assignee_id"] = decision.assignee_id
    resolution = decision.deadlines.get("resolution")
    # A paused clock's deadline drifts later on every look; the field keeps the last running value
    # until the clock resumes.
    paused = resolution is not None and resolution.state == DeadlineState.PAUSED and ticket.due_at is not None
    if not paused and not _same_instant(decision.due_at, ticket.due_at):
        changed["due_at"] = decision.due_at
    metric_dues = {metric: deadline.due_at for metric, deadline in decision.deadlines.items()
                   if metric in due_metrics and deadline.state in (DeadlineState.ACTIVE, DeadlineState.BREACHED)
                   and not _same_instant(deadline.due_at, ticket.due_by_metric.get(metric))}
    if metric_dues:
        changed["due_by_metric"] = metric_dues
    dropped = decision.tags_remove & ticket.tags
    added = decision.tags_add - ticket.tags
    if dropped or added:
        changed.update(tags=(ticket.tags - dropped) | added, tags_added=frozenset(added), tags_removed=frozenset(dropped))
    notified = {a.person_id for a in decision.actions if a.kind == ActionKind.NOTIFY and a.person_id}
    followers = decision.followers_add | notified
    if followers:
        changed["followers_add"] = frozenset(followers)
    if problem_id and any(event.kind == TimelineKind.CLUSTER_LINK for event in decision.timeline):
        changed["problem_id"] = problem_id
    if decision.status and decision.status != ticket.status:
        changed["status"] = decision.status
    note = note_for(ticket, decision, changed, note_move, carried)
    return TicketUpdate(ticket_id=ticket.ticket_id, version=ticket.version, note=note, **changed)


def closing(decision: Decision) -> tuple[str, str] | None:
    """(action key, follow-up text) when the decision closes the case."""
    return next(((a.key, a.text) for a in decision.actions if a.kind == ActionKind.CLOSE), None)


def follow_ups(ticket: Ticket, decision: Decision) -> list[tuple[str, FollowUp]]:
    """(action key, FollowUp) for each linked ticket the decision asks for."""
    return [(a.key, FollowUp(original_id=ticket.ticket_id, subject=a.subject, body=a.body, group_id=a.group_id,
                             assignee_id=a.assignee_id, priority=a.priority,
                             due_at=a.due_at.isoformat() if a.due_at else None,
                             review=a.key.startswith(REVIEW_KEY_PREFIX)))
            for a in decision.actions if a.kind == ActionKind.FOLLOW_UP]


def _due_moves(ticket: Ticket, changed: dict[str, object], note_move: timedelta,
               zone: ZoneInfo, now: datetime) -> list[str]:
    """A phrase for each due time worth a line: newly set, or moved by at least `note_move`."""
    old_new = {}
    if "due_at" in changed:
        old_new["due_at"] = (ticket.due_at, changed["due_at"])
    for metric, due in changed.get("due_by_metric", {}).items():
        old_new[metric] = (ticket.due_by_metric.get(metric), due)
    phrases = []
    for field_name, (old, new) in old_new.items():
        if old is None:
            phrases.append(f"{LABELS[field_name]} {customer_time(new, zone, now)}")
        elif abs(new - old) >= note_move:
            phrases.append(f"{LABELS[field_name]} {customer_time(new, zone, now)} "
                           f"(was {customer_time(old, zone, now)})")
    return phrases


def event_lines(decision: Decision, carried: tuple[str, ...] = ()) -> list[str]:
    """The note's lines on what happened (an escalation first: it is what the agent must see), after those
    carried over from a refused note; not the customer's reply, not a message for someone outside the ticket."""
    own = [a for a in decision.actions if a.text and a.kind in (ActionKind.NOTE, ActionKind.FOLLOW_UP)]
    lines = [a.text for a in sorted(own, key=lambda a: not a.key.startswith("level:"))]
    return [line for line in carried if line not in lines] + lines


def note_for(ticket: Ticket, decision: Decision, changed: dict[str, object], note_move: timedelta,
             carried: tuple[str, ...] = ()) -> str | None:
    """The internal note an agent reads in two seconds (None: nothing worth a note).

    First what happened (the decision's note lines: an escalation, a warning, a trigger…), then one line of
    what slaclock set, due times in the team calendar's zone. The rules behind it are in `slaclock explain`.
    """
    zone, now = ZoneInfo(decision.note_zone), decision.memory.seen_at or datetime.now(timezone.utc)
    facts = []
    if "group_id" in changed:
        facts.append(f"routed to {decision.team_title or decision.team}")
    elif "assignee_id" in changed:
        facts.append(f"assigned to {decision.escalation_owner or decision.team_title or decision.team}")
    routing_only = bool(facts)
    if "priority" in changed:
        facts.append(f"priority {ticket.priority or 'none'} → {decision.priority}")
        routing_only = False
    facts += _due_moves(ticket, changed, note_move, zone, now)
    removed = decision.tags_remove & ticket.tags
    if "tags" in changed and removed:
        facts.append("tag " + ", ".join(sorted(removed)) + " removed")
        routing_only = False
    lines = event_lines(decision, carried)
    if not lines and (not facts or (routing_only and not decision.note_on_routing)):
        return None  # a case only routed: its fields say it (routing.note = true asks for a note)
    if facts:
        lines.append("; ".join(facts)[:1].upper() + "; ".join(facts)[1:] + ".")
    return "\n".join(lines)


def update_to_json(update: TicketUpdate) -> dict:
    """Serialise an update for the outbox."""
    return {
        "ticket_id": update.ticket_id, "version": update.version, "priority": update.priority,
        "group_id": update.group_id, "assignee_id": update.assignee_id,
        "due_at": update.due_at.isoformat() if update.due_at else None,
        "due_by_metric": {m: due.isoformat() for m, due in update.due_by_metric.items()} or None,
        "tags": sorted(update.tags) if update.tags is not None else None,
        "tags_added": sorted(update.tags_added) or None, "tags_removed": sorted(update.tags_removed) or None,
        "followers_add": sorted(update.followers_add) or None, "problem_id": update.problem_id,
        "status": update.status, "note": update.note,
    }


def fields_text(payload: dict) -> str:
    """An update's outbox form as words: `group, resolution due, tags and internal note`."""
    words = []
    for key, value in payload.items():
        if key == "due_by_metric" and value:
            words += [LABELS.get(metric, f"{metric.replace('_', ' ')} due") for metric in value]
        elif value is not None and key in FIELD_WORDS:
            words.append(FIELD_WORDS[key])
    return listed(words) if words else "nothing"


def update_from_json(data: dict) -> TicketUpdate:
    """Rebuild an update from its outbox form."""
    return TicketUpdate(
        ticket_id=data["ticket_id"], version=data.get("version"), priority=data.get("priority"),
        group_id=data.get("group_id"), assignee_id=data.get("assignee_id"),
        due_at=datetime.fromisoformat(data["due_at"]) if data.get("due_at") else None,
        due_by_metric={m: datetime.fromisoformat(due) for m, due in (data.get("due_by_metric") or {}).items()},
        tags=frozenset(data["tags"]) if data.get("tags") is not None else None,
        tags_added=frozenset(data.get("tags_added") or ()), tags_removed=frozenset(data.get("tags_removed") or ()),
        followers_add=frozenset(data.get("followers_add") or ()), problem_id=data.get("problem_id"),
        status=data.get("status"), note=data.get("note"),
    )
