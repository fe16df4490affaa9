"""Zendesk webhooks: verify the signature on the raw bytes, then parse the delivery into a TicketEvent.

Two payload kinds arrive (reference zendesk.md §1.1–1.3):

- event subscriptions: a fixed envelope ``{"type": "zen:event-type:ticket.*", "id", "time", "detail", "event"}``
  whose ``detail`` is a ticket snapshot with string IDs and UPPERCASE enums;
- triggers and automations: the admin's body template (:data:`TRIGGER_TEMPLATE`), no envelope, display values.

Either way the payload is a hint: the processor re-reads the ticket before deciding anything.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.errors import MalformedPayload, SignatureError
from connectors.model import PRIORITIES, STATUSES, TicketEvent
from connectors.payload import as_instant, as_object, as_tags, as_text, decode_object, shown
from zendesk.settings import DEFAULT_TOLERANCE_SECONDS, STATIC_TEST_SECRET

CONNECTOR = "zendesk"
SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"
EVENT_PREFIX = "zen:event-type:ticket."
# Zendesk ids are 64-bit integers: at most 19 digits.
MAX_ID_DIGITS = 19

# The body of the trigger/automation webhook action. Paste it as is into the "Ticket is updated" trigger; in the
# "Ticket is created" trigger change "ticket_updated" to "ticket_created". Zendesk renders display values
# ("Normal", tags as one space-separated string, "" when unset) and does not JSON-escape placeholders, so
# free-text placeholders (ticket.title, group or assignee names) are left out on purpose.
TRIGGER_TEMPLATE = """\
{
  "event": "ticket_updated",
  "ticket_id": "{{ticket.id}}",
  "status": "{{ticket.status}}",
  "priority": "{{ticket.priority}}",
  "tags": "{{ticket.tags}}",
  "group_id": "{{ticket.group.id}}",
  "assignee_id": "{{ticket.assignee.id}}",
  "requester_id": "{{ticket.requester.id}}",
  "organization_id": "{{ticket.organization.id}}",
  "created_at": "{{ticket.created_at_with_timestamp}}",
  "updated_at": "{{ticket.updated_at_with_timestamp}}",
  "actor_id": "{{current_user.id}}"
}
"""
TRIGGER_EVENTS = frozenset({"ticket_created", "ticket_updated"})

# Event-subscription statuses include states the REST API never shows on a live ticket.
_STATUSES = frozenset(STATUSES) | {"deleted", "archived", "scrubbed"}


# --- signature ---------------------------------------------------------------------------------

def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's signature: base64(HMAC-SHA256(key=secret string's bytes, msg=timestamp + raw body))."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(headers: Mapping[str, str], body: bytes, secrets: tuple[str, ...] | list[str], now: datetime,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, allow_test_secret: bool = False) -> None:
    """Raise SignatureError unless `body` is signed by one of `secrets` (headers have lower-case keys)."""
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    missing = [name for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)) if not value]
    if missing:
        raise SignatureError(f"missing {' and '.join(missing)} header")
    keys = [s for s in secrets if s and s != STATIC_TEST_SECRET]
    if allow_test_secret:
        keys.append(STATIC_TEST_SECRET)
    if not keys:
        raise SignatureError("no Zendesk webhook secret is configured (ZENDESK_WEBHOOK_SECRET)")
    given = signature.strip().encode("utf-8")
    if not any(hmac.compare_digest(sign(key, timestamp, body).encode("ascii"), given) for key in keys):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the timestamp and body for any configured secret")
    if tolerance_seconds:
        _check_freshness(timestamp, now, tolerance_seconds)


def _check_freshness(timestamp: str, now: datetime, tolerance_seconds: int) -> None:
    signed_at = as_instant(timestamp)
    if signed_at is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} {shown(timestamp)} is not an ISO 8601 time (years 1-9999 in UTC)")
    skew = (as_instant(now) - signed_at).total_seconds()
    if abs(skew) > tolerance_seconds:
        raise SignatureError(f"{TIMESTAMP_HEADER} {timestamp!r} is {abs(skew):.0f} s "
                             f"{'old' if skew > 0 else 'in the future'} (tolerance {tolerance_seconds} s)")


# --- normalising values ------------------------------------------------------------------------
# Instants go through as_instant (parse_instant; None when out of range), which also reads
# `…_with_timestamp`'s `2013-12-12T05:35Z` and the envelope's nanosecond `time`.

def _id(value: Any) -> str | None:
    """A Zendesk id as a string; accepts int or numeric string; unset (None, "", 0) → None."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if not (text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_ID_DIGITS):
        return None
    return str(int(text)) if int(text) > 0 else None


