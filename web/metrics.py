"""GET /metrics (Prometheus text format); web.webhooks counts every webhook answer."""
from __future__ import annotations

from flask import Blueprint, Response

import metrics
from web import now, store

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """Every slaclock figure: the processes' counters and the gauges read from the store now."""
    body, content_type = metrics.render(store(), now())
    return Response(body, content_type=content_type)
