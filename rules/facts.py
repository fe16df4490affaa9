"""`TicketFacts`: what the rules read from a ticket (connectors.model.Ticket satisfies it)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Protocol


class TicketFacts(Protocol):
    """A ticket as the engine reads it. `updated_at`: when the change happened (None: `now`);
    `custom_fields`: tier, vendor ETA / capacity, promised date, customer time zone, product."""

    connector: str
    ticket_id: str
    status: str
    priority: str | None
    opened_at: datetime
    updated_at: datetime | None
    subject: str
    description: str
    group_id: str | None
    assignee_id: str | None
    requester_id: str | None
    organization_id: str | None
    tags: frozenset[str]
    reason_code: str | None
    custom_fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """`connector:ticket_id`."""
        ...
