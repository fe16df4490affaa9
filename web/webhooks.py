"""POST /webhooks/<connector>: verify, parse, store once, answer; the worker does the rest.

Every delivery costs the receiver the same Python work, so the route is answered below Flask (`direct`): a POST
to a configured connector with a Content-Length within the limit goes straight from the WSGI environ to
`accept` and back, without Flask's request context, session, routing and response hooks, which cost more than
verifying, parsing and storing the delivery. Anything else (another method, an unknown name, a chunked or
oversized body) goes through Flask, whose view calls the same `accept`.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.http import HTTP_STATUS_CODES

from connectors.errors import WebhookError
import logs
import metrics
from jobs.clock import utcnow
from store import StoreError
from web import STORE_RETRY_AFTER_SECONDS, store_busy_message

logger = logging.getLogger("slaclock")

# Headers worth keeping with a delivery; anything that could carry a credential is dropped.
KEPT_HEADER_PREFIXES = ("x-zendesk-", "x-atlassian-", "x-hub-", "content-type", "user-agent")
PREFIX = "/webhooks/"

bp = Blueprint("webhooks", __name__)


class Answer(NamedTuple):
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: dict[str, str]
    headers: Mapping[str, str] = {}


def accept(config: Mapping[str, Any], name: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Accept a helpdesk's delivery (`headers` with lower-case names): 202 (or the connector's accepted status),
    200 duplicate or ignored, 4xx naming the problem, 503 with Retry-After when the store cannot take it."""
    connector = config["CONNECTORS"].get(name)
    if connector is None:
        # An unknown name is whatever the sender typed: never a label value of its own.
        return _counted("unknown", "rejected", Answer(404, {"error": f"no connector named {name!r} is configured"}))
    received_at = config.get("CLOCK", utcnow)()
    try:
        connector.verify(headers, body, received_at)
        event = connector.parse(headers, body, fields=False)
    except WebhookError as e:
        logger.info("webhook.rejected", extra={"connector": name, "status": e.status, "reason": str(e)})
        return _counted(name, "rejected", Answer(e.status, {"error": str(e)}))
    if event.ignored:
        return _counted(name, "ignored", Answer(200, {"status": "ignored", "event_type": event.event_type}))
    kept = {k: v for k, v in headers.items() if k.startswith(KEPT_HEADER_PREFIXES) and "signature" not in k}
    try:
        inserted = config["STORE"].add_delivery(
            connector=name, delivery_key=event.delivery_key, event_type=event.event_type, ticket_id=event.ticket_id,
            actor_id=event.actor_id, headers=kept, body=body, received_at=received_at)
    except StoreError as e:
        logger.error("webhook.store-failed", extra={"connector": name, "error": str(e)})
        return _counted(name, "unavailable", Answer(503, {"error": store_busy_message("event")},
                                                    {"Retry-After": STORE_RETRY_AFTER_SECONDS}))
    if not inserted:
        return _counted(name, "duplicate", Answer(200, {"status": "duplicate", "delivery_key": event.delivery_key}))
    return _counted(name, "accepted", Answer(connector.accepted_status,
                                             {"status": "accepted", "delivery_key": event.delivery_key}))


@bp.post("/webhooks/<name>")
def receive(name: str) -> ResponseReturnValue:
    """The route through Flask, for what `direct` leaves to it (a chunked body, say)."""
    answer = accept(current_app.config, name, _headers(request.environ), request.get_data(cache=False))
    return Response(json.dumps(answer.body), answer.status, dict(answer.headers), mimetype="application/json")


def direct(app: Flask) -> None:
    """Answer POST /webhooks/<configured connector> with a Content-Length up to MAX_CONTENT_LENGTH below Flask."""
    through_flask = app.wsgi_app
    access = logging.getLogger(logs.ACCESS_LOGGER)

    def wsgi_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, length = environ.get("PATH_INFO", ""), environ.get("CONTENT_LENGTH", "")
        name = path[len(PREFIX):]
        if (environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX) or not length.isdigit()
                or int(length) > app.config["MAX_CONTENT_LENGTH"] or name not in app.config["CONNECTORS"]):
            return through_flask(environ, start_response)
        started = time.perf_counter()
        body = environ["wsgi.input"].read(int(length))
        if len(body) < int(length):
            answer = Answer(400, {"error": f"request body ended after {len(body)} of its {length} bytes"})
        else:
            try:
                answer = accept(app.config, name, _headers(environ), body)
            except Exception:  # as Flask would: logged, and a 500 that names no internals
                logger.exception("webhook.failed", extra={"connector": name})
                answer = Answer(500, {"error": "Internal Server Error: the receiver failed; the sender may retry"})
        reply = json.dumps(answer.body).encode()
        start_response(f"{answer.status} {HTTP_STATUS_CODES[answer.status].upper()}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(reply))),
                        *answer.headers.items()])
        if access.isEnabledFor(logging.INFO):
            logs.log_access("POST", path, answer.status, started, environ.get("REMOTE_ADDR"))
        return [reply]

    app.wsgi_app = wsgi_app


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers with lower-case names, read from the WSGI environ (as werkzeug names them, cheaper)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers


def _counted(connector: str, outcome: str, answer: Answer) -> Answer:
    metrics.webhook(connector, outcome)
    return answer
