"""Jira's errors: the platform API's `{"errorMessages", "errors"}`, JSM's `{"errorMessage", "i18nErrorMessage"}`,
and the answers to a failed login, an unknown endpoint and an injected fault, in the shape of the API asked."""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from flask import Response, request

from sandbox.api import json_response

JSM_PREFIX = "/rest/servicedeskapi/"


class JiraError(Exception):
    """An API error: HTTP status, `errorMessages` and per-field `errors`, as Jira answers them."""

    def __init__(self, status: int, messages: Sequence[str] = (), errors: Mapping[str, str] | None = None):
        super().__init__(status, list(messages), dict(errors or {}))
        self.status, self.messages, self.errors = status, list(messages), dict(errors or {})


def _jira(message: str) -> dict[str, Any]:
    return {"errorMessages": [message], "errors": {}}


# Jira platform API (/rest/api/…) error bodies.
ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: _jira("Bad request"),
    401: _jira("You are not authenticated. Authentication required to perform this operation."),
    403: _jira("You do not have permission to perform this operation."),
    404: _jira("Issue does not exist or you do not have permission to see it."),
    409: _jira("The issue is being updated by another request; try again."),
    429: _jira("Rate limit exceeded."),
    500: _jira("Internal server error"),
    503: _jira("Service unavailable"),
}
# Jira Service Management (/rest/servicedeskapi/…) answers errors in its own shape.
JSM_ERROR_KEYS = {400: "sd.error.bad.request", 401: "sd.error.not.authenticated", 403: "sd.error.forbidden",
                  404: "sd.request.error.not.found", 409: "sd.error.conflict", 429: "sd.error.rate.limited",
                  500: "sd.error.internal", 503: "sd.error.unavailable"}


def jsm_error(message: str, key: str = "sd.error.bad.request") -> dict[str, Any]:
    return {"errorMessage": message, "i18nErrorMessage": {"i18nKey": key, "parameters": []}}


def error_body(status: int, path: str) -> dict[str, Any]:
    """The JSON error body the API owning `path` sends with `status`."""
    if path.startswith(JSM_PREFIX):
        message = ERROR_BODIES.get(status, _jira("Injected fault"))["errorMessages"][0]
        return jsm_error(message, JSM_ERROR_KEYS.get(status, "sd.error.injected"))
    return ERROR_BODIES.get(status, _jira("Injected fault"))


def fault_answer(status: int, method: str, path: str) -> tuple[str, str, dict[str, str]]:
    """(body, content type, extra headers) of Jira's answer with `status`."""
    headers = {"RateLimit-Reason": "jira-burst-based"} if status == 429 else {}
    return json.dumps(error_body(status, path)), "application/json; charset=utf-8", headers


def jira_error(error: JiraError) -> Response:
    """A JiraError in the shape of the API it happened in."""
    if request.path.startswith(JSM_PREFIX):
        message = "; ".join([*error.messages, *error.errors.values()]) or "Bad request"
        return json_response(jsm_error(message), error.status)
    return json_response({"errorMessages": error.messages, "errors": error.errors}, error.status)


def not_authenticated() -> Response:
    if request.path.startswith(JSM_PREFIX):
        return json_response(jsm_error("You are not authenticated.", "sd.error.not.authenticated"), 401)
    return json_response(ERROR_BODIES[401], 401)


def contract_violation(violation: Any) -> Response:
    """Jira's answer to a request its API description refuses: its 404 for an endpoint it does not have, else
    400 with the problem in `errors` (per field) or `errorMessages`, or JSM's 400 shape under servicedeskapi."""
    if violation.kind == "endpoint":
        return not_found()
    message = str(violation)
    if request.path.startswith(JSM_PREFIX):
        return json_response(jsm_error(message), 400)
    if violation.kind == "body" and violation.field not in ("", "(body)"):
        return json_response({"errorMessages": [], "errors": {violation.field: violation.message}}, 400)
    return json_response({"errorMessages": [message], "errors": {}}, 400)


def not_found() -> Response:
    """Jira's answer to an unknown endpoint under /rest."""
    if request.path.startswith(JSM_PREFIX):
        return json_response(jsm_error(f"No resource at {request.path}", "sd.error.not.found"), 404)
    return json_response({"errorMessages": [f"null for uri: {request.url}"], "errors": {}}, 404)
