"""Injected API faults: the next `count` matching calls are delayed and/or answered with an error, in the shape
of the helpdesk that owns the path (each helpdesk's `errors.fault_answer`)."""
from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

# (status, method, path) → (body text, content type, extra headers) of a helpdesk's own error answer.
FaultAnswer = Callable[[int, str, str], tuple[str, str, dict[str, str]]]


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

    def response(self, method: str, path: str, answer: FaultAnswer) -> tuple[str, int, dict[str, str]] | None:
        """(body, status, headers): the fault's own body or the helpdesk's `answer`; None for a delay-only fault."""
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        text, content_type, extra = answer(self.status, method, path)
        headers.update(extra)
        if self.body is not None:
            text = self.body if isinstance(self.body, str) else json.dumps(self.body)
            content_type = "text/plain; charset=utf-8" if isinstance(self.body, str) else "application/json"
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

    def take(self, method: str, path: str, helpdesk: str) -> Fault | None:
        """Consume one use of the first fault matching this call to `helpdesk`."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self.served += 1
                    self.served_by[helpdesk] += 1
                    return fault
        return None
