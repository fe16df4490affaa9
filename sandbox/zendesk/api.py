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
from sandbox.zendesk import admin
from sandbox.zendesk.errors import (FORBIDDEN, IDEMPOTENCY_MISMATCH, MISSING_TICKET, RECORD_NOT_FOUND, UPDATE_CONFLICT,
                                    record_invalid)
from sandbox.zendesk.shapes import audit_json, base_url, comment_json, mutation_audit_json, ticket_json, user_json
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
    return 201, {"ticket": ticket_json(mutation.record), "audit": mutation_audit_json(mutation)}


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
        body["audit"] = mutation_audit_json(mutation)
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


# The account's groups (List Groups: GroupObject); the example rules route to 2001 and escalate to 2002.
GROUPS = ((AGENT_GROUP_ID, "Support"), (2002, "Escalations"), (2003, "Purchasing"))
GROUP_STAMP = "2025-01-06T09:00:00Z"


def list_groups() -> Response:
    groups = [{"id": gid, "url": f"{base_url()}api/v2/groups/{gid}.json", "name": name, "description": "",
               "default": gid == AGENT_GROUP_ID, "deleted": False, "is_public": True,
               "created_at": GROUP_STAMP, "updated_at": GROUP_STAMP} for gid, name in GROUPS]
    return json_response({"groups": groups, "next_page": None, "previous_page": None, "count": len(groups)})


def list_all_memberships() -> Response:
    """List Memberships (`/api/v2/group_memberships`): the agent's membership of the support group."""
    site = current_site()
    membership = {"id": 40_000, "user_id": site.config.agent_user_id, "group_id": AGENT_GROUP_ID, "default": True,
                  "url": f"{base_url()}api/v2/group_memberships/40000.json",
                  "created_at": GROUP_STAMP, "updated_at": GROUP_STAMP}
    return json_response({"group_memberships": [membership], "next_page": None, "previous_page": None, "count": 1})


def group_members(group_id: int) -> Response:
    """List Memberships of a group: the two sandbox agents are in the support group, nobody in the others."""
    site = current_site()
    if group_id not in dict(GROUPS):
        return json_response(RECORD_NOT_FOUND, 404)
    agents = (site.config.agent_user_id, site.config.second_agent_id) if group_id == AGENT_GROUP_ID else ()
    memberships = [{"id": 41_000 + n, "user_id": user, "group_id": group_id, "default": True,
                    "url": f"{base_url()}api/v2/group_memberships/{41_000 + n}.json",
                    "created_at": GROUP_STAMP, "updated_at": GROUP_STAMP} for n, user in enumerate(agents)]
    return json_response({"group_memberships": memberships, "next_page": None, "previous_page": None,
                          "count": len(memberships)})


# The search terms the sandbox understands (Zendesk's search reference); anything else is a 400 naming it.
_SOLVED_AND_AFTER = ("solved", "closed")


def _search_matcher(query: str):
    """A predicate on tickets for `type:ticket assignee:<id> group:<id> status:<s> status<solved`."""
    tests = []
    for term in query.split():
        key, op, value = (term.partition(":") if ":" in term else term.partition("<"))
        if (key, op, value) == ("type", ":", "ticket"):
            continue
        if key in ("assignee", "group") and op == ":" and value.isdigit():
            tests.append(lambda t, k=f"{key}_id", v=int(value): getattr(t, k) == v)
        elif key == "status" and op == ":":
            tests.append(lambda t, v=value: t.status == v)
        elif (key, op, value) == ("status", "<", "solved"):
            tests.append(lambda t: t.status not in _SOLVED_AND_AFTER)
        else:
            raise ValueError(f"the sandbox does not search for {term!r}")
    return lambda ticket: all(test(ticket) for test in tests)


def search_count() -> Response:
    """Show Results Count: the number of tickets a query matches."""
    try:
        matches = _search_matcher(request.args.get("query") or "")
    except ValueError as e:
        return json_response({"error": "InvalidValue", "description": str(e)}, 400)
    return json_response({"count": current_site().store.count(matches)})


def show_user(user_id: int) -> Response:
    user = current_site().store.user(user_id)
    return json_response({"user": user_json(user)}) if user else json_response(RECORD_NOT_FOUND, 404)


def show_many_users() -> Response:
    """Show Many Users by `ids=1,2`; unknown ids are left out."""
    try:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip()]
    except ValueError:
        return json_response({"error": "InvalidValue", "description": "ids must be comma-separated user ids"}, 400)
    users = [user_json(u) for u in map(current_site().store.user, ids) if u is not None]
    return json_response({"users": users, "next_page": None, "previous_page": None, "count": len(users)})


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


# Cursor pagination: "Returns a maximum of 100 records per page" (List Comments); 100 is also the default size.
COMMENTS_PAGE_MAX = 100
COMMENT_SORTS = {"created_at": False, "-created_at": True}  # sort value → descending


def _comment_cursor(comment_id: int) -> str:
    # Opaque to clients, as Zendesk's are: the base64 of "comment:<id>" of the page's edge comment.
    return base64.urlsafe_b64encode(f"comment:{comment_id}".encode()).decode()


def _comment_at(cursor: str) -> int:
    label, _, comment_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    if label != "comment":
        raise ValueError("not a cursor this endpoint issued")
    return int(comment_id)


