"""The Zendesk Support API subset slaclock uses, with Zendesk's JSON shapes and error bodies."""
from __future__ import annotations

import base64
import binascii
import html
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.auth import basic_auth_matches
from sandbox.faults import ERROR_BODIES
from sandbox.store import Comment, Mutation, RecordInvalid, RecordNotFound, TicketRecord, UpdateConflict, stamp

if TYPE_CHECKING:
    from sandbox.server import Sandbox

API_PREFIX = "/api/v2/"
NOT_AUTHENTICATED = ERROR_BODIES[401]
RECORD_NOT_FOUND = ERROR_BODIES[404]
UPDATE_CONFLICT = ERROR_BODIES[409]
INVALID_ENDPOINT = {"error": "InvalidEndpoint", "description": "Not found"}
IDEMPOTENCY_MISMATCH = {"error": "IdempotentRequestError",
                        "description": "Request parameters don't match the given idempotency key"}
MISSING_TICKET = {"error": "ParameterMissing", "description": "Parameter 'ticket' is required and must be an object"}
# Zendesk keeps idempotency keys for two hours.
IDEMPOTENCY_TTL = timedelta(hours=2)

bp = Blueprint("zendesk_api", __name__)


def record_invalid(details: Mapping[str, Any]) -> dict[str, Any]:
    return {"error": "RecordInvalid", "description": "Record validation errors", "details": dict(details)}


class IdempotencyCache:
    """`Idempotency-Key` on ticket creation: same key + same body replays the first answer."""

    def __init__(self, clock: Callable[[], datetime]):
        self._clock = clock
        self.lock = threading.Lock()  # held across lookup + create so a key creates one ticket
        self._entries: dict[str, tuple[datetime, str, dict[str, Any]]] = {}

    def lookup(self, key: str, fingerprint: str) -> dict[str, Any] | str | None:
        """The cached body, "mismatch", or None (unknown or expired key); call with `lock` held."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > IDEMPOTENCY_TTL:
            return None
        return entry[2] if entry[1] == fingerprint else "mismatch"

    def store(self, key: str, fingerprint: str, body: dict[str, Any]) -> None:
        self._entries[key] = (self._clock(), fingerprint, body)

    def reset(self) -> None:
        with self.lock:
            self._entries.clear()


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _base_url() -> str:
    return request.host_url


def user_json(user: Any) -> dict[str, Any]:
    return {"id": user.id, "url": f"{_base_url()}api/v2/users/{user.id}.json", "name": user.name,
            "email": user.email, "role": user.role, "active": True, "verified": True}


def ticket_json(ticket: TicketRecord) -> dict[str, Any]:
    """The REST ticket: integer ids, lower-case enums, `Z` stamps at second resolution."""
    custom_fields = [{"id": field_id, "value": value} for field_id, value in ticket.custom_fields.items()]
    return {
        "url": f"{_base_url()}api/v2/tickets/{ticket.id}.json",
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


def audit_json(mutation: Mutation) -> dict[str, Any]:
    """The audit of one create/update: a Create or Change event per attribute, then the comment."""
    ticket, events = mutation.ticket, []
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
        events.extend({"type": "Change", "field_name": names.get(c.kind, str(c.field_id)),
                       "value": c.current, "previous_value": c.previous}
                      for c in mutation.changes if c.kind != "comment")
        comments = [c.current for c in mutation.changes if c.kind == "comment"]
    events.extend({**comment_json(c), "type": "Comment"} for c in comments)
    for number, event in enumerate(events, start=1):
        event.setdefault("id", mutation.audit_id * 100 + number)
    return {"id": mutation.audit_id, "ticket_id": ticket.id, "created_at": stamp(ticket.updated_at),
            "author_id": mutation.actor_id, "metadata": {"system": {}, "custom": {}},
            "via": {"channel": ticket.via_channel, "source": {"from": {}, "to": {}, "rel": None}},
            "events": events}


def _ticket_payload() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("ticket"), dict):
        return body["ticket"]
    return None


def create_ticket(payload: Mapping[str, Any], actor_id: int, via_channel: str,
                  created_at: datetime | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) for a ticket creation by `actor_id`."""
    try:
        mutation = _sandbox().store.create(payload, actor_id, via_channel, created_at)
    except RecordInvalid as e:
        return 422, record_invalid(e.details)
    return 201, {"ticket": ticket_json(mutation.ticket), "audit": audit_json(mutation)}


def update_ticket(ticket_id: int, payload: Mapping[str, Any], actor_id: int,
                  via_channel: str) -> tuple[int, dict[str, Any]]:
    """(status, body) for a ticket update by `actor_id`."""
    try:
        mutation = _sandbox().store.update(ticket_id, payload, actor_id, via_channel)
    except RecordNotFound:
        return 404, RECORD_NOT_FOUND
    except UpdateConflict:
        return 409, UPDATE_CONFLICT
    except RecordInvalid as e:
        return 422, record_invalid(e.details)
    body: dict[str, Any] = {"ticket": ticket_json(mutation.ticket)}
    if mutation.audit_id:
        body["audit"] = audit_json(mutation)
    return 200, body


