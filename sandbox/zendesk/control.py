"""`/_sandbox/…` for Zendesk: act as the human agent, read a ticket whole, lose webhooks.

    POST /_sandbox/agent/tickets         {"ticket": {...}}  the agent creates a ticket (`created_at` backdates it)
    POST /_sandbox/agent/tickets/{id}    {"ticket": {...}}  the agent changes one
    GET  /_sandbox/tickets/{id}          the ticket and every comment
    POST /_sandbox/webhooks/drop         {"count": n}  lose the next n webhooks
    GET  /_sandbox/webhooks              every delivery and how it went
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request

from sandbox.api import json_response
from sandbox.control import drop_webhooks, webhook_log
from sandbox.zendesk.api import create_ticket, update_ticket
from sandbox.zendesk.errors import MISSING_TICKET, RECORD_NOT_FOUND
from sandbox.zendesk.shapes import comment_json, ticket_json
from sandbox.zendesk.store import RecordNotFound, parse_stamp

if TYPE_CHECKING:
    from sandbox.server import Sandbox
    from sandbox.zendesk.site import ZendeskSite

control = Blueprint("sandbox_zendesk_control", __name__, url_prefix="/_sandbox")


def _site() -> ZendeskSite:
    sandbox: Sandbox = current_app.extensions["sandbox"]
    return sandbox.zendesk


def _ticket_object() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("ticket"), dict):
        return body["ticket"]
    return body if isinstance(body, dict) else None


@control.post("/agent/tickets")
def agent_create() -> Response:
    """Create a ticket as the human agent (e.g. a phone call logged in the Zendesk UI).

    `ticket.created_at` (ISO 8601) backdates it, as Zendesk's ticket import API allows.
    """
    payload = _ticket_object()
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    payload = dict(payload)
    created_at = parse_stamp(payload.pop("created_at", None))
    status, body = create_ticket(payload, _site().config.agent_user_id, "web", created_at)
    return json_response(body, status)


@control.post("/agent/tickets/<int:ticket_id>")
def agent_update(ticket_id: int) -> Response:
    """Change a ticket as the human agent, emitting webhooks with the agent as actor."""
    payload = _ticket_object()
    if payload is None:
        return json_response(MISSING_TICKET, 400)
    status, body = update_ticket(ticket_id, payload, _site().config.agent_user_id, "web")
    return json_response(body, status)


@control.get("/tickets/<int:ticket_id>")
def internal_ticket(ticket_id: int) -> Response:
    try:
        ticket = _site().store.get(ticket_id)
    except RecordNotFound:
        return json_response(RECORD_NOT_FOUND, 404)
    return json_response({"ticket": ticket_json(ticket), "comments": [comment_json(c) for c in ticket.comments]})


@control.post("/webhooks/drop")
def drop() -> Response:
    return drop_webhooks(_site().sender)


@control.get("/webhooks")
def webhooks() -> Response:
    return webhook_log(_site().sender)
