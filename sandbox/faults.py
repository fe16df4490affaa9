"""Injected API faults: the next `count` matching calls are delayed and/or answered with an error.

Zendesk paths (/api/v2/…) get Zendesk's error bodies; Jira paths (/rest/api/…) `{"errorMessages", "errors"}`;
JSM paths (/rest/servicedeskapi/…) `{"errorMessage", "i18nErrorMessage"}`.
"""
from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from sandbox.stats import helpdesk_of

# Zendesk's documented 429 for the per-ticket update limit is text/html, not JSON
# (developer.zendesk.com, "Best practices for avoiding rate limiting").
TICKET_RATE_LIMIT_TEXT = "Rate limit for ticket updates exceeded, please wait before updating this ticket again"
TICKET_PATH = re.compile(r"^/api/v2/tickets/\d+(\.json)?$")

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


def _jira(message: str) -> dict[str, Any]:
    return {"errorMessages": [message], "errors": {}}


# Jira platform API (/rest/api/…) error bodies.
JIRA_ERROR_BODIES: dict[int, dict[str, Any]] = {
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
    """The JSON error body the helpdesk owning `path` sends with `status`."""
    if path.startswith("/rest/servicedeskapi/"):
        message = JIRA_ERROR_BODIES.get(status, _jira("Injected fault"))["errorMessages"][0]
        return jsm_error(message, JSM_ERROR_KEYS.get(status, "sd.error.injected"))
    if path.startswith("/rest/"):
        return JIRA_ERROR_BODIES.get(status, _jira("Injected fault"))
    return ERROR_BODIES.get(status, {"error": "Error", "description": "Injected fault"})


@dataclass
class Fault:
    """Delay and/or fail the next `count` API calls matching `method` and `path_prefix`."""

    status: int | None = None
    delay: float = 0.0
    retry_after: int | None = None
    method: str | None = None
    path_prefix: str = "/api/v2/"
    count: int = 1
    body: Any = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        """Build from a JSON object; ValueError names what is wrong."""
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(**spec)
        if fault.status is None and not fault.delay:
            raise ValueError("a fault needs a status, a delay, or both")
        if fault.status is not None and not (isinstance(fault.status, int) and 400 <= fault.status <= 599):
            raise ValueError("status must be an HTTP error status (400-599)")
        if not isinstance(fault.count, int) or fault.count < 1:
            raise ValueError("count must be a positive integer")
        if not isinstance(fault.delay, (int, float)) or fault.delay < 0:
            raise ValueError("delay must be a non-negative number of seconds")
        fault.method = fault.method.upper() if fault.method else None
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and path.startswith(self.path_prefix)

    def response(self, method: str, path: str) -> tuple[str, int, dict[str, str]] | None:
        """(body, status, headers) shaped like the helpdesk's own answer, or None for a delay-only fault."""
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 429 and path.startswith("/rest/"):
            headers["RateLimit-Reason"] = "jira-burst-based"
        if self.body is not None:
            text = self.body if isinstance(self.body, str) else json.dumps(self.body)
            content_type = "text/plain; charset=utf-8" if isinstance(self.body, str) else "application/json"
        elif self.status == 429 and method.upper() == "PUT" and TICKET_PATH.match(path):
            text, content_type = TICKET_RATE_LIMIT_TEXT, "text/html; charset=utf-8"
        else:
            text = json.dumps(error_body(self.status, path))
            content_type = "application/json; charset=utf-8"
        return text, self.status, {**headers, "Content-Type": content_type}


class FaultBook:
    """Pending faults, consumed first-in first-out by matching calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.served = 0
        self.served_by: Counter[str] = Counter()  # per helpdesk

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.served = 0
            self.served_by.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this call."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self.served += 1
                    self.served_by[helpdesk_of(path) or "other"] += 1
                    return fault
        return None
