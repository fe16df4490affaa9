"""Zendesk event-subscription webhooks: envelopes, signatures and the delivery protocol."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import uuid
from datetime import datetime
from typing import Any, Callable, Mapping

from sandbox.records import Change, Mutation, utc_now
from sandbox.sender import Delivery, Outgoing
from sandbox.zendesk.store import TicketRecord, User, stamp

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
    "satisfaction": "csat_received",
}
# Webhook `via.channel` names the channel the way triggers do, not the REST `via.channel`.
WEBHOOK_CHANNELS = {"api": "web_service", "web": "web_form"}
# Zendesk retries 409, and 429/503 (when Retry-After < 60 s); timeouts and refused connections too.
RETRYABLE_STATUSES = (409, 429, 503)


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
    if change.field in ("priority", "status"):
        return {"current": _upper(change.current), "previous": _upper(change.previous)}
    if change.field in ("group", "assignee"):
        return {"current": _id(change.current), "previous": _id(change.previous)}
    if change.field == "tags":
        return {"tags_added": [t for t in change.current if t not in change.previous],
                "tags_removed": [t for t in change.previous if t not in change.current]}
    if change.field == "satisfaction":
        return {"score": change.current["score"], "comment": change.current["comment"]}
    if change.field == "custom_field":
        title = field_titles.get(change.field_id, f"Field {change.field_id}")
        return {"custom_field": {"id": str(change.field_id), "title": title, "field_type": "text"},
                "current": change.current, "previous": change.previous}
    comment = change.current
    author = describe_user(comment.author_id)
    return {"comment": {"id": str(comment.id), "body": comment.body, "is_public": comment.public,
                        "author": {"id": str(comment.author_id), "is_staff": bool(author and author.is_staff),
                                   "name": author.name if author else ""}}}


def build_envelopes(mutation: Mutation[TicketRecord], account_id: int, describe_user: Callable[[int], User | None],
                    field_titles: Mapping[int, str], now: datetime) -> list[dict[str, Any]]:
    """One envelope per changed attribute (one `ticket.created` for a new ticket)."""
    ticket = mutation.record
    moment = ticket.updated_at.replace(microsecond=now.microsecond)
    detail = ticket_detail(ticket, mutation.actor_id)

    def envelope(name: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"type": EVENT_PREFIX + name, "account_id": account_id, "id": str(uuid.uuid4()),
                "time": event_time(moment), "zendesk_event_version": EVENT_VERSION,
                "subject": f"zen:ticket:{ticket.id}", "detail": detail, "event": event}

    if mutation.created:
        return [envelope("created", {})]
    sequence_id = uuid.uuid4().hex.upper()
    return [envelope(EVENT_NAMES[change.field],
                     {**_event_body(change, describe_user, field_titles),
                      "meta": {"sequence": {"id": sequence_id, "position": position}}})
            for position, change in enumerate(mutation.changes, start=1)]


class ZendeskProtocol:
    """Zendesk's delivery: signed timestamp + body, retries on 409/429/503 and on no answer."""

    def __init__(self, secret: str, account_id: int, webhook_id: str, clock: Callable[[], datetime] = utc_now):
        self.secret, self.account_id, self.webhook_id, self.clock = secret, account_id, webhook_id, clock
        # Starts where Zendesk's documentation example does; only uniqueness matters.
        self._invocation_ids = itertools.count(8350205582)

    def invocation_id(self, outgoing: Outgoing) -> str:
        return str(next(self._invocation_ids))

    def headers(self, delivery: Delivery, body: bytes, attempt: int) -> dict[str, str]:
        timestamp = stamp(self.clock())
        return {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(self.account_id),
            "X-Zendesk-Webhook-Id": self.webhook_id,
            "X-Zendesk-Webhook-Invocation-Id": delivery.invocation_id,
            "X-Zendesk-Webhook-Signature": sign(self.secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }

    def delivered(self, status: int) -> bool:
        return 200 <= status < 300

    def retryable(self, status: int | None) -> bool:
        return status is None or status in RETRYABLE_STATUSES


def outgoing(envelopes: list[dict[str, Any]]) -> list[Outgoing]:
    """Envelopes as items for the WebhookSender."""
    return [Outgoing(e["id"], e["type"], int(e["detail"]["id"]), e) for e in envelopes]
