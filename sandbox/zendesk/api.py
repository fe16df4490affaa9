"""The Zendesk Support API subset slaclock uses, with Zendesk's JSON shapes and error bodies.

Every endpoint is a row of ROUTES; each is served at its path and at the path plus `.json`, as Zendesk does.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from datetime import datetime
from typing import Any, Mapping

from flask import Response, request

from sandbox.api import Route, blueprint, json_response
from sandbox.zendesk.errors import (IDEMPOTENCY_MISMATCH, MISSING_TICKET, RECORD_NOT_FOUND, UPDATE_CONFLICT,
                                    record_invalid)
from sandbox.zendesk.shapes import audit_json, base_url, comment_json, ticket_json, user_json
from sandbox.zendesk.site import current_site
from sandbox.zendesk.store import RecordInvalid, RecordNotFound, UpdateConflict, stamp

PREFIX = "/api/v2/"


def ticket_payload(bare: bool = False) -> dict[str, Any] | None:
    """The body's `ticket` object; with `bare`, a body that is the ticket object itself will do too."""
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("ticket"), dict):
        return body["ticket"]
    return body if bare and isinstance(body, dict) else None


def create_ticket(payload: Mapping[str, Any], actor_id: int, via_channel: str,
                  created_at: datetime | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) for a ticket creation by `actor_id`."""
    try:
        mutation = current_site().store.create(payload, actor_id, via_channel, created_at)
    except RecordInvalid as e:
        return 422, record_invalid(e.details)
    return 201, {"ticket": ticket_json(mutation.record), "audit": audit_json(mutation)}


def update_ticket(ticket_id: int, payload: Mapping[str, Any], actor_id: int,
                  via_channel: str) -> tuple[int, dict[str, Any]]:
    """(status, body) for a ticket update by `actor_id`."""
    try:
        mutation = current_site().store.update(ticket_id, payload, actor_id, via_channel)
    except RecordNotFound:
        return 404, RECORD_NOT_FOUND
    except UpdateConflict:
        return 409, UPDATE_CONFLICT
    except RecordInvalid as e:
        return 422, record_invalid(e.details)
    body: dict[str, Any] = {"ticket": ticket_json(mutation.record)}
    if mutation.audit_id:
        body["audit"] = audit_json(mutation)
    return 200, body


def show_me() -> Response:
    site = current_site()
    return json_response({"user": user_json(site.store.user(site.config.api_user_id))})


# The sandbox agent works in the support group (the example rules' 2001); other users in none.
AGENT_GROUP_ID = 2001


def group_memberships(user_id: int) -> Response:
    site = current_site()
    if site.store.user(user_id) is None:
        return json_response(RECORD_NOT_FOUND, 404)
    groups = [AGENT_GROUP_ID] if user_id == site.config.agent_user_id else []
    memberships = [{"id": 40_000 + n, "user_id": user_id, "group_id": g, "default": n == 0}
                   for n, g in enumerate(groups)]
    return json_response({"group_memberships": memberships, "meta": {"has_more": False}})


def post_ticket() -> Response:
    payload = ticket_payload()
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    site, key = current_site(), request.headers.get("Idempotency-Key")
    if not key:
        status, body = create_ticket(payload, site.config.api_user_id, "api")
        return json_response(body, status)
    fingerprint = json.dumps(request.get_json(), sort_keys=True)
    with site.idempotency.lock:
        cached = site.idempotency.lookup(key, fingerprint)
        if cached == "mismatch":
            return json_response(IDEMPOTENCY_MISMATCH, 400)
        if cached is not None:
            return json_response(cached, 201, {"x-idempotency-lookup": "hit"})
        status, body = create_ticket(payload, site.config.api_user_id, "api")
        if status == 201:
            site.idempotency.store(key, fingerprint, body)
    return json_response(body, status, {"x-idempotency-lookup": "miss"})


def get_ticket(ticket_id: int) -> Response:
    try:
        return json_response({"ticket": ticket_json(current_site().store.get(ticket_id))})
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)


def put_ticket(ticket_id: int) -> Response:
    payload = ticket_payload()
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    status, body = update_ticket(ticket_id, payload, current_site().config.api_user_id, "api")
    return json_response(body, status)


def list_comments(ticket_id: int) -> Response:
    try:
        ticket = current_site().store.get(ticket_id)
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    return json_response({"comments": [comment_json(c) for c in ticket.comments],
                          "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                          "links": {"prev": None, "next": None}})


# Zendesk: at most 100 tickets per update_many; job statuses are kept a day (here: until reset).
UPDATE_MANY_MAX = 100


def show_many() -> Response:
    """Up to 100 tickets by `ids=1,2,3`; unknown ids are left out, as on Zendesk."""
    try:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip()]
    except ValueError:
        return json_response({"error": "InvalidValue", "description": "ids must be comma-separated ticket ids"}, 400)
    if not ids or len(ids) > UPDATE_MANY_MAX:
        return json_response({"error": "InvalidValue", "description": f"give 1 to {UPDATE_MANY_MAX} ids"}, 400)
    tickets = []
    for ticket_id in ids:
        try:
            tickets.append(ticket_json(current_site().store.get(ticket_id)))
        except RecordNotFound:
            continue
    return json_response({"tickets": tickets})


def update_many() -> Response:
    """Batch update: each ticket its own fields; always a safe update, so each needs `updated_stamp`."""
    body = request.get_json(silent=True)
    tickets = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(tickets, list) or not tickets or len(tickets) > UPDATE_MANY_MAX:
        return json_response({"error": "InvalidValue",
                              "description": f"tickets must be a list of 1 to {UPDATE_MANY_MAX} ticket objects"}, 400)
    site = current_site()
    results = []
    for index, ticket in enumerate(tickets):
        ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
        if not isinstance(ticket_id, int) or "updated_stamp" not in ticket:
            results.append({"index": index, "id": ticket_id, "error": "InvalidValue", "success": False,
                            "details": "each ticket needs its id and updated_stamp", "status": "Failed"})
            continue
        fields = {k: v for k, v in ticket.items() if k != "id"}
        status, answer = update_ticket(ticket_id, {**fields, "safe_update": True}, site.config.api_user_id, "api")
        if status == 200:
            results.append({"index": index, "id": ticket_id, "action": "update", "status": "Updated", "success": True})
        else:
            results.append({"index": index, "id": ticket_id, "error": answer.get("error"), "success": False,
                            "details": answer.get("description", ""), "status": "Failed"})
    # The job runs at once here; the first poll already sees it completed.
    job_id = uuid.uuid4().hex
    job = {"id": job_id, "job_type": "bulk_update", "status": "completed", "progress": len(tickets),
           "total": len(tickets), "message": "Completed at " + stamp(site.clock()), "results": results,
           "url": f"{base_url()}/api/v2/job_statuses/{job_id}.json"}
    site.jobs[job_id] = job
    return json_response({"job_status": {**job, "status": "queued", "progress": 0, "results": None, "message": None}})


def job_status(job_id: str) -> Response:
    job = current_site().jobs.get(job_id.removesuffix(".json"))
    return json_response({"job_status": job}) if job else json_response(RECORD_NOT_FOUND, 404)


# Zendesk: "start_time … Must be at least one minute in the past"; at most 1000 tickets a page.
INCREMENTAL_MIN_AGE_SECONDS = 60
INCREMENTAL_MAX_PAGE = 1000


def _cursor(change_seq: int) -> str:
    # Zendesk's cursors are opaque; this one is the base64 of "seq:<the last change listed>".
    return base64.urlsafe_b64encode(f"seq:{change_seq}".encode()).decode()


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
        return json_response({"error": "InvalidValue", "description": str(e)}, 400)
    tickets, latest = current_site().store.changed_since(per_page, after, since)
    end_of_stream = len(tickets) < per_page
    # At the end of the stream every change so far was listed or is older than start_time: resume after all.
    after = _cursor(latest if end_of_stream else tickets[-1].change_seq)
    return json_response({"tickets": [ticket_json(t) for t in tickets], "after_cursor": after,
                          "before_cursor": None,
                          "after_url": f"{base_url()}api/v2/incremental/tickets/cursor.json?cursor={after}",
                          "before_url": None, "end_of_stream": end_of_stream})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v2/users/me", show_me),
    Route("GET", "/api/v2/users/<int:user_id>/group_memberships", group_memberships),
    Route("POST", "/api/v2/tickets", post_ticket),
    Route("GET", "/api/v2/tickets/<int:ticket_id>", get_ticket),
    Route("PUT", "/api/v2/tickets/<int:ticket_id>", put_ticket),
    Route("GET", "/api/v2/tickets/<int:ticket_id>/comments", list_comments),
    Route("GET", "/api/v2/tickets/show_many", show_many),
    Route("PUT", "/api/v2/tickets/update_many", update_many),
    Route("GET", "/api/v2/job_statuses/<job_id>", job_status),
    Route("GET", "/api/v2/incremental/tickets/cursor", incremental_tickets),
)

bp = blueprint("zendesk_api", ROUTES, suffixes=("", ".json"))