def _authorized() -> bool:
    config = _sandbox().config
    return basic_auth_matches(request.headers.get("Authorization", ""), f"{config.api_email}/token:{config.api_token}")


@bp.before_app_request
def guard() -> Response | None:
    """Every /api/v2 call: count it, serve an injected fault if one matches, then require auth."""
    if not request.path.startswith(API_PREFIX):
        return None
    sandbox = _sandbox()
    sandbox.stats.record(request.method, request.path)
    fault = sandbox.faults.take(request.method, request.path)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        answer = fault.response(request.method, request.path)
        if answer is not None:
            text, status, headers = answer
            return Response(text, status=status, headers=headers)
    if not _authorized():
        return _json(NOT_AUTHENTICATED, 401)
    return None


def _routes(rule: str, methods: list[str]) -> Callable:
    """Register a view on `rule` and on `rule.json`, as Zendesk accepts both."""
    def register(view: Callable) -> Callable:
        bp.add_url_rule(rule, view.__name__, view, methods=methods)
        bp.add_url_rule(rule + ".json", view.__name__, view, methods=methods)
        return view
    return register


@_routes("/api/v2/users/me", ["GET"])
def show_me() -> Response:
    sandbox = _sandbox()
    return _json({"user": user_json(sandbox.store.user(sandbox.config.api_user_id))})


# The sandbox agent works in the support group (the example rules' 2001); other users in none.
AGENT_GROUP_ID = 2001


@_routes("/api/v2/users/<int:user_id>/group_memberships", ["GET"])
def group_memberships(user_id: int) -> Response:
    sandbox = _sandbox()
    if sandbox.store.user(user_id) is None:
        return _json(RECORD_NOT_FOUND, 404)
    groups = [AGENT_GROUP_ID] if user_id == sandbox.config.agent_user_id else []
    return _json({"group_memberships": [{"id": 40_000 + n, "user_id": user_id, "group_id": g, "default": n == 0}
                                        for n, g in enumerate(groups)], "meta": {"has_more": False}})


@_routes("/api/v2/tickets", ["POST"])
def post_ticket() -> Response:
    payload = _ticket_payload()
    if payload is None:
        return _json(MISSING_TICKET, 400)
    sandbox, key = _sandbox(), request.headers.get("Idempotency-Key")
    if not key:
        status, body = create_ticket(payload, sandbox.config.api_user_id, "api")
        return _json(body, status)
    fingerprint = json.dumps(request.get_json(), sort_keys=True)
    with sandbox.idempotency.lock:
        cached = sandbox.idempotency.lookup(key, fingerprint)
        if cached == "mismatch":
            return _json(IDEMPOTENCY_MISMATCH, 400)
        if cached is not None:
            return _json(cached, 201, {"x-idempotency-lookup": "hit"})
        status, body = create_ticket(payload, sandbox.config.api_user_id, "api")
        if status == 201:
            sandbox.idempotency.store(key, fingerprint, body)
    return _json(body, status, {"x-idempotency-lookup": "miss"})


@_routes("/api/v2/tickets/<int:ticket_id>", ["GET"])
def get_ticket(ticket_id: int) -> Response:
    try:
        return _json({"ticket": ticket_json(_sandbox().store.get(ticket_id))})
    except RecordNotFound:
        return _json(RECORD_NOT_FOUND, 404)


@_routes("/api/v2/tickets/<int:ticket_id>", ["PUT"])
def put_ticket(ticket_id: int) -> Response:
    payload = _ticket_payload()
    if payload is None:
        return _json(MISSING_TICKET, 400)
    status, body = update_ticket(ticket_id, payload, _sandbox().config.api_user_id, "api")
    return _json(body, status)


