"""In-memory Zendesk tickets: validation, change lists and strictly increasing stamps, under one lock."""
from __future__ import annotations

import copy
import itertools
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from connectors.model import PRIORITIES, STATUSES
from sandbox.records import Change, Mutation, Store, utc_now

TYPES = ("problem", "incident", "question", "task")
ONE_SECOND = timedelta(seconds=1)


def stamp(moment: datetime) -> str:
    """Zendesk's REST timestamp: UTC, second resolution, `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: Any) -> datetime | None:
    """Read an ISO 8601 stamp (with `Z` or an offset); None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class RecordNotFound(Exception):
    """No ticket with that id."""


class UpdateConflict(Exception):
    """`safe_update` with an `updated_stamp` that is not the ticket's `updated_at`."""


class RecordInvalid(Exception):
    """Validation failed; `details` maps a field name to Zendesk-style problems."""

    def __init__(self, details: dict[str, list[dict[str, str]]]):
        super().__init__(details)
        self.details = details


@dataclass
class User:
    id: int
    name: str
    email: str
    role: str  # admin | agent | end-user

    @property
    def is_staff(self) -> bool:
        return self.role != "end-user"


@dataclass
class Comment:
    id: int
    audit_id: int
    author_id: int
    body: str
    public: bool
    created_at: datetime
    via_channel: str


@dataclass
class AuditRecord:
    """One ticket audit: who wrote when through which channel, what it changed (`Create` events for a new
    ticket), and the `ticket.metadata` the write carried (shown as the audit's `metadata.custom`)."""

    id: int
    author_id: int
    created_at: datetime
    via_channel: str
    created: bool
    changes: tuple[Change, ...]
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class TicketRecord:
    id: int
    subject: str
    description: str
    status: str
    priority: str | None
    type: str | None
    group_id: int | None
    assignee_id: int | None
    requester_id: int
    submitter_id: int
    organization_id: int | None
    external_id: str | None
    tags: list[str]
    custom_fields: dict[int, Any]
    created_at: datetime
    updated_at: datetime
    via_channel: str  # REST `via.channel`: "api" for the API, "web" for the agent UI
    comments: list[Comment] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    follower_ids: list[int] = field(default_factory=list)
    # The requester's CSAT answer ({"score": "good" | "bad", "comment"}), once given.
    satisfaction: dict[str, Any] | None = None
    # Order of the last change among all tickets: what the incremental export's cursor follows. `updated_at`
    # cannot (a hot ticket's stamp runs ahead of the clock, one second per update).
    change_seq: int = 0
    due_at: datetime | None = None  # a task's due date

    @property
    def is_public(self) -> bool:
        return bool(self.comments) and self.comments[0].public


def _problem(field_name: str, description: str, error: str = "InvalidValue") -> dict[str, list[dict[str, str]]]:
    return {field_name: [{"description": description, "error": error}]}


def _optional_id(payload: Mapping[str, Any], key: str, problems: dict) -> Any:
    value = payload[key]
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        problems.update(_problem(key, f"{key}: {value!r} is not a valid id"))
        return None


def _enum(payload: Mapping[str, Any], key: str, allowed: Iterable[str], problems: dict,
          nullable: bool = True) -> Any:
    value = payload[key]
    if nullable and (value is None or value == ""):
        return None
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    problems.update(_problem(key, f"{key.capitalize()}: {value} is not valid"))
    return None


def _tags(value: Any, problems: dict) -> list[str] | None:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        problems.update(_problem("tags", "Tags: must be an array of strings"))
        return None
    return list(dict.fromkeys(tag.strip() for tag in value if tag.strip()))


def _custom_fields(value: Any, problems: dict) -> dict[int, Any] | None:
    try:
        return {int(item["id"]): item.get("value") for item in value}
    except (TypeError, KeyError, ValueError):
        problems.update(_problem("custom_fields", "Custom fields: must be an array of {id, value}"))
        return None


def _comment(value: Any, problems: dict) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = {"body": value}
    if not isinstance(value, dict):
        problems.update(_problem("comment", "Comment: must be an object with a body"))
        return None
    body = value.get("body") or value.get("html_body") or ""
    if not str(body).strip():
        return None
    public = value.get("public", True)
    if isinstance(public, str):
        public = public.strip().lower() not in ("false", "0")
    return {"body": str(body), "public": bool(public), "author_id": value.get("author_id")}


def _followers(value: Any, problems: dict) -> list[tuple[str, int]] | None:
    """`followers`: [{"user_id": id, "action": "put" | "delete"}] ("Setting followers": put adds, delete removes;
    no action means put)."""
    try:
        return [(item.get("action") or "put", int(item["user_id"])) for item in value
                if (item.get("action") or "put") in ("put", "delete")]
    except (TypeError, KeyError, ValueError, AttributeError):
        problems.update(_problem("followers", "Followers: must be an array of {user_id, action}"))
        return None


