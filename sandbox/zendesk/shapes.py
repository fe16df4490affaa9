"""Zendesk's REST JSON shapes: users, tickets, comments and audits."""
from __future__ import annotations

import html
from typing import Any

from flask import request

from sandbox.records import Mutation
from sandbox.zendesk.store import AuditRecord, Comment, TicketRecord, User, stamp


def base_url() -> str:
    """The sandbox's own URL (with a trailing slash), as the request reached it."""
    return request.host_url


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "url": f"{base_url()}api/v2/users/{user.id}.json", "name": user.name,
            "email": user.email, "role": user.role, "active": True, "verified": True}


def ticket_json(ticket: TicketRecord) -> dict[str, Any]:
    """The REST ticket: integer ids, lower-case enums, `Z` stamps at second resolution."""
    custom_fields = [{"id": field_id, "value": value} for field_id, value in ticket.custom_fields.items()]
    return {
        "url": f"{base_url()}api/v2/tickets/{ticket.id}.json",
        "id": ticket.id,
        "external_id": ticket.external_id,
        "via": {"channel": ticket.via_channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": stamp(ticket.created_at),
        "updated_at": stamp(ticket.updated_at),
        "generated_timestamp": int(ticket.updated_at.timestamp()),
        "type": ticket.type,
        "subject": ticket.subject,
        "raw_subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority,
        "status": ticket.status,
        "recipient": None,
        "requester_id": ticket.requester_id,
        "submitter_id": ticket.submitter_id,
        "assignee_id": ticket.assignee_id,
        "organization_id": ticket.organization_id,
        "group_id": ticket.group_id,
        "collaborator_ids": [],
        "follower_ids": list(ticket.follower_ids),
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": ticket.is_public,
        "due_at": stamp(ticket.due_at) if ticket.due_at else None,
        "tags": list(ticket.tags),
        "custom_fields": custom_fields,
        # The state of satisfaction until the requester answers (a solved ticket has been offered the survey).
        "satisfaction_rating": dict(ticket.satisfaction) if ticket.satisfaction else
        {"score": "offered" if ticket.status in ("solved", "closed") else "unoffered"},
        "sharing_agreement_ids": [],
        "fields": custom_fields,
        "followup_ids": [],
        "ticket_form_id": None,
        "brand_id": None,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


def comment_json(comment: Comment) -> dict[str, Any]:
    paragraphs = "".join(f'<p dir="auto">{html.escape(line)}</p>' for line in comment.body.split("\n") if line)
    return {
        "id": comment.id,
        "type": "Comment",
        "author_id": comment.author_id,
        "body": comment.body,
        "html_body": f'<div class="zd-comment" dir="auto">{paragraphs}</div>',
        "plain_body": comment.body,
        "public": comment.public,
        "attachments": [],
        "audit_id": comment.audit_id,
        "via": {"channel": comment.via_channel, "source": {"from": {}, "to": {}, "rel": None}},
        "metadata": {"system": {}, "custom": {}},
        "created_at": stamp(comment.created_at),
    }


# Change.field → the audit event's `field_name` (custom fields go by their id).
EVENT_FIELD_NAMES = {"priority": "priority", "status": "status", "group": "group_id", "assignee": "assignee_id",
                     "tags": "tags"}


def audit_json(ticket: TicketRecord, audit: AuditRecord) -> dict[str, Any]:
    """One audit: a Create (new ticket) or Change event per attribute, then its comment; `metadata.custom` is the
    `ticket.metadata` the write carried."""
    events: list[dict[str, Any]] = []
    for change in audit.changes:
        if change.field == "satisfaction":
            events.append({"type": "SatisfactionRating", "score": change.current["score"],
                           "assignee_id": ticket.assignee_id, "body": change.current["comment"]})
            continue
        name = str(change.field_id) if change.field == "custom_field" else EVENT_FIELD_NAMES.get(change.field,
                                                                                                change.field)
        if audit.created:
            events.append({"type": "Create", "field_name": name, "value": change.current})
        else:
            events.append({"type": "Change", "field_name": name, "value": change.current,
                           "previous_value": change.previous})
    events.extend({**comment_json(c), "type": "Comment"} for c in ticket.comments if c.audit_id == audit.id)
    for number, event in enumerate(events, start=1):
        event.setdefault("id", audit.id * 100 + number)
    return {"id": audit.id, "ticket_id": ticket.id, "created_at": stamp(audit.created_at),
            "author_id": audit.author_id, "metadata": {"system": {}, "custom": dict(audit.custom)},
            "via": {"channel": audit.via_channel, "source": {"from": {}, "to": {}, "rel": None}},
            "events": events}


def mutation_audit_json(mutation: Mutation[TicketRecord]) -> dict[str, Any]:
    """The audit a create or update just wrote (as its answer carries it)."""
    ticket = mutation.record
    return audit_json(ticket, next(a for a in ticket.audits if a.id == mutation.audit_id))
