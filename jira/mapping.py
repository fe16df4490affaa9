"""Translate between Jira's issue JSON and the neutral Ticket / TicketUpdate."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from typing import Any, Mapping

from connectors.model import Rating, Ticket, TicketUpdate, parse_instant
from jira.settings import JiraSettings

CONNECTOR = "jira"
# What fetch_ticket reads besides the configured custom fields.
SYSTEM_FIELDS = ("summary", "description", "status", "priority", "assignee", "reporter", "labels",
                 "created", "updated", "project", "issuetype")
# Jira's datetime format; it reads and accepts `2025-01-08T10:12:07.123+0000`.
JIRA_DATETIME = "%Y-%m-%dT%H:%M:%S.000+0000"
CATEGORY_STATUS = {"new": "new", "indeterminate": "open", "done": "solved"}
# The comment property JSM keeps on a comment's visibility: {"internal": true} for an internal note
# (what pycontribs/jira sets for add_comment(is_internal=True); reference jira.md §2.5).
INTERNAL_PROPERTY_KEY = "sd.public.comment"
# The comment property marking a platform comment with its outbox key (set at creation, read by comment/list).
MARKER_PROPERTY = "slaclock"
# A JSM internal note takes no properties: its last line names the outbox key by 10 base32 characters of
# its SHA-256 (50 bits: no two keys of one issue meet), lowercase, no punctuation Markdown or wiki markup reads.
REF_LENGTH = 10


def comment_marker(key: str) -> dict[str, Any]:
    """The comment property marking a comment with the outbox key `key`."""
    return {"key": MARKER_PROPERTY, "value": {"outbox": key}}


def has_marker(comment: Mapping[str, Any], key: str) -> bool:
    """True when a comment (from comment/list?expand=properties) carries the marker of `key`."""
    return any(isinstance(p, dict) and p.get("key") == MARKER_PROPERTY and isinstance(p.get("value"), dict)
               and p["value"].get("outbox") == key for p in comment.get("properties") or [])


def note_ref(key: str) -> str:
    """The short last line of an internal note marking it with the outbox key `key`."""
    digest = base64.b32encode(hashlib.sha256(key.encode("utf-8")).digest()).decode("ascii")
    return f"ref {digest[:REF_LENGTH].lower()}"


def fields_to_read(settings: JiraSettings) -> tuple[str, ...]:
    """The `fields` parameter for get_issue and search."""
    return SYSTEM_FIELDS + settings.custom_field_ids


def priority_from_jira(name: str | None, settings: JiraSettings) -> str | None:
    """slaclock's priority for a Jira priority name (case-insensitive); None when unset or unmapped."""
    if not name:
        return None
    wanted = name.strip().casefold()
    return next((ours for jira_name, ours in settings.priority_map if jira_name.casefold() == wanted), None)


def priority_to_jira(priority: str, settings: JiraSettings) -> str:
    """The Jira priority name to write: the first one the map lists for `priority`."""
    for jira_name, ours in settings.priority_map:
        if ours == priority:
            return jira_name
    raise ValueError(f"no Jira priority maps to {priority!r} (JIRA_PRIORITY_MAP)")


def status_from_jira(name: str | None, category: str | None, settings: JiraSettings) -> str:
    """A neutral status: the name lists win, else the status category (unknown category → open)."""
    folded = (name or "").strip().casefold()
    if folded in settings.pause_statuses:
        return "pending"
    if folded in settings.hold_statuses:
        return "hold"
    status = CATEGORY_STATUS.get((category or "").strip().lower(), "open")
    if status == "solved" and folded in settings.closed_statuses:
        return "closed"
    return status