def validate(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return the recognised, normalised fields of a `ticket` object, or raise RecordInvalid."""
    problems: dict[str, list[dict[str, str]]] = {}
    fields: dict[str, Any] = {}
    if "priority" in payload:
        fields["priority"] = _enum(payload, "priority", PRIORITIES, problems)
    if "status" in payload:
        fields["status"] = _enum(payload, "status", STATUSES, problems, nullable=False)
    if "type" in payload:
        fields["type"] = _enum(payload, "type", TYPES, problems)
    for key in ("group_id", "assignee_id", "requester_id", "organization_id"):
        if key in payload:
            fields[key] = _optional_id(payload, key, problems)
    for key in ("subject", "external_id"):
        if key in payload:
            fields[key] = None if payload[key] is None else str(payload[key])
    if "due_at" in payload:
        fields["due_at"] = parse_stamp(payload["due_at"]) if payload["due_at"] is not None else None
        if payload["due_at"] is not None and fields["due_at"] is None:
            problems.update(_problem("due_at", "Due at: is not a valid date", "InvalidValue"))
    if "tags" in payload:
        fields["tags"] = _tags(payload["tags"], problems)
    # Zendesk accepts `fields` as an alias of `custom_fields`.
    for key in ("custom_fields", "fields"):
        if key in payload:
            fields["custom_fields"] = _custom_fields(payload[key], problems)
    if "comment" in payload:
        fields["comment"] = _comment(payload["comment"], problems)
    if "followers" in payload:
        fields["followers"] = _followers(payload["followers"], problems)
    if "follower_ids" in payload:
        # A plain list replaces the followers ("Setting followers").
        try:
            fields["follower_ids"] = [int(i) for i in payload["follower_ids"]]
        except (TypeError, ValueError):
            problems.update(_problem("follower_ids", "Follower ids: must be an array of user ids"))
    if "metadata" in payload:
        # Zendesk: "Write only. Metadata for the audit", shown as the audit's `metadata.custom`.
        if not isinstance(payload["metadata"], dict):
            problems.update(_problem("metadata", "Metadata: must be an object"))
        fields["metadata"] = payload["metadata"]
    if problems:
        raise RecordInvalid(problems)
    return fields


def _created_values(ticket: TicketRecord) -> tuple[Change, ...]:
    """The attributes a new ticket was created with, as the `Create` events of its first audit."""
    values = [Change(name, None, getattr(ticket, name))
              for name in ("subject", "status", "priority", "type", "group_id", "assignee_id", "requester_id", "tags")
              if getattr(ticket, name) not in (None, [])]
    values.extend(Change("custom_field", None, value, field_id)
                  for field_id, value in ticket.custom_fields.items() if value is not None)
    return tuple(values)


class TicketStore(Store[TicketRecord]):
    """Thread-safe tickets and the users they name."""

    def __init__(self, users: Iterable[User], default_requester_id: int,
                 custom_field_ids: Iterable[int] = (), clock: Callable[[], datetime] = utc_now):
        super().__init__(clock)
        self._initial_users = list(users)
        self._default_requester_id = default_requester_id
        self._custom_field_ids = list(custom_field_ids)
        self.reset()

    def add_custom_field(self, field_id: int) -> None:
        """A field created through the API: tickets created from now on list it (null until set)."""
        with self._lock:
            if field_id not in self._custom_field_ids:
                self._custom_field_ids.append(field_id)

    def reset_custom_fields(self, field_ids: Iterable[int]) -> None:
        """Back to the configured fields (a sandbox reset forgets created ones)."""
        with self._lock:
            self._custom_field_ids = list(field_ids)

    def reset(self) -> None:
        """Forget every ticket, comment and end user."""
        with self._lock:
            self._tickets: dict[int, TicketRecord] = {}
            self._users = {user.id: user for user in self._initial_users}
            self._ticket_ids = itertools.count(1)
            # Large ids, like Zendesk's, so comment, audit and ticket ids are never confused.
            self._comment_ids = itertools.count(10_000_000_001)
            self._audit_ids = itertools.count(20_000_000_001)
            self._change_seqs = itertools.count(1)

    def user(self, user_id: int | None) -> User | None:
        with self._lock:
            return self._users.get(user_id) if user_id is not None else None

    def get(self, ticket_id: int) -> TicketRecord:
        """A copy of the ticket with its comments; RecordNotFound when absent."""
        with self._lock:
            if ticket_id not in self._tickets:
                raise RecordNotFound(ticket_id)
            return copy.deepcopy(self._tickets[ticket_id])

    def select(self, predicate: Callable[[TicketRecord], bool]) -> list[TicketRecord]:
        """Copies of the tickets `predicate` accepts, by id."""
        with self._lock:
            return copy.deepcopy([t for t in self._tickets.values() if predicate(t)])

    def count(self, predicate: Callable[[TicketRecord], bool]) -> int:
        """How many tickets `predicate` accepts (no copies: a count is all Search's count endpoint gives)."""
        with self._lock:
            return sum(1 for t in self._tickets.values() if predicate(t))

    def by_external_id(self, external_id: str) -> list[TicketRecord]:
        """Copies of the tickets carrying `external_id` (Zendesk does not make it unique), oldest first."""
        with self._lock:
            return copy.deepcopy([t for t in self._tickets.values() if t.external_id == external_id])

    def changed_since(self, limit: int, after_seq: int = 0,
                      start_time: int | None = None) -> tuple[list[TicketRecord], int]:
        """Copies of tickets changed after change `after_seq` (and updated at or after `start_time`, unix seconds),
        in the order of their last change; and the latest change number there is."""
        with self._lock:
            changed = sorted((t for t in self._tickets.values() if t.change_seq > after_seq and
                              (start_time is None or t.updated_at.timestamp() >= start_time)),
                             key=lambda t: t.change_seq)
            latest = max((t.change_seq for t in self._tickets.values()), default=0)
            return copy.deepcopy(changed[:limit]), latest

    def create(self, payload: Mapping[str, Any], actor_id: int, via_channel: str = "api",
               created_at: datetime | None = None) -> Mutation[TicketRecord]:
        """Create a ticket from a `ticket` object (a comment is required, as on Zendesk).

        `created_at` backdates it, as Zendesk's ticket import does (the demo opens a case "two hours ago").
        """
        fields = validate(payload)
        comment = fields.pop("comment", None)
        if comment is None:
            raise RecordInvalid(_problem("description", "Description: cannot be blank", "BlankValue"))
        with self._lock:
            requester_id = fields.get("requester_id") or self._requester(payload.get("requester")) \
                or self._default_requester_id
            now = self._clock().replace(microsecond=0)
            opened = created_at.replace(microsecond=0) if created_at else now
            status = fields.get("status") or ("open" if fields.get("assignee_id") else "new")
            custom_fields = {field_id: None for field_id in self._custom_field_ids}
            custom_fields.update(fields.get("custom_fields") or {})
            ticket = TicketRecord(
                id=next(self._ticket_ids), subject=fields.get("subject") or comment["body"][:80],
                description=comment["body"], status=status, priority=fields.get("priority"),
                type=fields.get("type"), group_id=fields.get("group_id"), assignee_id=fields.get("assignee_id"),
                requester_id=requester_id, submitter_id=actor_id, organization_id=fields.get("organization_id"),
                external_id=fields.get("external_id"), tags=fields.get("tags") or [],
                custom_fields=custom_fields, created_at=opened, updated_at=now, via_channel=via_channel,
                change_seq=next(self._change_seqs), due_at=fields.get("due_at"))
            audit_id = next(self._audit_ids)
            self._add_comment(ticket, comment, actor_id, audit_id, now)
            ticket.audits.append(AuditRecord(audit_id, actor_id, now, via_channel, True, _created_values(ticket),
                                             dict(fields.get("metadata") or {})))
            self._tickets[ticket.id] = ticket
            return self._publish(Mutation(copy.deepcopy(ticket), actor_id, audit_id, True, ()))

    def update(self, ticket_id: int, payload: Mapping[str, Any], actor_id: int,
               via_channel: str = "api") -> Mutation[TicketRecord]:
        """Apply a `ticket` object; only attributes that really change produce Changes."""
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise RecordNotFound(ticket_id)
            # "A value of false has the same effect as true. Omit the property to force the
            # updates to not be safe." (Zendesk tickets API)
            if "safe_update" in payload and payload.get("updated_stamp") is not None:
                if parse_stamp(payload["updated_stamp"]) != ticket.updated_at:
                    raise UpdateConflict(ticket_id)
            if ticket.status == "closed":
                raise RecordInvalid(_problem("status", "Status: closed prevents ticket update", "ClosedTicket"))
            fields = validate(payload)
            # Zendesk opens a new ticket once an agent is assigned, unless a status is given.
            if ticket.status == "new" and fields.get("assignee_id") and "status" not in fields:
                fields["status"] = "open"
            # The requester's public reply reopens a pending or solved ticket (to open), unless a status is given.
            comment = fields.get("comment")
            if (comment is not None and comment["public"] and ticket.status in ("pending", "solved")
                    and "status" not in fields and str(comment.get("author_id") or "") == str(ticket.requester_id)):
                fields["status"] = "open"
            changes, touched = self._apply(ticket, fields)
            comment = fields.get("comment")
            if not (changes or touched or comment):
                return Mutation(copy.deepcopy(ticket), actor_id, 0, False, ())
            now = self._next_stamp(ticket.updated_at)
            audit_id = next(self._audit_ids)
            if comment is not None:
                changes.append(Change("comment", None, self._add_comment(ticket, comment, actor_id, audit_id, now)))
            ticket.audits.append(AuditRecord(audit_id, actor_id, now, via_channel, False,
                                             tuple(c for c in changes if c.field != "comment"),
                                             dict(fields.get("metadata") or {})))
            ticket.updated_at = now
            ticket.change_seq = next(self._change_seqs)
            return self._publish(Mutation(copy.deepcopy(ticket), actor_id, audit_id, False, tuple(changes)))

    def rate(self, ticket_id: int, score: str, comment: str) -> Mutation[TicketRecord]:
        """The requester rates a solved ticket (Create a Satisfaction Rating: "only the end user listed as the
        ticket requester can create a satisfaction rating"); a new rating replaces the last."""
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise RecordNotFound(ticket_id)
            if score not in ("good", "bad"):
                raise RecordInvalid(_problem("score", f"Score: {score!r} is not good or bad"))
            if ticket.status not in ("solved", "closed"):
                raise RecordInvalid(_problem("status", "Status: only a solved ticket can be rated", "InvalidStatus"))
            rating = {"id": next(self._audit_ids), "score": score, "comment": comment}
            change = Change("satisfaction", ticket.satisfaction, rating)
            ticket.satisfaction = rating
            now = self._next_stamp(ticket.updated_at)
            audit_id = next(self._audit_ids)
            ticket.audits.append(AuditRecord(audit_id, ticket.requester_id, now, "web", False, (change,)))
            ticket.updated_at = now
            ticket.change_seq = next(self._change_seqs)
            return self._publish(Mutation(copy.deepcopy(ticket), ticket.requester_id, audit_id, False, (change,)))

    def _apply(self, ticket: TicketRecord, fields: Mapping[str, Any]) -> tuple[list[Change], bool]:
        """Write the fields; return the evented changes and whether anything else changed."""
        changes: list[Change] = []
        touched = False
        followers = list(fields["follower_ids"]) if fields.get("follower_ids") is not None else list(ticket.follower_ids)
        for action, user_id in fields.get("followers") or ():
            if action == "put" and user_id not in followers:
                followers.append(user_id)
            elif action == "delete" and user_id in followers:
                followers.remove(user_id)
        if followers != ticket.follower_ids:
            ticket.follower_ids, touched = followers, True
        for key, kind in (("priority", "priority"), ("status", "status"),
                          ("group_id", "group"), ("assignee_id", "assignee")):
            if key in fields and fields[key] != getattr(ticket, key):
                changes.append(Change(kind, getattr(ticket, key), fields[key]))
                setattr(ticket, key, fields[key])
        for key in ("subject", "type", "requester_id", "organization_id", "external_id", "due_at"):
            if key in fields and fields[key] is not None and fields[key] != getattr(ticket, key):
                setattr(ticket, key, fields[key])
                touched = True
        if fields.get("tags") is not None and fields["tags"] != ticket.tags:
            changes.append(Change("tags", list(ticket.tags), list(fields["tags"])))
            ticket.tags = list(fields["tags"])
        for field_id, value in (fields.get("custom_fields") or {}).items():
            previous = ticket.custom_fields.get(field_id)
            if field_id not in ticket.custom_fields or previous != value:
                changes.append(Change("custom_field", previous, value, field_id))
                ticket.custom_fields[field_id] = value
        return changes, touched

    def _add_comment(self, ticket: TicketRecord, comment: Mapping[str, Any], actor_id: int,
                     audit_id: int, now: datetime) -> Comment:
        author_id = int(comment["author_id"]) if str(comment.get("author_id") or "").isdigit() else actor_id
        record = Comment(next(self._comment_ids), audit_id, author_id, comment["body"], comment["public"],
                         now, ticket.via_channel)
        ticket.comments.append(record)
        return record

    def _requester(self, requester: Any) -> int | None:
        if not isinstance(requester, dict) or not requester.get("email"):
            return None
        email = str(requester["email"]).lower()
        for user in self._users.values():
            if user.email == email:
                return user.id
        # A stable id per email, in a range no configured user uses.
        user = User(30_000_000 + zlib.crc32(email.encode()) % 1_000_000,
                    str(requester.get("name") or email), email, "end-user")
        self._users[user.id] = user
        return user.id

    def _next_stamp(self, previous: datetime) -> datetime:
        # Stamps have second resolution, so two updates within a second would share a stamp
        # and defeat safe_update; always move at least one second forward.
        return max(self._clock().replace(microsecond=0), previous + ONE_SECOND)
