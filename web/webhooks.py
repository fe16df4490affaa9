"""POST /webhooks/<connector>: verify, parse, store once, answer; the worker does the rest."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from connectors.errors import WebhookError
from store import StoreError
from web import connectors, now, refuse, store, store_busy

logger = logging.getLogger("slaclock")

# Headers worth keeping with a delivery; anything that could carry a credential is dropped.
KEPT_HEADER_PREFIXES = ("x-zendesk-", "x-atlassian-", "x-hub-", "content-type", "user-agent")

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<name>")
def receive(name: str) -> ResponseReturnValue:
    """Accept a helpdesk's delivery: 202 (or the connector's accepted status), 200 duplicate or ignored."""
    connector = connectors().get(name)
    if connector is None:
        return refuse(404, f"no connector named {name!r} is configured")
    body = request.get_data(cache=False)
    headers = {k.lower(): v for k, v in request.headers.items()}
    received_at = now()
    try:
        connector.verify(headers, body, received_at)
        event = connector.parse(headers, body)
    except WebhookError as e:
        logger.info("webhook.rejected", extra={"connector": name, "status": e.status, "reason": str(e)})
        return refuse(e.status, str(e))
    if event.ignored:
        return jsonify(status="ignored", event_type=event.event_type), 200
    kept = {k: v for k, v in headers.items() if k.startswith(KEPT_HEADER_PREFIXES) and "signature" not in k}
    try:
        inserted = store().add_delivery(connector=name, delivery_key=event.delivery_key, event_type=event.event_type,
                                        ticket_id=event.ticket_id, actor_id=event.actor_id, headers=kept,
                                        body=body, received_at=received_at)
    except StoreError as e:
        logger.error("webhook.store-failed", extra={"connector": name, "error": str(e)})
        return store_busy("event")
    if not inserted:
        return jsonify(status="duplicate", delivery_key=event.delivery_key), 200
    return jsonify(status="accepted", delivery_key=event.delivery_key), connector.accepted_status