def list_comments(ticket_id: int) -> Response:
    """Cursor pages (`page[size]` ≤ 100, `page[after]` / `page[before]`), ascending unless `sort=-created_at`."""
    try:
        ticket = current_site().store.get(ticket_id)
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    sort = request.args.get("sort", "created_at")
    if sort not in COMMENT_SORTS:
        return json_response({"error": "InvalidValue",
                              "description": "sort must be created_at or -created_at"}, 400)
    try:
        size = int(request.args.get("page[size]", COMMENTS_PAGE_MAX))
        after, before = request.args.get("page[after]"), request.args.get("page[before]")
        edge = _comment_at(after) if after else _comment_at(before) if before else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return json_response({"error": "InvalidPaginationParameter",
                              "description": "page[size] must be a number and cursors ones this API gave"}, 400)
    if not 1 <= size <= COMMENTS_PAGE_MAX:
        return json_response({"error": "InvalidPaginationParameter",
                              "description": f"page[size] must be between 1 and {COMMENTS_PAGE_MAX}"}, 400)
    # Comment ids grow with creation, so they order comments as created_at does (and break its ties).
    ordered = sorted(ticket.comments, key=lambda c: c.id, reverse=COMMENT_SORTS[sort])
    position = [c.id for c in ordered]
    if after:
        start = position.index(edge) + 1 if edge in position else len(ordered)
        page = ordered[start:start + size]
        has_more = start + size < len(ordered)
    elif before:
        end = position.index(edge) if edge in position else 0
        page = ordered[max(0, end - size):end]
        has_more = end - size > 0
    else:
        page, has_more = ordered[:size], size < len(ordered)
    after_cursor = _comment_cursor(page[-1].id) if page else None
    before_cursor = _comment_cursor(page[0].id) if page else None
    url = f"{base_url()}api/v2/tickets/{ticket_id}/comments.json?sort={sort}&page[size]={size}"
    more_after = has_more if not before else bool(page) and position.index(page[-1].id) + 1 < len(ordered)
    more_before = bool(page) and position.index(page[0].id) > 0
    return json_response({"comments": [comment_json(c) for c in page],
                          "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
                          "links": {"prev": f"{url}&page[before]={before_cursor}" if more_before else None,
                                    "next": f"{url}&page[after]={after_cursor}" if more_after else None}})


def show_audit(ticket_id: int, audit_id: int) -> Response:
    """One audit of the ticket: its events and the `metadata` (`custom`: what the write's `ticket.metadata` was)."""
    try:
        ticket = current_site().store.get(ticket_id)
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    audit = next((a for a in ticket.audits if a.id == audit_id), None)
    if audit is None:
        return json_response(RECORD_NOT_FOUND, 404)
    return json_response({"audit": audit_json(ticket, audit)})


def list_tickets() -> Response:
    """List Tickets; with `external_id`, only the tickets carrying it ("may return multiple tickets")."""
    site = current_site()
    external_id = request.args.get("external_id")
    if external_id is not None:
        tickets = site.store.by_external_id(external_id)
    else:
        tickets = site.store.select(lambda ticket: True)
    return json_response({"tickets": [ticket_json(t) for t in tickets], "next_page": None, "previous_page": None,
                          "count": len(tickets)})


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
        fields = {k: v for k, v in ticket.items() if k not in ("id", "additional_tags", "remove_tags")}
        if "additional_tags" in ticket or "remove_tags" in ticket:
            # Update Many's documented tag change: add and remove these, keep every other tag.
            try:
                current = list(site.store.get(ticket_id).tags)
            except RecordNotFound:
                current = []
            added, removed = ticket.get("additional_tags") or [], ticket.get("remove_tags") or []
            fields["tags"] = [t for t in current if t not in removed] + [t for t in added if t not in current]
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
    """Incremental Ticket Export, Cursor Based: "Allowed For: Admins", so an agent's token gets Zendesk's 403."""
    if current_site().config.api_user_role != "admin":
        return json_response(FORBIDDEN, 403)
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
    Route("GET", "/api/v2/users/show_many", show_many_users),
    Route("GET", "/api/v2/users/<int:user_id>", show_user),
    Route("GET", "/api/v2/groups", list_groups),
    Route("GET", "/api/v2/group_memberships", list_all_memberships),
    Route("GET", "/api/v2/groups/<int:group_id>/memberships", group_members),
    Route("GET", "/api/v2/search/count", search_count),
    Route("GET", "/api/v2/ticket_fields", admin.list_ticket_fields),
    Route("POST", "/api/v2/ticket_fields", admin.create_ticket_field),
    Route("POST", "/api/v2/ticket_fields/<int:field_id>/options", admin.add_field_option),
    Route("GET", "/api/v2/triggers", admin.list_triggers),
    Route("POST", "/api/v2/triggers", admin.create_trigger),
    Route("GET", "/api/v2/webhooks", admin.list_webhooks),
    Route("POST", "/api/v2/webhooks", admin.create_webhook),
    Route("GET", "/api/v2/webhooks/<webhook_id>/signing_secret", admin.show_signing_secret),
    Route("GET", "/api/v2/webhooks/<webhook_id>", admin.show_webhook),
    Route("GET", "/api/v2/users/<int:user_id>/group_memberships", group_memberships),
    Route("GET", "/api/v2/tickets", list_tickets),
    Route("POST", "/api/v2/tickets", post_ticket),
    Route("GET", "/api/v2/tickets/<int:ticket_id>", get_ticket),
    Route("PUT", "/api/v2/tickets/<int:ticket_id>", put_ticket),
    Route("GET", "/api/v2/tickets/<int:ticket_id>/comments", list_comments),
    Route("GET", "/api/v2/tickets/<int:ticket_id>/audits/<int:audit_id>", show_audit),
    Route("GET", "/api/v2/tickets/show_many", show_many),
    Route("PUT", "/api/v2/tickets/update_many", update_many),
    Route("GET", "/api/v2/job_statuses/<job_id>", job_status),
    Route("GET", "/api/v2/incremental/tickets/cursor", incremental_tickets),
)

bp = blueprint("zendesk_api", ROUTES, suffixes=("", ".json"))
