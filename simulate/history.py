"""Ticket histories to replay, read from the store: every decision the processor made, with the ticket as it
was read for that decision (its snapshot), what the event said beside it (`heard`: a public reply, a customer
message, the actor, a rating, the team's load) and what slaclock wrote then. Two store queries in all.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping

from connectors.model import Ticket
from jobs.explain import ticket_from_snapshot
from jobs.kinds import CheckKind, JobEvent
from rules import CaseMemory, ClusterInfo, Rating, VendorUpdate
from store import Store


@dataclass(frozen=True)
class Step:
    """One recorded decision: when, the ticket as read, what the event said, and what slaclock wrote then."""

    at: datetime
    ticket: Ticket
    written: Mapping[str, Any]  # the changes that decision planned (`connectors.plan.update_to_json` keys)
    sweep: bool = False  # only the sweeper's checks: a replay sweeps when its own rules ask
    agent_reply_at: datetime | None = None
    customer_message_at: datetime | None = None
    customer_message_text: str | None = None
    vendor_update: VendorUpdate | None = None
    actor_id: str | None = None
    actor_group_ids: frozenset[str] = frozenset()
    cluster: ClusterInfo | None = None
    rating: Rating | None = None
    team_load: Mapping[str, int] | None = None


@dataclass(frozen=True)
class TicketHistory:
    key: str
    opened_at: datetime
    steps: tuple[Step, ...]
    cluster: str | None = None  # the recurring cluster it belongs to now (the KPIs group repeats by it)


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ticket(data: Mapping[str, Any]) -> Ticket:
    rating = data.get("rating")
    return replace(ticket_from_snapshot({**data, "rating": None}),
                   rating=Rating.from_json(rating) if isinstance(rating, dict) else None)


def _step(at: datetime, detail: Mapping[str, Any]) -> Step:
    inputs, heard = detail.get("inputs") or {}, detail.get("heard") or {}
    vendor, events = inputs.get("vendor_update"), detail.get("events") or []
    return Step(at=at, ticket=_ticket(detail["ticket"]), written=detail.get("changes") or {},
                sweep=bool(events) and all(e == CheckKind.SWEEP for e in events),
                agent_reply_at=_instant(heard.get("agent_reply_at")),
                customer_message_at=_instant(heard.get("customer_message_at")),
                customer_message_text=heard.get("customer_message_text"),
                vendor_update=VendorUpdate.from_json(vendor) if vendor else None,
                actor_id=heard.get("actor_id", inputs.get("actor_id")),
                actor_group_ids=frozenset(heard.get("actor_group_ids") or ()),
                cluster=ClusterInfo.from_json(heard["cluster"]) if heard.get("cluster") else None,
                rating=Rating.from_json(heard["rating"]) if heard.get("rating") else None,
                team_load=heard.get("team_load"))


def _with_replies(steps: list[Step], memory: CaseMemory) -> list[Step]:
    """Decisions recorded before `heard` was kept name no reply: the first and latest public agent replies the
    case's memory holds go to the first decision at or after each."""
    replies = sorted({r for r in (memory.first_reply_at, memory.last_reply_at) if r is not None})
    out = []
    for step in steps:
        due = [r for r in replies if r <= step.at]
        replies = [r for r in replies if r > step.at]
        out.append(replace(step, agent_reply_at=due[-1]) if due and step.agent_reply_at is None else step)
    return out


def ticket_histories(store: Store, since: datetime | None = None) -> list[TicketHistory]:
    """Every ticket slaclock decided, opened at or after `since`, each with its decisions in order."""
    steps: dict[tuple[str, str], list[Step]] = defaultdict(list)
    for entry in store.timeline_of_kinds([JobEvent.DECISION.value, JobEvent.NO_CHANGE.value]):
        if (entry.detail or {}).get("ticket"):
            steps[(entry.connector, entry.ticket_id)].append(_step(entry.at, entry.detail))
    memories = {(c.connector, c.ticket_id): c.memory for c in store.cases()}
    cluster_of = {(c.connector, member): c.key for c in store.clusters() for member in c.members}
    histories = []
    for (connector, ticket_id), recorded in sorted(steps.items()):
        opened = recorded[0].ticket.opened_at
        if since is not None and opened < since:
            continue
        memory = memories.get((connector, ticket_id))
        if memory and not any(s.agent_reply_at for s in recorded):
            recorded = _with_replies(recorded, CaseMemory.from_json(memory))
        histories.append(TicketHistory(f"{connector}:{ticket_id}", opened, tuple(recorded),
                                       cluster_of.get((connector, ticket_id))))
    return histories
