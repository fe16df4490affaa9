"""`/_sandbox/…` routes both helpdesks share: faults, call counts, idle, reset; and the webhook routes each
helpdesk's control blueprint serves under its own prefix (`webhook_routes`).

    POST|GET|DELETE /_sandbox/faults   add (a fault object or a list), list or clear injected faults
    GET  /_sandbox/stats               calls per route, faults served and webhook counts, per helpdesk too
    GET  /_sandbox/writes              per helpdesk and ticket, what slaclock's API user wrote (notes, public
                                       replies, watchers, links) and the tickets it created
    GET  /_sandbox/idle                no webhook of either helpdesk queued or in flight
    POST /_sandbox/reset               forget everything (preset faults come back)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request

from sandbox.api import json_response
from sandbox.faults import Fault
from sandbox.sender import WebhookSender

if TYPE_CHECKING:
    from sandbox.server import Sandbox

control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def webhook_routes(bp: Blueprint, helpdesk: str) -> None:
    """Under `bp`'s prefix, `POST webhooks/drop` {"count": n} (lose the next n webhooks of `helpdesk`, to exercise
    reconciliation) and `GET webhooks` (every delivery and how it went)."""
    def sender() -> WebhookSender:
        return _sandbox().sites[helpdesk].sender

    def drop_webhooks() -> Response:
        count = (request.get_json(silent=True) or {}).get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return json_response({"error": "body must be {\"count\": <non-negative integer>}"}, 400)
        sender().drop_next(count)
        return json_response({"dropping": count})

    def webhooks() -> Response:
        return json_response({"deliveries": sender().deliveries()})

    bp.add_url_rule("/webhooks/drop", "drop_webhooks", drop_webhooks, methods=["POST"])
    bp.add_url_rule("/webhooks", "webhooks", webhooks, methods=["GET"])


@control.post("/faults")
def add_faults() -> Response:
    body = request.get_json(silent=True)
    specs = body if isinstance(body, list) else [body]
    try:
        faults = [Fault.from_spec(spec) for spec in specs if isinstance(spec, dict)]
        if len(faults) != len(specs):
            raise ValueError("body must be a fault object or a list of them")
    except (TypeError, ValueError) as e:
        return json_response({"error": str(e)}, 400)
    for fault in faults:
        _sandbox().faults.add(fault)
    return json_response({"faults": _sandbox().faults.pending()}, 201)


@control.get("/faults")
def list_faults() -> Response:
    return json_response({"faults": _sandbox().faults.pending()})


@control.delete("/faults")
def clear_faults() -> Response:
    _sandbox().faults.clear()
    return json_response({"faults": []})


@control.get("/stats")
def stats() -> Response:
    return json_response(_sandbox().report())


@control.get("/writes")
def writes() -> Response:
    return json_response({name: site.writes() for name, site in _sandbox().sites.items()})


@control.get("/idle")
def idle() -> Response:
    return json_response({"idle": _sandbox().idle()})


@control.post("/reset")
def reset() -> Response:
    _sandbox().reset()
    return json_response({"reset": True})
