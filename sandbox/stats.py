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

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._calls[self._key(method, path)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"api_calls": dict(self._calls), "total": sum(self._calls.values())}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
