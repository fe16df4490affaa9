"""An in-memory connector for pipeline tests: records writes, can answer 409 or fail on demand."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from connectors.contract import UPDATE_STEP, WriteStep
from connectors.errors import ConflictError, OutcomeUnknown, RetryableError
from connectors.model import Ticket, TicketEvent, TicketUpdate
from jobs.demo import agent_fields  # noqa: F401 - the fields an agent fills in, for the tests

OWN_USER = "9001"


def rules_with_routing_notes():
    """The example rules, with a note on a decision that only routes (`routing.note = true`): for tests that
    need a note on the first write."""
    from rules import EXAMPLE_RULES, parse_rules
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    assert "[routing]\n" in text
    return parse_rules(text.replace("[routing]\n", "[routing]\nnote = true\n"))


class Crash(BaseException):
    """The worker died (kill -9) right after the helpdesk applied a call: nothing after it runs."""


class FakeConnector:
    name = "zendesk"  # so the example rules' Zendesk group targets apply
    accepted_status = 202
    due_metrics = frozenset({"first_response"})

    def __init__(self):
        self.tickets: dict[str, Ticket] = {}
        self.writes: list[tuple[TicketUpdate, str]] = []
        self.reads = 0
        self.conflicts = 0   # answer this many writes with 409 (after changing the ticket)
        self.failures: list[Exception] = []
        self.feed: list[tuple[str, datetime]] = []   # what changed_tickets reports next
        self.public_replies: list[tuple[str, str, str]] = []  # (ticket id, text, idempotency key)
        self.created: list[tuple[object, str]] = []  # (FollowUp, idempotency key)
        self.closed: list[tuple[str, str, str]] = []  # (ticket id, follow-up text, idempotency key)
        self.cursors: list[str | None] = []
        # After applying a write: lose its answer (OutcomeUnknown) this many times, or crash this many times.
        self.lost_answers = 0
        self.crashes = 0
        self.read_backs = 0

    def add(self, ticket_id: str, **fields) -> Ticket:
        base = dict(status="new", priority="normal", opened_at=datetime(2026, 3, 2, 14, tzinfo=timezone.utc))  # 09:00 in New York
        base.update(fields)
        ticket = Ticket(connector=self.name, ticket_id=ticket_id, version="v1", **base)
        self.tickets[ticket_id] = ticket
        return ticket

    def change(self, ticket_id: str, **fields) -> None:
        ticket = self.tickets[ticket_id]
        self.tickets[ticket_id] = replace(ticket, version=ticket.version + "'", **fields)

    def verify(self, headers, body, now):
        pass

    def parse(self, headers, body, fields=True) -> TicketEvent:
        # Test deliveries carry their normalised fields as the JSON body.
        values = json.loads(body or b"{}")
        for key in ("comment_created_at",):
            if key in values:
                values[key] = datetime.fromisoformat(values[key])
        return TicketEvent(connector=self.name, delivery_key="fake", event_type="comment", ticket_id=None,
                           change_id=values.pop("change_id", None), fields=values if fields else {})

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        self.reads += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.tickets[ticket_id]

    def _answered(self) -> None:
        """Between the helpdesk applying a write and its answer reaching us."""
        if self.crashes:
            self.crashes -= 1
            raise Crash()
        if self.lost_answers:
            self.lost_answers -= 1
            raise OutcomeUnknown("PUT: connection reset after sending")

    def update_steps(self, update: TicketUpdate, key: str) -> list[WriteStep]:
        """One call, as Zendesk's PUT: marked by `key` when it carries a note."""
        def send(progress):
            ticket = self.apply_update(update, key)
            self._answered()
            return {"updated_at": ticket.updated_at.isoformat()} if ticket.updated_at else None

        def landed(progress):
            self.read_backs += 1
            return True if any(k == key for _, k in self.writes) else None
        return [WriteStep(UPDATE_STEP, send, idempotent=not update.note, landed=landed)]

    def reply_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        def send(progress):
            self.add_public_reply(ticket_id, text, key)
            self._answered()

        def landed(progress):
            self.read_backs += 1
            return True if any(k == key for _, _, k in self.public_replies) else None
        return [WriteStep("reply", send, idempotent=False, landed=landed)]

    def follow_up_steps(self, follow_up, key: str) -> list[WriteStep]:
        def send(progress):
            created = self.create_follow_up(follow_up, key)
            self._answered()
            return created

        def landed(progress):
            self.read_backs += 1
            return next((str(900 + n) for n, (_, k) in enumerate(self.created) if k == key), None)
        return [WriteStep("create", send, idempotent=False, landed=landed)]

    def close_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """One call, as Zendesk's: status closed with the public follow-up."""
        def send(progress):
            if self.failures:
                raise self.failures.pop(0)
            self.closed.append((ticket_id, text, key))
            self.change(ticket_id, status="closed")
            self._answered()

        def landed(progress):
            self.read_backs += 1
            return True if any(k == key for _, _, k in self.closed) else None
        return [WriteStep("close", send, idempotent=False, landed=landed)]

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        if self.failures:
            raise self.failures.pop(0)
        ticket = self.tickets[update.ticket_id]
        if self.conflicts:
            self.conflicts -= 1
            self.change(update.ticket_id)
            raise ConflictError("409 UpdateConflict", 409)
        if update.version != ticket.version:
            raise ConflictError("409 stale stamp", 409)
        self.writes.append((update, idempotency_key))
        changes = {k: getattr(update, k) for k in ("priority", "group_id", "assignee_id", "due_at", "tags", "status")
                   if getattr(update, k) is not None}
        if update.due_by_metric:
            changes["due_by_metric"] = {**ticket.due_by_metric, **update.due_by_metric}
        self.change(update.ticket_id, **changes)
        return self.tickets[update.ticket_id]

    def add_public_reply(self, ticket_id, text, idempotency_key):
        if self.failures:
            raise self.failures.pop(0)
        self.public_replies.append((ticket_id, text, idempotency_key))

    def create_follow_up(self, follow_up, idempotency_key):
        for made, key in self.created:
            if key == idempotency_key:
                return str(900 + self.created.index((made, key)))
        self.created.append((follow_up, idempotency_key))
        return str(900 + len(self.created) - 1)

    def changed_tickets(self, cursor, now):
        self.cursors.append(cursor)
        changes, self.feed = self.feed, []
        return changes, f"cursor-{len(self.cursors)}"

    def is_own_actor(self, actor_id) -> bool:
        return actor_id == OWN_USER


class Clock:
    """A settable clock for jobs."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


def counted_commits(store) -> list[int]:
    """Counts the store's write transactions from now on (one entry each)."""
    commits, write_txn = [], store.write_txn

    def counting():
        commits.append(1)
        return write_txn()

    store.write_txn = counting
    return commits


def retryable(message: str = "503 Service Unavailable") -> RetryableError:
    return RetryableError(message, 503)


def checked(d, now: datetime):
    """`d` after the checks every replayed decision passes: its memory survives JSON, its next action is ahead."""
    from rules import CaseMemory
    assert CaseMemory.from_json(json.loads(json.dumps(d.memory.to_json()))) == d.memory
    assert d.next_action_at is None or d.next_action_at > now, "next action never in the past"
    return d


def written(ticket, d):
    """The ticket after the helpdesk took decision `d`'s write (priority, tags, group, assignee)."""
    tags = (ticket.tags - d.tags_remove) | d.tags_add
    return replace(ticket, priority=d.priority, tags=tags, group_id=d.group_id or ticket.group_id,
                   assignee_id=d.assignee_id or ticket.assignee_id)

