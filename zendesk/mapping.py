"""Translate between Zendesk's ticket JSON and the neutral Ticket / TicketUpdate."""
from __future__ import annotations

from datetime import timezone
from typing import Any, Mapping

from connectors.model import FollowUp, Rating, Ticket, TicketUpdate, parse_instant
from zendesk.settings import ZendeskSettings

CONNECTOR = "zendesk"
# The due-time custom field is a text field holding UTC to the second (a Zendesk date field has no time).
DUE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Zendesk writes updated_at as UTC to the second; an updated_stamp in the same form names that version.
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _str_id(value: Any) -> str | None:
    return None if value in (None, "", 0) else str(value)


def _custom_fields(ticket_json: Mapping[str, Any]) -> dict[str, Any]:
    entries = ticket_json.get("custom_fields") or ticket_json.get("fields") or []
    return {str(f["id"]): f.get("value") for f in entries if isinstance(f, dict) and "id" in f}


def rating_from_api(value: Any) -> Rating | None:
    """The ticket's `satisfaction_rating` ({"score": "good" | "bad" | "offered" | "unoffered", "comment"}) as a
    Rating; None while none was given (offered, unoffered, or null on plans without CSAT). Zendesk's updated
    CSAT (a 1-5 scale) still shows good (4-5) or bad (1-3) here; its numeric answer lives in the survey
    responses of the Help Center API, which slaclock does not read."""
    score = value.get("score") if isinstance(value, dict) else None
    if not isinstance(score, str) or score.strip().lower() not in ("good", "bad"):
        return None
    comment = value.get("comment")  # type: ignore[union-attr]
    return Rating(verdict=score.strip().lower(), comment=comment.strip() if isinstance(comment, str) else "")


def ticket_from_api(ticket_json: Mapping[str, Any], settings: ZendeskSettings) -> Ticket:
    """A Ticket from the API's ticket object (ids become strings, instants UTC-aware)."""
    custom = _custom_fields(ticket_json)
    opened_at = parse_instant(ticket_json.get("created_at"))
    if opened_at is None:
        raise ValueError(f"Zendesk ticket {ticket_json.get('id')!r} has no readable created_at")
    reason = custom.get(settings.reason_field_id) if settings.reason_field_id else None
    priority = ticket_json.get("priority")
    return Ticket(
        connector=CONNECTOR,
        ticket_id=str(ticket_json["id"]),
        status=str(ticket_json.get("status") or "new").lower(),
        priority=str(priority).lower() if priority else None,
        opened_at=opened_at,
        updated_at=parse_instant(ticket_json.get("updated_at")),
        version=ticket_json.get("updated_at"),
        subject=ticket_json.get("subject") or "",
        description=ticket_json.get("description") or "",
        group_id=_str_id(ticket_json.get("group_id")),
        assignee_id=_str_id(ticket_json.get("assignee_id")),
        requester_id=_str_id(ticket_json.get("requester_id")),
        organization_id=_str_id(ticket_json.get("organization_id")),
        tags=frozenset(ticket_json.get("tags") or ()),
        reason_code=str(reason) if reason not in (None, "") else None,
        due_at=parse_instant(custom.get(settings.due_field_id)) if settings.due_field_id else None,
        due_by_metric={metric: due for metric, field_id in settings.metric_field_ids.items()
                       if (due := parse_instant(custom.get(field_id)))},
        custom_fields=custom,
        rating=rating_from_api(ticket_json.get("satisfaction_rating")),
    )


def update_body(update: TicketUpdate, settings: ZendeskSettings) -> dict[str, Any]:
    """The PUT body carrying only what `update` changes; ValueError if it cannot be expressed."""
    ticket = _routing(update.priority, update.group_id, update.assignee_id)
    dues = {settings.due_field_id: update.due_at} if update.due_at else {}
    if update.due_at and not settings.due_field_id:
        raise ValueError("cannot write due_at: no due-time field (ZENDESK_DUE_FIELD_ID)")
    dues.update((settings.metric_field_ids[m], due) for m, due in update.due_by_metric.items()
                if m in settings.metric_field_ids)
    for due in dues.values():
        if due.tzinfo is None:
            raise ValueError(f"due times must be timezone-aware, got {due.isoformat()}")
    if dues:
        ticket["custom_fields"] = [{"id": int(field_id), "value": due.astimezone(timezone.utc).strftime(DUE_FORMAT)}
                                   for field_id, due in dues.items()]
    if update.tags is not None:
        ticket["tags"] = sorted(update.tags)  # a single-ticket PUT replaces the whole tag set
    if update.problem_id:
        ticket.update(type="incident", problem_id=_int_id("problem_id", update.problem_id))
    if update.status:
        ticket["status"] = update.status
    if update.followers_add:
        # "put" adds a follower and leaves the others; a plain list would replace them.
        ticket["followers"] = [{"user_id": _int_id("follower", f), "action": "put"} for f in sorted(update.followers_add)]
    if update.note:
        # Always explicit: a comment inherits the ticket's initial public/private setting otherwise.
        ticket["comment"] = {"body": update.note, "public": False}
    if ticket and update.version:
        # 409 Conflict if the ticket changed since `version` was read.
        ticket.update(safe_update=True, updated_stamp=update.version)
    return {"ticket": ticket}


