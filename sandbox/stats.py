"""API call counts per normalised route (each helpdesk says how its paths normalise)."""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable


class ApiStats:
    """Count API calls per normalised route."""

    def __init__(self, key: Callable[[str, str], str]) -> None:
        self._key = key
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._rejected: list[dict[str, str]] = []

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._calls[self._key(method, path)] += 1

    def reject(self, method: str, path: str, reason: str) -> None:
        """Note a request the API description refused."""
        with self._lock:
            self._rejected.append({"method": method, "path": path, "reason": reason})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"api_calls": dict(self._calls), "total": sum(self._calls.values()),
                    "rejected": list(self._rejected)}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._rejected.clear()
