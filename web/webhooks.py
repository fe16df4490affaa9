"""POST /webhooks/<connector>: verify, parse, store once, answer; the worker does the rest."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from connectors.errors import WebhookError
import metrics
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
        # An unknown name is whatever the sender typed: never a label value of its own.
        return _counted("unknown", "rejected", refuse(404, f"no connector named {name!r} is configured"))
    body = request.get_data(cache=False)
    headers = _headers(request.environ)
    received_at = now()
    try:
        connector.verify(headers, body, received_at)
        event = connector.parse(headers, body)
    except WebhookError as e:
        logger.info("webhook.rejected", extra={"connector": name, "status": e.status, "reason": str(e)})
        return _counted(name, "rejected", refuse(e.status, str(e)))
    if event.ignored:
        return _counted(name, "ignored", _reply(200, status="ignored", event_type=event.event_type))
    kept = {k: v for k, v in headers.items() if k.startswith(KEPT_HEADER_PREFIXES) and "signature" not in k}
    try:
        inserted = store().add_delivery(connector=name, delivery_key=event.delivery_key, event_type=event.event_type,
                                        ticket_id=event.ticket_id, actor_id=event.actor_id, headers=kept,
                                        body=body, received_at=received_at)
    except StoreError as e:
        logger.error("webhook.store-failed", extra={"connector": name, "error": str(e)})
        return _counted(name, "unavailable", store_busy("event"))
    if not inserted:
        return _counted(name, "duplicate", _reply(200, status="duplicate", delivery_key=event.delivery_key))
    return _counted(name, "accepted", _reply(connector.accepted_status, status="accepted",
                                             delivery_key=event.delivery_key))


def _headers(environ: dict) -> dict[str, str]:
    """The request's headers with lower-case names, read from the WSGI environ (as werkzeug names them, cheaper)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers


def _reply(http_status: int, **body: str) -> Response:
    # json.dumps, not jsonify: this is the hot path, and jsonify's provider costs more than the reply.
    return Response(json.dumps(body), status=http_status, mimetype="application/json")


def _counted(connector: str, outcome: str, reply: ResponseReturnValue) -> ResponseReturnValue:
    metrics.webhook(connector, outcome)
    return reply
