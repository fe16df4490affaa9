"""GET /metrics (Prometheus text format), and the count of every webhook answer by connector and outcome."""
from __future__ import annotations

from flask import Blueprint, Response, request

import metrics
from web import connectors, now, store

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """Every slaclock figure: the processes' counters and the gauges read from the store now."""
    body, content_type = metrics.render(store(), now())
    return Response(body, content_type=content_type)


@bp.after_app_request
def count_webhook(response: Response) -> Response:
    """Count each answer of POST /webhooks/<name>: accepted, duplicate, ignored (from the JSON reply),
    rejected (any 4xx) or unavailable (a 5xx: the store could not take it)."""
    if request.method != "POST" or request.url_rule is None or request.url_rule.endpoint != "webhooks.receive":
        return response
    name = (request.view_args or {}).get("name", "")
    # An unknown name is whatever the sender typed: never a label value of its own.
    connector = name if name in connectors() else "unknown"
    if response.status_code >= 500:
        outcome = "unavailable"
    elif response.status_code >= 400:
        outcome = "rejected"
    else:
        body = response.get_json(silent=True) or {}
        outcome = body.get("status") if body.get("status") in ("duplicate", "ignored") else "accepted"
    metrics.webhook(connector, outcome)
    return response
