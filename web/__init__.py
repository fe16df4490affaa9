"""slaclock's HTTP side: one blueprint each for the webhooks, the vendor API and the health checks.

`app.create_app` puts the store, the connectors and the clock in the app's config (STORE,
CONNECTORS, CLOCK); the views read them through the functions here.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.contract import Connector
from jobs.clock import utcnow
from store import Store

MAX_BODY_BYTES = 1024 * 1024
# Zendesk only retries a 503 whose Retry-After is under 60 s.
STORE_RETRY_AFTER_SECONDS = "10"
# How long the receiver's store connection waits for another writer's lock before answering 503. Write
# transactions last milliseconds; Zendesk gives up on a webhook after about 10 s (reference zendesk.md §1.6),
# so the receiver answers within a second rather than after the worker's 15 s busy wait.
RECEIVER_BUSY_TIMEOUT_SECONDS = 0.5


def refuse(status: int, message: str, **headers: str) -> ResponseReturnValue:
    """The JSON error reply `{"error": message}` with `status` and any extra headers."""
    return jsonify(error=message), status, headers


def store_busy_message(what: str) -> str:
    """What a 503 says when the store cannot take `what`."""
    return f"store busy or unavailable: it cannot take the {what} now; retry after {STORE_RETRY_AFTER_SECONDS} s"


def store_busy(what: str) -> ResponseReturnValue:
    """503 with Retry-After, so the sender delivers `what` again later."""
    return refuse(503, store_busy_message(what), **{"Retry-After": STORE_RETRY_AFTER_SECONDS})


def store_failed(_error: Exception) -> ResponseReturnValue:
    """503 for a store failure no view caught (a read in the vendor API, say): the one 5xx the receiver gives."""
    return store_busy("request")


def too_large(_error: Exception) -> ResponseReturnValue:
    """413 for a body over MAX_BODY_BYTES (the app's MAX_CONTENT_LENGTH)."""
    return refuse(413, f"request body larger than {MAX_BODY_BYTES} bytes")


def http_error(error: HTTPException) -> ResponseReturnValue:
    """Werkzeug's errors (404 no such route, 405 wrong method, 400 bad request line …) as JSON, like the rest."""
    allowed = getattr(error, "valid_methods", None)  # a 405 names the methods the route takes
    return refuse(error.code or 500, f"{error.name}: {error.description}",
                  **({"Allow": ", ".join(allowed)} if allowed else {}))


def store() -> Store:
    """The app's store."""
    return current_app.config["STORE"]


def connectors() -> Mapping[str, Connector]:
    """The app's connectors by name."""
    return current_app.config["CONNECTORS"]


def now() -> datetime:
    """The app's clock (CLOCK in the config; UTC now otherwise)."""
    return current_app.config.get("CLOCK", utcnow)()
