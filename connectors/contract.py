"""The `Connector` protocol: what the receiver and the jobs need from a helpdesk, and the write steps it
turns an outbox row into."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from connectors.model import BatchJob, FollowUp, Rating, Ticket, TicketEvent, TicketUpdate

# The name of the one step of a single-call ticket update (Zendesk's PUT): a batch job writes that step.
UPDATE_STEP = "update"
# What a step sees of the row's progress: step name → {"state": "sending"|"done"|"failed", "result"?, "line"?, …}.
Progress = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class WriteStep:
    """One helpdesk call of an outbox row, in order; the deliverer records each step's progress.

    `send(progress)` makes the call and returns a JSON-able result (a created id, {"updated_at": …}, or
    None). An idempotent step is simply sent again after a crash. A non-idempotent one carries a marker
    derived from the row's key, and `landed(progress)` looks for it: the step's result when found, None
    when absent; it is asked before any re-send whose first outcome is unknown. `grace`: seconds after an
    unknown outcome during which an absent marker proves nothing (a search index that lags). An
    `essential` step that the helpdesk refuses parks the row; any other refused step is reported by
    `failure` (e.g. "add watcher X") and the rest go on.
    """

    name: str
    send: Callable[[Progress], Any]
    idempotent: bool = True
    landed: Callable[[Progress], Any] | None = None
    essential: bool = True
    failure: str = ""
    grace: float = 0.0


def failure_lines(progress: Progress) -> list[str]:
    """The plain lines naming each step that could not be done (for the internal note), in step order."""
    return [entry["line"] for entry in progress.values() if entry.get("state") == "failed" and entry.get("line")]


def run_steps(steps: list[WriteStep]) -> dict[str, Any]:
    """Send steps straight, in order, without recording progress (a direct write outside the outbox);
    step name → result."""
    progress: dict[str, dict[str, Any]] = {}
    for step in steps:
        progress[step.name] = {"state": "done", "result": step.send(progress)}
    return {name: entry["result"] for name, entry in progress.items()}


class Connector(Protocol):
    name: str
    # The status that says "stored, will process": 202, unless the helpdesk counts only 200/204 as delivered.
    accepted_status: int
    # Metrics besides resolution whose due time has a field in this helpdesk.
    due_metrics: frozenset[str]

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by a configured secret."""

    def parse(self, headers: Mapping[str, str], body: bytes, fields: bool = True) -> TicketEvent:
        """Parse a verified delivery; raise MalformedPayload naming what is wrong. `fields=False` (the receiver,
        which stores the body and needs only its key, ticket and actor) leaves `TicketEvent.fields` empty: the
        field readers never refuse a payload, so the answer is the same."""

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        """Read the ticket fresh through the API."""

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        """Write one update straight away, unmarked (callers without an outbox row); ConflictError if the
        ticket changed meanwhile. The deliverer uses `update_steps` instead."""

    def update_steps(self, update: TicketUpdate, key: str) -> list[WriteStep]:
        """The calls that write `update`, marked with the outbox key `key` where a call is not idempotent."""

    def reply_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """The calls that post a public comment to the customer (a proactive update), marked with `key`."""

    def follow_up_steps(self, follow_up: FollowUp, key: str) -> list[WriteStep]:
        """The calls that create the linked ticket once (its step named "create" returns the new id)."""

    def close_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """The calls that close the case for good and post `text` (the follow-up) publicly, marked with `key`."""

    def changed_tickets(self, cursor: str | None, now: datetime) -> tuple[list[tuple[str, datetime]], str]:
        """(ticket id, updated_at) of open tickets changed since `cursor` (None: a first pass), and the next cursor."""

    def is_own_actor(self, actor_id: str | None) -> bool:
        """True when the change was made by slaclock's own API user."""


@runtime_checkable
class BatchWriter(Protocol):
    """A connector that writes many tickets in few calls, as jobs the helpdesk runs in the background (Zendesk's
    update_many): the caller goes on deciding while they run and asks after them later."""

    def start_updates(self, updates: list[TicketUpdate], keys: list[str] | None = None) -> list[BatchJob]:
        """Queue the updates (marked with their outbox `keys`) in jobs; return the jobs without waiting for them."""

    def job_applied(self, job: BatchJob) -> dict[str, bool] | None:
        """Ticket id → applied, once `job` has run (None while it runs). The caller sends the rest one by one,
        reading each back first: a job that did not report may have applied it."""


@runtime_checkable
class BatchReader(Protocol):
    """A connector that can read many tickets in one call (Zendesk's show_many)."""

    def fetch_tickets(self, ticket_ids: list[str]) -> dict[str, Ticket]:
        """The tickets found, by id; ids left out are read one by one by the caller."""


@runtime_checkable
class ConditionalWriter(Protocol):
    """A connector whose ticket updates are refused once the ticket changed after a given version (Zendesk's
    safe_update): a decision taken on an older picture of the ticket cannot land."""

    def version_at(self, updated_at: datetime) -> str:
        """The concurrency stamp that says "the ticket as of `updated_at`"."""


@runtime_checkable
class TicketCarrier(Protocol):
    """A connector whose webhooks may carry the whole ticket (Jira's issue events): those need no read."""

    def ticket_from_delivery(self, body: bytes) -> Ticket | None:
        """The ticket as the delivery's body carries it, or None unless it holds every field a decision reads."""


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


@runtime_checkable
class TeamLoad(Protocol):
    """A connector that can count the open tickets of each member of a helpdesk group (a least-loaded owner)."""

    def open_tickets_per_member(self, group_id: str, ticket_id: str) -> dict[str, int]:
        """User id → open tickets assigned, for each member of the group who may take the ticket, in the
        helpdesk's order."""


@runtime_checkable
class RatingReader(Protocol):
    """A connector whose satisfaction rating is a read of its own, not part of the ticket (JSM request feedback)."""

    def fetch_rating(self, ticket_id: str) -> Rating | None:
        """The customer's rating of the ticket, or None when none was given yet."""


@cache
def _methods(protocol: type) -> tuple[str, ...]:
    return tuple(name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_"))


def supports(connector: object, protocol: type) -> bool:
    """`isinstance(connector, protocol)` for a protocol of methods: the connector has each of them. Without Python
    3.11's walk through the protocol's class tree on each call (several per delivery: 4 % of the worker's time)."""
    return all(getattr(connector, name, None) is not None for name in _methods(protocol))