def batch_update_body(update: TicketUpdate, settings: ZendeskSettings) -> dict[str, Any]:
    """One ticket's body in an update_many batch: as :func:`update_body`, but tags as the change only.

    `tags` would replace the whole list with the one slaclock read, dropping a tag an agent added meanwhile;
    `additional_tags` / `remove_tags` (documented for Update Many Tickets, missing from the OAS's
    TicketUpdateInput: reference/openapi/README.md) add and remove just slaclock's. A row queued before the
    change was recorded (no tags_added / tags_removed) keeps the whole list, guarded by the batch's safe update.
    """
    body = update_body(update, settings)
    ticket = body["ticket"]
    if "tags" in ticket and (update.tags_added or update.tags_removed):
        del ticket["tags"]
        if update.tags_added:
            ticket["additional_tags"] = sorted(update.tags_added)
        if update.tags_removed:
            ticket["remove_tags"] = sorted(update.tags_removed)
    return body


def _routing(priority: str | None, group_id: str | None, assignee_id: str | None) -> dict[str, Any]:
    """Priority, group and assignee as the API takes them (numeric ids), only those given."""
    fields: dict[str, Any] = {"priority": priority} if priority else {}
    if group_id:
        fields["group_id"] = _int_id("group_id", group_id)
    if assignee_id:
        fields["assignee_id"] = _int_id("assignee_id", assignee_id)
    return fields


def _int_id(name: str, value: str) -> int:
    if not (str(value).isascii() and str(value).isdigit()):
        raise ValueError(f"{name} must be a numeric Zendesk id, got {value!r}")
    return int(value)


FOLLOW_UP_TAG = "slaclock_follow_up"
MARKER_PREFIX = "slaclock-"


def audit_metadata(key: str) -> dict[str, Any]:
    """`ticket.metadata` marking an update with its outbox key; Zendesk keeps it on the update's audit as
    `metadata.custom` (write-only on the ticket, invisible to agents and customers)."""
    return {"slaclock": {"outbox": key}}


def is_marked(audit: Mapping[str, Any], key: str) -> bool:
    """True when the audit was written by the update marked with `key`."""
    custom = (audit.get("metadata") or {}).get("custom") or {}
    return isinstance(custom, dict) and isinstance(custom.get("slaclock"), dict) \
        and custom["slaclock"].get("outbox") == key


def external_id_for(key: str) -> str:
    """The external_id marking a ticket slaclock created for the outbox row `key` (keys already start
    with "slaclock-"; no length limit is documented, and they stay short)."""
    return key if key.startswith(MARKER_PREFIX) else MARKER_PREFIX + key


def follow_up_body(follow_up: FollowUp, key: str) -> dict[str, Any]:
    """The create-ticket body of a linked follow-up; Zendesk has no ticket links, so the body names the
    original ticket, and `external_id` marks it with its outbox key (read back after a lost answer)."""
    ticket: dict[str, Any] = {
        "subject": follow_up.subject,
        # Private first comment: the follow-up is internal work, and its requester is slaclock's user.
        "comment": {"body": f"{follow_up.body}\n\nFollow-up of ticket #{follow_up.original_id}.", "public": False},
        "tags": [FOLLOW_UP_TAG],
        "external_id": external_id_for(key),
    }
    if follow_up.problem:
        ticket["type"] = "problem"
    if follow_up.due_at:
        # Only a task has a due date.
        ticket.update(type="task", due_at=follow_up.due_at)
    ticket.update(_routing(follow_up.priority, follow_up.group_id, follow_up.assignee_id))
    return {"ticket": ticket}
