"""Zendesk's REST JSON shapes: users, tickets, comments and audits."""
from __future__ import annotations

import html
from typing import Any

from flask import request

from sandbox.records import Mutation
from sandbox.zendesk.store import Comment, TicketRecord, User, stamp


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
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": ticket.is_public,
        "due_at": None,
        "tags": list(ticket.tags),
        "custom_fields": custom_fields,
        "satisfaction_rating": None,
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


def audit_json(mutation: Mutation[TicketRecord]) -> dict[str, Any]:
    """The audit of one create/update: a Create or Change event per attribute, then the comment."""
    ticket, events = mutation.record, []
    if mutation.created:
        for name in ("subject", "status", "priority", "type", "group_id", "assignee_id", "requester_id", "tags"):
            value = getattr(ticket, name)
            if value not in (None, []):
                events.append({"type": "Create", "field_name": name, "value": value})
        events.extend({"type": "Create", "field_name": str(field_id), "value": value}
                      for field_id, value in ticket.custom_fields.items() if value is not None)
        comments = [c for c in ticket.comments if c.audit_id == mutation.audit_id]
    else:
        names = {"priority": "priority", "status": "status", "group": "group_id", "assignee": "assignee_id",
                 "tags": "tags"}
        events.extend({"type": "Change", "field_name": names.get(c.field, str(c.field_id)),
                       "value": c.current, "previous_value": c.previous}
                      for c in mutation.changes if c.field != "comment")
        comments = [c.current for c in mutation.changes if c.field == "comment"]
    events.extend({**comment_json(c), "type": "Comment"} for c in comments)
    for number, event in enumerate(events, start=1):
        event.setdefault("id", mutation.audit_id * 100 + number)
    return {"id": mutation.audit_id, "ticket_id": ticket.id, "created_at": stamp(ticket.updated_at),
            "author_id": mutation.actor_id, "metadata": {"system": {}, "custom": {}},
            "via": {"channel": ticket.via_channel, "source": {"from": {}, "to": {}, "rel": None}},
            "events": events}
