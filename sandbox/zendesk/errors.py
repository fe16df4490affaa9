"""Zendesk's error bodies, and its answers to a failed login, an unknown endpoint and an injected fault."""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from flask import Response

from sandbox.api import json_response

ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {"error": "InvalidEndpoint", "description": "Bad request"},
    401: {"error": "Couldn't authenticate you"},
    403: {"error": {"title": "Forbidden",
                    "message": "You do not have access to this page. Please contact the account owner "
                               "of this help desk for further help."}},
    404: {"error": "RecordNotFound", "description": "Not found"},
    409: {"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data."},
    422: {"error": "RecordInvalid", "description": "Record validation errors", "details": {}},
    429: {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"},
    500: {"error": "InternalServerError", "description": "Internal server error"},
    503: {"error": "ServiceUnavailable", "description": "Service temporarily unavailable"},
}
NOT_AUTHENTICATED = ERROR_BODIES[401]
FORBIDDEN = ERROR_BODIES[403]
RECORD_NOT_FOUND = ERROR_BODIES[404]
UPDATE_CONFLICT = ERROR_BODIES[409]
INVALID_ENDPOINT = {"error": "InvalidEndpoint", "description": "Not found"}
IDEMPOTENCY_MISMATCH = {"error": "IdempotentRequestError",
                        "description": "Request parameters don't match the given idempotency key"}
MISSING_TICKET = {"error": "ParameterMissing", "description": "Parameter 'ticket' is required and must be an object"}

# Zendesk's documented 429 for the per-ticket update limit is text/html, not JSON
# (developer.zendesk.com, "Best practices for avoiding rate limiting").
TICKET_RATE_LIMIT_TEXT = "Rate limit for ticket updates exceeded, please wait before updating this ticket again"
TICKET_PATH = re.compile(r"^/api/v2/tickets/\d+(\.json)?$")


def record_invalid(details: Mapping[str, Any]) -> dict[str, Any]:
    return {"error": "RecordInvalid", "description": "Record validation errors", "details": dict(details)}


def not_authenticated() -> Response:
    return json_response(NOT_AUTHENTICATED, 401)


def contract_violation(violation: Any) -> Response:
    """Zendesk's answer to a request its API description refuses: 404 InvalidEndpoint for an endpoint it does not
    have, 400 InvalidValue for a query parameter (as its pagination errors), else 422 RecordInvalid with `details`
    per ticket attribute (`{"priority": [{"description", "error"}]}`, the shape of its own validation errors)."""
    if violation.kind == "endpoint":
        return not_found()
    if violation.kind == "query":
        return json_response({"error": "InvalidValue", "description": str(violation)}, 400)
    details: dict[str, list[dict[str, str]]] = {}
    for where, message in violation.problems or ((violation.field, violation.message),):
        attribute = _attribute(where)
        # Zendesk words a problem as "<Attribute>: <what is wrong>" ("Priority: is invalid").
        label = attribute.replace("_", " ").capitalize()
        details.setdefault(attribute, []).append({"description": f"{label}: {message} (at {where})",
                                                  "error": "InvalidValue"})
    return json_response(record_invalid(details), 422)


def _attribute(where: str) -> str:
    """The ticket attribute a body location is about: `ticket/custom_fields/0/id` → `custom_fields`."""
    parts = where.split("/")
    if parts[:1] == ["ticket"]:
        parts = parts[1:]
    elif parts[:1] == ["tickets"] and len(parts) > 1 and parts[1].isdigit():
        parts = parts[2:]
    return parts[0] if parts and parts[0] not in ("", "(body)") else "base"


def not_found() -> Response:
    """Zendesk's answer to an unknown endpoint under /api/v2."""
    return json_response(INVALID_ENDPOINT, 404)


def fault_answer(status: int, method: str, path: str) -> tuple[str, str, dict[str, str]]:
    """(body, content type, extra headers) of Zendesk's answer with `status`."""
    if status == 429 and method.upper() == "PUT" and TICKET_PATH.match(path):
        return TICKET_RATE_LIMIT_TEXT, "text/html; charset=utf-8", {}
    body = ERROR_BODIES.get(status, {"error": "Error", "description": "Injected fault"})
    return json.dumps(body), "application/json; charset=utf-8", {}