def format_time(moment: datetime) -> str:
    """An aware instant in Jira's datetime format, in UTC, to the second."""
    if moment.tzinfo is None:
        raise ValueError(f"due_at must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(timezone.utc).strftime(JIRA_DATETIME)


def adf_text(value: Any) -> str:
    """Plain text of a v3 rich-text (ADF) value; v2 strings pass through."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if value.get("type") == "text":
        return value.get("text") or ""
    parts = [adf_text(child) for child in value.get("content") or []]
    joiner = "\n" if value.get("type") in ("doc", "bulletList", "orderedList", "table", "tableRow") else ""
    return joiner.join(p for p in parts if p) if joiner else "".join(parts)


def _account(user: Any) -> str | None:
    # Cloud names users by accountId; Server/DC by user key, then name (as its webhooks do).
    if not isinstance(user, dict):
        return None
    return next((str(user[k]) for k in ("accountId", "key", "name") if user.get(k)), None)


def _option(value: Any) -> str | None:
    """A select field's option value (or a text field's string)."""
    if isinstance(value, dict):
        value = value.get("value")
    return (value.strip() or None) if isinstance(value, str) else None


def _organization(value: Any) -> str | None:
    # The JSM Organizations field is a list of {"id", "name"}; the first one is the customer's account.
    if isinstance(value, list) and value and isinstance(value[0], dict) and value[0].get("id") is not None:
        return str(value[0]["id"])
    return None


def _group(value: Any) -> str | None:
    # A group picker holds {"groupId", "name"}; group ids are stable, names can be renamed.
    if isinstance(value, dict):
        return value.get("groupId") or value.get("name") or None
    return (value or None) if isinstance(value, str) else None


def _request_type(fields: Mapping[str, Any], settings: JiraSettings) -> str | None:
    # The JSM Customer Request Type field holds {"requestType": {"id", "name"}, "currentStatus": …}.
    value = fields.get(settings.request_type_field_id) if settings.request_type_field_id else None
    request_type = value.get("requestType") if isinstance(value, dict) else None
    return (request_type.get("name") or None) if isinstance(request_type, dict) else None


def rating_from_feedback(feedback: Mapping[str, Any]) -> Rating | None:
    """A request's feedback (`{"type": "csat", "rating": 1-5, "comment": {"body"}}`) as a Rating; None when it
    holds no rating from 1 to 5."""
    score = feedback.get("rating")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        return None
    body = (feedback.get("comment") or {}).get("body") if isinstance(feedback.get("comment"), dict) else None
    return Rating(score=score, comment=body.strip() if isinstance(body, str) else "")


def _plain(value: Any) -> Any:
    # A rich-text field is an ADF document in v3 reads and a string in v2 (webhooks): both read as its text.
    return adf_text(value) if isinstance(value, dict) and value.get("type") == "doc" else value


def ticket_from_api(issue_json: Mapping[str, Any], settings: JiraSettings) -> Ticket:
    """A Ticket from the API's issue object; ValueError if it has no key or readable `created`."""
    fields = issue_json.get("fields") or {}
    key = issue_json.get("key")
    opened_at = parse_instant(fields.get("created"))
    if not key or opened_at is None:
        raise ValueError(f"Jira issue {key or issue_json.get('id')!r} has no key or no readable fields.created")
    status = fields.get("status") or {}
    custom = {field_id: _plain(fields.get(field_id)) for field_id in settings.custom_field_ids}
    request_type = _request_type(fields, settings)
    if request_type:
        custom["request_type"] = request_type
    return Ticket(
        connector=CONNECTOR,
        ticket_id=str(key),
        status=status_from_jira(status.get("name"), (status.get("statusCategory") or {}).get("key"), settings),
        priority=priority_from_jira((fields.get("priority") or {}).get("name"), settings),
        opened_at=opened_at,
        updated_at=parse_instant(fields.get("updated")),
        # Informational only: Jira has no conditional write, so nothing sends it back.
        version=fields.get("updated"),
        subject=fields.get("summary") or "",
        description=adf_text(fields.get("description")),
        group_id=_group(fields.get(settings.group_field_id)) if settings.group_field_id else None,
        assignee_id=_account(fields.get("assignee")),
        requester_id=_account(fields.get("reporter")),
        organization_id=(_organization(fields.get(settings.organization_field_id))
                         if settings.organization_field_id else None),
        tags=frozenset(fields.get("labels") or ()),
        reason_code=_option(fields.get(settings.reason_field_id)) if settings.reason_field_id else None,
        due_at=parse_instant(fields.get(settings.due_field_id)) if settings.due_field_id else None,
        due_by_metric={metric: due for metric, field_id in settings.metric_field_ids.items()
                       if (due := parse_instant(fields.get(field_id)))},
        custom_fields=custom,
    )


def edit_body(update: TicketUpdate, settings: JiraSettings) -> dict[str, Any]:
    """The edit-issue body with only what `update` changes; ValueError if it cannot be expressed.

    `group_id` is written only when JIRA_GROUP_FIELD_ID names a group picker field; otherwise Jira
    routes by assignee alone and the group is dropped.
    """
    fields: dict[str, Any] = {}
    if update.priority:
        fields["priority"] = {"name": priority_to_jira(update.priority, settings)}
    if update.tags is not None:
        spaced = sorted(t for t in update.tags if not t or any(c.isspace() for c in t))
        if spaced:
            raise ValueError(f"Jira labels cannot be empty or contain spaces: {spaced!r}")
        fields["labels"] = sorted(update.tags)  # replaces the whole label set
    if update.due_at:
        if not settings.due_field_id:
            raise ValueError("cannot write due_at: no due-time field (JIRA_DUE_FIELD_ID)")
        fields[settings.due_field_id] = format_time(update.due_at)
    for metric, due in update.due_by_metric.items():
        if metric in settings.metric_field_ids:
            fields[settings.metric_field_ids[metric]] = format_time(due)
    if update.assignee_id:
        fields["assignee"] = {"accountId": update.assignee_id}
    if update.group_id and settings.group_field_id:
        fields[settings.group_field_id] = {"groupId": update.group_id}
    return {"fields": fields}
