"""`slaclock explain`: a ticket's timeline with each decision's inputs and the rules that made it."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping, TextIO

from connectors.contract import Connector, NativeSlaReader
from connectors.errors import ApiError
from connectors.model import Ticket
from connectors.plan import update_from_json
from jobs.clock import utcnow
from jobs.kinds import JobEvent
from rules import CaseMemory, Rating, Rules, explain_clock
from store import Store, TimelineEntry


def ticket_from_snapshot(data: Mapping[str, Any]) -> Ticket:
    """Rebuild the Ticket a decision saw from its stored snapshot."""
    def instant(value):
        return datetime.fromisoformat(value) if value else None

    return Ticket(**{**data, "opened_at": instant(data["opened_at"]), "updated_at": instant(data.get("updated_at")),
                     "due_at": instant(data.get("due_at")), "tags": frozenset(data.get("tags") or ()),
                     "due_by_metric": {m: instant(v) for m, v in (data.get("due_by_metric") or {}).items()},
                     "rating": Rating.from_json(data["rating"]) if data.get("rating") else None})


def as_written(ticket: Ticket, changes: Mapping[str, Any]) -> Ticket:
    """The ticket once slaclock's own write of `changes` (a decision's planned update) has landed."""
    update = update_from_json({**changes, "ticket_id": ticket.ticket_id})
    return replace(ticket, priority=update.priority or ticket.priority, group_id=update.group_id or ticket.group_id,
                   assignee_id=update.assignee_id or ticket.assignee_id, due_at=update.due_at or ticket.due_at,
                   tags=update.tags if update.tags is not None else ticket.tags,
                   due_by_metric={**ticket.due_by_metric, **update.due_by_metric})


def last_decision(store: Store, connector: str, ticket_id: str) -> TimelineEntry | None:
    """The ticket's latest decision line: a write decided, or nothing to change."""
    decisions = [e for e in store.timeline(connector, ticket_id) if e.kind in (JobEvent.DECISION, JobEvent.NO_CHANGE)]
    return decisions[-1] if decisions else None


def clock_lines(store: Store, rules: Rules, key: str, now: datetime) -> list[str]:
    """The SLA clock's working for a ticket as of `now`: its last snapshot with the latest decision's own
    write applied (the snapshot is the ticket as read before that decision), and its memory."""
    connector, _, ticket_id = key.partition(":")
    case = store.get_case(connector, ticket_id)
    if not case or not case.snapshot:
        return []
    ticket = ticket_from_snapshot(case.snapshot)
    last = last_decision(store, connector, ticket_id)
    if last is not None and last.kind == JobEvent.DECISION:
        ticket = as_written(ticket, last.detail.get("changes") or {})
    memory = CaseMemory.from_json(case.memory)
    return explain_clock(ticket, rules, now, memory)


def format_timeline(store: Store, key: str) -> list[str]:
    """The lines `slaclock explain <connector:id>` prints."""
    connector, _, ticket_id = key.partition(":")
    if not ticket_id:
        raise ValueError(f"expected <connector>:<ticket id>, e.g. zendesk:123; got {key!r}")
    case = store.get_case(connector, ticket_id)
    entries = store.timeline(connector, ticket_id)
    if case is None and not entries:
        raise LookupError(f"slaclock has no record of {key}")
    lines = []
    if case:
        due = case.due_at.isoformat() if case.due_at else None
        lines.append(f"{key}: priority {case.priority} · team {case.team or '-'} · "
                     f"due {due} · rules {case.rules_version}")
    for entry in entries:
        lines.append(f"{entry.at.isoformat()[:19]}Z  {entry.kind:<10} {entry.summary}")
        detail = entry.detail
        if detail.get("events"):
            lines.append(f"{'':22}events: {', '.join(detail['events'])}")
        if detail.get("inputs"):
            shown = " ".join(f"{k}={v}" for k, v in detail["inputs"].items())
            lines.append(f"{'':22}inputs: {shown}")
        for reason in detail.get("reasons", []):
            lines.append(f"{'':22}rule {reason['rule']}: {reason['text']}")
    return lines


def native_lines(connectors: Mapping[str, Connector], key: str) -> list[str]:
    """The helpdesk's own SLA for the ticket (JSM), when its connector can read it."""
    name, _, ticket_id = key.partition(":")
    connector = connectors.get(name)
    if not isinstance(connector, NativeSlaReader):
        return []
    try:
        return connector.native_sla(ticket_id) or ["(no SLA metrics on this request)"]
    except ApiError as e:
        return [f"(could not read it: {e})"]


def explain(store: Store, rules: Rules, key: str, out: TextIO, now: datetime | None = None,
            connectors: Mapping[str, Connector] | None = None) -> int:
    """Print the timeline, the SLA clock's working and (JSM) the helpdesk's own SLA; return the exit status."""
    try:
        lines = format_timeline(store, key)
    except (ValueError, LookupError) as e:
        print(f"error: {e}", file=out)
        return 1
    clock = clock_lines(store, rules, key, now or utcnow())
    native = native_lines(connectors or {}, key)
    lines += ["", "SLA clock:", *clock] if clock else []
    lines += ["", "The helpdesk's own SLA, for comparison:", *native] if native else []
    print("\n".join(lines), file=out)
    return 0
