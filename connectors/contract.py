"""The `Connector` protocol: what the receiver and the jobs need from a helpdesk."""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Protocol, runtime_checkable

from connectors.model import FollowUp, Ticket, TicketEvent, TicketUpdate


class Connector(Protocol):
    name: str
    # The status that says "stored, will process": 202, unless the helpdesk counts only 200/204 as delivered.
    accepted_status: int
    # Metrics besides resolution whose due time has a field in this helpdesk.
    due_metrics: frozenset[str]

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by a configured secret."""

    def parse(self, headers: Mapping[str, str], body: bytes) -> TicketEvent:
        """Parse a verified delivery; raise MalformedPayload naming what is wrong."""

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        """Read the ticket fresh through the API."""

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        """Write one update in one call; raise ConflictError if the ticket changed meanwhile."""

    def add_public_reply(self, ticket_id: str, text: str, idempotency_key: str) -> None:
        """Post a public comment to the customer (a proactive update)."""

    def create_follow_up(self, follow_up: FollowUp, idempotency_key: str) -> str:
        """Create the linked ticket once (a repeated key must not make a second); return its id."""

    def changed_tickets(self, cursor: str | None, now: datetime) -> tuple[list[tuple[str, datetime]], str]:
        """(ticket id, updated_at) of open tickets changed since `cursor` (None: a first pass), and the next cursor."""

    def is_own_actor(self, actor_id: str | None) -> bool:
        """True when the change was made by slaclock's own API user."""


@runtime_checkable
class BatchWriter(Protocol):
    """A connector that can write many tickets in few calls (Zendesk's update_many)."""

    def apply_updates(self, updates: list[TicketUpdate]) -> dict[str, bool]:
        """Write the updates; return ticket id → applied. The caller retries the rest one by one."""


@runtime_checkable
class BatchReader(Protocol):
    """A connector that can read many tickets in one call (Zendesk's show_many)."""

    def fetch_tickets(self, ticket_ids: list[str]) -> dict[str, Ticket]:
        """The tickets found, by id; ids left out are read one by one by the caller."""


@runtime_checkable
class NativeSlaReader(Protocol):
    """A connector that can read the helpdesk's own SLA for a ticket (JSM), to show beside slaclock's."""

    def native_sla(self, ticket_id: str) -> list[str]:
        """One line per native SLA metric."""


@runtime_checkable
class GroupDirectory(Protocol):
    """A connector that can tell which helpdesk groups a user belongs to (for the rules' role map)."""

    def actor_groups(self, actor_id: str) -> frozenset[str]:
        """The group ids of a helpdesk user."""
