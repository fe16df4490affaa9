"""Injected API faults: the next `count` matching calls are delayed and/or answered with an error, in the shape
of the helpdesk that owns the path (each helpdesk's `errors.fault_answer`), or applied and their answer dropped.

A `drop_answer` fault lets the call through (it is applied as usual: the ticket is written, the comment added),
then closes the connection without sending a byte of the answer: the client sees the connection closed by the
peer at once (`requests` raises ConnectionError, "Connection aborted … RemoteDisconnected"), exactly what a
timeout after the helpdesk did the work looks like, without waiting for a timeout. `DropAnswers` does it; it
needs a served sandbox (werkzeug's socket in the WSGI environ); under Flask's test client it raises
ConnectionAbortedError into the test instead.
"""
from __future__ import annotations

import json
import socket
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
    # Apply the call, then close the connection instead of answering (see the module docstring).
    drop_answer: bool = False

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        """Build from a JSON object; ValueError names what is wrong."""
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(**spec)
        if not isinstance(fault.drop_answer, bool):
            raise ValueError("drop_answer must be true or false")
        if fault.drop_answer and (fault.status is not None or fault.body is not None):
            raise ValueError("drop_answer applies the call and sends no answer: it takes no status or body")
        if fault.status is None and not fault.delay and not fault.drop_answer:
            raise ValueError("a fault needs a status, a delay or drop_answer")
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


# The WSGI environ key the guard sets on a call whose answer is to be dropped.
DROP_ANSWER = "sandbox.drop_answer"


class DropAnswers:
    """WSGI middleware: run the app; when the guard marked the call (`environ[DROP_ANSWER]`), close the client's
    connection instead of sending the answer."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        answer = self.app(environ, start_response if not environ.get(DROP_ANSWER) else _no_answer)
        if not environ.get(DROP_ANSWER):
            return answer
        try:
            for _ in answer:  # let the view finish (a streamed answer runs while iterated)
                pass
        finally:
            if hasattr(answer, "close"):
                answer.close()
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # werkzeug's server treats a ConnectionError as the client having gone: it logs nothing and sends nothing.
        raise ConnectionAbortedError("sandbox fault: the call was applied and its answer dropped")


def _no_answer(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None
