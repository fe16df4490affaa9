"""Zendesk event-subscription webhooks: envelopes, signatures, and one ordered delivery thread."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

import requests

from sandbox.store import Change, Mutation, TicketRecord, User, stamp, utc_now

EVENT_PREFIX = "zen:event-type:ticket."
EVENT_VERSION = "2022-11-06"
EVENT_NAMES = {
    "priority": "priority_changed",
    "status": "status_changed",
    "group": "group_assignment_changed",
    "assignee": "agent_assignment_changed",
    "tags": "tags_changed",
    "custom_field": "custom_field_changed",
    "comment": "comment_added",
}
# Webhook `via.channel` names the channel the way triggers do, not the REST `via.channel`.
WEBHOOK_CHANNELS = {"api": "web_service", "web": "web_form"}
# Zendesk retries 409, and 429/503 (when Retry-After < 60 s); timeouts and refused connections too.
RETRYABLE_STATUSES = (409, 429, 503)
MAX_RETRIES = 3


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key=secret string bytes, msg=timestamp + raw body)), as Zendesk signs."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def event_time(moment: datetime) -> str:
    """Envelope `time`: nanosecond resolution, `Z`."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond * 1000:09d}Z"


def ticket_detail(ticket: TicketRecord, actor_id: int) -> dict[str, Any]:
    """The `detail` snapshot: string ids, UPPERCASE enums, null for anything unset."""
    return {
        "actor_id": str(actor_id),
        "assignee_id": _id(ticket.assignee_id),
        "brand_id": None,
        "created_at": stamp(ticket.created_at),
        "custom_status": None,
        "description": ticket.description,
        "external_id": ticket.external_id,
        "form_id": None,
        "group_id": _id(ticket.group_id),
        "id": str(ticket.id),
        "is_public": ticket.is_public,
        "organization_id": _id(ticket.organization_id),
        "priority": _upper(ticket.priority),
        "requester_id": _id(ticket.requester_id),
        "status": _upper(ticket.status),
        "subject": ticket.subject,
        "submitter_id": _id(ticket.submitter_id),
        "tags": list(ticket.tags) or None,
        "type": _upper(ticket.type),
        "updated_at": stamp(ticket.updated_at),
        "via": {"channel": WEBHOOK_CHANNELS.get(ticket.via_channel, ticket.via_channel)},
    }


def _event_body(change: Change, describe_user: Callable[[int], User | None],
                field_titles: Mapping[int, str]) -> dict[str, Any]:
    if change.kind in ("priority", "status"):
        return {"current": _upper(change.current), "previous": _upper(change.previous)}
    if change.kind in ("group", "assignee"):
        return {"current": _id(change.current), "previous": _id(change.previous)}
    if change.kind == "tags":
        return {"tags_added": [t for t in change.current if t not in change.previous],
                "tags_removed": [t for t in change.previous if t not in change.current]}
    if change.kind == "custom_field":
        title = field_titles.get(change.field_id, f"Field {change.field_id}")
        return {"custom_field": {"id": str(change.field_id), "title": title, "field_type": "text"},
                "current": change.current, "previous": change.previous}
    comment = change.current
    author = describe_user(comment.author_id)
    return {"comment": {"id": str(comment.id), "body": comment.body, "is_public": comment.public,
                        "author": {"id": str(comment.author_id), "is_staff": bool(author and author.is_staff),
                                   "name": author.name if author else ""}}}


def build_envelopes(mutation: Mutation, account_id: int, describe_user: Callable[[int], User | None],
                    field_titles: Mapping[int, str], now: datetime) -> list[dict[str, Any]]:
    """One envelope per changed attribute (one `ticket.created` for a new ticket)."""
    ticket = mutation.ticket
    moment = ticket.updated_at.replace(microsecond=now.microsecond)
    detail = ticket_detail(ticket, mutation.actor_id)

    def envelope(name: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"type": EVENT_PREFIX + name, "account_id": account_id, "id": str(uuid.uuid4()),
                "time": event_time(moment), "zendesk_event_version": EVENT_VERSION,
                "subject": f"zen:ticket:{ticket.id}", "detail": detail, "event": event}

    if mutation.created:
        return [envelope("created", {})]
    sequence_id = uuid.uuid4().hex.upper()
    return [envelope(EVENT_NAMES[change.kind],
                     {**_event_body(change, describe_user, field_titles),
                      "meta": {"sequence": {"id": sequence_id, "position": position}}})
            for position, change in enumerate(mutation.changes, start=1)]


