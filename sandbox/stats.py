"""API call counts per normalised route, one counter per fake helpdesk."""
from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any, Callable

# Job ids are hex strings, not numbers.
JOB_SEGMENT = re.compile(r"/job_statuses/[0-9A-Za-z]+")
NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")
JIRA_RESOURCE = re.compile(r"/(issue|request)/[^/]+")
_KEY = r"/\1/{key}"


def route_key(method: str, path: str) -> str:
    """`PUT /api/v2/tickets/{id}`: ids and the `.json` suffix normalised away."""
    path = path[:-5] if path.endswith(".json") else path
    path = JOB_SEGMENT.sub("/job_statuses/{id}", path)
    return f"{method} {NUMERIC_SEGMENT.sub('/{id}', path)}"


def jira_route_key(method: str, path: str) -> str:
    """`PUT /rest/api/3/issue/{key}/assignee`: issue keys and ids normalised away."""
    return f"{method} {JIRA_RESOURCE.sub(_KEY, path.rstrip('/'))}"


def helpdesk_of(path: str) -> str | None:
    """Which fake helpdesk an API path belongs to."""
    if path.startswith("/api/v2/"):
        return "zendesk"
    if path.startswith("/rest/"):
        return "jira"
    return None


class ApiStats:
    """Count API calls per normalised route."""

    def __init__(self, key: Callable[[str, str], str] = route_key) -> None:
        self._key = key
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._calls[self._key(method, path)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"api_calls": dict(self._calls), "total": sum(self._calls.values())}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
