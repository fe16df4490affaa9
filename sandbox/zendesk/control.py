"""`/_sandbox/…` for Zendesk: act as the human agent, read a ticket whole, lose webhooks.

    POST /_sandbox/agent/tickets         {"ticket": {...}}  the agent creates a ticket (`created_at` backdates it)
    POST /_sandbox/agent/tickets/{id}    {"ticket": {...}, "as"?: user id}  the agent (or another) changes one
    POST /_sandbox/customer/tickets/{id}/reply  {"body": text}  the requester replies (as by e-mail)
    POST /_sandbox/customer/tickets/{id}/satisfaction_rating  {"satisfaction_rating": {"score", "comment"}}
                                         the requester rates a solved ticket
    GET  /_sandbox/tickets/{id}          the ticket and every comment
    POST /_sandbox/webhooks/drop         {"count": n}  lose the next n webhooks
    GET  /_sandbox/webhooks              every delivery and how it went
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox.api import json_response
from sandbox.control import webhook_routes
from sandbox.zendesk.api import create_ticket, ticket_payload, update_ticket
from sandbox.zendesk.errors import MISSING_TICKET, RECORD_NOT_FOUND, record_invalid
from sandbox.zendesk.shapes import comment_json, ticket_json
from sandbox.zendesk.site import current_site
from sandbox.zendesk.store import RecordInvalid, RecordNotFound, parse_stamp

control = Blueprint("sandbox_zendesk_control", __name__, url_prefix="/_sandbox")
webhook_routes(control, "zendesk")


@control.post("/agent/tickets")
def agent_create() -> Response:
    """Create a ticket as the human agent (e.g. a phone call logged in the Zendesk UI).

    `ticket.created_at` (ISO 8601) backdates it, as Zendesk's ticket import API allows.
    """
    payload = ticket_payload(bare=True)
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    payload = dict(payload)
    created_at = parse_stamp(payload.pop("created_at", None))
    status, body = create_ticket(payload, current_site().config.agent_user_id, "web", created_at)
    return json_response(body, status)


@control.post("/agent/tickets/<int:ticket_id>")
def agent_update(ticket_id: int) -> Response:
    """Change a ticket as the human agent (or, with `"as": <user id>` beside `ticket`, as another agent), emitting
    webhooks with that agent as actor."""
    payload = ticket_payload(bare=True)
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    site = current_site()
    actor = (request.get_json(silent=True) or {}).get("as") or site.config.agent_user_id
    if site.store.user(int(actor)) is None:
        return json_response(RECORD_NOT_FOUND, 404)
    status, body = update_ticket(ticket_id, payload, int(actor), "web")
    return json_response(body, status)


@control.post("/customer/tickets/<int:ticket_id>/reply")
def customer_reply(ticket_id: int) -> Response:
    """The requester replies: a public comment by them, the actor of its webhooks (a solved ticket reopens)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not str(body.get("body") or "").strip():
        return json_response({"error": "InvalidRequest", "description": 'body must be {"body": text}'}, 400)
    try:
        requester = current_site().store.get(ticket_id).requester_id
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    status, answer = update_ticket(ticket_id, {"comment": {"body": str(body["body"]), "public": True,
                                                           "author_id": requester}}, requester, "email")
    return json_response(answer, status)


@control.post("/customer/tickets/<int:ticket_id>/satisfaction_rating")
def customer_rating(ticket_id: int) -> Response:
    """The requester rates the ticket (the body of Zendesk's Create a Satisfaction Rating); sends csat_received."""
    body = request.get_json(silent=True)
    rating = body.get("satisfaction_rating") if isinstance(body, dict) else None
    if not isinstance(rating, dict):
        return json_response({"error": "InvalidValue", "description": "expected {\"satisfaction_rating\": {...}}"},
                             400)
    try:
        mutation = current_site().store.rate(ticket_id, str(rating.get("score")), str(rating.get("comment") or ""))
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    except RecordInvalid as e:
        return json_response(record_invalid(e.details), 422)
    rated = mutation.record.satisfaction or {}
    return json_response({"satisfaction_rating": {**rated, "ticket_id": ticket_id,
                                                  "requester_id": mutation.record.requester_id}}, 200)


@control.get("/tickets/<int:ticket_id>")
def internal_ticket(ticket_id: int) -> Response:
    try:
        ticket = current_site().store.get(ticket_id)
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    return json_response({"ticket": ticket_json(ticket), "comments": [comment_json(c) for c in ticket.comments]})