@dataclass
class Delivery:
    """One webhook invocation and how it went (state: pending, sent, failed, dropped, skipped)."""

    event_id: str
    type: str
    ticket_id: int
    invocation_id: str
    state: str = "pending"
    status: int | None = None
    attempts: int = 0
    error: str | None = None


class WebhookSender:
    """Sign and POST envelopes from one background thread, in order, with bounded retries."""

    def __init__(self, url: str | None, secret: str, account_id: int, webhook_id: str,
                 backoff: tuple[float, ...] = (0.1, 0.3, 0.9), max_wait: float = 5.0,
                 timeout: float = 10.0, clock: Callable[[], datetime] = utc_now):
        self.url, self.secret, self.account_id, self.webhook_id = url, secret, account_id, webhook_id
        self.backoff, self.max_wait, self.timeout, self.clock = backoff, max_wait, timeout, clock
        self._http = requests.Session()
        self._queue: queue.Queue[tuple[Delivery, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._records: list[Delivery] = []
        self._unfinished = 0
        self._to_drop = 0
        # Starts where Zendesk's documentation example does; only uniqueness matters.
        self._invocation_ids = itertools.count(8350205582)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def enqueue(self, envelopes: list[dict[str, Any]]) -> None:
        """Queue envelopes for delivery; returns at once."""
        for envelope in envelopes:
            delivery = Delivery(envelope["id"], envelope["type"], int(envelope["detail"]["id"]),
                                str(next(self._invocation_ids)))
            with self._lock:
                self._records.append(delivery)
                if self.url is None:
                    delivery.state = "skipped"
                    continue
                if self._to_drop:
                    # A lost webhook, as during Zendesk's delivery incidents: never sent, never retried.
                    self._to_drop -= 1
                    delivery.state = "dropped"
                    continue
                self._unfinished += 1
            self._queue.put((delivery, json.dumps(envelope, separators=(",", ":")).encode("utf-8")))

    def drop_next(self, count: int) -> None:
        """Lose the next `count` deliveries."""
        with self._lock:
            self._to_drop = count

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(delivery) for delivery in self._records]

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [delivery.state for delivery in self._records]
        return {state: states.count(state) for state in ("sent", "pending", "failed", "dropped")}

    def idle(self) -> bool:
        """True when nothing is queued and nothing is in flight."""
        with self._lock:
            return self._unfinished == 0

    def reset(self) -> None:
        """Drop queued deliveries and forget the record."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                with self._lock:
                    item[0].state = "dropped"
                    self._unfinished -= 1
        with self._lock:
            self._records = [delivery for delivery in self._records if delivery.state == "pending"]

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            delivery, body = item
            try:
                self._deliver(delivery, body)
            finally:
                with self._lock:
                    self._unfinished -= 1

    def _deliver(self, delivery: Delivery, body: bytes) -> None:
        for attempt in range(MAX_RETRIES + 1):
            timestamp = stamp(self.clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Account-Id": str(self.account_id),
                "X-Zendesk-Webhook-Id": self.webhook_id,
                "X-Zendesk-Webhook-Invocation-Id": delivery.invocation_id,
                "X-Zendesk-Webhook-Signature": sign(self.secret, timestamp, body),
                "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            }
            retry_after = None
            try:
                response = self._http.post(self.url, data=body, headers=headers, timeout=self.timeout)
                status, error = response.status_code, None
                retry_after = response.headers.get("Retry-After")
            except requests.RequestException as e:
                status, error = None, type(e).__name__
            with self._lock:
                delivery.attempts, delivery.status, delivery.error = attempt + 1, status, error
                if status is not None and 200 <= status < 300:
                    delivery.state = "sent"
                    return
                if (status is not None and status not in RETRYABLE_STATUSES) or attempt == MAX_RETRIES:
                    delivery.state = "failed"
                    return
            if self._stop.wait(self._wait(attempt, retry_after)):
                return

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        backoff = self.backoff[min(attempt, len(self.backoff) - 1)] if self.backoff else 0.0
        try:
            wait = float(retry_after) if retry_after is not None else backoff
        except ValueError:
            wait = backoff
        return max(0.0, min(wait, self.max_wait))