@_routes("/api/v2/tickets/<int:ticket_id>/comments", ["GET"])
def list_comments(ticket_id: int) -> Response:
    try:
        ticket = _sandbox().store.get(ticket_id)
    except RecordNotFound:
        return _json(RECORD_NOT_FOUND, 404)
    return _json({"comments": [comment_json(c) for c in ticket.comments],
                  "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                  "links": {"prev": None, "next": None}})


# Zendesk: at most 100 tickets per update_many; job statuses are kept a day (here: until reset).
UPDATE_MANY_MAX = 100


@_routes("/api/v2/tickets/show_many", ["GET"])
def show_many() -> Response:
    """Up to 100 tickets by `ids=1,2,3`; unknown ids are left out, as on Zendesk."""
    try:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip()]
    except ValueError:
        return _json({"error": "InvalidValue", "description": "ids must be comma-separated ticket ids"}, 400)
    if not ids or len(ids) > UPDATE_MANY_MAX:
        return _json({"error": "InvalidValue", "description": f"give 1 to {UPDATE_MANY_MAX} ids"}, 400)
    tickets = []
    for ticket_id in ids:
        try:
            tickets.append(ticket_json(_sandbox().store.get(ticket_id)))
        except RecordNotFound:
            continue
    return _json({"tickets": tickets})


@_routes("/api/v2/tickets/update_many", ["PUT"])
def update_many() -> Response:
    """Batch update: each ticket its own fields; always a safe update, so each needs `updated_stamp`."""
    body = request.get_json(silent=True)
    tickets = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(tickets, list) or not tickets or len(tickets) > UPDATE_MANY_MAX:
        return _json({"error": "InvalidValue",
                      "description": f"tickets must be a list of 1 to {UPDATE_MANY_MAX} ticket objects"}, 400)
    sandbox = _sandbox()
    results = []
    for index, ticket in enumerate(tickets):
        ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
        if not isinstance(ticket_id, int) or "updated_stamp" not in ticket:
            results.append({"index": index, "id": ticket_id, "error": "InvalidValue", "success": False,
                            "details": "each ticket needs its id and updated_stamp", "status": "Failed"})
            continue
        fields = {k: v for k, v in ticket.items() if k != "id"}
        status, answer = update_ticket(ticket_id, {**fields, "safe_update": True}, sandbox.config.api_user_id, "api")
        if status == 200:
            results.append({"index": index, "id": ticket_id, "action": "update", "status": "Updated", "success": True})
        else:
            results.append({"index": index, "id": ticket_id, "error": answer.get("error"), "success": False,
                            "details": answer.get("description", ""), "status": "Failed"})
    # The job runs at once here; the first poll already sees it completed.
    job_id = uuid.uuid4().hex
    job = {"id": job_id, "job_type": "bulk_update", "status": "completed", "progress": len(tickets),
           "total": len(tickets), "message": "Completed at " + stamp(sandbox.config.clock()), "results": results,
           "url": f"{_base_url()}/api/v2/job_statuses/{job_id}.json"}
    sandbox.jobs[job_id] = job
    return _json({"job_status": {**job, "status": "queued", "progress": 0, "results": None, "message": None}})


@_routes("/api/v2/job_statuses/<job_id>", ["GET"])
def job_status(job_id: str) -> Response:
    job = _sandbox().jobs.get(job_id.removesuffix(".json"))
    return _json({"job_status": job}) if job else _json(RECORD_NOT_FOUND, 404)


# Zendesk: "start_time … Must be at least one minute in the past"; at most 1000 tickets a page.
INCREMENTAL_MIN_AGE_SECONDS = 60
INCREMENTAL_MAX_PAGE = 1000


def _cursor(change_seq: int) -> str:
    # Zendesk's cursors are opaque; this one is the base64 of "seq:<the last change listed>".
    return base64.urlsafe_b64encode(f"seq:{change_seq}".encode()).decode()


@_routes("/api/v2/incremental/tickets/cursor", ["GET"])
def incremental_tickets() -> Response:
    cursor, start_time = request.args.get("cursor"), request.args.get("start_time")
    try:
        if cursor:
            label, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
            if label != "seq":
                raise ValueError("cursor is not one this endpoint issued")
            after, since = int(seq), None
        elif start_time is not None:
            after, since = 0, int(start_time)
            if since > time.time() - INCREMENTAL_MIN_AGE_SECONDS:
                raise ValueError("start_time must be at least one minute in the past")
        else:
            raise ValueError("start_time or cursor is required")
        per_page = min(int(request.args.get("per_page", INCREMENTAL_MAX_PAGE)), INCREMENTAL_MAX_PAGE)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        return _json({"error": "InvalidValue", "description": str(e)}, 400)
    tickets, latest = _sandbox().store.changed_since(per_page, after, since)
    end_of_stream = len(tickets) < per_page
    # At the end of the stream every change so far was listed or is older than start_time: resume after all.
    after = _cursor(latest if end_of_stream else tickets[-1].change_seq)
    return _json({"tickets": [ticket_json(t) for t in tickets], "after_cursor": after, "before_cursor": None,
                  "after_url": f"{_base_url()}api/v2/incremental/tickets/cursor.json?cursor={after}",
                  "before_url": None, "end_of_stream": end_of_stream})


def api_not_found(error: Exception) -> Response | Exception:
    """Zendesk's answer to an unknown endpoint under /api/v2 (anything else: Flask's 404/405)."""
    if request.path.startswith(API_PREFIX):
        return _json(INVALID_ENDPOINT, 404)
    return error
