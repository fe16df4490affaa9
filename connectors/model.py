"""Helpdesk-neutral value types: what a ticket is, what happened to it, what to change."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

# One parser for helpdesk instants, shared with the rules; connectors import it from here.
from rules.calendar import parse_instant
# A customer's satisfaction rating (1-5, or good / bad): the rules keep it in the case's memory.
from rules.decision import Rating

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


@dataclass(frozen=True)
class Ticket:
    """A snapshot of one ticket as the helpdesk holds it now (instants are UTC-aware)."""

    connector: str
    ticket_id: str
    status: str
    priority: str | None
    opened_at: datetime
    updated_at: datetime | None = None
    # Opaque concurrency stamp sent back on write (Zendesk: the `updated_at` string read).
    version: str | None = None
    subject: str = ""
    description: str = ""
    group_id: str | None = None
    assignee_id: str | None = None
    requester_id: str | None = None
    organization_id: str | None = None
    tags: frozenset[str] = frozenset()
    reason_code: str | None = None
    # The value currently in the helpdesk's due-time field (written by slaclock): resolution.
    due_at: datetime | None = None
    # Values of the other metrics' due fields that are configured (first_response, next_update).
    due_by_metric: Mapping[str, datetime] = field(default_factory=dict)
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    # The customer's satisfaction rating as read with the ticket (None: none given, or not read this time).
    rating: Rating | None = None

    @property
    def key(self) -> str:
        """`connector:ticket_id`, the name used by `slaclock explain`."""
        return f"{self.connector}:{self.ticket_id}"


@dataclass(frozen=True)
class TicketEvent:
    """One webhook delivery, parsed: which ticket, what kind of change, who made it."""

    connector: str
    delivery_key: str
    event_type: str
    ticket_id: str | None
    ignored: bool = False
    occurred_at: datetime | None = None
    actor_id: str | None = None
    # The helpdesk's id of the action behind the event (Zendesk's meta.sequence.id): one agent update's events share it.
    change_id: str | None = None
    # Field values the payload carried (normalised names); a hint, never the source of truth.
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketUpdate:
    """The difference between a decision and the ticket as it is: only what must change."""

    ticket_id: str
    version: str | None = None
    priority: str | None = None
    group_id: str | None = None
    assignee_id: str | None = None
    due_at: datetime | None = None
    due_by_metric: Mapping[str, datetime] = field(default_factory=dict)
    # The complete new tag set when tags change (both helpdesks replace the whole set on write).
    tags: frozenset[str] | None = None
    # What that set adds to and removes from the tags as read: a batch write sends only these
    # (Zendesk `additional_tags` / `remove_tags`), so a tag an agent changed meanwhile survives.
    tags_added: frozenset[str] = frozenset()
    tags_removed: frozenset[str] = frozenset()
    # Users to add as followers (Zendesk) or watchers (Jira): they hear of every later update.
    followers_add: frozenset[str] = frozenset()
    # Link the ticket to this problem ticket (Zendesk: an incident of it; Jira: an issue link).
    problem_id: str | None = None
    # A new status (the customer says a solved case is not fixed: "open"). Zendesk: a field of the PUT; Jira:
    # a workflow transition to a status that maps to it.
    status: str | None = None
    note: str | None = None

    def is_empty(self) -> bool:
        """True when there is nothing to write."""
        return not (
            self.priority or self.group_id or self.assignee_id or self.due_at or self.due_by_metric
            or self.tags is not None or self.followers_add or self.problem_id or self.status or self.note
        )


@dataclass(frozen=True)
class BatchJob:
    """A batch write the helpdesk runs in the background (Zendesk's update_many job): its id and its tickets."""

    id: str
    ticket_ids: tuple[str, ...]


@dataclass(frozen=True)
class FollowUp:
    """A new ticket linked to an existing one (e.g. the tech-lead escalation of an urgent case)."""

    original_id: str
    subject: str
    body: str
    group_id: str | None = None
    assignee_id: str | None = None
    priority: str | None = None
    # A problem ticket for a recurring issue (Zendesk type "problem"), rather than a plain follow-up.
    problem: bool = False
    # A task due then (ISO instant; Zendesk: type "task" with due_at; Jira: the due date).
    due_at: str | None = None
    # A post-incident review: its root cause is read when it is solved.
    review: bool = False


__all__ = ["PRIORITIES", "STATUSES", "FollowUp", "Rating", "Ticket", "TicketEvent", "TicketUpdate", "parse_instant"]