def _actor(value: Any) -> str | None:
    # Kept verbatim, not checked as an id: a change made by Zendesk itself may carry a non-id actor such as -1.
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return text or None


def _enum(allowed: frozenset[str] | tuple[str, ...]) -> Callable[[Any], str | None]:
    def normalise(value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else ""
        return text if text in allowed else None  # unset, localised or custom display values → None
    return normalise


_priority, _status = _enum(PRIORITIES), _enum(_STATUSES)


def _value(value: Any) -> Any:
    if isinstance(value, dict):  # custom_field_changed wraps values as {"value": …}
        value = value.get("value")
    return None if value == "" else value


# --- handlers: one per event type, each returns TicketEvent.fields ------------------------------

def _ticket(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket fields both payload kinds carry, from the trigger body or an event's `detail`."""
    return {
        "status": _status(values.get("status")),
        "priority": _priority(values.get("priority")),
        "tags": as_tags(values.get("tags")),
        "group_id": _id(values.get("group_id")),
        "assignee_id": _id(values.get("assignee_id")),
        "requester_id": _id(values.get("requester_id")),
        "organization_id": _id(values.get("organization_id")),
        "created_at": as_instant(values.get("created_at")),
        "updated_at": as_instant(values.get("updated_at")),
    }


def _snapshot(payload: Mapping[str, Any]) -> dict[str, Any]:
    detail = as_object(payload.get("detail"))
    return {**_ticket(detail), "custom_status_id": _id(detail.get("custom_status"))}


def _change(name: str, normalise: Callable[[Any], Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A handler for `event: {current, previous}`: the snapshot, `name` from `current`, and `previous_<name>`."""
    def handler(payload: Mapping[str, Any]) -> dict[str, Any]:
        fields, event = _snapshot(payload), as_object(payload.get("event"))
        if "current" in event:
            fields[name] = normalise(event["current"])
        fields[f"previous_{name}"] = normalise(event.get("previous"))
        return fields
    return handler


def _tags_changed(payload: Mapping[str, Any]) -> dict[str, Any]:
    event = as_object(payload.get("event"))
    return {**_snapshot(payload), "tags_added": as_tags(event.get("tags_added")),
            "tags_removed": as_tags(event.get("tags_removed"))}


def _custom_field_changed(payload: Mapping[str, Any]) -> dict[str, Any]:
    event = as_object(payload.get("event"))
    return {**_snapshot(payload), "custom_field_id": _id(as_object(event.get("custom_field")).get("id")),
            "custom_field_value": _value(event.get("current")),
            "previous_custom_field_value": _value(event.get("previous"))}


def _comment_added(payload: Mapping[str, Any]) -> dict[str, Any]:
    comment = as_object(as_object(payload.get("event")).get("comment"))
    author = as_object(comment.get("author"))
    return {**_snapshot(payload), "comment_id": _id(comment.get("id")),
            "comment_public": comment.get("is_public") is True, "comment_author_id": _actor(author.get("id")),
            "comment_author_is_staff": author.get("is_staff") is True, "comment_body": as_text(comment.get("body"))}


def _csat_received(payload: Mapping[str, Any]) -> dict[str, Any]:
    # A hint like every payload: the processor reads the rating from the ticket's `satisfaction_rating`.
    event = as_object(payload.get("event"))
    return {**_snapshot(payload), "rating_score": as_text(event.get("score")), "rating_comment": as_text(event.get("comment"))}


HANDLERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    EVENT_PREFIX + "created": _snapshot,
    EVENT_PREFIX + "priority_changed": _change("priority", _priority),
    EVENT_PREFIX + "status_changed": _change("status", _status),
    EVENT_PREFIX + "custom_status_changed": _change("custom_status_id", _id),
    EVENT_PREFIX + "group_assignment_changed": _change("group_id", _id),
    EVENT_PREFIX + "agent_assignment_changed": _change("assignee_id", _id),
    EVENT_PREFIX + "organization_changed": _change("organization_id", _id),
    EVENT_PREFIX + "requester_changed": _change("requester_id", _id),
    EVENT_PREFIX + "tags_changed": _tags_changed,
    EVENT_PREFIX + "custom_field_changed": _custom_field_changed,
    EVENT_PREFIX + "comment_added": _comment_added,
    EVENT_PREFIX + "csat_received": _csat_received,
    "ticket_created": _ticket,
    "ticket_updated": _ticket,
}

IGNORED_EVENTS = frozenset(EVENT_PREFIX + name for name in (
    # Wording and presentation: no bearing on owner, priority or clock.
    "subject_changed", "description_changed", "brand_changed", "form_changed", "external_id_changed",
    "type_changed",
    # People around the ticket who do not own it.
    "email_ccs_changed", "followers_changed", "submitter_changed",
    # Zendesk's own planning links and task dates, not the SLA.
    "problem_link_changed", "task_due_at_changed",
    # Edits to existing comments; the customer-update cadence counts new comments (comment_added) only.
    "comment_made_private", "comment_redacted", "attachment_linked_to_comment", "attachment_redacted_from_comment",
    # The ticket leaves (or re-enters) the queue without an SLA-relevant change of its own; the sweep's
    # reconciliation re-reads it and sees it closed, gone (404) or back.
    "marked_as_spam", "merged", "soft_deleted", "permanently_deleted", "undeleted",
    # Zendesk's native SLA/OLA machinery: slaclock keeps its own clock from the rules file.
    "sla_policy_changed", "ola_policy_changed", "schedule_changed", "next_sla_breach_changed",
    # A survey sent: nothing to measure until the customer answers (csat_received).
    "csat_requested",
))


# Valid event-subscription types about other resources than tickets: a 200 "ignored", not a 400. Zendesk
# documents them at https://developer.zendesk.com/api-reference/webhooks/event-types/user-events and
# …/organization-events; a webhook subscribed to "all events" of a domain sends them beside the ticket ones.
IGNORED_USER_EVENTS = frozenset("zen:event-type:user." + name for name in (
    "alias_changed", "created", "custom_field_changed", "custom_role_changed", "default_group_changed",
    "details_changed", "external_id_changed", "group_membership_created", "group_membership_deleted",
    "identity_changed", "identity_created", "identity_deleted", "active_changed", "last_login_changed",
    "merged", "name_changed", "notes_changed", "only_private_comments_changed",
    "organization_membership_created", "organization_membership_deleted", "password_changed", "photo_changed",
    "role_changed", "suspended_changed", "tags_changed", "time_zone_changed", "deleted",
))
IGNORED_ORGANIZATION_EVENTS = frozenset("zen:event-type:organization." + name for name in (
    "created", "custom_field_changed", "deleted", "external_id_changed", "name_changed", "tags_changed",
))
# Whole domains slaclock never acts on (help center articles, community posts, agent availability,
# omnichannel routing configuration: https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/);
# their types are not listed one by one, and user and organization types Zendesk adds later fall here too.
IGNORED_DOMAINS = ("zen:event-type:user.", "zen:event-type:organization.", "zen:event-type:article.",
                   "zen:event-type:community_post.", "zen:event-type:agent.", "zen:event-type:omnichannel_config.")
IGNORED_OTHER_EVENTS = IGNORED_USER_EVENTS | IGNORED_ORGANIZATION_EVENTS


def is_ignored(event_type: str) -> bool:
    """True for a valid event type slaclock does not act on (the explicit lists, then the ignored domains)."""
    return event_type in IGNORED_EVENTS or event_type in IGNORED_OTHER_EVENTS or event_type.startswith(IGNORED_DOMAINS)


# --- parsing -----------------------------------------------------------------------------------

def parse(headers: Mapping[str, str], body: bytes, fields: bool = True) -> TicketEvent:
    """Parse a verified delivery (headers with lower-case keys); raise MalformedPayload naming the problem.
    `fields=False`: `TicketEvent.fields` left empty (the handlers read values and never refuse a payload).

    The delivery key comes from what is signed (the body and the signature timestamp), never from the
    unsigned `x-zendesk-webhook-invocation-id`: a captured body sent again under a new or missing
    invocation id is the same delivery.
    """
    payload = decode_object(body, repair=repair_quotes)
    kind = payload.get("type")
    if isinstance(kind, str) and (kind.startswith("zen:") or "detail" in payload):
        return _parse_envelope(headers, body, payload, kind, fields)
    return _parse_trigger(headers, body, payload, fields)


def _parse_envelope(headers: Mapping[str, str], body: bytes, payload: dict[str, Any], event_type: str,
                    fields: bool) -> TicketEvent:
    ignored = is_ignored(event_type)
    if not ignored and event_type not in HANDLERS:
        raise MalformedPayload(f"unknown Zendesk event type {shown(event_type)}")
    detail = payload.get("detail")
    if not isinstance(detail, dict) and not ignored:
        raise MalformedPayload(f"{event_type}: 'detail' is missing or not an object")
    detail = as_object(detail)
    subject = payload.get("subject")
    # `subject` is "zen:ticket:<id>"; it stands in when a snapshot lacks its id.
    fallback = subject.rpartition(":")[2] if isinstance(subject, str) and subject.startswith("zen:ticket:") else None
    if not event_type.startswith(EVENT_PREFIX):
        # A user or organization event: its `detail.id` is that resource's id, not a ticket's.
        detail = {"actor_id": detail.get("actor_id")}
    raw_id = detail.get("id")
    if raw_id in (None, ""):
        raw_id = fallback
    ticket_id = _id(raw_id) if ignored else _ticket_id(raw_id)
    # The envelope's own `id` is signed with the body and unique per event.
    key = as_text(payload.get("id")) or _signed_key(ticket_id, headers, body)
    sequence = as_object(as_object(as_object(payload.get("event")).get("meta")).get("sequence"))
    return TicketEvent(
        connector=CONNECTOR, delivery_key=f"{CONNECTOR}:{key}", event_type=event_type, ticket_id=ticket_id,
        ignored=ignored, occurred_at=as_instant(payload.get("time")), actor_id=_actor(detail.get("actor_id")),
        change_id=as_text(sequence.get("id")), fields=HANDLERS[event_type](payload) if fields and not ignored else {},
    )


def _parse_trigger(headers: Mapping[str, str], body: bytes, payload: dict[str, Any], fields: bool) -> TicketEvent:
    if "event" not in payload and "ticket_id" not in payload:
        raise MalformedPayload("neither an event-subscription 'type' nor a slaclock trigger 'event'/'ticket_id'")
    # An admin-edited template without "event" is still a ticket change; the payload is only a hint.
    event_type = payload.get("event") or "ticket_updated"
    if not isinstance(event_type, str) or event_type not in TRIGGER_EVENTS:
        raise MalformedPayload(f"unknown Zendesk event type {shown(event_type)}")
    ticket_id = _ticket_id(payload.get("ticket_id"))
    updated_at = as_text(payload.get("updated_at"))
    # Not ticket_id + updated_at: `…_with_timestamp` has minute resolution, so two updates within one minute
    # can render the same body; the signature timestamp (to the second) tells them apart.
    key = _signed_key(ticket_id, headers, body)
    return TicketEvent(
        connector=CONNECTOR, delivery_key=f"{CONNECTOR}:{key}", event_type=event_type, ticket_id=ticket_id,
        occurred_at=as_instant(updated_at), actor_id=_actor(payload.get("actor_id")), fields=_ticket(payload) if fields else {},
    )


def _ticket_id(value: Any) -> str:
    ticket_id = _id(value)
    if ticket_id is None:
        raise MalformedPayload("missing ticket id" if value in (None, "") else f"invalid ticket id {shown(value)}")
    return ticket_id


def _signed_key(ticket_id: str | None, headers: Mapping[str, str], body: bytes) -> str:
    """`<ticket id>:<sha256 of signature timestamp + body>`, what the signature covers (reference zendesk.md §1.5).

    A replay of a captured delivery (same timestamp, same body) gets the same key; the freshness check
    refuses it once the timestamp is older than the tolerance. Whether Zendesk re-signs a retry with a
    new timestamp is not documented: if it does, a retry is a second inbox row, which is harmless
    (the processor re-reads the ticket and decides from what it finds)."""
    timestamp = (headers.get(TIMESTAMP_HEADER) or "").encode("utf-8", "replace")
    return f"{ticket_id}:{hashlib.sha256(timestamp + body).hexdigest()[:32]}"


def repair_quotes(text: str) -> str:
    """Escape quotes and backslashes that trigger placeholders rendered unescaped inside string values."""
    out, in_string, i = [], False, 0
    while i < len(text):
        char = text[i]
        if not in_string:
            in_string = char == '"'
            out.append(char)
        elif char == "\\":
            following = text[i + 1:i + 2]
            if following and following in '"\\/bfnrtu':
                out.append(char + following)
                i += 1
            else:
                out.append("\\\\")
        elif char == '"' and _ends_string(text, i + 1):
            in_string = False
            out.append(char)
        else:
            out.append('\\"' if char == '"' else char)
        i += 1
    return "".join(out)


def _ends_string(text: str, start: int) -> bool:
    # A quote closes its string when JSON structure follows: ':', '}', ']', the end, or ',' then the next
    # key or value. 'He said "hi", then left' keeps its inner quotes.
    rest = text[start:].lstrip()
    if not rest or rest[0] in ":}]":
        return True
    return rest[0] == "," and rest[1:].lstrip()[:1] in ("", '"', "{", "[")
