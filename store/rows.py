"""What the store hands out: one frozen row type per table, and the statuses rows move through.

Instants are UTC-aware datetimes; JSON columns arrive decoded. Each type's `from_row`
reads a row as both stores return it (instants as ISO text, JSON as text). Kinds (`Delivery.event_type`,
`OutboxRow.kind`, `TimelineEntry.kind`) stay plain text: the store keeps what it was given, and
the jobs, who own those vocabularies, read them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Mapping


def instant(value: str | None) -> datetime | None:
    """An ISO 8601 column as an aware datetime (None stays None)."""
    return datetime.fromisoformat(value) if value else None


class DeliveryStatus(StrEnum):
    """Where an inbox delivery stands."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    ECHO = "echo"  # our own write coming back: nothing to decide
    FAILED = "failed"


class OutboxStatus(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    SUPERSEDED = "superseded"  # the ticket changed under it (409): decided again instead
    FAILED = "failed"  # parked, with its error: retries ran out, or the helpdesk refused it


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery or a check slaclock queued itself, without its raw body."""

    id: int
    connector: str
    delivery_key: str
    event_type: str
    ticket_id: str | None
    actor_id: str | None
    received_at: datetime
    attempts: int
    status: DeliveryStatus
    error: str | None = None

    @classmethod
    def from_row(cls, row: tuple) -> "Delivery":
        id_, connector, key, event_type, ticket_id, actor_id, received_at, attempts, status, error = row
        return cls(id=id_, connector=connector, delivery_key=key, event_type=event_type, ticket_id=ticket_id,
                   actor_id=actor_id, received_at=datetime.fromisoformat(received_at), attempts=attempts,
                   status=DeliveryStatus(status), error=error)


@dataclass(frozen=True)
class DeliveryPayload:
    """A delivery's stored headers and raw body, to parse it again."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class Case:
    """What slaclock last decided for a ticket."""

    connector: str
    ticket_id: str
    memory: Mapping[str, Any]
    snapshot: Mapping[str, Any]
    priority: str | None
    team: str | None
    due_at: datetime | None
    rules_version: str | None
    decided_at: datetime | None
    next_action_at: datetime | None
    seen_updated_at: datetime | None
    next_action: str | None = None  # what falls due at next_action_at, in words

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Case":
        return cls(connector=row["connector"], ticket_id=row["ticket_id"],
                   memory=json.loads(row["memory_json"] or "{}"), snapshot=json.loads(row["snapshot_json"] or "{}"),
                   priority=row["priority"], team=row["team"], due_at=instant(row["due_at"]),
                   rules_version=row["rules_version"], decided_at=instant(row["decided_at"]),
                   next_action_at=instant(row["next_action_at"]), seen_updated_at=instant(row["seen_updated_at"]),
                   next_action=row["next_action"])


@dataclass(frozen=True)
class DueTicket:
    """A ticket whose next time-driven action is due."""

    connector: str
    ticket_id: str
    next_action_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a ticket's history."""

    id: int
    connector: str
    ticket_id: str
    at: datetime
    kind: str
    summary: str
    detail: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "TimelineEntry":
        return cls(id=row["id"], connector=row["connector"], ticket_id=row["ticket_id"],
                   at=datetime.fromisoformat(row["at"]), kind=row["kind"], summary=row["summary"],
                   detail=json.loads(row["detail_json"] or "{}"))


@dataclass(frozen=True)
class OutboxRow:
    """A write to send to a helpdesk. `cluster_key`: the recurring-issue cluster a problem ticket is for;
    `progress`: what each of its steps has reached (step name → {"state": …}), see `connectors.contract.WriteStep`."""

    id: int
    idem_key: str
    connector: str
    ticket_id: str
    kind: str
    payload: Mapping[str, Any]
    status: OutboxStatus
    attempts: int
    created_at: datetime | None
    next_attempt_at: datetime | None
    done_at: datetime | None
    last_error: str | None
    cluster_key: str | None
    progress: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: tuple) -> "OutboxRow":
        (id_, idem_key, connector, ticket_id, kind, payload, status, attempts, created, next_at, done, error, cluster,
         progress) = row
        return cls(id=id_, idem_key=idem_key, connector=connector, ticket_id=ticket_id, kind=kind,
                   payload=json.loads(payload), status=OutboxStatus(status), attempts=attempts,
                   created_at=instant(created), next_attempt_at=instant(next_at), done_at=instant(done),
                   last_error=error, cluster_key=cluster, progress=json.loads(progress or "{}"))


@dataclass(frozen=True)
class Cluster:
    """A recurring-issue cluster: open cases of one helpdesk, and their problem ticket once it exists."""

    key: str
    connector: str
    problem_id: str | None
    subject: str
    members: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Cluster":
        return cls(key=row["key"], connector=row["connector"], problem_id=row["problem_id"], subject=row["subject"],
                   members=tuple(json.loads(row["members_json"])), created_at=datetime.fromisoformat(row["created_at"]),
                   updated_at=datetime.fromisoformat(row["updated_at"]))


@dataclass(frozen=True)
class AdminToken:
    """A dashboard sign-in token as stored (its hash is never handed out): who, with which role."""

    id: int
    name: str
    role: str  # admin | manager | executive
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "AdminToken":
        return cls(id=row["id"], name=row["name"], role=row["role"], created_at=datetime.fromisoformat(row["created_at"]))
